//! What to do about a run that ended without completing: one line that says why in the
//! spec's terms and gives the command that runs it again from where it stopped.

use crate::slurm::duration::format_seconds;
use crate::slurm::state::JobState;

use super::record::RunRecord;

/// How much of a log's end is searched for the worker's error.
const LOG_TAIL_BYTES: u64 = 64 * 1024;

/// [`after_end`] with the last error the run's log holds, for a run that failed.
pub fn for_run(record: &RunRecord, state: &JobState) -> Option<String> {
    let error = match state {
        JobState::Failed => log_tail(&record.log_path),
        _ => None,
    };
    after_end(record, state, error.as_deref().and_then(last_error))
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

/// The advice for `record` once it ended in `state`, `error` being the worker's last error
/// if it failed; `None` when it completed or is not over.
pub fn after_end(record: &RunRecord, state: &JobState, error: Option<&str>) -> Option<String> {
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
            let why = error.map_or("the log says why".to_string(), |e| {
                format!("it failed: {e}")
            });
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
        let error = last_error(log);
        assert_eq!(error, Some("/d.txt:2: unknown label \"terrible\""));
        let said = after_end(&record("42", None, None), &JobState::Failed, error).unwrap();
        assert!(
            said.starts_with("it failed: /d.txt:2: unknown label \"terrible\". Once that is fixed, `yenjob submit --rerun-failed 42` runs it again"),
            "{said}"
        );
        assert_eq!(last_error("[yenjob] nothing went wrong\n"), None);
        let said = after_end(&record("42", None, None), &JobState::Failed, None).unwrap();
        assert!(said.starts_with("the log says why"), "{said}");
    }

    #[test]
    fn completed_and_live_jobs_need_no_advice() {
        for state in [JobState::Completed, JobState::Running, JobState::Pending] {
            assert_eq!(after_end(&record("42", None, None), &state, None), None);
        }
    }
}
