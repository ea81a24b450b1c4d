//! `yenjob cancel JOB`: scancel (or stop the local process), then confirm the new state. A
//! sweep's id cancels every task; `JOB_N` one task.

use crate::backend;
use crate::runs;
use crate::slurm::Slurm;

use super::status::state_counts;

pub async fn run(job: Option<&str>) -> anyhow::Result<i32> {
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
    if before.iter().all(|s| s.state.is_finished()) {
        println!("{what} already ended: {}", state_counts(&before));
        return Ok(0);
    }
    let after = backend::cancel(&slurm, &record).await?;
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
