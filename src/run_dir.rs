//! A run folder: the contract between the launcher, which makes it and reads it back
//! (`status`, `tail`, `report`, `predict`), and the worker, which fills it. Each file has one
//! method here, and what the worker writes is typed (`Summary`, `MetricEvent`), so renaming a
//! field is a compile error in every reader, not a blank column in a report.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::spec::{LrSchedule, TrainTable};
use crate::worker::gpu::GpuSummary;
use crate::worker::io::metrics::Metrics;

/// The folder of one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunDir(PathBuf);

impl RunDir {
    pub fn new(path: impl Into<PathBuf>) -> RunDir {
        RunDir(path.into())
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// `run.json`: what was submitted, where, when (`runs::RunRecord`).
    pub fn record(&self) -> PathBuf {
        self.0.join("run.json")
    }

    /// The spec as submitted.
    pub fn spec_copy(&self) -> PathBuf {
        self.0.join("spec.toml")
    }

    /// The rendered sbatch script.
    pub fn script(&self) -> PathBuf {
        self.0.join("job.sbatch")
    }

    /// The job's output, kept across requeues.
    pub fn log(&self) -> PathBuf {
        self.0.join("job.log")
    }

    /// One `MetricEvent` a line.
    pub fn metrics(&self) -> PathBuf {
        self.0.join("metrics.jsonl")
    }

    /// The worker's `Summary`, written once training has finished.
    pub fn summary(&self) -> PathBuf {
        self.0.join("summary.json")
    }

    /// The fine-tuned model, in Hugging Face layout.
    pub fn model(&self) -> PathBuf {
        self.0.join("model")
    }

    pub fn checkpoints(&self) -> PathBuf {
        self.0.join("checkpoints")
    }

    /// The exact train/validation/test split.
    pub fn split(&self) -> PathBuf {
        self.0.join("split.json")
    }

    /// The exact batches of each epoch.
    pub fn batches(&self) -> PathBuf {
        self.0.join("batches.json")
    }

    /// A sweep's task folder (`task-3`): a run folder of its own.
    pub fn task(&self, index: usize) -> PathBuf {
        self.0.join(format!("task-{index}"))
    }

    /// Local backend, a sweep's task: the process running it, while it runs.
    pub fn pid(&self) -> PathBuf {
        self.0.join("pid")
    }

    /// Local backend: the script's exit status, written when it ends.
    pub fn exit_code(&self) -> PathBuf {
        self.0.join("exit_code")
    }

    /// Local backend: present once `yenjob cancel` has stopped the job.
    pub fn cancelled(&self) -> PathBuf {
        self.0.join("cancelled")
    }

    /// `report`'s plots.
    pub fn training_plot(&self) -> PathBuf {
        self.0.join("training.svg")
    }

    pub fn confusion_plot(&self) -> PathBuf {
        self.0.join("confusion.svg")
    }

    /// `report`'s GPU chart, when NVML sampled the GPU.
    pub fn gpu_plot(&self) -> PathBuf {
        self.0.join("gpu.svg")
    }

    /// A score job: what to score (`score::ScoreJob`).
    pub fn score_job(&self) -> PathBuf {
        self.0.join("score.json")
    }

    /// A score job: what is durable so far (`score::Progress`).
    pub fn score_progress(&self) -> PathBuf {
        self.0.join("score-progress.json")
    }

    /// A score job: what it did (`score::ScoreSummary`), once finished.
    pub fn score_summary(&self) -> PathBuf {
        self.0.join("score-summary.json")
    }

    pub fn has_summary(&self) -> bool {
        self.summary().is_file()
    }

    /// The summary; `Ok(None)` while the run has not finished.
    pub fn read_summary(&self) -> Result<Option<Summary>, RunFileError> {
        let path = self.summary();
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(RunFileError::Read { path, source }),
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|source| RunFileError::Damaged { path, source })
    }

    /// Every event in `metrics.jsonl`, read line by line: a line that is not a known event (a
    /// torn last line, a stray byte) is skipped and counted, never the whole file.
    pub fn read_events(&self) -> Events {
        let mut events = Events::default();
        let Ok(file) = std::fs::File::open(self.metrics()) else {
            return events;
        };
        for line in std::io::BufReader::new(file).split(b'\n') {
            let Ok(line) = line else { break };
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match serde_json::from_slice::<MetricEvent>(&line) {
                Ok(e) => events.events.push(e),
                Err(_) => events.skipped += 1,
            }
        }
        events
    }
}

/// A run file that cannot be read or understood.
#[derive(Debug, thiserror::Error)]
pub enum RunFileError {
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is damaged (not what the worker writes)")]
    Damaged {
        path: PathBuf,
        source: serde_json::Error,
    },
}

/// What summary.json records of the spec's `[train]` table: the values the run trained with,
/// defaults filled in (the field names are those of 0.1.0's summaries, which still read).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hyperparameters {
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub seed: u64,
    pub weight_decay: f64,
    pub warmup_ratio: f64,
    pub constant_lr: bool,
    /// Clip gradients to this global norm; `None`: no clipping.
    pub max_grad_norm: Option<f64>,
    pub dropout: f64,
    pub length_bucketing: bool,
    pub checkpoint_every: u64,
    pub log_every: u64,
}

impl From<&TrainTable> for Hyperparameters {
    fn from(t: &TrainTable) -> Hyperparameters {
        Hyperparameters {
            epochs: t.epochs.get(),
            batch_size: t.batch_size.get(),
            learning_rate: t.learning_rate.0,
            seed: t.seed,
            weight_decay: t.weight_decay.0,
            warmup_ratio: t.warmup_ratio.0,
            constant_lr: t.lr_schedule == LrSchedule::Constant,
            max_grad_norm: t.max_grad_norm.as_ref().map(|m| m.0),
            dropout: t.dropout.0,
            length_bucketing: t.length_bucketing,
            checkpoint_every: u64::from(t.checkpoint_every),
            log_every: u64::from(t.log_every.0),
        }
    }
}

/// `summary.json`: what a finished training run measured.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Summary {
    /// Test set, before and after training.
    pub before: Metrics,
    pub after: Metrics,
    /// Validation set, after each epoch.
    pub validation: Vec<Metrics>,
    pub train_seconds: f64,
    pub train_sentences_per_second: f64,
    pub inference_sentences_per_second: f64,
    pub wall_seconds: f64,
    /// `cpu (2 threads)`, `cuda:0 (NVIDIA H200)`.
    pub device: String,
    /// The model fine-tuned from.
    pub model: PathBuf,
    pub parameters: u64,
    pub hyperparameters: Hyperparameters,
    pub train_sentences: u64,
    pub steps: u64,
    pub padded_tokens_per_epoch: u64,
    pub real_tokens_per_epoch: u64,
    pub peak_rss_mib: Option<u64>,
    pub gpu: Option<GpuSummary>,
    pub suggested_batch_size: Option<u64>,
    pub resumed_from_step: Option<u64>,
    /// The fine-tuned model.
    pub model_dir: PathBuf,
}

/// One line of `metrics.jsonl`, tagged by `event`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum MetricEvent {
    /// Every `log_every` steps: the mean loss since the last one and the time per phase.
    Step {
        epoch: u64,
        epochs: u64,
        step: u64,
        total_steps: u64,
        loss: f64,
        lr: f64,
        grad_norm: f64,
        sentences_per_second: f64,
        forward_seconds: f64,
        backward_seconds: f64,
        optimizer_seconds: f64,
    },
    /// The end of an epoch, on the validation set.
    Epoch {
        epoch: u64,
        epochs: u64,
        split: String,
        accuracy: f64,
        macro_f1: f64,
        loss: f64,
    },
    /// The test set, `when` = `before` or `after` training.
    Eval {
        split: String,
        when: String,
        accuracy: f64,
        macro_f1: f64,
        loss: f64,
    },
    Resume {
        step: u64,
    },
    Checkpoint {
        step: u64,
    },
    /// A score job, after each chunk: records read of the input's total, rows written.
    Score {
        done: u64,
        total: u64,
        written: u64,
        records_per_second: f64,
        seconds_left: f64,
    },
    /// An NVML sample.
    Gpu {
        utilization_percent: u64,
        memory_used_mib: u64,
        memory_total_mib: u64,
    },
}

/// What `RunDir::read_events` found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Events {
    pub events: Vec<MetricEvent>,
    /// Lines that were not an event.
    pub skipped: usize,
}

/// Writes `bytes` to `path` whole: a temp file in the same folder, synced, then renamed, so a
/// reader never sees half a file and a crash never leaves one.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    use std::io::Write;
    let err = |source| WriteError {
        path: path.to_path_buf(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(err)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(err)?;
    tmp.write_all(bytes).map_err(err)?;
    tmp.as_file().sync_all().map_err(err)?;
    tmp.persist(path).map_err(|e| err(e.error))?;
    Ok(())
}

#[derive(Debug, thiserror::Error)]
#[error("cannot write {path}")]
pub struct WriteError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

#[cfg(test)]
mod tests {
    use super::*;

    const OLD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/run-0.1.0");

    /// A run folder written by yenjob 0.1.0 still reads.
    #[test]
    fn run_folders_of_0_1_0_read() {
        let dir = RunDir::new(OLD);
        let s = dir.read_summary().unwrap().unwrap();
        assert_eq!(s.after.accuracy, 0.9601769911504425);
        assert_eq!(s.hyperparameters.max_grad_norm, None);
        assert_eq!(s.validation.len(), 2);
        let events = dir.read_events();
        assert_eq!(events.skipped, 0);
        let steps = events
            .events
            .iter()
            .filter(|e| matches!(e, MetricEvent::Step { .. }))
            .count();
        assert_eq!(steps, 10);
        assert!(events.events.iter().any(
            |e| matches!(e, MetricEvent::Eval { when, accuracy, .. } if when == "after" && *accuracy > 0.96)
        ));
    }

    /// One bad byte in metrics.jsonl costs that line, not the file.
    #[test]
    fn a_bad_metrics_line_is_skipped_and_counted() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = RunDir::new(tmp.path());
        let good = std::fs::read(RunDir::new(OLD).metrics()).unwrap();
        let mut bytes = b"{\"event\":\"step\",\xff}\n".to_vec();
        bytes.extend_from_slice(&good);
        bytes.extend_from_slice(b"{\"event\":\"ste");
        std::fs::write(dir.metrics(), bytes).unwrap();
        let events = dir.read_events();
        assert_eq!(events.skipped, 2);
        assert_eq!(
            events.events.len(),
            RunDir::new(OLD).read_events().events.len()
        );
    }

    #[test]
    fn a_damaged_summary_names_its_file() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = RunDir::new(tmp.path());
        assert!(dir.read_summary().unwrap().is_none());
        std::fs::write(dir.summary(), "garbage").unwrap();
        let e = dir.read_summary().unwrap_err().to_string();
        assert!(e.contains(&dir.summary().display().to_string()), "{e}");
        assert!(e.contains("is damaged"), "{e}");
    }

    #[test]
    fn atomic_write_replaces_whole_file() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("a/b.json");
        atomic_write(&p, b"one").unwrap();
        atomic_write(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
    }
}
