//! Scoring a corpus with a fine-tuned model, as a job: read, tokenize (in parallel), batch by
//! length, infer, write — a chunk of records at a time, so memory is that of one chunk
//! whatever the corpus. After each chunk the output is synced and `score-progress.json`
//! records where input and output stand; a job that is requeued, pre-empted or stopped at its
//! time limit resumes there: the output never holds a torn or a doubled row.
//!
//! `ScoreJob` (the run folder's `score.json`) is the contract between `yenjob score`, which
//! writes it, and `yenjob score-worker`, which the job script runs.

pub mod input;
pub mod output;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::run_dir::{MetricEvent, RunDir, atomic_write};
use crate::worker::io::data::LABELS;
use crate::worker::io::predict::Classifier;
use crate::worker::train::Reporter;

use input::{Encoding, InputFormat, Item, Position, Problem, Reader};
use output::{OutputFormat, Score, Writer};

/// Records read, scored and written at a time: the unit of progress and of durability.
pub const CHUNK: usize = 2048;

/// What to score, with what, and where the rows go (`score.json` in the run folder).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreJob {
    /// A model folder written by `yenjob worker`.
    pub model: PathBuf,
    pub input: PathBuf,
    pub format: InputFormat,
    /// The CSV column or JSON field holding the text.
    pub text_column: Option<String>,
    pub encoding: Encoding,
    pub output: PathBuf,
    pub output_format: OutputFormat,
    /// Stop at the first record that cannot be scored, instead of skipping and counting it.
    pub strict: bool,
}

/// `score-progress.json`: what is durable after the last chunk.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// Records in the input, counted once when the job first ran.
    #[serde(default)]
    pub total: u64,
    /// Where the next input record starts.
    pub input: Position,
    /// The output's durable length in bytes.
    pub output_bytes: u64,
    /// Rows written.
    pub written: u64,
    /// Records skipped, by why.
    pub skipped: BTreeMap<Problem, u64>,
    /// The first few skipped records: (record number, why).
    pub examples: Vec<(u64, Problem)>,
    /// Records longer than the model's window, scored on their first `max_length` tokens.
    pub truncated: u64,
    /// Rows per label.
    pub labels: [u64; 3],
    /// Seconds spent scoring, summed over runs of the job.
    pub seconds: f64,
}

/// `score-summary.json`: what a finished job did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreSummary {
    pub input: PathBuf,
    pub output: PathBuf,
    pub model: PathBuf,
    pub records: u64,
    pub written: u64,
    pub skipped: BTreeMap<Problem, u64>,
    pub examples: Vec<(u64, Problem)>,
    pub truncated: u64,
    /// Rows per label, by name.
    pub labels: BTreeMap<String, u64>,
    pub seconds: f64,
    pub records_per_second: f64,
    /// Resumed from this many records, when it did.
    pub resumed_at: Option<u64>,
    pub device: String,
    /// The worker's peak resident memory (this run of the job).
    pub peak_rss_mib: Option<u64>,
}

/// How many skipped records are named in the log and the summary.
const EXAMPLES: usize = 10;

#[derive(Debug, thiserror::Error)]
pub enum ScoreError {
    #[error("{path}: record {number} {}; stopped (--strict)", problem.describe())]
    Strict {
        path: PathBuf,
        number: u64,
        problem: Problem,
    },
    #[error(
        "the output {output} is the input {input} under another name: writing it would destroy the input"
    )]
    OutputIsInput { output: PathBuf, input: PathBuf },
}

pub enum Outcome {
    Finished(Box<ScoreSummary>),
    /// Stopped on a signal after making `written` rows durable.
    Interrupted {
        written: u64,
    },
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> anyhow::Result<Option<T>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(anyhow::Error::new(e).context(format!("cannot read {}", path.display())));
        }
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| anyhow::Error::new(e).context(format!("{} is damaged", path.display())))
}

/// The job in `run_dir`, its summary if it finished.
pub fn read_summary(run_dir: &RunDir) -> anyhow::Result<Option<ScoreSummary>> {
    read_json(&run_dir.score_summary())
}

/// Scores the job in `run_dir` from where an earlier run of it stopped.
pub fn run(run_dir: &RunDir, interrupt: &Arc<AtomicBool>) -> anyhow::Result<Outcome> {
    let job: ScoreJob = read_json(&run_dir.score_job())?.ok_or_else(|| {
        anyhow::anyhow!(
            "{} is missing: not a score job's folder",
            run_dir.score_job().display()
        )
    })?;
    let mut report = Reporter::open(run_dir.path(), false)?;
    // Checked at submit too; a link made since must not turn the input into the output.
    if output::same_file(&job.output, &job.input) {
        return Err(ScoreError::OutputIsInput {
            output: job.output.clone(),
            input: job.input.clone(),
        }
        .into());
    }
    let classifier = Classifier::load(&job.model)?;
    let mut reader = Reader::open(
        &job.input,
        job.format,
        job.text_column.as_deref(),
        job.encoding,
    )?;
    let columns = reader.header();
    let earlier: Option<Progress> = read_json(&run_dir.score_progress())?;
    let (mut progress, mut writer) = match earlier {
        Some(p) => {
            let total = p.total;
            reader.seek(p.input)?;
            let w = Writer::resume(&job.output, job.output_format, columns, p.output_bytes)?;
            report.line(&format!(
                "[score] resuming after record {} of {total} ({} rows written)",
                p.input.records, p.written
            ));
            report.event(&MetricEvent::Resume {
                step: p.input.records,
            });
            (p, w)
        }
        None => {
            let mut w = Writer::create(&job.output, job.output_format, columns)?;
            let p = Progress {
                total: input::count_records(&job.input, job.format)?,
                input: reader.position(),
                output_bytes: w.sync()?,
                ..Progress::default()
            };
            atomic_write(&run_dir.score_progress(), &serde_json::to_vec_pretty(&p)?)?;
            (p, w)
        }
    };
    let total = progress.total;
    let resumed_at = (progress.input.records > 0).then_some(progress.input.records);
    report.line(&format!(
        "[score] {} ({total} records) with {} on {}, {} records a chunk -> {}",
        job.input.display(),
        job.model.display(),
        classifier.device_name(),
        CHUNK,
        job.output.display()
    ));
    let started = Instant::now();
    let seconds_before = progress.seconds;
    let done_before = progress.input.records;
    loop {
        if interrupt.load(Ordering::Relaxed) {
            report.line(&format!(
                "[score] stopping on a signal: {} rows written and durable; a requeued job resumes after record {}",
                progress.written, progress.input.records
            ));
            return Ok(Outcome::Interrupted {
                written: progress.written,
            });
        }
        let mut items: Vec<Item> = Vec::with_capacity(CHUNK);
        while items.len() < CHUNK {
            match reader.next_item()? {
                Some(item) => items.push(item),
                None => break,
            }
        }
        if items.is_empty() {
            break;
        }
        let records: Vec<&input::Record> = items.iter().filter_map(|i| i.as_ref().ok()).collect();
        let texts: Vec<&str> = records.iter().map(|r| r.text.as_str()).collect();
        let scored = classifier.classify(&texts)?;
        let mut scores = scored.iter();
        for item in &items {
            match item {
                Ok(record) => {
                    let Some(s) = scores.next() else { break };
                    writer.row(
                        record,
                        Score {
                            label: s.label,
                            probabilities: s.probabilities,
                        },
                    )?;
                    progress.written += 1;
                    progress.labels[s.label] += 1;
                    progress.truncated += u64::from(s.truncated);
                }
                Err((number, problem)) => {
                    if job.strict {
                        return Err(ScoreError::Strict {
                            path: job.input.clone(),
                            number: *number,
                            problem: *problem,
                        }
                        .into());
                    }
                    *progress.skipped.entry(*problem).or_insert(0) += 1;
                    if progress.examples.len() < EXAMPLES {
                        progress.examples.push((*number, *problem));
                        report.line(&format!(
                            "[score] {} record {number} {}; skipped",
                            job.input.display(),
                            problem.describe()
                        ));
                    }
                }
            }
        }
        progress.output_bytes = writer.sync()?;
        progress.input = reader.position();
        progress.seconds = seconds_before + started.elapsed().as_secs_f64();
        atomic_write(
            &run_dir.score_progress(),
            &serde_json::to_vec_pretty(&progress)?,
        )?;
        let rate = (progress.input.records - done_before) as f64
            / started.elapsed().as_secs_f64().max(1e-9);
        let left = total.saturating_sub(progress.input.records);
        report.event(&MetricEvent::Score {
            done: progress.input.records,
            total,
            written: progress.written,
            records_per_second: rate,
            seconds_left: left as f64 / rate.max(1e-9),
        });
        report.line(&format!(
            "[score] {}/{total} records, {:.0} records/s, {} left",
            progress.input.records,
            rate,
            humantime::format_duration(std::time::Duration::from_secs(
                (left as f64 / rate.max(1e-9)) as u64
            ))
        ));
    }
    let records = progress.input.records;
    let summary = ScoreSummary {
        input: job.input.clone(),
        output: job.output.clone(),
        model: job.model.clone(),
        records,
        written: progress.written,
        skipped: progress.skipped.clone(),
        examples: progress.examples.clone(),
        truncated: progress.truncated,
        labels: LABELS
            .iter()
            .zip(progress.labels)
            .map(|(l, n)| (l.to_string(), n))
            .collect(),
        seconds: progress.seconds,
        records_per_second: records as f64 / progress.seconds.max(1e-9),
        resumed_at,
        device: classifier.device_name(),
        peak_rss_mib: crate::worker::peak_rss_mib(),
    };
    atomic_write(
        &run_dir.score_summary(),
        &serde_json::to_vec_pretty(&summary)?,
    )?;
    let skipped: u64 = summary.skipped.values().sum();
    report.line(&format!(
        "[done] {} rows written to {} ({skipped} records skipped, {} truncated to the model's window); {:.1} s, {:.0} records/s, peak memory {}",
        summary.written,
        job.output.display(),
        summary.truncated,
        summary.seconds,
        summary.records_per_second,
        summary
            .peak_rss_mib
            .map_or("n/a".to_string(), |m| format!("{m} MiB"))
    ));
    Ok(Outcome::Finished(Box::new(summary)))
}

/// `yenjob score-worker --run-dir DIR`, what the job script runs: threads as Slurm gave them,
/// SIGUSR1/SIGTERM stop it after the chunk in hand (exit 75: the script requeues the job).
pub fn run_cli(run_dir: &Path) -> anyhow::Result<i32> {
    crate::worker::set_threads();
    let interrupt = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGUSR1, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, interrupt.clone())
            .map_err(|e| anyhow::anyhow!("cannot install signal handlers: {e}"))?;
    }
    match run(&RunDir::new(run_dir), &interrupt)? {
        Outcome::Finished(_) => Ok(0),
        Outcome::Interrupted { .. } => Ok(crate::worker::EXIT_CHECKPOINTED),
    }
}

/// Checks that `dir` holds a fine-tuned classifier: its config and weights with a
/// classifier head (without loading the weights).
pub fn check_model(dir: &Path) -> anyhow::Result<()> {
    if !dir.join("config.json").is_file() {
        anyhow::bail!(
            "{} holds no model (no config.json; has the run finished? `yenjob status` tells)",
            dir.display()
        );
    }
    let weights = dir.join("model.safetensors");
    // SAFETY: the file is mapped read-only to read its header; nothing writes it meanwhile.
    let tensors = unsafe { candle_core::safetensors::MmapedSafetensors::new(&weights) }
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", weights.display()))?;
    let has_head = tensors
        .tensors()
        .iter()
        .any(|(name, _)| name == "classifier.weight");
    if !has_head {
        anyhow::bail!(
            "{} has no trained classifier (no classifier.weight): is it a model written by `yenjob worker`?",
            dir.display()
        );
    }
    Ok(())
}
