//! `yenjob check SPEC`: the pre-flight verdict alone.

use std::path::Path;

use crate::preflight::Verdict;
use crate::runs::ChangedLimits;
use crate::slurm::duration::SlurmDuration;
use crate::slurm::{Slurm, SlurmError};

/// `limits`: `--time` and `--mem`, over the spec's.
pub async fn run(
    spec_path: Option<&Path>,
    limits: &ChangedLimits,
    json: bool,
) -> anyhow::Result<i32> {
    let mut spec = super::load_spec(spec_path)?;
    spec.set_limits(limits.time_seconds.map(SlurmDuration), limits.mem.clone());
    super::check_spec_inputs(&spec)?;
    let slurm = Slurm::default();
    let state = super::gather_state(&slurm).await.map_err(|e| match e {
        // What to do where the cluster keeps the pre-flight from reading.
        e @ SlurmError::NotShownToYou { .. } => anyhow::Error::new(e).context(
            "no pre-flight here (`yenjob submit` still sends the job, without one, for sbatch to decide)",
        ),
        e => e.into(),
    })?;
    let verdict = super::verdict_asking_slurm(&slurm, &spec, &state).await;
    if json {
        println!("{}", serde_json::to_string_pretty(&verdict)?);
    } else {
        print_verdict(&verdict);
    }
    Ok(if verdict.never_runs() { 2 } else { 0 })
}

pub fn print_verdict(verdict: &Verdict) {
    for f in &verdict.facts {
        println!("  {f}");
    }
    for w in &verdict.not_checked {
        println!("  warning: {w}");
    }
    anstream::println!("{}: {}", super::paint::headline(verdict), verdict.message);
    if let Some(start) = &verdict.expected_start {
        println!("  {}", start.sentence());
    }
    if let Some(t) = verdict.array.as_ref().and_then(|a| a.throttle.as_ref()) {
        println!(
            "  the array runs at most {} tasks at once: {}",
            t.limit, t.because
        );
    }
    if let Some(timeline) = verdict.array.as_ref().and_then(|a| a.timeline.as_ref()) {
        println!("  {}", timeline.sentence());
    }
    for other in &verdict.also {
        println!("  and over another limit: {other}");
    }
}
