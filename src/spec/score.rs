//! A score spec: `[job]` (what to ask Slurm for, as in a training spec) and `[score]` (what to
//! score, with which model, into which file). `yenjob score --spec FILE`; flags override it.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{JobTable, SpecError, from_toml};
use crate::score::input::{Encoding, InputFormat};

/// `[score]`: every key optional, as flags may give it instead.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScoreTable {
    /// A model folder written by `yenjob worker`.
    pub model: Option<PathBuf>,
    /// Or the run whose model to use: a job id or run id.
    pub run: Option<String>,
    pub input: Option<PathBuf>,
    pub output: Option<PathBuf>,
    /// The CSV column or JSON field with the text.
    pub text_column: Option<String>,
    /// `text`, `csv` or `jsonl` (default: from the input's extension).
    pub format: Option<InputFormat>,
    /// `utf-8` (default) or `latin1`.
    pub encoding: Option<Encoding>,
    /// Stop at the first record that cannot be scored.
    #[serde(default)]
    pub strict: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScoreFile {
    job: JobTable,
    #[serde(default)]
    score: ScoreTable,
}

/// A parsed score spec; its relative paths resolve against `base_dir`.
#[derive(Debug, Clone)]
pub struct ScoreSpec {
    pub job: JobTable,
    pub score: ScoreTable,
    pub source_path: PathBuf,
    pub base_dir: PathBuf,
}

impl ScoreSpec {
    pub fn load(path: &Path) -> Result<ScoreSpec, SpecError> {
        let text = std::fs::read_to_string(path).map_err(|source| SpecError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let file: ScoreFile = from_toml(&text, path)?;
        let mut job = file.job;
        job.settle_gpu_type(&text, path)?;
        let base_dir = super::folder_of(path);
        Ok(ScoreSpec {
            job,
            score: file.score,
            source_path: path.to_path_buf(),
            base_dir,
        })
    }
}
