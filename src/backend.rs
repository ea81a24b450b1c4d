//! Where jobs run: Slurm, or (when Slurm is not installed) a detached local process that runs
//! the same script with the same run folder and log. Both answer the same questions.

use std::path::Path;
use std::process::Stdio;

use crate::runs::{BackendKind, RunRecord};
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
    /// Where the answer came from: squeue, sacct, scontrol, run folder.
    pub source: &'static str,
    /// What is known when the state is UNKNOWN, in a sentence.
    pub note: Option<String>,
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

/// Starts the script as a local process group that outlives this command; its output goes to
/// the log and its exit status to `exit_code` in the run folder.
pub fn spawn_local(script: &Path, record: &RunRecord) -> Result<u32, BackendError> {
    use std::os::unix::process::CommandExt;
    let child = std::process::Command::new("bash")
        .arg("-c")
        .arg(r#"bash "$1" >>"$2" 2>&1; echo $? >"$3.tmp" && mv "$3.tmp" "$3""#)
        .arg("yenjob-local")
        .arg(script)
        .arg(&record.log_path)
        .arg(record.dir().exit_code())
        .current_dir(&record.run_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => BackendError::NoBash {
                path: std::env::var("PATH").unwrap_or_default(),
            },
            _ => BackendError::LocalSpawn(e),
        })?;
    Ok(child.id())
}

/// The live (not zombie) processes of the local job's process group: the `bash -c` wrapper,
/// the script and the worker. The group outlives its leader, so the leader alone says little.
fn group_members(pgid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                return false;
            };
            // `pid (comm) state ppid pgrp ...`; comm may hold spaces and parentheses.
            let Some(after) = stat.rsplit_once(')').map(|(_, rest)| rest) else {
                return false;
            };
            let fields: Vec<&str> = after.split_whitespace().collect();
            fields.first() != Some(&"Z") && fields.get(2) == Some(&pgid.to_string().as_str())
        })
        .collect()
}

fn local_alive(pgid: u32) -> bool {
    !group_members(pgid).is_empty()
}

fn local_alive_opt(pgid: Option<u32>) -> bool {
    pgid.is_some_and(local_alive)
}

/// Sends `signal` to the whole group, and SIGCONT after it so that stopped members act on it.
fn signal_group(pgid: u32, signal: i32) {
    // SAFETY: plain kill(2) on the process group this tool created.
    unsafe {
        libc::kill(-(pgid as i32), signal);
        libc::kill(-(pgid as i32), libc::SIGCONT);
    }
}

/// Waits until no member of the group is left; false after `seconds`.
async fn group_ended(pgid: u32, seconds: u64) -> bool {
    for _ in 0..seconds * 5 {
        if !local_alive(pgid) {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    !local_alive(pgid)
}

fn local_status(record: &RunRecord) -> JobStatus {
    let exit = std::fs::read_to_string(record.dir().exit_code())
        .ok()
        .map(|s| s.trim().to_string());
    let cancelled = record.dir().cancelled().exists();
    let alive = local_alive_opt(record.local_pid);
    let folder_gone = !record.run_dir.is_dir();
    let state = match (&exit, alive) {
        (_, true) if !cancelled => JobState::Running,
        (_, true) => JobState::Cancelled,
        // Nothing is left to say how it ended.
        (None, false) if folder_gone => JobState::Unknown,
        (_, false) if cancelled => JobState::Cancelled,
        (Some(code), false) if code == "0" => JobState::Completed,
        (Some(_), false) => JobState::Failed,
        (None, false) => JobState::Failed,
    };
    let elapsed = std::fs::metadata(&record.run_dir)
        .and_then(|m| m.created().or_else(|_| m.modified()))
        .ok()
        .and_then(|t| t.elapsed().ok())
        .map(|d| SlurmTime::Seconds(d.as_secs()))
        .unwrap_or(SlurmTime::NotSet);
    JobStatus {
        state,
        reason: None,
        elapsed: if alive { elapsed } else { SlurmTime::NotSet },
        time_limit: SlurmTime::Seconds(record.time_limit_seconds),
        nodes: "local".into(),
        exit_code: exit,
        source: "run folder",
        note: folder_gone
            .then(|| format!("its run folder {} was deleted", record.run_dir.display())),
    }
}

/// The job's state now, from whichever source still knows it.
pub async fn status(slurm: &Slurm, record: &RunRecord) -> Result<JobStatus, BackendError> {
    if record.backend == BackendKind::Local {
        return Ok(local_status(record));
    }
    let queued = slurm.queued_job(&record.job_id).await?;
    if let Some(j) = queued.filter(|j| !j.state.is_finished()) {
        return Ok(JobStatus {
            reason: (j.state.is_waiting()).then(|| j.reason.clone()),
            state: j.state,
            elapsed: j.elapsed,
            time_limit: j.time_limit,
            nodes: j.nodes,
            exit_code: None,
            source: "squeue",
            note: None,
        });
    }
    // Ended (or left the queue): accounting knows the exit code; without accounting, scontrol
    // (for MinJobAge), then the run folder.
    // Without accounting (or with it down) scontrol and the run folder may still know.
    let accounted = slurm.accounting(&record.job_id).await.unwrap_or_default();
    if let Some(a) = accounted.into_iter().find(|a| a.id == record.job_id) {
        return Ok(JobStatus {
            state: a.state,
            reason: None,
            elapsed: a.elapsed,
            time_limit: a.time_limit,
            nodes: a.nodes,
            exit_code: Some(a.exit_code),
            source: "sacct",
            note: None,
        });
    }
    if let Some(d) = slurm.job_details(&record.job_id).await? {
        return Ok(JobStatus {
            reason: None,
            state: d.state,
            elapsed: d.run_time,
            time_limit: d.time_limit,
            nodes: d.node_list,
            exit_code: Some(d.exit_code),
            source: "scontrol",
            note: None,
        });
    }
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
    Ok(JobStatus {
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
    })
}

/// Cancels the job; returns once the job is no longer pending or running (or after a wait).
pub async fn cancel(slurm: &Slurm, record: &RunRecord) -> Result<JobStatus, BackendError> {
    match record.backend {
        BackendKind::Slurm => slurm.cancel(&record.job_id).await?,
        BackendKind::Local => {
            // A deleted run folder stays deleted: the marker only goes into one that exists.
            if record.run_dir.is_dir() {
                let _ = crate::run_dir::atomic_write(
                    &record.dir().cancelled(),
                    b"cancelled by yenjob cancel\n",
                );
            }
            if let Some(pgid) = record.local_pid.filter(|p| local_alive(*p)) {
                // TERM lets the worker checkpoint; a member that is stopped or ignores it for
                // 10 s is killed. Either way every member is gone before we report.
                signal_group(pgid, libc::SIGTERM);
                if !group_ended(pgid, 10).await {
                    signal_group(pgid, libc::SIGKILL);
                    group_ended(pgid, 10).await;
                }
            }
            if !record.run_dir.is_dir() && !local_alive_opt(record.local_pid) {
                // No marker can say so without recreating the folder: this answer does.
                return Ok(JobStatus {
                    state: JobState::Cancelled,
                    ..local_status(record)
                });
            }
        }
    }
    // scancel exits 0 even for unknown jobs: confirm by looking.
    let mut last = status(slurm, record).await?;
    for _ in 0..30 {
        if last.state.is_finished() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        last = status(slurm, record).await?;
    }
    Ok(last)
}
