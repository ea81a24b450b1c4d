//! `submit --rerun-failed RUN` for a single run: a fine-tune or score job that ended without
//! completing (cancelled, failed, timed out) runs again in its own folder as a new job, from
//! the same script, after the pre-flight of what it asks for (kept in `run.json`). The worker
//! resumes from the newest complete checkpoint, and a score job from its progress file. The
//! log goes on in the same file. On Slurm the run takes the new job id and still answers to
//! the old one.

use crate::backend;
use crate::run_dir::RunDir;
use crate::runs::{self, BackendKind, ChangedLimits, RunRecord};
use crate::slurm::duration::SlurmDuration;
use crate::slurm::state::JobState;
use crate::slurm::{Slurm, SlurmError};
use crate::spec::JobSpec;

use super::{Options, allowed, print_json, submitted_json};

#[derive(Debug, thiserror::Error)]
pub enum RerunError {
    #[error(transparent)]
    Flag(#[from] crate::commands::FlagError),
    #[error(
        "{job} ran on this machine (the local backend), which sets no time or memory limit: --time and --mem are for Slurm jobs"
    )]
    LocalHasNoLimits { job: String },
}

/// `--time` and `--mem` of `submit --rerun-failed`, checked as the spec checks them.
pub fn new_limits(time: Option<&str>, mem: Option<&str>) -> Result<ChangedLimits, RerunError> {
    let text = |t: &str| toml::Value::String(t.to_string());
    let time: Option<SlurmDuration> = time
        .map(|t| crate::commands::flag_value("time", text(t)))
        .transpose()?;
    Ok(ChangedLimits {
        time_seconds: time.map(SlurmDuration::seconds),
        mem: mem
            .map(|m| crate::commands::flag_value("mem", text(m)))
            .transpose()?,
    })
}

/// The limits a run asks for when it runs again: those changed before, then the new ones.
/// A local run has none to change.
pub(super) fn limits_for(
    record: &RunRecord,
    new: &ChangedLimits,
) -> Result<ChangedLimits, RerunError> {
    if record.backend == BackendKind::Local && !new.is_empty() {
        return Err(RerunError::LocalHasNoLimits {
            job: record.job_id.clone(),
        });
    }
    Ok(record.changed_limits.updated(new))
}

pub(super) async fn rerun(mut record: RunRecord, opts: &Options<'_>) -> anyhow::Result<i32> {
    let slurm = Slurm::default();
    let status = backend::statuses(&slurm, std::slice::from_ref(&record), true)
        .await?
        .remove(0);
    let state = status.state;
    if state == JobState::Completed || !(state.is_finished() || state == JobState::Unknown) {
        println!("job {} is {state}: nothing to run again", record.job_id);
        return Ok(0);
    }
    let limits = limits_for(&record, &opts.limits)?;
    let dir = record.dir();
    let mut verdict = None;
    let mut no_pre_flight = None;
    if record.backend == BackendKind::Slurm {
        // The request as recorded at submission; records older than that have the spec.
        let request = match &record.request {
            Some(request) => Some(request.clone()),
            None if dir.spec_copy().is_file() => {
                let spec = JobSpec::load_relative_to(&dir.spec_copy(), &record.spec_folder())?;
                Some(crate::commands::request_of(&spec))
            }
            None => None,
        };
        if let Some(mut request) = request {
            match crate::commands::state_for_submission(&slurm).await? {
                Err(why) => no_pre_flight = Some(why),
                Ok(state) => {
                    limits.apply_to(&mut request);
                    let mut v = crate::preflight::assess(&request, &state);
                    crate::commands::ask_about_hidden_reservations(
                        &slurm,
                        &state,
                        &request,
                        &record.one_task_options(&limits),
                        &dir.script(),
                        &mut v,
                    )
                    .await;
                    let Some(v) = allowed(v, opts.json, opts.force)? else {
                        return Ok(2);
                    };
                    verdict = Some(v);
                }
            }
        }
    }
    clear_end_markers(&dir);
    let before = record.job_id.clone();
    match record.backend {
        BackendKind::Slurm => match slurm
            .submit(&record.one_task_options(&limits), &dir.script())
            .await
        {
            Ok(submitted) => {
                record.earlier_job_ids.push(before.clone());
                record.job_id = submitted.job_id;
                record.cluster = submitted.cluster;
            }
            Err(SlurmError::Failed { stderr, .. }) => {
                eprintln!(
                    "sbatch refused the job ({}): {stderr}",
                    crate::slurm::sbatch::rejection_reason(&stderr)
                );
                return Ok(1);
            }
            Err(e) => return Err(e.into()),
        },
        // A local run keeps its id: the id names the run, and its state is read from the
        // process group and the folder's markers.
        BackendKind::Local => {
            record.local_pid = Some(backend::local::spawn_job(&dir.script(), &record)?);
        }
    }
    record.ended = None;
    record.set_changed_limits(limits);
    runs::save(&record)?;
    if opts.json {
        print_json(&submitted_json(
            &record,
            verdict.as_ref(),
            no_pre_flight.as_ref(),
        ))?;
        return Ok(0);
    }
    let again = match record.backend {
        BackendKind::Slurm => format!("Submitted Slurm job {} (was {before})", record.job_id),
        BackendKind::Local => format!("Started local job {} again", record.job_id),
    };
    let changed = match record.changed_limits.sbatch_options().join(" ") {
        options if options.is_empty() => String::new(),
        options => format!(" with {options}"),
    };
    println!(
        "{again}{changed}: {}, {state} before; it resumes where it stopped",
        record.job_name
    );
    println!("  run folder: {}", record.run_dir.display());
    println!("  follow it:  yenjob tail {}", record.job_id);
    if opts.follow {
        return crate::commands::tail::follow(&slurm, &record, true).await;
    }
    Ok(0)
}

/// A run's markers of how it ended: left in place, they would say the new job ended at once.
fn clear_end_markers(dir: &RunDir) {
    for marker in [dir.exit_code(), dir.cancelled(), dir.pid()] {
        let _ = std::fs::remove_file(marker);
    }
}
