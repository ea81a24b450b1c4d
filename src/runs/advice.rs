//! What to do about a run that ended without completing: one line that says why in the
//! spec's terms and gives the command that runs it again from where it stopped.

use crate::slurm::duration::format_seconds;
use crate::slurm::state::JobState;

use super::failure::Failure;
use super::record::{Ended, RunRecord};

/// How much of a log's end is searched for why a job failed.
const LOG_TAIL_BYTES: u64 = 64 * 1024;

/// [`after_end`] with why a failed run failed ([`failure_of`]).
pub fn for_run(record: &RunRecord, state: &JobState, exit_code: Option<&str>) -> Option<String> {
    after_end(record, state, failure_of(record, state, exit_code).as_ref())
}

/// Why a run that ended in `state` failed, when it failed: recorded in `run.json` once a
/// listing saw it end, else read from its log. `exit_code` is Slurm's (`1:0`) or the local
/// backend's (`1`).
pub fn failure_of(
    record: &RunRecord,
    state: &JobState,
    exit_code: Option<&str>,
) -> Option<Failure> {
    (state == &JobState::Failed).then(|| {
        record
            .ended
            .as_ref()
            .filter(|e| &e.state == state)
            .and_then(|e| e.failure.clone())
            .unwrap_or_else(|| failure_from_log(record, exit_code))
    })
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

/// [`Failure::read`] of a run's log.
fn failure_from_log(record: &RunRecord, exit_code: Option<&str>) -> Failure {
    Failure::read(log_tail(&record.log_path).as_deref(), exit_code)
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

/// A failure in words; the job id for what to ask Slurm.
pub fn describe(failure: &Failure, job_id: &str) -> String {
    let ask = format!(
        "`scontrol show job {job_id}` says why while the controller still holds the job, the node's slurmd log after that"
    );
    match failure {
        Failure::Error { message } => format!("it failed: {message}"),
        Failure::NotRun {
            exit_code,
            last_status,
        } => format!(
            "it failed (exit code {exit_code}) after its log's last run had ended with status {last_status}, so its script did not run again: {ask}"
        ),
        Failure::Killed { signal: 9 } => "its worker was killed (SIGKILL), most often by the kernel for using more memory than the machine had left; `dmesg` on the node says whether it did".to_string(),
        Failure::Killed { signal } => format!("its worker was killed by signal {signal}"),
        Failure::Silent => format!("it failed before its job script wrote a line: {ask}"),
        Failure::SeeLog => "the log says why".to_string(),
        Failure::Memory { used_mib } => match used_mib {
            Some(used) => format!(
                "Slurm killed it for using more memory than it asked for ({used} MiB in use)"
            ),
            None => "Slurm killed it for using more memory than it asked for".to_string(),
        },
    }
}

/// The advice for `record` once it ended in `state`, `why` being what made it fail (from
/// [`Failure::read`]); `None` when it completed or is not over.
pub fn after_end(record: &RunRecord, state: &JobState, why: Option<&Failure>) -> Option<String> {
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
    let more_memory = |said: &str| match record.request.as_ref().and_then(|r| r.mem_mib) {
        Some(mib) => format!(
            "{said} ({mib} MiB): `{again} --mem {}G` {runs}, with twice that",
            (mib * 2).div_ceil(1024)
        ),
        None => format!(
            "{said} (the partition's default memory): `{again} --mem 16G` {runs}, with 16G (or ask for what it needs)"
        ),
    };
    Some(match (state, why) {
        (JobState::OutOfMemory, _) => more_memory("it needed more memory than it asked for"),
        (JobState::Failed, Some(Failure::Memory { used_mib })) => more_memory(&match used_mib {
            Some(used) => {
                format!("Slurm killed it at {used} MiB, for using more memory than it asked for")
            }
            None => "Slurm killed it for using more memory than it asked for".to_string(),
        }),
        (JobState::Timeout, _) => {
            let limit = record.time_limit_seconds;
            format!(
                "it reached its time limit ({}) before it could checkpoint and requeue itself: `{again} --time {}` {runs}, with twice that",
                format_seconds(limit),
                format_seconds(limit.saturating_mul(2).max(60))
            )
        }
        (JobState::Failed, _) => {
            let why = describe(why.unwrap_or(&Failure::SeeLog), &record.job_id);
            format!(
                "{why}. Once that is fixed, `{again}` {runs} (a fix to the spec needs a new `yenjob submit`)"
            )
        }
        (
            JobState::Cancelled
            | JobState::NodeFail
            | JobState::Preempted
            | JobState::BootFail
            | JobState::Deadline,
            _,
        ) => format!("`{again}` {runs}"),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runs::BackendKind;
    use crate::runs::{test_record, test_request};

    fn record(job_id: &str, task: Option<usize>, mem_mib: Option<u64>) -> RunRecord {
        RunRecord {
            request: Some(test_request(mem_mib)),
            task,
            ..test_record("/runs/r".as_ref(), BackendKind::Slurm, job_id)
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
        assert_eq!(
            said,
            "it needed more memory than it asked for (3000 MiB): `yenjob submit --rerun-failed 42 --mem 6G` runs it again from where it stopped, with twice that"
        );
        let said = after_end(&record("42", None, None), &JobState::OutOfMemory, None).unwrap();
        assert!(
            said.contains(
                "(the partition's default memory): `yenjob submit --rerun-failed 42 --mem 16G`"
            ),
            "{said}"
        );
    }

    /// Regression: slurmstepd's accounting (`OverMemoryKill`) killed a 300M job's worker at
    /// 598 MiB; Slurm said FAILED 9:0, and the advice said its script "did not run again".
    /// It is a memory failure, with the `--mem` to ask for.
    #[test]
    fn a_failure_slurm_killed_for_memory_asks_for_more() {
        let log = "[yenjob] job 2031 on vm starts now (restart 0, GPUs 0)\nslurmstepd-localhost: error: StepId=2031.0 exceeded memory limit (627134464 > 314572800), being killed\nslurmstepd-localhost: error: Exceeded job memory limit\n[yenjob] worker exited with status 137 at now\n";
        let why = Failure::read(Some(log), Some("9:0"));
        let said = after_end(
            &record("2031", None, Some(300)),
            &JobState::Failed,
            Some(&why),
        );
        assert_eq!(
            said.as_deref(),
            Some(
                "Slurm killed it at 599 MiB, for using more memory than it asked for (300 MiB): `yenjob submit --rerun-failed 2031 --mem 1G` runs it again from where it stopped, with twice that"
            )
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
        let why = Failure::read(Some(log), Some("1:0"));
        let said = after_end(&record("42", None, None), &JobState::Failed, Some(&why)).unwrap();
        assert!(
            said.starts_with("it failed: /d.txt:2: unknown label \"terrible\". Once that is fixed, `yenjob submit --rerun-failed 42` runs it again"),
            "{said}"
        );
    }

    /// Regression: a requeued task that Slurm started in the same second as its end was
    /// refused at launch ("Job credential revoked") and ended FAILED 1:0 with nothing in its
    /// log after the earlier run's "exited with status 75"; the advice said "the log says why".
    #[test]
    fn a_failure_the_log_never_saw_points_at_slurm() {
        let log = "[yenjob] job 1610_1 on vm starts 2026-11-29T06:59:09+00:00 (restart 0, GPUs 1)\n[yenjob worker] stopping: checkpoint at step 887 written\nsrun: error: localhost: task 0: Exited with exit code 75\n[yenjob] worker exited with status 75 at 2026-11-29T06:59:10+00:00\n";
        let why = Failure::read(Some(log), Some("1:0"));
        assert_eq!(
            describe(&why, "1610_1"),
            "it failed (exit code 1) after its log's last run had ended with status 75, so its script did not run again: `scontrol show job 1610_1` says why while the controller still holds the job, the node's slurmd log after that"
        );
        assert!(
            describe(&Failure::Silent, "42").starts_with(
                "it failed before its job script wrote a line: `scontrol show job 42`"
            )
        );
        assert_eq!(describe(&Failure::SeeLog, "42"), "the log says why");
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
            failure: failure.map(|message| Failure::Error {
                message: message.into(),
            }),
        };
        // The record's log does not exist: anything read from it says the script never ran.
        let r = record("42", None, None);
        let known = ended("1:0", Some("bad label"));
        let kept = explain_end(&r, ended("1:0", None), Some(&known));
        assert_eq!(kept.failure, known.failure);
        let afresh = explain_end(&r, ended("2:0", None), Some(&known));
        assert_eq!(afresh.failure, Some(Failure::Silent));
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
