//! The local backend: the job script run by a detached process group on this machine, with
//! the same run folder, log, status and cancel as on Slurm. A sweep's tasks run through a
//! small runner, `max_parallel` at a time, each task in a process group of its own so that
//! one task can be cancelled without its siblings.

use std::path::Path;
use std::process::Stdio;

use crate::run_dir::RunDir;
use crate::runs::RunRecord;
use crate::slurm::duration::SlurmTime;
use crate::slurm::state::JobState;

use super::{BackendError, JobStatus};

/// Runs one job: the script's output goes to the log, its exit status to `exit_code`.
const RUN_JOB: &str = r#"bash "$1" >>"$2" 2>&1; echo $? >"$3.tmp" && mv "$3.tmp" "$3""#;

/// Runs a sweep's tasks (arguments: sweep folder, script, how many at once, task indices).
/// Each task: skipped if cancelled before it started; else its own session (`setsid`, so
/// that `cancel 123_4` stops that task alone), its pid in `pid`, its status in `exit_code`.
const RUN_SWEEP: &str = r#"
sweep=$1 script=$2 parallel=$3; shift 3
export sweep script
printf '%s\n' "$@" | xargs -P "$parallel" -I{} bash -c '
  d="$sweep/task-$1"
  [ -e "$d/cancelled" ] && exit 0
  YENJOB_TASK_ID=$1 setsid bash "$script" >>"$d/job.log" 2>&1 &
  echo $! >"$d/pid.tmp" && mv "$d/pid.tmp" "$d/pid"
  wait $!
  echo $? >"$d/exit_code.tmp" && mv "$d/exit_code.tmp" "$d/exit_code"
' _ {}
"#;

/// Starts a detached process group running `bash -c PROGRAM yenjob-local ARGS...` in `dir`.
fn spawn_group(program: &str, args: &[&std::ffi::OsStr], dir: &Path) -> Result<u32, BackendError> {
    use std::os::unix::process::CommandExt;
    let child = std::process::Command::new("bash")
        .arg("-c")
        .arg(program)
        .arg("yenjob-local")
        .args(args)
        .current_dir(dir)
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

/// Starts the script as a local process group that outlives this command.
pub fn spawn_job(script: &Path, record: &RunRecord) -> Result<u32, BackendError> {
    spawn_group(
        RUN_JOB,
        &[
            script.as_os_str(),
            record.log_path.as_os_str(),
            record.dir().exit_code().as_os_str(),
        ],
        &record.run_dir,
    )
}

/// Starts a sweep's tasks `indices`, `parallel` at a time, in the background.
pub fn spawn_sweep(
    script: &Path,
    sweep_dir: &Path,
    indices: &[usize],
    parallel: u64,
) -> Result<u32, BackendError> {
    let parallel = parallel.max(1).to_string();
    let indices: Vec<String> = indices.iter().map(usize::to_string).collect();
    let mut args = vec![
        sweep_dir.as_os_str(),
        script.as_os_str(),
        std::ffi::OsStr::new(&parallel),
    ];
    args.extend(indices.iter().map(std::ffi::OsStr::new));
    spawn_group(RUN_SWEEP, &args, sweep_dir)
}

/// The live (not zombie) processes of a process group. The group outlives its leader, so the
/// leader alone says little.
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

fn alive(pgid: Option<u32>) -> bool {
    pgid.is_some_and(|p| !group_members(p).is_empty())
}

/// Sends `signal` to the whole group, and SIGCONT after it so that stopped members act on it.
fn signal_group(pgid: u32, signal: i32) {
    // SAFETY: plain kill(2) on a process group this tool created.
    unsafe {
        libc::kill(-(pgid as i32), signal);
        libc::kill(-(pgid as i32), libc::SIGCONT);
    }
}

/// Waits until no member of the group is left; false after `seconds`.
async fn group_ended(pgid: u32, seconds: u64) -> bool {
    for _ in 0..seconds * 5 {
        if !alive(Some(pgid)) {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    !alive(Some(pgid))
}

/// TERM lets the worker checkpoint; a member that is stopped or ignores it for 10 s is
/// killed. Either way every member is gone when this returns.
async fn stop_group(pgid: u32) {
    if !alive(Some(pgid)) {
        return;
    }
    signal_group(pgid, libc::SIGTERM);
    if !group_ended(pgid, 10).await {
        signal_group(pgid, libc::SIGKILL);
        group_ended(pgid, 10).await;
    }
}

/// A sweep task's own process group (its pid: `setsid` made it a session leader).
fn task_group(dir: &RunDir) -> Option<u32> {
    std::fs::read_to_string(dir.pid()).ok()?.trim().parse().ok()
}

fn read_exit_code(dir: &RunDir) -> Option<String> {
    std::fs::read_to_string(dir.exit_code())
        .ok()
        .map(|s| s.trim().to_string())
}

fn age_of(path: &Path) -> SlurmTime {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .map_or(SlurmTime::NotSet, |d| SlurmTime::Seconds(d.as_secs()))
}

/// The state of a local job or sweep task, from its processes and its run folder.
pub fn status(record: &RunRecord) -> JobStatus {
    let dir = record.dir();
    // The processes first, the exit code after. A job's status is written just before its
    // last process ends; read the other way round, a status written in between was missed
    // and a job that completed was called failed.
    let (running, runner_alive) = match record.task {
        // A task runs in its own group; the runner's group says whether it may still start,
        // and writes the task's status once the task's group has ended.
        Some(_) => (alive(task_group(&dir)), alive(record.local_pid)),
        None => (alive(record.local_pid), false),
    };
    let exit = read_exit_code(&dir);
    let sweep_cancelled = record.task.is_some()
        && record
            .run_dir
            .parent()
            .is_some_and(|p| RunDir::new(p).cancelled().exists());
    let cancelled = dir.cancelled().exists() || sweep_cancelled;
    let folder_gone = !record.run_dir.is_dir();
    // A task with a pid has started: without its group or a status, its runner is about to
    // write how it ended.
    let task_started = record.task.is_some() && dir.pid().exists();
    let state = match (&exit, running) {
        (_, true) if !cancelled => JobState::Running,
        (_, true) => JobState::Cancelled,
        (None, false) if runner_alive && task_started && !cancelled => JobState::Completing,
        (None, false) if runner_alive && !cancelled => JobState::Pending,
        // Nothing is left to say how it ended.
        (None, false) if folder_gone => JobState::Unknown,
        (_, false) if cancelled => JobState::Cancelled,
        (Some(code), false) if code == "0" => JobState::Completed,
        (Some(_), false) | (None, false) => JobState::Failed,
    };
    let started = match record.task {
        Some(_) => age_of(&dir.pid()),
        None => age_of(&record.run_dir),
    };
    JobStatus {
        reason: (state == JobState::Pending).then(|| "JobArrayTaskLimit".to_string()),
        elapsed: if running { started } else { SlurmTime::NotSet },
        time_limit: SlurmTime::Seconds(record.time_limit_seconds),
        nodes: "local".into(),
        exit_code: exit,
        source: "local",
        note: folder_gone
            .then(|| format!("its run folder {} was deleted", record.run_dir.display())),
        expected_start: None,
        state,
    }
}

/// Stops a local job, a whole sweep (its runner, then each running task), or one task.
pub async fn cancel(record: &RunRecord) {
    // A deleted run folder stays deleted: the marker only goes into one that exists.
    if record.run_dir.is_dir() {
        let _ = crate::run_dir::atomic_write(
            &record.dir().cancelled(),
            b"cancelled by yenjob cancel\n",
        );
    }
    match (&record.sweep, record.task) {
        // One task: its own group; the runner goes on with the others.
        (None, Some(_)) => {
            if let Some(pgid) = task_group(&record.dir()) {
                stop_group(pgid).await;
            }
        }
        (Some(sweep), _) => {
            for pgid in sweep.submissions.iter().filter_map(|s| s.local_pid) {
                stop_group(pgid).await;
            }
            for task in record.tasks() {
                if let Some(pgid) = task_group(&task.dir()) {
                    stop_group(pgid).await;
                }
            }
        }
        (None, None) => {
            if let Some(pgid) = record.local_pid {
                stop_group(pgid).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runs::BackendKind;
    use crate::runs::test_record;

    /// Regression: `status` read the exit code before it looked for the job's processes, so
    /// a status written between the two reads was missed and a job that had completed was
    /// called FAILED (seen in CI after `submit --rerun-failed --follow`). Each round polls a
    /// job that ends at once, as `tail` does, until it is no longer running.
    #[test]
    fn a_job_seen_ending_is_called_by_its_exit_status() {
        let tmp = tempfile::tempdir().unwrap();
        let script = tmp.path().join("job.sh");
        std::fs::write(&script, "exit 0\n").unwrap();
        for round in 0..30 {
            let run_dir = tmp.path().join(format!("run-{round}"));
            std::fs::create_dir(&run_dir).unwrap();
            let mut record = test_record(&run_dir, BackendKind::Local, "local-1");
            record.local_pid = Some(spawn_job(&script, &record).unwrap());
            let ended = loop {
                let status = status(&record);
                if status.state != JobState::Running {
                    break status;
                }
            };
            assert_eq!(ended.state, JobState::Completed, "round {round}: {ended:?}");
        }
    }

    /// A sweep's task whose processes have ended while its runner has yet to write how it
    /// ended is completing: neither waiting to start (as it was said to be) nor failed.
    #[test]
    fn a_task_whose_status_is_not_written_yet_is_completing() {
        let tmp = tempfile::tempdir().unwrap();
        let task_dir = tmp.path().join("task-0");
        std::fs::create_dir(&task_dir).unwrap();
        let mut record = test_record(&task_dir, BackendKind::Local, "local-1_0");
        record.task = Some(0);
        // The runner: this test's own process group, alive. The task: a process that ended.
        // SAFETY: getpgrp(2) has no preconditions.
        record.local_pid = Some(unsafe { libc::getpgrp() } as u32);
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let task_pid = child.id();
        child.wait().unwrap();
        std::fs::write(record.dir().pid(), format!("{task_pid}\n")).unwrap();
        assert_eq!(status(&record).state, JobState::Completing);
        std::fs::write(record.dir().exit_code(), "0\n").unwrap();
        assert_eq!(status(&record).state, JobState::Completed);
        // Before its pid is written, it waits for its turn.
        std::fs::remove_file(record.dir().exit_code()).unwrap();
        std::fs::remove_file(record.dir().pid()).unwrap();
        assert_eq!(status(&record).state, JobState::Pending);
    }
}
