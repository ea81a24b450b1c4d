//! Where jobs run: Slurm, or (when Slurm is not installed) a detached local process that runs
//! the same script with the same run folder and log. Both answer the same questions. The
//! state of many jobs is read in one pass: one `squeue` for all, one `sacct` for those that
//! left the queue, one `scontrol show job` for those accounting does not know, whatever the
//! number of jobs, so that watching a 100-task sweep costs the controller what one job does.

pub mod local;

use std::collections::HashMap;

use crate::runs::{BackendKind, Ended, RunRecord};
use crate::slurm::duration::SlurmTime;
use crate::slurm::state::JobState;
use crate::slurm::{Slurm, SlurmError};

/// What `status` and `tail` need to know about a job now.
#[derive(Debug, Clone, serde::Serialize)]
pub struct JobStatus {
    pub state: JobState,
    /// Pending reason code, when pending.
    pub reason: Option<String>,
    pub elapsed: SlurmTime,
    pub time_limit: SlurmTime,
    pub nodes: String,
    pub exit_code: Option<String>,
    /// Where the answer came from: squeue, sacct, scontrol, run.json (an end recorded
    /// earlier), run folder (Slurm forgot the job), local (the local backend's processes).
    pub source: &'static str,
    /// What is known when the state is UNKNOWN, in a sentence.
    pub note: Option<String>,
    /// A pending job: when Slurm expects it to start (squeue's StartTime), if it says.
    #[serde(skip)]
    pub expected_start: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error(transparent)]
    Slurm(#[from] SlurmError),
    #[error("could not start the local job: {0}")]
    LocalSpawn(std::io::Error),
    #[error("the local backend runs the job script with bash, and bash is not on PATH ({path})")]
    NoBash { path: String },
}

/// The state of each job now (a sweep's tasks are jobs: pass `RunRecord::tasks`). A job whose
/// end is recorded in `run.json` is not asked about again unless `fresh`.
pub async fn statuses(
    slurm: &Slurm,
    records: &[RunRecord],
    fresh: bool,
) -> Result<Vec<JobStatus>, BackendError> {
    let mut out: Vec<Option<JobStatus>> = records
        .iter()
        .map(|r| match (&r.ended, r.backend) {
            (_, BackendKind::Local) => Some(local::status(r)),
            (Some(e), _) if !fresh => Some(from_record(r, e)),
            _ => None,
        })
        .collect();
    let asked = |out: &[Option<JobStatus>]| -> Vec<String> {
        let mut ids: Vec<String> = records
            .iter()
            .zip(out)
            .filter(|(_, s)| s.is_none())
            .map(|(r, _)| query_id(r))
            .collect();
        ids.sort();
        ids.dedup();
        ids
    };
    let ids = asked(&out);
    if ids.is_empty() {
        return Ok(out.into_iter().flatten().collect());
    }
    let queued: HashMap<String, crate::slurm::squeue::QueuedJob> = slurm
        .queued_jobs(&ids)
        .await?
        .into_iter()
        .map(|j| (j.id.clone(), j))
        .collect();
    for (r, slot) in records.iter().zip(out.iter_mut()) {
        if slot.is_none()
            && let Some(j) = queued.get(&r.job_id).filter(|j| !j.state.is_finished())
        {
            *slot = Some(JobStatus {
                reason: (j.state.is_waiting()).then(|| j.reason.clone()),
                state: j.state.clone(),
                elapsed: j.elapsed,
                time_limit: j.time_limit,
                nodes: j.nodes.clone(),
                exit_code: None,
                source: "squeue",
                note: None,
                expected_start: (j.state.is_waiting()
                    && !matches!(j.start_time.as_str(), "" | "N/A" | "Unknown" | "None"))
                .then(|| j.start_time.clone()),
            });
        }
    }
    // Ended (or left the queue): accounting knows the exit code; without accounting (or with
    // it down), scontrol (for MinJobAge), then the run folder.
    let ids = asked(&out);
    if !ids.is_empty() {
        let accounted: HashMap<String, crate::slurm::sacct::AccountedJob> = slurm
            .accounting(&ids.join(","))
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|a| (a.id.clone(), a))
            .collect();
        for (r, slot) in records.iter().zip(out.iter_mut()) {
            if slot.is_none()
                && let Some(status) = accounted.get(&r.job_id).and_then(from_accounting)
            {
                *slot = Some(status);
            }
        }
    }
    if !asked(&out).is_empty() {
        let details: HashMap<String, crate::slurm::scontrol::JobDetails> = slurm
            .all_job_details()
            .await?
            .into_iter()
            .map(|d| (d.id.clone(), d))
            .collect();
        for (r, slot) in records.iter().zip(out.iter_mut()) {
            if slot.is_some() {
                continue;
            }
            *slot = Some(match details.get(&r.job_id) {
                Some(d) => JobStatus {
                    reason: None,
                    state: d.state.clone(),
                    elapsed: d.run_time,
                    time_limit: d.time_limit,
                    nodes: d.node_list.clone(),
                    exit_code: Some(d.exit_code.clone()),
                    source: "scontrol",
                    note: None,
                    expected_start: None,
                },
                // Slurm forgot it; run.json may remember how it ended.
                None => match &r.ended {
                    Some(e) => from_record(r, e),
                    None => from_run_folder(r),
                },
            });
        }
    }
    Ok(out.into_iter().flatten().collect())
}

/// What accounting says of a job the queue no longer runs: its end. Accounting can lag the
/// controller by a moment, so a job that left the queue may still be RUNNING there; that is
/// not taken (the controller, or the run folder, says how it ended).
fn from_accounting(a: &crate::slurm::sacct::AccountedJob) -> Option<JobStatus> {
    a.state.is_finished().then(|| JobStatus {
        state: a.state.clone(),
        reason: None,
        elapsed: a.elapsed,
        time_limit: a.time_limit,
        nodes: a.nodes.clone(),
        exit_code: Some(a.exit_code.clone()),
        source: "sacct",
        note: None,
        expected_start: None,
    })
}

/// The id to ask Slurm about: a task's array (one id brings every task), else the job's.
fn query_id(r: &RunRecord) -> String {
    match r.task {
        Some(_) => r
            .job_id
            .rsplit_once('_')
            .map_or(r.job_id.clone(), |(array, _)| array.to_string()),
        None => r.job_id.clone(),
    }
}

/// One job's state now.
pub async fn status(slurm: &Slurm, record: &RunRecord) -> Result<JobStatus, BackendError> {
    let mut all = statuses(slurm, std::slice::from_ref(record), true).await?;
    Ok(all.remove(0))
}

/// What `run.json` recorded of a job's end.
fn from_record(r: &RunRecord, e: &Ended) -> JobStatus {
    JobStatus {
        state: e.state.clone(),
        reason: None,
        elapsed: e
            .elapsed_seconds
            .map_or(SlurmTime::NotSet, SlurmTime::Seconds),
        time_limit: SlurmTime::Seconds(r.time_limit_seconds),
        nodes: e.nodes.clone(),
        exit_code: e.exit_code.clone(),
        source: "run.json",
        note: None,
        expected_start: None,
    }
}

impl JobStatus {
    /// What `run.json` keeps of a job that ended, as accounting, the controller or the local
    /// backend said it; `None` while it may still change.
    pub fn ended(&self) -> Option<Ended> {
        let sure = matches!(self.source, "sacct" | "scontrol" | "local" | "scancel");
        (self.state.is_finished() && sure).then(|| Ended {
            state: self.state.clone(),
            exit_code: self.exit_code.clone(),
            elapsed_seconds: self.elapsed.seconds(),
            nodes: self.nodes.clone(),
            failure: None,
        })
    }
}

/// Records in `run.json` each end that accounting, the controller, a cancel or the local
/// backend reported (with why a failed one failed), so the next listing need not ask again
/// nor read its log; returns `record` as updated. `jobs` are `record` itself or its sweep's
/// tasks; a task's end goes into its sweep's `run.json`, the only one a sweep has. A deleted
/// run folder is never recreated for it.
pub fn remember_ends(record: &RunRecord, jobs: &[(RunRecord, JobStatus)]) -> RunRecord {
    if let (Some(index), None) = (record.task, &record.sweep) {
        let sweep = record
            .run_dir
            .parent()
            .and_then(|folder| crate::runs::load(folder).ok())
            .filter(|sweep| sweep.sweep.is_some());
        return match sweep {
            Some(sweep) => remember_ends(&sweep, jobs)
                .task(index)
                .unwrap_or_else(|| record.clone()),
            None => record.clone(),
        };
    }
    if !record.run_dir.is_dir() {
        return record.clone();
    }
    let mut updated = record.clone();
    let mut changed = false;
    for (job, status) in jobs {
        let Some(ended) = status.ended() else {
            continue;
        };
        let slot = match (job.task, updated.sweep.as_mut()) {
            (Some(i), Some(s)) => {
                if s.ended.len() < s.tasks.len() {
                    s.ended.resize(s.tasks.len(), None);
                }
                match s.ended.get_mut(i) {
                    Some(slot) => slot,
                    None => continue,
                }
            }
            (None, None) => &mut updated.ended,
            _ => continue,
        };
        let ended = crate::runs::advice::explain_end(job, ended, slot.as_ref());
        if slot.as_ref() != Some(&ended) {
            *slot = Some(ended);
            changed = true;
        }
    }
    if changed && let Err(e) = crate::runs::save(&updated) {
        eprintln!("yenjob: warning: {}", crate::error_chain(&e));
    }
    updated
}

/// No Slurm source knows the job: the worker's results say it completed, else nothing does.
fn from_run_folder(record: &RunRecord) -> JobStatus {
    let dir = record.dir();
    let finished = dir.has_summary();
    let note = (!finished).then(|| {
        let log = if record.log_path.exists() {
            format!("its log is {}", record.log_path.display())
        } else {
            "its log never appeared, so it never started".to_string()
        };
        format!(
            "Slurm has no record of job {} any more (not in squeue, sacct or scontrol show job), and the worker left no results in {}; {log}",
            record.job_id,
            dir.path().display()
        )
    });
    JobStatus {
        state: if finished {
            JobState::Completed
        } else {
            JobState::Unknown
        },
        reason: None,
        elapsed: SlurmTime::NotSet,
        time_limit: SlurmTime::Seconds(record.time_limit_seconds),
        nodes: String::new(),
        exit_code: None,
        source: "run folder",
        note,
        expected_start: None,
    }
}

/// Cancels a job, a sweep (every array it was submitted as) or one task; returns once none
/// of them is pending or running any more (or after a wait), with the state of each: one for
/// a job or task, one per task for a sweep.
pub async fn cancel(slurm: &Slurm, record: &RunRecord) -> Result<Vec<JobStatus>, BackendError> {
    let jobs = match &record.sweep {
        Some(_) => record.tasks(),
        None => vec![record.clone()],
    };
    match record.backend {
        BackendKind::Slurm => {
            let ids: Vec<String> = match &record.sweep {
                Some(s) => s.submissions.iter().map(|s| s.job_id.clone()).collect(),
                None => vec![record.job_id.clone()],
            };
            slurm.cancel(&ids.join(",")).await?
        }
        BackendKind::Local => {
            local::cancel(record).await;
            if record.sweep.is_none() && !record.run_dir.is_dir() {
                // No marker can say so without recreating the folder: this answer does.
                return Ok(vec![JobStatus {
                    state: JobState::Cancelled,
                    ..local::status(record)
                }]);
            }
        }
    }
    // scancel exits 0 even for unknown jobs: confirm by looking.
    let look = || async {
        let now = statuses(slurm, &jobs, true).await?;
        Ok::<_, BackendError>(
            jobs.iter()
                .zip(now)
                .map(|(job, status)| match record.backend {
                    BackendKind::Slurm => dropped_when_cancelled(job, status),
                    BackendKind::Local => status,
                })
                .collect::<Vec<_>>(),
        )
    };
    let mut last = look().await?;
    for _ in 0..30 {
        if last.iter().all(|s| s.state.is_finished()) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        last = look().await?;
    }
    Ok(last)
}

/// A sweep's task that Slurm no longer knows after it was cancelled, and that never wrote a
/// line: cancelled while pending. Slurm 22.05 keeps an array's pending tasks as one record
/// and cancelling one drops it from that record: no queue entry, no accounting record, nothing
/// in `scontrol show job` (slurmctld logs the kill request, then nothing of the task). Having
/// asked for it, yenjob knows how it ended.
fn dropped_when_cancelled(job: &RunRecord, status: JobStatus) -> JobStatus {
    let dropped = job.task.is_some()
        && status.state == JobState::Unknown
        && status.source == "run folder"
        && !job.log_path.exists();
    if !dropped {
        return status;
    }
    JobStatus {
        state: JobState::Cancelled,
        source: "scancel",
        note: Some(
            "cancelled while pending: Slurm dropped the task and keeps no record of it".into(),
        ),
        ..status
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: a sweep's last task had left squeue while sacct still said RUNNING, and
    /// `report` listed it as RUNNING. Accounting's word is taken for an end only.
    #[test]
    fn accounting_that_still_says_running_is_not_taken() {
        let running =
            "998_5|six|RUNNING|0:0|00:00:05|00:30:00|2026-11-29T04:20:01|Unknown|localhost|1|||\n";
        let ended = "998_5|six|COMPLETED|0:0|00:00:06|00:30:00|2026-11-29T04:20:01|2026-11-29T04:20:07|localhost|1|||\n";
        let running = crate::slurm::sacct::parse(running);
        assert!(from_accounting(&running[0]).is_none());
        let ended = crate::slurm::sacct::parse(ended);
        let status = from_accounting(&ended[0]).expect("an end");
        assert_eq!(status.state, JobState::Completed);
        assert_eq!(status.source, "sacct");
    }
}
