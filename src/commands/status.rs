//! `yenjob status [JOB]`: the user's yenjob jobs, with pending reasons in words and progress.

use crate::backend::{self, JobStatus};
use crate::run_dir::MetricEvent;
use crate::runs::{self, RunRecord};
use crate::slurm::Slurm;
use crate::slurm::duration::SlurmTime;
use crate::slurm::state::explain_reason;

#[derive(serde::Serialize)]
struct Row {
    job_id: String,
    name: String,
    run_dir: String,
    backend: runs::BackendKind,
    #[serde(flatten)]
    status: JobStatus,
    reason_text: Option<String>,
    start_estimate: Option<String>,
    /// The worker's latest step, epoch or test event, as in `metrics.jsonl`.
    progress: Option<MetricEvent>,
}

pub async fn run(job: Option<&str>, all: bool, json: bool) -> anyhow::Result<i32> {
    let slurm = Slurm::default();
    let records: Vec<RunRecord> = match job {
        Some(q) => vec![runs::find(Some(q))?],
        None => {
            let listing = runs::list();
            for damaged in &listing.damaged {
                eprintln!(
                    "yenjob: warning: {}; that run is left out",
                    crate::error_chain(damaged)
                );
            }
            let runs = listing.runs;
            let keep = if all { runs.len() } else { 10 };
            runs.into_iter().rev().take(keep).rev().collect()
        }
    };
    let mut rows = Vec::new();
    for r in records {
        // An unreachable controller fails the whole command with its own clear message.
        let mut status = backend::status(&slurm, &r).await?;
        if status.note.is_none() && !r.run_dir.is_dir() {
            status.note = Some(format!(
                "its run folder {} was deleted",
                r.run_dir.display()
            ));
        }
        let start_estimate = match &status.reason {
            Some(_) if r.backend == runs::BackendKind::Slurm => {
                slurm.start_estimate(&r.job_id).await.ok().flatten()
            }
            _ => None,
        };
        rows.push(Row {
            reason_text: status.reason.as_deref().map(explain_reason),
            job_id: r.job_id.clone(),
            name: r.job_name.clone(),
            run_dir: r.run_dir.display().to_string(),
            backend: r.backend,
            progress: latest_progress(&r),
            start_estimate,
            status,
        });
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(0);
    }
    if rows.is_empty() {
        println!("no yenjob runs yet: `yenjob submit jobs/finbert.toml` starts one");
        return Ok(0);
    }
    println!(
        "{:<12} {:<24} {:<11} {:<21} {:<10} PROGRESS",
        "JOB", "NAME", "STATE", "ELAPSED/LIMIT", "NODE"
    );
    for row in &rows {
        let s = &row.status;
        let elapsed = match s.elapsed {
            SlurmTime::NotSet => "-".to_string(),
            t => t.to_string(),
        };
        println!(
            "{:<12} {:<24} {:<11} {:<21} {:<10} {}",
            short(&row.job_id, 12),
            short(&row.name, 24),
            s.state.to_string(),
            format!("{elapsed}/{}", s.time_limit),
            short(&s.nodes, 10),
            row.progress.as_ref().map(progress_text).unwrap_or_default()
        );
        if let Some(text) = &row.reason_text {
            let when = row
                .start_estimate
                .as_deref()
                .map(|t| format!("; Slurm expects it to start {t}"))
                .unwrap_or_default();
            println!(
                "{:>12} pending ({}): {text}{when}",
                "",
                s.reason.as_deref().unwrap_or("")
            );
        }
        if let Some(note) = &s.note {
            println!("{:>12} {note}", "");
        }
        if let Some(code) = &s.exit_code
            && s.state.is_finished()
        {
            println!("{:>12} exit code {code}; run folder {}", "", row.run_dir);
        }
    }
    Ok(0)
}

fn short(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n - 1).collect::<String>() + "…"
    }
}

/// The last step, epoch or test event of the worker's `metrics.jsonl`.
fn latest_progress(r: &RunRecord) -> Option<MetricEvent> {
    r.dir().read_events().events.into_iter().rev().find(|e| {
        matches!(
            e,
            MetricEvent::Step { .. } | MetricEvent::Epoch { .. } | MetricEvent::Eval { .. }
        )
    })
}

fn progress_text(e: &MetricEvent) -> String {
    match e {
        MetricEvent::Step {
            epoch,
            epochs,
            step,
            total_steps,
            loss,
            ..
        } => format!("epoch {epoch}/{epochs} step {step}/{total_steps} loss {loss:.3}"),
        MetricEvent::Epoch {
            epoch,
            epochs,
            loss,
            accuracy,
            ..
        } => format!("epoch {epoch}/{epochs} loss {loss:.3} acc {accuracy:.3}"),
        MetricEvent::Eval { loss, accuracy, .. } => format!("loss {loss:.3} acc {accuracy:.3}"),
        _ => String::new(),
    }
}
