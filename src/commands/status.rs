//! `yenjob status [JOB]`: the user's yenjob jobs, with pending reasons in words and progress.

use crate::backend::{self, JobStatus};
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
    progress: Option<serde_json::Value>,
}

pub async fn run(job: Option<&str>, all: bool, json: bool) -> anyhow::Result<i32> {
    let slurm = Slurm::default();
    let records: Vec<RunRecord> = match job {
        Some(q) => vec![runs::find(Some(q))?],
        None => {
            let runs = runs::all();
            let keep = if all { runs.len() } else { 10 };
            runs.into_iter().rev().take(keep).rev().collect()
        }
    };
    let mut rows = Vec::new();
    for r in records {
        // An unreachable controller fails the whole command with its own clear message.
        let status = backend::status(&slurm, &r).await?;
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

/// The last step or epoch line of the worker's `metrics.jsonl`.
pub fn latest_progress(r: &RunRecord) -> Option<serde_json::Value> {
    let text = std::fs::read_to_string(r.run_dir.join("metrics.jsonl")).ok()?;
    text.lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| {
            matches!(
                v.get("event").and_then(|e| e.as_str()),
                Some("step" | "epoch" | "eval")
            )
        })
}

fn progress_text(v: &serde_json::Value) -> String {
    let num = |k: &str| v.get(k).and_then(|x| x.as_f64());
    let int = |k: &str| v.get(k).and_then(|x| x.as_u64());
    let mut parts = Vec::new();
    if let (Some(e), Some(n)) = (int("epoch"), int("epochs")) {
        parts.push(format!("epoch {e}/{n}"));
    }
    if let (Some(s), Some(n)) = (int("step"), int("total_steps")) {
        parts.push(format!("step {s}/{n}"));
    }
    if let Some(l) = num("loss") {
        parts.push(format!("loss {l:.3}"));
    }
    if let Some(a) = num("accuracy") {
        parts.push(format!("acc {a:.3}"));
    }
    parts.join(" ")
}
