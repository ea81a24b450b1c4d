//! What to do about a run that ended without completing: one line that says why in the
//! spec's terms and gives the command that runs it again from where it stopped.

use crate::slurm::duration::format_seconds;
use crate::slurm::state::JobState;

use super::record::{Ended, RunRecord};

/// How much of a log's end is searched for the worker's error.
const LOG_TAIL_BYTES: u64 = 64 * 1024;

/// [`after_end`] with why a failed run failed: recorded in `run.json` once a listing saw it
/// end, else read from its log. `exit_code` is Slurm's (`1:0`) or the local backend's (`1`).
pub fn for_run(record: &RunRecord, state: &JobState, exit_code: Option<&str>) -> Option<String> {
    let why = match state {
        JobState::Failed => Some(
            record
                .ended
                .as_ref()
                .filter(|e| &e.state == state)
                .and_then(|e| e.failure.clone())
                .unwrap_or_else(|| failure_from_log(record, exit_code)),
        ),
        _ => None,
    };
    after_end(record, state, why.as_deref())
}

/// `ended` with why the run failed, when it did: what `known` (the end recorded earlier) says
/// of the same end, else what its log says.
pub fn explain_end(record: &RunRecord, mut ended: Ended, known: Option<&Ended>) -> Ended {
    if ended.state == JobState::Failed && ended.failure.is_none() {
        ended.failure = known
            .filter(|k| k.same_end(&ended))
            .and_then(|k| k.failure.clone())
            .or_else(|| Some(failure_from_log(record, ended.exit_code.as_deref())));
    }
    ended
}

/// [`why_it_failed`] for a run's log.
fn failure_from_log(record: &RunRecord, exit_code: Option<&str>) -> String {
    why_it_failed(
        log_tail(&record.log_path).as_deref(),
        exit_code,
        &record.job_id,
    )
}

/// The last `LOG_TAIL_BYTES` of a log, as text; `None` when it cannot be read.
fn log_tail(path: &std::path::Path) -> Option<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(path).ok()?;
    let len = file.metadata().ok()?.len();
    file.seek(SeekFrom::Start(len.saturating_sub(LOG_TAIL_BYTES)))
        .ok()?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).ok()?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// The message of the last `yenjob: error:` line in a log.
pub fn last_error(log: &str) -> Option<&str> {
    log.lines()
        .rev()
        .find_map(|l| {
            l.split_once("yenjob: error: ")
                .map(|(_, message)| message.trim())
        })
        .filter(|m| !m.is_empty())
}

/// The status the job script said its last worker exited with (`[yenjob] worker exited with
/// status N at ...`).
fn last_worker_status(log: &str) -> Option<i32> {
    log.lines().rev().find_map(|l| {
        l.strip_prefix("[yenjob] worker exited with status ")?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    })
}

/// Why a failed job failed, from the tail of its log (`None`: no log) and its exit code.
///
/// The job script exits with its worker's status, so a job whose exit code differs from the
/// status the log last reported (or whose log is empty) ended without running its script
/// again: Slurm failed a launch (a requeued task started in the same second as its end, a
/// prolog that failed, a log folder it could not write). Pointing at the log would mislead.
pub fn why_it_failed(log: Option<&str>, exit_code: Option<&str>, job_id: &str) -> String {
    let log = log.unwrap_or("");
    if let Some(error) = last_error(log) {
        return format!("it failed: {error}");
    }
    let code = exit_code.and_then(|c| c.split(':').next()?.trim().parse::<i32>().ok());
    let ask = format!(
        "`scontrol show job {job_id}` says why while the controller still holds the job, the node's slurmd log after that"
    );
    if log.trim().is_empty() {
        return format!("it failed before its job script wrote a line: {ask}");
    }
    match (last_worker_status(log), code) {
        (Some(status), Some(code)) if status != code => format!(
            "it failed (exit code {code}) after its log's last run had ended with status {status}, so its script did not run again: {ask}"
        ),
        _ => "the log says why".to_string(),
    }
}

/// The advice for `record` once it ended in `state`, `why` being what made it fail (from
/// [`why_it_failed`]); `None` when it completed or is not over.
pub fn after_end(record: &RunRecord, state: &JobState, why: Option<&str>) -> Option<String> {
    // `--rerun-failed` takes a sweep, not one of its tasks: it runs every task that failed.
    let target = match record.task {
        Some(_) => record
            .job_id
            .rsplit_once('_')
            .map_or(record.job_id.as_str(), |(sweep, _)| sweep),
        None => record.job_id.as_str(),
    };
    let again = format!("yenjob submit --rerun-failed {target}");
    let runs = if record.task.is_some() {
        "runs the sweep's tasks that did not complete again, each from its last checkpoint"
    } else {
        "runs it again from where it stopped"
    };
    Some(match state {
        JobState::OutOfMemory => match record.request.as_ref().and_then(|r| r.mem_mib) {
            Some(mib) => format!(
                "it needed more memory than it asked for ({mib} MiB): `{again} --mem {}G` {runs}, with twice that",
                (mib * 2).div_ceil(1024)
            ),
            None => format!(
                "it needed more memory than the partition gives a job by default: `{again} --mem 16G` {runs}, with 16G (or ask for what it needs)"
            ),
        },
        JobState::Timeout => {
            let limit = record.time_limit_seconds;
            format!(
                "it reached its time limit ({}) before it could checkpoint and requeue itself: `{again} --time {}` {runs}, with twice that",
                format_seconds(limit),
                format_seconds(limit.saturating_mul(2).max(60))
            )
        }
        JobState::Failed => {
            let why = why.unwrap_or("the log says why");
            format!(
                "{why}. Once that is fixed, `{again}` {runs} (a fix to the spec needs a new `yenjob submit`)"
            )
        }
        JobState::Cancelled
        | JobState::NodeFail
        | JobState::Preempted
        | JobState::BootFail
        | JobState::Deadline => format!("`{again}` {runs}"),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runs::BackendKind;
    use crate::runs::record::test_request;

    fn record(job_id: &str, task: Option<usize>, mem_mib: Option<u64>) -> RunRecord {
        RunRecord {
            run_id: "r".into(),
            run_dir: "/runs/r".into(),
            backend: BackendKind::Slurm,
            job_id: job_id.into(),
            earlier_job_ids: Vec::new(),
            cluster: None,
            job_name: "finbert".into(),
            partition: "gpu".into(),
            gpus: 1,
            time_limit_seconds: 1800,
            submitted_at: String::new(),
            spec_source: String::new(),
            base_dir: None,
            git_commit: None,
            log_path: "/runs/r/job.log".into(),
            sbatch_arguments: Vec::new(),
            request: Some(test_request(mem_mib)),
            changed_limits: Default::default(),
            local_pid: None,
            sweep: None,
            task,
            ended: None,
        }
    }

    #[test]
    fn out_of_memory_asks_for_twice_what_it_had() {
        let said = after_end(
            &record("42", None, Some(3000)),
            &JobState::OutOfMemory,
            None,
        )
        .unwrap();
        assert!(
            said.contains("(3000 MiB)")
                && said.contains("`yenjob submit --rerun-failed 42 --mem 6G`"),
            "{said}"
        );
        let said = after_end(&record("42", None, None), &JobState::OutOfMemory, None).unwrap();
        assert!(
            said.contains("by default: `yenjob submit --rerun-failed 42 --mem 16G`"),
            "{said}"
        );
    }

    #[test]
    fn a_timeout_doubles_the_limit() {
        let said = after_end(&record("42", None, None), &JobState::Timeout, None).unwrap();
        assert!(
            said.contains("(30:00)") && said.contains("--rerun-failed 42 --time 1:00:00`"),
            "{said}"
        );
    }

    /// A sweep's task is run again through its sweep.
    #[test]
    fn a_task_names_its_sweep() {
        let said = after_end(&record("77_3", Some(3), None), &JobState::Cancelled, None).unwrap();
        assert!(
            said == "`yenjob submit --rerun-failed 77` runs the sweep's tasks that did not complete again, each from its last checkpoint",
            "{said}"
        );
    }

    /// A failed run's advice quotes the worker's last error from the log.
    #[test]
    fn a_failure_quotes_the_last_error() {
        let log = "[yenjob] job 42 starts\nyenjob: error: first\n[train] step 3\nyenjob: error: /d.txt:2: unknown label \"terrible\"\n[yenjob] worker exited with status 1\n";
        assert_eq!(
            last_error(log),
            Some("/d.txt:2: unknown label \"terrible\"")
        );
        let why = why_it_failed(Some(log), Some("1:0"), "42");
        let said = after_end(&record("42", None, None), &JobState::Failed, Some(&why)).unwrap();
        assert!(
            said.starts_with("it failed: /d.txt:2: unknown label \"terrible\". Once that is fixed, `yenjob submit --rerun-failed 42` runs it again"),
            "{said}"
        );
        assert_eq!(last_error("[yenjob] nothing went wrong\n"), None);
        let why = why_it_failed(
            Some("[yenjob] worker exited with status 3 at 2026-11-29T06:59:10+00:00\n"),
            Some("3:0"),
            "42",
        );
        assert_eq!(why, "the log says why");
    }

    /// Regression: a requeued task that Slurm started in the same second as its end was
    /// refused at launch ("Job credential revoked") and ended FAILED 1:0 with nothing in its
    /// log after the earlier run's "exited with status 75"; the advice said "the log says why".
    #[test]
    fn a_failure_the_log_never_saw_points_at_slurm() {
        let log = "[yenjob] job 1610_1 on vm starts 2026-11-29T06:59:09+00:00 (restart 0, GPUs 1)\n[yenjob worker] stopping: checkpoint at step 887 written\nsrun: error: localhost: task 0: Exited with exit code 75\n[yenjob] worker exited with status 75 at 2026-11-29T06:59:10+00:00\n";
        let why = why_it_failed(Some(log), Some("1:0"), "1610_1");
        assert_eq!(
            why,
            "it failed (exit code 1) after its log's last run had ended with status 75, so its script did not run again: `scontrol show job 1610_1` says why while the controller still holds the job, the node's slurmd log after that"
        );
        for empty in [None, Some(""), Some("\n")] {
            let why = why_it_failed(empty, Some("1:0"), "42");
            assert!(
                why.starts_with(
                    "it failed before its job script wrote a line: `scontrol show job 42`"
                ),
                "{why}"
            );
        }
        // The local backend's exit codes have no signal part.
        let why = why_it_failed(
            Some("[yenjob] worker exited with status 2 at now\n"),
            Some("2"),
            "r",
        );
        assert_eq!(why, "the log says why");
    }

    /// A failure's reason is read from the log once and kept with the end; the same end seen
    /// again keeps it without reading the log, a different end is read afresh.
    #[test]
    fn a_recorded_failure_is_not_read_again() {
        let ended = |exit: &str, failure: Option<&str>| Ended {
            state: JobState::Failed,
            exit_code: Some(exit.into()),
            elapsed_seconds: Some(5),
            nodes: "n1".into(),
            failure: failure.map(String::from),
        };
        // The record's log does not exist: anything read from it says the script never ran.
        let r = record("42", None, None);
        let known = ended("1:0", Some("it failed: bad label"));
        let kept = explain_end(&r, ended("1:0", None), Some(&known));
        assert_eq!(kept.failure.as_deref(), Some("it failed: bad label"));
        let afresh = explain_end(&r, ended("2:0", None), Some(&known));
        assert!(
            afresh
                .failure
                .as_deref()
                .is_some_and(|f| f.starts_with("it failed before its job script wrote a line")),
            "{afresh:?}"
        );
        let r = RunRecord {
            ended: Some(known),
            ..r
        };
        let said = for_run(&r, &JobState::Failed, Some("1:0")).unwrap();
        assert!(said.starts_with("it failed: bad label."), "{said}");
        let completed = explain_end(
            &r,
            Ended {
                state: JobState::Completed,
                ..ended("0:0", None)
            },
            None,
        );
        assert_eq!(completed.failure, None);
    }

    #[test]
    fn completed_and_live_jobs_need_no_advice() {
        for state in [JobState::Completed, JobState::Running, JobState::Pending] {
            assert_eq!(after_end(&record("42", None, None), &state, None), None);
        }
    }
}
