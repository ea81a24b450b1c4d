//! Job states as squeue, sacct and scontrol print them.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobState {
    Pending,
    Configuring,
    Running,
    Completing,
    Suspended,
    Requeued,
    Completed,
    Failed,
    Cancelled,
    Timeout,
    NodeFail,
    Preempted,
    OutOfMemory,
    BootFail,
    Deadline,
    /// No source knows the job any more: not the queue, not accounting, not the controller.
    Unknown,
    Other(String),
}

impl JobState {
    /// Parses `RUNNING`, `R`, `CANCELLED by 0`, `CANCELLED+`, `OUT_OF_MEMORY`, `OOM`...
    pub fn parse(text: &str) -> JobState {
        let word = text
            .trim()
            .split([' ', '+'])
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        match word.as_str() {
            "PENDING" | "PD" => JobState::Pending,
            "CONFIGURING" | "CF" => JobState::Configuring,
            "RUNNING" | "R" => JobState::Running,
            "COMPLETING" | "CG" => JobState::Completing,
            "SUSPENDED" | "S" => JobState::Suspended,
            "REQUEUED" | "RQ" | "REQUEUE_FED" | "REQUEUE_HOLD" | "RH" => JobState::Requeued,
            "COMPLETED" | "CD" => JobState::Completed,
            "FAILED" | "F" => JobState::Failed,
            "CANCELLED" | "CA" => JobState::Cancelled,
            "TIMEOUT" | "TO" => JobState::Timeout,
            "NODE_FAIL" | "NF" => JobState::NodeFail,
            "PREEMPTED" | "PR" => JobState::Preempted,
            "OUT_OF_MEMORY" | "OOM" => JobState::OutOfMemory,
            "BOOT_FAIL" | "BF" => JobState::BootFail,
            "DEADLINE" | "DL" => JobState::Deadline,
            "UNKNOWN" => JobState::Unknown,
            _ => JobState::Other(text.trim().to_string()),
        }
    }

    /// The job will not run again (unless someone requeues it by hand).
    pub fn is_finished(&self) -> bool {
        matches!(
            self,
            JobState::Completed
                | JobState::Failed
                | JobState::Cancelled
                | JobState::Timeout
                | JobState::NodeFail
                | JobState::Preempted
                | JobState::OutOfMemory
                | JobState::BootFail
                | JobState::Deadline
        )
    }

    pub fn is_waiting(&self) -> bool {
        matches!(
            self,
            JobState::Pending | JobState::Requeued | JobState::Configuring
        )
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            JobState::Pending => "PENDING",
            JobState::Configuring => "CONFIGURING",
            JobState::Running => "RUNNING",
            JobState::Completing => "COMPLETING",
            JobState::Suspended => "SUSPENDED",
            JobState::Requeued => "REQUEUED",
            JobState::Completed => "COMPLETED",
            JobState::Failed => "FAILED",
            JobState::Cancelled => "CANCELLED",
            JobState::Timeout => "TIMEOUT",
            JobState::NodeFail => "NODE_FAIL",
            JobState::Preempted => "PREEMPTED",
            JobState::OutOfMemory => "OUT_OF_MEMORY",
            JobState::BootFail => "BOOT_FAIL",
            JobState::Deadline => "DEADLINE",
            JobState::Unknown => "UNKNOWN",
            JobState::Other(s) => s,
        };
        f.write_str(s)
    }
}

/// Slurm's pending-reason codes in words a researcher reads.
pub fn explain_reason(code: &str) -> String {
    let code = code.trim().trim_start_matches('(').trim_end_matches(')');
    let text = match code {
        "Resources" => "waiting for resources: the GPUs/CPUs/memory it asks for are in use",
        "Priority" => {
            "jobs queued ahead of it wait for the same nodes; the backfill scheduler starts it early only if it ends before they are expected to start (a pending job's time limit can be lowered: `scontrol update jobid=ID timelimit=H:MM:SS`)"
        }
        "QOSMaxGRESPerUser" => "you already use as many GPUs as your QOS allows per user",
        "QOSMaxJobsPerUserLimit" => "you already run as many jobs as your QOS allows per user",
        "QOSMaxCpuPerUserLimit" => "you already use as many CPUs as your QOS allows per user",
        "QOSMaxMemoryPerUser" => "you already use as much memory as your QOS allows per user",
        "QOSGrpGRES" => "the QOS's GPUs (for all users together) are all in use",
        "QOSMaxWallDurationPerJobLimit" => {
            "the time limit is longer than the QOS allows; it will never start"
        }
        "AssocMaxWallDurationPerJobLimit" => {
            "the time limit is longer than your association allows; it will never start"
        }
        "QOSGrpJobsLimit" => {
            "the QOS already runs as many jobs as it allows for all users together"
        }
        "AssocMaxJobsLimit" => "you already run as many jobs as your association allows",
        "AssocGrpJobsLimit" => {
            "your account's users together already run as many jobs as it allows (GrpJobs)"
        }
        "MaxJobsPerAccount" => {
            "your account's users together already run as many jobs as the QOS allows per account (MaxJobsPA)"
        }
        "PartitionTimeLimit" => {
            "the time limit is longer than the partition allows; it will never start"
        }
        "MaxMemPerLimit" => {
            "it asks for more memory than the partition allows a node; it will never start"
        }
        "PartitionNodeLimit" => {
            "its partition runs jobs on more nodes (MinNodes) or fewer (MaxNodes) than it asks for; it will never start"
        }
        "PartitionConfig" => {
            "it asks for more CPUs or nodes than the partition allows; it will never start"
        }
        "Reservation" => "its reservation has not begun; it starts when the reservation does",
        "PartitionDown" => {
            "its partition is down: nothing starts there until an administrator brings it up"
        }
        "PartitionInactive" => {
            "its partition is inactive: nothing starts there until an administrator brings it up"
        }
        other if other.contains("Reserved for maintenance") => {
            "the nodes are kept for maintenance that begins before this job would end; it starts after it, or before with a shorter time limit (you may lower a pending job's: `scontrol update jobid=ID timelimit=H:MM:SS`; `scontrol show reservation` shows when)"
        }
        other if other.starts_with("ReqNodeNotAvail") => {
            "a node it needs is unavailable (down, drained, not responding or reserved)"
        }
        "JobArrayTaskLimit" => {
            "the array's own throttle (%N in --array) lets no more of its tasks run at once"
        }
        "BeginTime" => "it was asked not to start before a given time",
        "Dependency" => "it waits for another job to finish",
        "JobHeldUser" => "you held it (scontrol release JOBID lets it go)",
        "JobHeldAdmin" => "an administrator held it",
        "None" => "no reason given yet (the scheduler has not looked at it)",
        other
            if other.starts_with("Nodes required for job are DOWN")
                || other.starts_with("Nodes_required") =>
        {
            "the nodes it needs are down, drained, or kept free for higher-priority jobs"
        }
        other => {
            return explain_tres_limit(other).unwrap_or_else(|| format!("Slurm says: {other}"));
        }
    };
    text.to_string()
}

/// A TRES limit's code (`QOSGrpGRESRunMinutes`, `AssocMaxCpuPerJobLimit`, `MaxGRESPerAccount`)
/// in words: whose limit, which resource, which kind.
fn explain_tres_limit(code: &str) -> Option<String> {
    let (holder, rest) = match code {
        c if c.starts_with("QOS") => ("the QOS", &c[3..]),
        c if c.starts_with("Assoc") => ("your association", &c[5..]),
        // The QOS's per-account limits carry no prefix.
        c if c.ends_with("PerAccount") => ("the QOS", c),
        _ => return None,
    };
    let rest = rest.strip_suffix("Limit").unwrap_or(rest);
    // The resource as a noun, and as the first half of "GPU-minutes".
    let resource = |name: &str| match name {
        "GRES" => Some("GPUs"),
        "Cpu" | "CPU" => Some("CPUs"),
        "Mem" | "Memory" => Some("memory"),
        "Node" => Some("nodes"),
        "Billing" => Some("billing units"),
        _ => None,
    };
    let minutes_of = |name: &str| match name {
        "GRES" => Some("GPU-minutes"),
        "Cpu" | "CPU" => Some("CPU-minutes"),
        "Mem" | "Memory" => Some("MiB-minutes"),
        "Node" => Some("node-minutes"),
        "Billing" => Some("billing-minutes"),
        _ => None,
    };
    let text = if let Some(r) = rest.strip_prefix("Grp") {
        if let Some(r) = r.strip_suffix("RunMinutes") {
            format!(
                "the running jobs under {holder} together hold as many {} as it allows (GrpTRESRunMins); it starts as enough of them end (or run down, where the priority decays), or sooner with a shorter time limit",
                minutes_of(r)?
            )
        } else if let Some(r) = r.strip_suffix("Minutes") {
            format!(
                "{holder} has used up its budget of {} (GrpTRESMins); it waits until an administrator raises it or past use decays",
                minutes_of(r)?
            )
        } else {
            format!(
                "the {} {holder} allows all its users together are in use (GrpTRES)",
                resource(r)?
            )
        }
    } else if let Some(r) = rest.strip_prefix("Max") {
        if let Some(r) = r.strip_suffix("MinutesPerJob") {
            format!(
                "its {} times its time limit is more than {holder} allows a job (MaxTRESMins); it will never start as asked",
                resource(r)?
            )
        } else if let Some(r) = r.strip_suffix("PerJob") {
            format!(
                "it asks for more {} than {holder} allows a job; it will never start as asked",
                resource(r)?
            )
        } else if let Some(r) = r.strip_suffix("PerNode") {
            format!(
                "it asks for more {} than {holder} allows on a node; it will never start as asked",
                resource(r)?
            )
        } else if let Some(r) = r.strip_suffix("PerUser") {
            format!(
                "you already use as many {} as {holder} allows per user",
                resource(r)?
            )
        } else if let Some(r) = r.strip_suffix("PerAccount") {
            format!(
                "your account's users together already use as many {} as {holder} allows per account (MaxTRESPA)",
                resource(r)?
            )
        } else {
            return None;
        }
    } else if let Some(r) = rest.strip_prefix("Min") {
        let r = r.strip_suffix("NotSatisfied").unwrap_or(r);
        format!(
            "it asks for fewer {} than {holder} requires of every job (MinTRES); it will never start as asked",
            resource(r)?
        )
    } else {
        return None;
    };
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_codes_read_as_words() {
        for (code, says) in [
            (
                "QOSGrpGRESRunMinutes",
                "the running jobs under the QOS together hold as many GPU-minutes as it allows (GrpTRESRunMins); it starts as enough of them end",
            ),
            (
                "QOSMaxCpuMinutesPerJobLimit",
                "its CPUs times its time limit is more than the QOS allows a job",
            ),
            (
                "QOSMinGRES",
                "it asks for fewer GPUs than the QOS requires of every job (MinTRES)",
            ),
            ("QOSMinCpuNotSatisfied", "fewer CPUs than the QOS requires"),
            (
                "MaxGRESPerAccount",
                "your account's users together already use as many GPUs as the QOS allows per account",
            ),
            (
                "AssocGrpGRES",
                "the GPUs your association allows all its users together are in use",
            ),
            (
                "AssocMaxCpuPerJobLimit",
                "it asks for more CPUs than your association allows a job",
            ),
            ("MaxJobsPerAccount", "per account (MaxJobsPA)"),
        ] {
            let words = explain_reason(code);
            assert!(words.contains(says), "{code}: {words}");
        }
        assert_eq!(
            explain_reason("QOSMaxFooPerJob"),
            "Slurm says: QOSMaxFooPerJob"
        );
    }

    #[test]
    fn parses_state_spellings() {
        assert_eq!(JobState::parse("CANCELLED by 0"), JobState::Cancelled);
        assert_eq!(JobState::parse("CANCELLED+"), JobState::Cancelled);
        assert_eq!(JobState::parse("CD"), JobState::Completed);
        assert_eq!(JobState::parse("RUNNING"), JobState::Running);
        assert!(matches!(JobState::parse("WEIRD"), JobState::Other(_)));
        assert!(JobState::parse("TIMEOUT").is_finished());
    }
}
