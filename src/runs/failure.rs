//! Why a failed job failed, read from the end of its log and Slurm's exit code: a pure parser.
//! A listing that sees a run fail keeps its [`Failure`] in `run.json`; `advice` words it.

use serde::{Deserialize, Serialize};

/// Why a job that ended FAILED failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Failure {
    /// Slurm killed it for using more memory than it asked for. slurmstepd's accounting does
    /// so under `JobAcctGatherParams=OverMemoryKill` and leaves the job FAILED, not
    /// OUT_OF_MEMORY; the cgroup's OOM killer says so too. `used_mib`: what accounting last
    /// saw, when it says.
    Memory { used_mib: Option<u64> },
    /// The worker's last error (`yenjob: error: ...`).
    Error { message: String },
    /// Slurm's exit code is not the status the log last reported: the job script did not run
    /// again (Slurm failed a launch: a requeued task started in the same second as its end, a
    /// prolog that failed, a log folder it could not write).
    NotRun { exit_code: i32, last_status: i32 },
    /// A signal killed the worker (its status 128 + N) and nothing else says why: SIGKILL is
    /// most often the kernel's out-of-memory killer where Slurm does not enforce memory.
    Killed { signal: i32 },
    /// The job script never wrote a line.
    Silent,
    /// Nothing more precise: the log says why.
    SeeLog,
}

/// The line the job script writes as each run of it starts (`[yenjob] job 42 on n1 starts`).
const RUN_STARTS: &str = "[yenjob] job ";

impl Failure {
    /// Why a failed job failed, from the end of its log (`None`: no log) and its exit code
    /// (Slurm's `1:0`, or the local backend's `1`).
    pub fn read(log: Option<&str>, exit_code: Option<&str>) -> Failure {
        let log = log.unwrap_or("");
        // The latest run of the script: an earlier run's end says nothing of this one's.
        let latest = log
            .rfind(RUN_STARTS)
            .filter(|&at| at == 0 || log.as_bytes()[at - 1] == b'\n')
            .map_or(log, |at| &log[at..]);
        if let Some(used_mib) = memory_kill(latest) {
            return Failure::Memory { used_mib };
        }
        if let Some(message) = last_error(latest) {
            return Failure::Error {
                message: message.to_string(),
            };
        }
        if log.trim().is_empty() {
            return Failure::Silent;
        }
        let code = exit_code.and_then(|c| c.split(':').next()?.trim().parse::<i32>().ok());
        match (last_worker_status(log), code) {
            (Some(last_status), Some(exit_code)) if last_status != exit_code => Failure::NotRun {
                exit_code,
                last_status,
            },
            (Some(status), _) if (129..=192).contains(&status) => Failure::Killed {
                signal: status - 128,
            },
            _ => Failure::SeeLog,
        }
    }
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

/// Whether slurmstepd says it killed a step for memory, with what it last saw in use:
/// `Some(None)` when it does not say how much. Its lines (Slurm 22.05, captured by
/// `scripts/capture-oom.sh`; the cgroup's as sites report them):
/// `slurmstepd-n1: error: StepId=2031.0 exceeded memory limit (627134464 > 314572800), being killed`,
/// `slurmstepd-n1: error: Exceeded job memory limit`, and
/// `slurmstepd: error: Detected 1 oom-kill event(s) in StepId=2031.batch. Some of your processes
/// may have been killed by the cgroup out-of-memory handler.` A step that only came near its
/// limit ends with `Exceeded job memory limit at some point.`, a warning: not a kill.
fn memory_kill(log: &str) -> Option<Option<u64>> {
    let mut killed = false;
    let mut used_mib = None;
    for line in log.lines().filter(|l| l.starts_with("slurmstepd")) {
        if let Some((_, rest)) = line.split_once(" exceeded memory limit (") {
            killed = true;
            used_mib = rest
                .split_once(" > ")
                .and_then(|(used, _)| used.trim().parse::<u64>().ok())
                .map(|bytes| bytes.div_ceil(1 << 20))
                .or(used_mib);
        } else if line.trim_end().ends_with("Exceeded job memory limit")
            || line.trim_end().ends_with("Exceeded step memory limit")
            || line.contains("oom-kill event")
        {
            killed = true;
        }
    }
    killed.then_some(used_mib)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// slurmstepd's accounting killed the worker at 598 MiB of a 300M job, as captured on the
    /// real cluster (`scripts/capture-oom.sh`): Slurm says FAILED 9:0, and the log had ended
    /// with status 137.
    const KILLED: &str = "[yenjob] job 2031 on vm starts 2026-11-29T10:20:40+00:00 (restart 0, GPUs 0)\n[train] epoch 1/2 step 20/200 loss 1.0041\nsrun: Job step aborted: Waiting up to 7 seconds for job step to finish.\nslurmstepd-localhost: error: StepId=2031.0 exceeded memory limit (627134464 > 314572800), being killed\nslurmstepd-localhost: error: Exceeded job memory limit\nsrun: error: localhost: task 0: Killed\n[yenjob] worker exited with status 137 at 2026-11-29T10:21:05+00:00\n";

    #[test]
    fn a_memory_kill_is_named_with_what_was_in_use() {
        assert_eq!(
            Failure::read(Some(KILLED), Some("9:0")),
            Failure::Memory {
                used_mib: Some(599)
            }
        );
        let cgroup = "[yenjob] job 7 on n1 starts now\nslurmstepd: error: Detected 1 oom-kill event(s) in StepId=7.batch. Some of your processes may have been killed by the cgroup out-of-memory handler.\n";
        assert_eq!(
            Failure::read(Some(cgroup), Some("0:125")),
            Failure::Memory { used_mib: None }
        );
        // Near the limit but not killed: the worker's own error is why.
        let warned = "[yenjob] job 8 on n1 starts now\nyenjob: error: data.txt:3: unknown label\nslurmstepd: error: Exceeded job memory limit at some point.\n";
        assert_eq!(
            Failure::read(Some(warned), Some("1:0")),
            Failure::Error {
                message: "data.txt:3: unknown label".into()
            }
        );
    }

    /// A run killed for memory, then run again with more that failed otherwise: the latest
    /// run's failure is the one.
    #[test]
    fn only_the_latest_run_counts() {
        let log = format!(
            "{KILLED}[yenjob] job 2035 on vm starts later (restart 1, GPUs 0)\nyenjob: error: model folder gone\n[yenjob] worker exited with status 1 at later\n"
        );
        assert_eq!(
            Failure::read(Some(&log), Some("1:0")),
            Failure::Error {
                message: "model folder gone".into()
            }
        );
    }

    #[test]
    fn a_log_without_an_error_says_what_it_can() {
        assert_eq!(Failure::read(None, Some("1:0")), Failure::Silent);
        assert_eq!(Failure::read(Some("\n"), Some("1:0")), Failure::Silent);
        let ended = "[yenjob] worker exited with status 75 at 2026-11-29T06:59:10+00:00\n";
        assert_eq!(
            Failure::read(Some(ended), Some("1:0")),
            Failure::NotRun {
                exit_code: 1,
                last_status: 75
            }
        );
        // The local backend's exit codes have no signal part.
        let ended = "[yenjob] worker exited with status 2 at now\n";
        assert_eq!(Failure::read(Some(ended), Some("2")), Failure::SeeLog);
        // A worker the kernel killed (a local job, or Slurm without memory enforcement).
        let killed = "[yenjob] job local-1 on vm starts now\n[train] step 3\n[yenjob] worker exited with status 137 at now\n";
        assert_eq!(
            Failure::read(Some(killed), Some("137")),
            Failure::Killed { signal: 9 }
        );
    }
}
