//! `yenjob cancel JOB`: scancel (or stop the local process), then confirm the new state.

use crate::backend;
use crate::runs;
use crate::slurm::Slurm;

pub async fn run(job: Option<&str>) -> anyhow::Result<i32> {
    let record = runs::find(job)?;
    let slurm = Slurm::default();
    let before = backend::status(&slurm, &record).await?;
    if before.state.is_finished() {
        println!("job {} already ended: {}", record.job_id, before.state);
        return Ok(0);
    }
    let after = backend::cancel(&slurm, &record).await?;
    if after.state.is_finished() {
        println!(
            "job {} cancelled (was {}, now {})",
            record.job_id, before.state, after.state
        );
        Ok(0)
    } else {
        eprintln!(
            "asked to cancel job {}, but it is still {}",
            record.job_id, after.state
        );
        Ok(1)
    }
}
