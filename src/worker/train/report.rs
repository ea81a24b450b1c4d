//! What the loop tells people: progress lines in the job log, JSON events in metrics.jsonl, a
//! progress bar on a terminal.

use std::io::Write;
use std::path::Path;

use anyhow::Context;

use crate::run_dir::{MetricEvent, RunDir};
use crate::worker::io::metrics::Metrics;

/// Writes progress lines to stdout (the job log) and JSON lines to metrics.jsonl.
pub struct Reporter {
    metrics: std::fs::File,
    quiet: bool,
}

impl Reporter {
    pub fn open(run_dir: &Path, quiet: bool) -> anyhow::Result<Reporter> {
        let path = RunDir::new(run_dir).metrics();
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        Ok(Reporter {
            metrics: file,
            quiet,
        })
    }
    pub fn line(&self, text: &str) {
        if !self.quiet {
            println!("{text}");
            let _ = std::io::stdout().flush();
        }
    }
    pub fn event(&mut self, event: &MetricEvent) {
        if let Ok(line) = serde_json::to_string(event) {
            let _ = writeln!(self.metrics, "{line}");
        }
    }
}

pub fn progress_bar(total: u64, at: u64, quiet: bool) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    if quiet || !std::io::stdout().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(total);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{bar:40} {pos}/{len} steps, {elapsed} elapsed, ETA {eta} {msg}",
    ) {
        bar.set_style(style);
    }
    bar.set_position(at);
    Some(bar)
}

/// The test-set event before or after training.
pub fn test_event(when: &str, m: &Metrics) -> MetricEvent {
    MetricEvent::Eval {
        split: "test".into(),
        when: when.into(),
        accuracy: m.accuracy,
        macro_f1: m.macro_f1,
        loss: m.loss,
    }
}
