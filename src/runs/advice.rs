//! What to do about a run that ended without completing: one line that says why in the
//! spec's terms and gives the command that runs it again from where it stopped.

use crate::slurm::duration::format_seconds;
use crate::slurm::state::JobState;

use super::record::RunRecord;

/// The advice for `record` once it ended in `state`; `None` when it completed or is not over.
pub fn after_end(record: &RunRecord, state: &JobState) -> Option<String> {
    // `--rerun-failed` takes a sweep, not one of its tasks: it runs every task that failed.
    let target = match record.task {
        Some(_) => record
            .job_id
            .rsplit_once('_')
            .map_or(record.job_id.as_str(), |(sweep, _)| sweep),
        None => record.job_id.as_str(),
    };
    let again = format!("yenjob submit --rerun-failed {target}");
    let from = if record.task.is_some() {
        "its tasks that did not complete run again, each from its last checkpoint"
    } else {
        "it runs again from where it stopped"
    };
    Some(match state {
        JobState::OutOfMemory => match record.request.as_ref().and_then(|r| r.mem_mib) {
            Some(mib) => format!(
                "it needed more memory than it asked for ({mib} MiB): `{again} --mem {}G` asks for twice that, and {from}",
                (mib * 2).div_ceil(1024)
            ),
            None => format!(
                "it needed more memory than the partition gives a job by default: `{again} --mem SIZE` (16G, say) asks for more, and {from}"
            ),
        },
        JobState::Timeout => {
            let limit = record.time_limit_seconds;
            format!(
                "it reached its time limit ({}) before it could checkpoint and requeue itself: `{again} --time {}` gives it more, and {from}",
                format_seconds(limit),
                format_seconds(limit.saturating_mul(2).max(60))
            )
        }
        JobState::Failed => {
            format!("the log says why; once that is fixed, `{again}`: {from}")
        }
        JobState::Cancelled
        | JobState::NodeFail
        | JobState::Preempted
        | JobState::BootFail
        | JobState::Deadline => format!("`{again}`: {from}"),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preflight::Request;
    use crate::runs::BackendKind;

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
            request: Some(Request {
                partition: "gpu".into(),
                qos: None,
                account: None,
                gpus: 1,
                gpu_type: None,
                cpus: 2,
                mem_mib,
                time_seconds: 1800,
                tasks: 1,
            }),
            changed_limits: Default::default(),
            local_pid: None,
            sweep: None,
            task,
            ended: None,
        }
    }

    #[test]
    fn out_of_memory_asks_for_twice_what_it_had() {
        let said = after_end(&record("42", None, Some(3000)), &JobState::OutOfMemory).unwrap();
        assert!(
            said.contains("(3000 MiB)")
                && said.contains("`yenjob submit --rerun-failed 42 --mem 6G`"),
            "{said}"
        );
        let said = after_end(&record("42", None, None), &JobState::OutOfMemory).unwrap();
        assert!(said.contains("--mem SIZE`"), "{said}");
    }

    #[test]
    fn a_timeout_doubles_the_limit() {
        let said = after_end(&record("42", None, None), &JobState::Timeout).unwrap();
        assert!(
            said.contains("(30:00)") && said.contains("--rerun-failed 42 --time 1:00:00`"),
            "{said}"
        );
    }

    /// A sweep's task is run again through its sweep.
    #[test]
    fn a_task_names_its_sweep() {
        let said = after_end(&record("77_3", Some(3), None), &JobState::Cancelled).unwrap();
        assert!(
            said.contains("`yenjob submit --rerun-failed 77`") && said.contains("its tasks"),
            "{said}"
        );
    }

    #[test]
    fn completed_and_live_jobs_need_no_advice() {
        for state in [JobState::Completed, JobState::Running, JobState::Pending] {
            assert_eq!(after_end(&record("42", None, None), &state), None);
        }
    }
}
