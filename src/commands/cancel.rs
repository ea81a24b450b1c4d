//! `yenjob cancel JOB`: scancel (or stop the local process), then confirm the new state. A
//! sweep's id cancels every task; `JOB_N` one task.

use crate::backend;
use crate::runs;
use crate::slurm::Slurm;

use super::status::state_counts;

pub async fn run(job: Option<&str>, json: bool) -> anyhow::Result<i32> {
    let record = runs::find(job)?;
    let slurm = Slurm::default();
    let jobs = match &record.sweep {
        Some(_) => record.tasks(),
        None => vec![record.clone()],
    };
    let what = match &record.sweep {
        Some(s) => format!("sweep {} ({} tasks)", record.job_id, s.tasks.len()),
        None => format!("job {}", record.job_id),
    };
    let before = backend::statuses(&slurm, &jobs, true).await?;
    if json {
        let after = if before.iter().all(|s| s.state.is_finished()) {
            before.clone()
        } else {
            cancel_and_remember(&slurm, &record, &jobs).await?
        };
        let stopped = after.iter().all(|s| s.state.is_finished());
        let states = |list: &[crate::backend::JobStatus]| -> Vec<serde_json::Value> {
            jobs.iter()
                .zip(list)
                .map(|(j, s)| serde_json::json!({"job_id": j.job_id, "state": s.state, "exit_code": s.exit_code}))
                .collect()
        };
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "job_id": record.job_id,
                "stopped": stopped,
                "before": states(&before),
                "after": states(&after),
            }))?
        );
        return Ok(if stopped { 0 } else { 1 });
    }
    if before.iter().all(|s| s.state.is_finished()) {
        println!("{what} already ended: {}", state_counts(&before));
        return Ok(0);
    }
    let after = cancel_and_remember(&slurm, &record, &jobs).await?;
    if after.iter().all(|s| s.state.is_finished()) {
        println!(
            "{what} cancelled (was {}, now {})",
            state_counts(&before),
            state_counts(&after)
        );
        Ok(0)
    } else {
        eprintln!(
            "asked to cancel {what}, but it is still {}",
            state_counts(&after)
        );
        Ok(1)
    }
}

/// Cancels and confirms; the ends seen go into `run.json` (an array task cancelled while
/// pending is in no Slurm record afterwards: only yenjob's says how it ended).
async fn cancel_and_remember(
    slurm: &Slurm,
    record: &runs::RunRecord,
    jobs: &[runs::RunRecord],
) -> anyhow::Result<Vec<backend::JobStatus>> {
    let after = backend::cancel(slurm, record).await?;
    let pairs: Vec<_> = jobs.iter().cloned().zip(after.iter().cloned()).collect();
    let _ = backend::remember_ends(record, &pairs);
    Ok(after)
}
