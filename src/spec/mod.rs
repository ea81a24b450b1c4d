//! The job spec: a TOML file with a `[job]` table (what to ask Slurm for) and a `[train]` table
//! (what the worker fine-tunes). Every value is checked while it is read, so an error names the
//! file, the line and the key path (`job.time`), never just "invalid config".

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::slurm::constraint::Constraint;
use crate::slurm::duration::SlurmDuration;
use crate::slurm::hostlist::{HostList, NodeName};

mod score;
mod sweep;
mod values;
pub use score::{ScoreSpec, ScoreTable};
pub use sweep::{Axis, MAX_TASKS, Point, Sweep, ValueText, float_text};
pub use values::*;

/// The spec compiled into the binary: `yenjob submit` without a file runs it.
pub const EMBEDDED_DEFAULT: &str = include_str!("../../jobs/finbert.toml");

#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("cannot read job spec {path}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}:{column}: {}{message}", if key.is_empty() { String::new() } else { format!("`{key}`: ") })]
    Invalid {
        path: PathBuf,
        line: usize,
        column: usize,
        key: String,
        message: String,
    },
}

/// A parsed, validated spec plus where it came from.
#[derive(Debug, Clone)]
pub struct JobSpec {
    pub job: JobTable,
    pub train: TrainTable,
    /// `[sweep]`: the grid of `[train]` values a job array runs; `None` for one job.
    pub sweep: Option<Sweep>,
    /// Where each `[job]` value a site or user file may set came from (once
    /// `apply_config` ran).
    pub origins: BTreeMap<String, crate::config::Origin>,
    /// The spec text as read, copied verbatim into each run folder.
    pub source_text: String,
    /// Where the spec came from (`<embedded>` for the built-in default).
    pub source_path: PathBuf,
    /// Relative paths in the spec resolve against this folder.
    pub base_dir: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct SpecFile {
    job: JobTable,
    train: TrainTable,
    #[serde(default)]
    sweep: Option<sweep::RawSweep>,
}

/// Which machinery runs the job.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, Default, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum BackendChoice {
    /// Slurm when `sbatch` is on PATH, else a local process.
    #[default]
    Auto,
    Slurm,
    Local,
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct JobTable {
    pub name: JobName,
    /// Required, from the spec or a site or user config file (`config::apply` checks it).
    #[serde(default = "unset_name")]
    pub partition: SlurmName,
    /// `gpus = 1`, or a type too: `gpus = "a30:1"` (rendered as `--gres=gpu:a30:1`).
    #[serde(default)]
    pub gpus: Gpus,
    /// How the script asks for GPUs: `gres` (`--gres=gpu[:TYPE]:N`) or `gpus`
    /// (`--gpus=[TYPE:]N`); sites differ in which they accept.
    #[serde(default)]
    pub gpu_request: GpuRequest,
    /// The GPU type alone (`gpu_type = "a30"`), for specs that keep `gpus` a number.
    #[serde(default)]
    pub gpu_type: Option<SlurmName>,
    #[serde(default = "default_cpus")]
    pub cpus: Positive<u32>,
    pub time: SlurmDuration,
    /// Memory for the whole job, in Slurm's syntax (`16G`, `4000M`).
    #[serde(default)]
    pub mem: Option<Memory>,
    #[serde(default)]
    pub qos: Option<SlurmName>,
    #[serde(default)]
    pub account: Option<SlurmName>,
    /// A reservation to run in (`--reservation`): a lab's window on reserved nodes.
    #[serde(default)]
    pub reservation: Option<SlurmName>,
    /// Node features the job needs (`--constraint`): `"a100"`, `"ampere&ib"`,
    /// `"(a100|h100)&ib"`; the pre-flight weighs only the nodes that have them.
    #[serde(default)]
    pub constraint: Option<Constraint>,
    /// The one node to run on (`--nodelist`): `"gpu07"`.
    #[serde(default)]
    pub nodelist: Option<NodeName>,
    /// Nodes to keep off (`--exclude`), as a Slurm host list: `"gpu[03-04],gpu09"`.
    #[serde(default)]
    pub exclude: Option<HostList>,
    /// A whole node to itself (`--exclusive`): no other job shares it, and the job gets all
    /// its CPUs.
    #[serde(default)]
    pub exclusive: bool,
    /// `--mail-type` (ALL, BEGIN, END, FAIL, ... or a comma list).
    #[serde(default)]
    pub mail_type: Option<MailType>,
    #[serde(default)]
    pub mail_user: Option<NoControlChars>,
    #[serde(default)]
    pub backend: BackendChoice,
    /// Where run folders go (one per submit); relative to the spec's folder.
    #[serde(default = "default_runs_dir")]
    pub runs_dir: PathBuf,
    /// `module load` these before the worker starts.
    #[serde(default)]
    pub modules: Vec<NoControlChars>,
    /// Extra environment for the worker.
    #[serde(default)]
    pub env: BTreeMap<EnvName, NoControlChars>,
    /// Extra sbatch options, passed as they are (`["--exclusive"]`).
    #[serde(default)]
    pub sbatch_options: Vec<NoControlChars>,
    /// Ask Slurm to requeue the job after a node failure or preemption.
    #[serde(default = "yes")]
    pub requeue: bool,
    /// Seconds before the time limit at which Slurm signals the job to checkpoint.
    #[serde(default = "default_signal_seconds")]
    pub signal_seconds: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainTable {
    pub data: PathBuf,
    pub model: String,
    #[serde(default = "default_epochs")]
    pub epochs: Positive<u32>,
    #[serde(default = "default_batch")]
    pub batch_size: Positive<u32>,
    #[serde(default = "default_lr")]
    pub learning_rate: PositiveF64,
    #[serde(default = "default_max_length")]
    pub max_length: Positive<u32>,
    #[serde(default = "default_seed")]
    pub seed: u64,
    #[serde(default)]
    pub split: Split,
    #[serde(default = "default_weight_decay")]
    pub weight_decay: NonNegativeF64,
    /// Fraction of the training steps spent warming the learning rate up.
    #[serde(default = "default_warmup")]
    pub warmup_ratio: Fraction,
    /// After warm-up: `constant` (the reference run's plain AdamW) or `linear` decay to 0.
    #[serde(default)]
    pub lr_schedule: LrSchedule,
    /// Clip gradients to this global norm (off by default, as in the reference run).
    #[serde(default)]
    pub max_grad_norm: Option<PositiveF64>,
    #[serde(default = "default_dropout")]
    pub dropout: Fraction,
    /// Sort sentences of similar length into the same batch (less padding, same maths).
    #[serde(default = "yes")]
    pub length_bucketing: bool,
    /// Write a checkpoint every this many optimizer steps (0: only on signals).
    #[serde(default = "default_checkpoint_every")]
    pub checkpoint_every: u32,
    /// One progress line in the log every this many steps.
    #[serde(default = "default_log_every")]
    pub log_every: Positive<u32>,
    /// Train on at most this many sentences (a quick smoke run); the test split is kept whole.
    #[serde(default)]
    pub max_train_sentences: Option<Positive<u32>>,
    /// Warn about and skip malformed data lines instead of stopping.
    #[serde(default)]
    pub skip_bad_lines: bool,
    /// `auto` (CUDA when built with it and a GPU is visible), `cpu` or `cuda`.
    #[serde(default)]
    pub device: DeviceChoice,
    /// Float32 matrix products on a GPU: `tf32` (tensor cores: inputs rounded to a 10-bit
    /// mantissa, float32 accumulation; the default, as test accuracy over seeds equals f32's) or
    /// `f32`. The CPU always computes in f32.
    #[serde(default)]
    pub precision: Precision,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    F32,
    #[default]
    Tf32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LrSchedule {
    #[default]
    Constant,
    Linear,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum DeviceChoice {
    #[default]
    Auto,
    Cpu,
    Cuda,
}

/// How the job script asks Slurm for GPUs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum GpuRequest {
    /// `--gres=gpu[:TYPE]:N`: GPUs per node.
    #[default]
    Gres,
    /// `--gpus=[TYPE:]N`: GPUs per job.
    Gpus,
}

fn unset_name() -> SlurmName {
    SlurmName(String::new())
}

fn yes() -> bool {
    true
}
fn default_cpus() -> Positive<u32> {
    Positive(1)
}
fn default_runs_dir() -> PathBuf {
    PathBuf::from("runs")
}
fn default_signal_seconds() -> u32 {
    90
}
fn default_epochs() -> Positive<u32> {
    Positive(3)
}
fn default_batch() -> Positive<u32> {
    Positive(16)
}
fn default_lr() -> PositiveF64 {
    PositiveF64(2e-5)
}
fn default_max_length() -> Positive<u32> {
    Positive(128)
}
fn default_seed() -> u64 {
    42
}
fn default_weight_decay() -> NonNegativeF64 {
    NonNegativeF64(0.01)
}
fn default_warmup() -> Fraction {
    Fraction(0.0)
}
fn default_dropout() -> Fraction {
    Fraction(0.1)
}
fn default_checkpoint_every() -> u32 {
    200
}
fn default_log_every() -> Positive<u32> {
    Positive(10)
}

impl JobSpec {
    /// Reads and validates the spec at `path`.
    pub fn load(path: &Path) -> Result<Self, SpecError> {
        Self::load_relative_to(path, &folder_of(path))
    }

    /// Reads and validates the spec at `path`, its relative paths against `base_dir` (a run
    /// folder's copy resolves against the folder the original was submitted from).
    pub fn load_relative_to(path: &Path, base_dir: &Path) -> Result<Self, SpecError> {
        let text = std::fs::read_to_string(path).map_err(|source| SpecError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path, base_dir)
    }

    /// The built-in default spec; its relative paths resolve against `base_dir`.
    pub fn embedded(base_dir: &Path) -> Result<Self, SpecError> {
        Self::parse(
            EMBEDDED_DEFAULT,
            Path::new("<embedded jobs/finbert.toml>"),
            base_dir,
        )
    }

    /// Parses `text` (the contents of `path`); validation errors point into `text`.
    pub fn parse(text: &str, path: &Path, base_dir: &Path) -> Result<Self, SpecError> {
        let invalid = |key: String, message: String, span: Option<std::ops::Range<usize>>| {
            let (line, column) = span
                .map(|s| line_and_column(text, s.start))
                .unwrap_or((1, 1));
            SpecError::Invalid {
                path: path.to_path_buf(),
                line,
                column,
                key,
                message,
            }
        };
        let file: SpecFile = from_toml(text, path)?;
        let mut job = file.job;
        job.settle_gpu_type(text, path)?;
        let sweep = match file.sweep {
            None => None,
            Some(raw) => {
                let train = raw_train_table(text);
                raw.into_sweep(|key, value| check_train_value(&train, key, value))
                    .map_err(|p| {
                        let span = p.span_in(text);
                        invalid(p.key, p.message, Some(span))
                    })?
            }
        };
        Ok(JobSpec {
            job,
            train: file.train,
            sweep,
            origins: BTreeMap::new(),
            source_text: text.to_string(),
            source_path: path.to_path_buf(),
            base_dir: base_dir.to_path_buf(),
        })
    }

    /// Task `index` of the sweep as a spec of its own: the `[train]` table with the task's
    /// values in place and no `[sweep]`, its text headed by a comment that says so. This text
    /// is the task's `spec.toml`, which the worker reads.
    pub fn task(&self, index: usize) -> Result<JobSpec, SpecError> {
        let invalid = |message: String| SpecError::Invalid {
            path: self.source_path.clone(),
            line: 1,
            column: 1,
            key: "sweep".into(),
            message,
        };
        let Some(sweep) = self.sweep.as_ref().filter(|s| index < s.len()) else {
            return Err(invalid(format!("the spec has no sweep task {index}")));
        };
        let point = sweep.point(index);
        let mut doc: toml_edit::DocumentMut = self
            .source_text
            .parse()
            .map_err(|e: toml_edit::TomlError| invalid(e.message().to_string()))?;
        doc.remove("sweep");
        for (key, value) in &point.values {
            let value: toml_edit::Value = value
                .to_string()
                .parse()
                .map_err(|e: toml_edit::TomlError| invalid(e.message().to_string()))?;
            doc["train"][key.as_str()] = toml_edit::Item::Value(value);
        }
        let text = format!(
            "# Task {index} of the sweep in {}: {}\n{doc}",
            self.source_path.display(),
            point.label()
        );
        let mut spec = JobSpec::parse(&text, &self.source_path, &self.base_dir)?;
        spec.source_path = self.source_path.clone();
        Ok(spec)
    }

    /// The site and user files' defaults for the `[job]` keys this spec leaves out; the
    /// spec's copy in each run folder is then written with them in place.
    pub fn apply_config(&mut self, config: &crate::config::Config) -> Result<(), SpecError> {
        let set = job_keys(&self.source_text);
        let path = std::path::absolute(&self.source_path).unwrap_or(self.source_path.clone());
        self.origins = crate::config::apply(&mut self.job, &set, &path, config)?;
        let filled: Vec<&String> = self
            .origins
            .iter()
            .filter(|(_, o)| {
                matches!(
                    o,
                    crate::config::Origin::Site(_) | crate::config::Origin::User(_)
                )
            })
            .map(|(k, _)| k)
            .collect();
        if !filled.is_empty() {
            self.source_text = with_job_keys(&self.source_text, &self.job, &filled, &self.origins);
        }
        Ok(())
    }

    /// `submit --time` and `--mem` over the `[job]` table, the last layer: the spec's text
    /// (copied into the run folder) gets each value marked `# from flag`.
    pub fn set_limits(&mut self, time: Option<SlurmDuration>, mem: Option<Memory>) {
        let mut keys = Vec::new();
        if let Some(time) = time {
            self.job.time = time;
            keys.push("time".to_string());
        }
        if let Some(mem) = mem {
            self.job.mem = Some(mem);
            keys.push("mem".to_string());
        }
        for key in &keys {
            self.origins
                .insert(key.clone(), crate::config::Origin::Flag);
        }
        if !keys.is_empty() {
            let keys: Vec<&String> = keys.iter().collect();
            self.source_text = with_job_keys(&self.source_text, &self.job, &keys, &self.origins);
        }
    }

    /// A path from the spec, made absolute against the spec's folder.
    pub fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            normalize(p)
        } else {
            normalize(&self.base_dir.join(p))
        }
    }
}

impl JobTable {
    /// `gpu_type = "a30"` folded into `gpus`, once (`text` and `path` to point at it).
    fn settle_gpu_type(&mut self, text: &str, path: &Path) -> Result<(), SpecError> {
        let Some(ty) = self.gpu_type.take() else {
            return Ok(());
        };
        match &self.gpus.gpu_type {
            Some(other) if *other != ty.0 => {
                let at = text.find("gpu_type").unwrap_or(0);
                let (line, column) = line_and_column(text, at);
                Err(SpecError::Invalid {
                    path: path.to_path_buf(),
                    line,
                    column,
                    key: "job.gpu_type".into(),
                    message: format!(
                        "{:?} contradicts gpus = \"{}\"; name the type once",
                        ty.0, self.gpus
                    ),
                })
            }
            _ => {
                self.gpus.gpu_type = Some(ty.0);
                Ok(())
            }
        }
    }
}

/// The folder a spec file's relative paths resolve against: its own, made absolute.
pub(crate) fn folder_of(path: &Path) -> PathBuf {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf())
}

/// Deserializes a spec file's text; an error names the file, line, column and key path.
pub(crate) fn from_toml<T: serde::de::DeserializeOwned>(
    text: &str,
    path: &Path,
) -> Result<T, SpecError> {
    let invalid = |key: String, message: String, span: Option<std::ops::Range<usize>>| {
        let (line, column) = span
            .map(|s| line_and_column(text, s.start))
            .unwrap_or((1, 1));
        SpecError::Invalid {
            path: path.to_path_buf(),
            line,
            column,
            key,
            message,
        }
    };
    let deserializer = toml::Deserializer::parse(text)
        .map_err(|e| invalid(String::new(), e.message().to_string(), e.span()))?;
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let key = e.path().to_string();
        let inner = e.into_inner();
        invalid(key, inner.message().to_string(), inner.span())
    })
}

/// Removes `.` and `..` components without touching the file system (`jobs/../runs` is `runs`).
pub fn normalize(p: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir
                if matches!(out.components().next_back(), Some(Component::Normal(_))) =>
            {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// The keys the spec's `[job]` table sets itself.
pub fn job_keys(text: &str) -> Vec<String> {
    text.parse::<toml::Table>()
        .ok()
        .and_then(|t| match t.get("job") {
            Some(toml::Value::Table(job)) => Some(job.keys().cloned().collect()),
            _ => None,
        })
        .unwrap_or_default()
}

/// The spec's text with the `[job]` keys a config file filled written in, each with a comment
/// naming its file, so the copy in the run folder says everything the job was run with.
fn with_job_keys(
    text: &str,
    job: &JobTable,
    keys: &[&String],
    origins: &BTreeMap<String, crate::config::Origin>,
) -> String {
    let Ok(mut doc) = text.parse::<toml_edit::DocumentMut>() else {
        return text.to_string();
    };
    let Ok(toml::Value::Table(values)) = toml::Value::try_from(job) else {
        return text.to_string();
    };
    for key in keys {
        let (Some(value), Some(origin)) = (values.get(key.as_str()), origins.get(key.as_str()))
        else {
            continue;
        };
        let Ok(mut item) = value.to_string().parse::<toml_edit::Value>() else {
            continue;
        };
        item.decor_mut().set_suffix(format!(" # from {origin}"));
        doc["job"][key.as_str()] = toml_edit::Item::Value(item);
    }
    doc.to_string()
}

/// The `[train]` table as written, for checking a sweep value in its place.
fn raw_train_table(text: &str) -> toml::Table {
    text.parse::<toml::Table>()
        .ok()
        .and_then(|mut t| match t.remove("train") {
            Some(toml::Value::Table(train)) => Some(train),
            _ => None,
        })
        .unwrap_or_default()
}

/// Whether `[train]` with `key = value` in place is a valid table: the message of the first
/// problem if not.
fn check_train_value(
    train: &toml::Table,
    key: &str,
    value: &toml::Value,
) -> Result<(), sweep::ValueProblem> {
    let mut train = train.clone();
    train.insert(key.to_string(), value.clone());
    match serde_path_to_error::deserialize::<_, TrainTable>(toml::Value::Table(train)) {
        Ok(_) => Ok(()),
        Err(e) => {
            let message = e.into_inner().message().to_string();
            if message.contains("unknown field") {
                Err(sweep::ValueProblem::NotATrainKey(format!(
                    "`{key}` is not a [train] key, so it cannot be swept ({message})"
                )))
            } else {
                Err(sweep::ValueProblem::Invalid(message))
            }
        }
    }
}

fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map(|i| i + 1).unwrap_or(0) + 1;
    (line, column)
}
