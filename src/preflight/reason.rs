//! Why a job is refused or waits, spelled as Slurm spells it: a verdict's reason is compared
//! with `squeue`'s reason and `sbatch`'s error word for word.

use std::fmt;

/// A QOS or association limit, named by the reason code Slurm gives a job it holds for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitCode(&'static str);

/// Whose limit: a QOS's or the user's association's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holder {
    Qos,
    Assoc,
}

/// Which limit of a QOS or association, for a trackable resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// GrpTRES: all jobs under it together.
    Group,
    /// GrpTRESMins: TRES-minutes used so far (decaying), all jobs together.
    GroupMinutes,
    /// GrpTRESRunMins: each running job's TRES times its time left, all together.
    GroupRunMinutes,
    /// MaxTRESPerJob (QOS) / MaxTRES (association).
    PerJob,
    /// MaxTRESMins: the job's TRES times its time limit.
    MinutesPerJob,
    /// MaxTRESPerNode.
    PerNode,
    /// MinTRES (QOS only): what a job must ask for at least.
    MinPerJob,
    /// MaxTRESPA (QOS only): the jobs of one account together.
    PerAccount,
    /// MaxTRESPerUser.
    PerUser,
}

impl LimitCode {
    /// The code for a TRES limit (`QOSMaxGRESPerUser`, `QOSGrpCpuLimit`, ...), as Slurm's
    /// `_get_tres_state_reason` picks it from the TRES and the kind of limit.
    pub fn for_tres(holder: Holder, scope: Scope, tres: &str) -> LimitCode {
        use Holder::*;
        use Scope::*;
        let kind = match tres {
            "cpu" => 0,
            "mem" => 1,
            "node" => 2,
            "billing" => 3,
            _ => 4, // gres/..., typed or not
        };
        // Columns: cpu, mem, node, billing, gres. Slurm's names are not regular.
        const QOS_GRP: [&str; 5] = [
            "QOSGrpCpuLimit",
            "QOSGrpMemLimit",
            "QOSGrpNodeLimit",
            "QOSGrpBillingLimit",
            "QOSGrpGRES",
        ];
        const QOS_JOB: [&str; 5] = [
            "QOSMaxCpuPerJobLimit",
            "QOSMaxMemoryPerJob",
            "QOSMaxNodePerJobLimit",
            "QOSMaxBillingPerJob",
            "QOSMaxGRESPerJob",
        ];
        const QOS_NODE: [&str; 5] = [
            "QOSMaxCpuPerNode",
            "QOSMaxMemoryPerNode",
            "QOSMaxNodePerNode",
            "QOSMaxBillingPerNode",
            "QOSMaxGRESPerNode",
        ];
        const QOS_USER: [&str; 5] = [
            "QOSMaxCpuPerUserLimit",
            "QOSMaxMemoryPerUser",
            "QOSMaxNodePerUserLimit",
            "QOSMaxBillingPerUser",
            "QOSMaxGRESPerUser",
        ];
        const ASSOC_GRP: [&str; 5] = [
            "AssocGrpCpuLimit",
            "AssocGrpMemLimit",
            "AssocGrpNodeLimit",
            "AssocGrpBillingLimit",
            "AssocGrpGRES",
        ];
        const ASSOC_JOB: [&str; 5] = [
            "AssocMaxCpuPerJobLimit",
            "AssocMaxMemPerJob",
            "AssocMaxNodePerJobLimit",
            "AssocMaxBillingPerJob",
            "AssocMaxGRESPerJob",
        ];
        const ASSOC_NODE: [&str; 5] = [
            "AssocMaxCpuPerNode",
            "AssocMaxMemPerNode",
            "AssocMaxNodePerNode",
            "AssocMaxBillingPerNode",
            "AssocMaxGRESPerNode",
        ];
        const QOS_MINUTES_USED: [&str; 5] = [
            "QOSGrpCPUMinutesLimit",
            "QOSGrpMemoryMinutes",
            "QOSGrpNodeMinutes",
            "QOSGrpBillingMinutes",
            "QOSGrpGRESMinutes",
        ];
        const ASSOC_MINUTES_USED: [&str; 5] = [
            "AssocGrpCPUMinutesLimit",
            "AssocGrpMemMinutes",
            "AssocGrpNodeMinutes",
            "AssocGrpBillingMinutes",
            "AssocGrpGRESMinutes",
        ];
        const QOS_RUN_MINUTES: [&str; 5] = [
            "QOSGrpCPURunMinutesLimit",
            "QOSGrpMemoryRunMinutes",
            "QOSGrpNodeRunMinutes",
            "QOSGrpBillingRunMinutes",
            "QOSGrpGRESRunMinutes",
        ];
        const QOS_MINUTES: [&str; 5] = [
            "QOSMaxCpuMinutesPerJobLimit",
            "QOSMaxMemoryMinutesPerJob",
            "QOSMaxNodeMinutesPerJob",
            "QOSMaxBillingMinutesPerJob",
            "QOSMaxGRESMinutesPerJob",
        ];
        const QOS_MIN: [&str; 5] = [
            "QOSMinCpuNotSatisfied",
            "QOSMinMemory",
            "QOSMinNode",
            "QOSMinBilling",
            "QOSMinGRES",
        ];
        // Slurm spells these without the QOS prefix.
        const QOS_ACCOUNT: [&str; 5] = [
            "MaxCpuPerAccount",
            "MaxMemoryPerAccount",
            "MaxNodePerAccount",
            "MaxBillingPerAccount",
            "MaxGRESPerAccount",
        ];
        const ASSOC_RUN_MINUTES: [&str; 5] = [
            "AssocGrpCPURunMinutesLimit",
            "AssocGrpMemRunMinutes",
            "AssocGrpNodeRunMinutes",
            "AssocGrpBillingRunMinutes",
            "AssocGrpGRESRunMinutes",
        ];
        const ASSOC_MINUTES: [&str; 5] = [
            "AssocMaxCpuMinutesPerJobLimit",
            "AssocMaxMemMinutesPerJob",
            "AssocMaxNodeMinutesPerJob",
            "AssocMaxBillingMinutesPerJob",
            "AssocMaxGRESMinutesPerJob",
        ];
        let table = match (holder, scope) {
            (Qos, Group) => QOS_GRP,
            (Qos, GroupMinutes) => QOS_MINUTES_USED,
            (Qos, GroupRunMinutes) => QOS_RUN_MINUTES,
            (Qos, PerJob) => QOS_JOB,
            (Qos, MinutesPerJob) => QOS_MINUTES,
            (Qos, PerNode) => QOS_NODE,
            (Qos, MinPerJob) => QOS_MIN,
            (Qos, PerAccount) => QOS_ACCOUNT,
            (Qos, PerUser) => QOS_USER,
            // An association's limits are its user's, and an account's own are GrpTRES:
            // associations have no per-account, per-user or minimum TRES limits of their own.
            (Assoc, Group | PerAccount) => ASSOC_GRP,
            (Assoc, GroupMinutes) => ASSOC_MINUTES_USED,
            (Assoc, GroupRunMinutes) => ASSOC_RUN_MINUTES,
            (Assoc, PerJob | PerUser | MinPerJob) => ASSOC_JOB,
            (Assoc, MinutesPerJob) => ASSOC_MINUTES,
            (Assoc, PerNode) => ASSOC_NODE,
        };
        LimitCode(table[kind])
    }

    pub const QOS_MAX_JOBS_PER_USER: LimitCode = LimitCode("QOSMaxJobsPerUserLimit");
    pub const QOS_GRP_JOBS: LimitCode = LimitCode("QOSGrpJobsLimit");
    pub const QOS_GRP_SUBMIT: LimitCode = LimitCode("QOSGrpSubmitJobsLimit");
    pub const QOS_GRP_WALL: LimitCode = LimitCode("QOSGrpWallLimit");
    pub const ASSOC_GRP_WALL: LimitCode = LimitCode("AssocGrpWallLimit");
    pub const QOS_MAX_JOBS_PER_ACCOUNT: LimitCode = LimitCode("MaxJobsPerAccount");
    pub const QOS_MAX_SUBMIT_PER_ACCOUNT: LimitCode = LimitCode("MaxSubmitJobsPerAccount");
    pub const QOS_MAX_SUBMIT_PER_USER: LimitCode = LimitCode("QOSMaxSubmitJobPerUserLimit");
    pub const QOS_MAX_WALL: LimitCode = LimitCode("QOSMaxWallDurationPerJobLimit");
    pub const ASSOC_MAX_JOBS: LimitCode = LimitCode("AssocMaxJobsLimit");
    pub const ASSOC_MAX_SUBMIT: LimitCode = LimitCode("AssocMaxSubmitJobLimit");
    pub const ASSOC_MAX_WALL: LimitCode = LimitCode("AssocMaxWallDurationPerJobLimit");
    pub const ASSOC_GRP_JOBS: LimitCode = LimitCode("AssocGrpJobsLimit");
    pub const ASSOC_GRP_SUBMIT: LimitCode = LimitCode("AssocGrpSubmitJobsLimit");

    /// Whether `squeue_reason` is a limit on running jobs or TRES, one that lets the job in
    /// as the jobs under it end: MaxJobsPU, MaxJobsPA, GrpJobs, the association's MaxJobs,
    /// GrpTRES, MaxTRESPA and MaxTRESPU, and GrpTRESRunMins (`limit_room`; where the
    /// priority decays, it opens as they run down too).
    pub fn opens_as_jobs_end(squeue_reason: &str) -> bool {
        let counts = [
            LimitCode::QOS_MAX_JOBS_PER_USER,
            LimitCode::QOS_GRP_JOBS,
            LimitCode::QOS_MAX_JOBS_PER_ACCOUNT,
            LimitCode::ASSOC_MAX_JOBS,
            LimitCode::ASSOC_GRP_JOBS,
        ];
        let r = squeue_reason.trim();
        counts.into_iter().any(|code| code.as_str() == r)
            || LimitCode::holds_tres(r)
            || LimitCode::holds_run_minutes(r)
    }

    /// Whether `squeue_reason` is a limit on the running jobs' TRES-minutes (GrpTRESRunMins,
    /// a QOS's or an association's).
    pub fn holds_run_minutes(squeue_reason: &str) -> bool {
        let r = squeue_reason.trim();
        [Holder::Qos, Holder::Assoc]
            .into_iter()
            .flat_map(|holder| {
                ["cpu", "mem", "node", "billing", "gres/gpu"]
                    .map(|t| LimitCode::for_tres(holder, Scope::GroupRunMinutes, t))
            })
            .any(|code| code.as_str() == r)
    }

    /// Whether `squeue_reason` is a limit on the TRES that running jobs hold together
    /// (GrpTRES, MaxTRESPA, MaxTRESPU): one Slurm weighs only once it has found the job
    /// nodes (`acct_policy_job_runnable_post_select`).
    pub fn holds_tres(squeue_reason: &str) -> bool {
        use Holder::*;
        use Scope::*;
        let r = squeue_reason.trim();
        [
            (Qos, Group),
            (Qos, PerAccount),
            (Qos, PerUser),
            (Assoc, Group),
        ]
        .into_iter()
        .flat_map(|(holder, scope)| {
            ["cpu", "mem", "node", "billing", "gres/gpu"]
                .map(|t| LimitCode::for_tres(holder, scope, t))
        })
        .any(|code| code.as_str() == r)
    }

    pub fn as_str(self) -> &'static str {
        self.0
    }
}

/// Why Slurm refuses a job at submit or keeps it pending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    // Refused by sbatch, whatever the load.
    /// An array index at or over MaxArraySize.
    InvalidArray,
    InvalidPartition,
    /// A partition an administrator set to DRAIN or INACTIVE.
    PartitionNotAvailable,
    InvalidQos,
    InvalidAccount,
    /// A partition whose AllowGroups leaves the user out.
    GroupNotPermitted,
    /// A partition that takes jobs only in a reservation (ReqResv), or only root's (RootOnly).
    AccessDenied,
    /// A partition that takes no jobs of root (DisableRootJobs).
    RootJobsDisabled,
    /// A reservation that does not exist (or has ended).
    InvalidReservation,
    /// A reservation whose Users, Accounts and Groups leave the job out.
    ReservationAccessDenied,
    /// A constraint naming a feature no node has.
    InvalidFeature,
    /// A nodelist or exclude naming a node the cluster does not have.
    InvalidNodeName,
    NodeConfigurationUnavailable,
    /// More CPUs than a node of the partition has or MaxCPUsPerNode allows, under
    /// EnforcePartLimits=ALL/ANY.
    TooManyRequestedCpus,
    /// Over the partition's MaxTime under EnforcePartLimits=ALL/ANY.
    InvalidTimeLimit,
    /// Over the partition's MaxMemPerNode under EnforcePartLimits=ALL/ANY.
    InvalidTaskMemory,
    /// Fewer nodes than the partition's MinNodes (or more than its MaxNodes) under
    /// EnforcePartLimits=ALL/ANY.
    PartitionConfigurationUnavailable,
    /// The same, as Slurm 24.11 says it.
    InvalidNodeCount,
    // Pending.
    /// A partition an administrator set to DOWN: it takes jobs and starts none.
    PartitionDown,
    /// The job's reservation has not begun.
    Reservation,
    PartitionConfig,
    PartitionTimeLimit,
    /// Over the partition's MaxMemPerNode under EnforcePartLimits=NO.
    MaxMemPerLimit,
    /// Fewer nodes than the partition's MinNodes (or more than its MaxNodes) under
    /// EnforcePartLimits=NO.
    PartitionNodeLimit,
    /// A partition whose AllowGroups leaves the user out, under EnforcePartLimits=NO on
    /// Slurm 24.11 (22.05 refuses it): squeue shows Slurm's sentence instead of the code.
    AccountNotAllowed,
    ReqNodeNotAvail,
    Resources,
    /// Jobs queued ahead wait for the resources, and this one would hold them up.
    Priority,
    /// An array task held back by the array's own throttle (`--array=0-8%2`).
    JobArrayTaskLimit,
    /// A QOS or association limit; refused at submit for MaxSubmit and under DenyOnLimit.
    Limit(LimitCode),
}

impl Reason {
    /// The code as Slurm prints it (`squeue`'s reason, or the error's name).
    pub fn code(self) -> &'static str {
        match self {
            Reason::InvalidArray => "InvalidArray",
            Reason::InvalidPartition => "InvalidPartition",
            Reason::PartitionNotAvailable => "PartitionNotAvailable",
            Reason::InvalidQos => "InvalidQOS",
            Reason::InvalidAccount => "InvalidAccount",
            Reason::GroupNotPermitted => "GroupNotPermitted",
            Reason::AccessDenied => "AccessDenied",
            Reason::RootJobsDisabled => "RootJobsDisabled",
            Reason::InvalidReservation => "InvalidReservation",
            Reason::ReservationAccessDenied => "ReservationAccessDenied",
            Reason::InvalidFeature => "InvalidFeature",
            Reason::InvalidNodeName => "InvalidNodeName",
            Reason::NodeConfigurationUnavailable => "NodeConfigurationUnavailable",
            Reason::TooManyRequestedCpus => "TooManyRequestedCpus",
            Reason::InvalidTimeLimit => "InvalidTimeLimit",
            Reason::InvalidTaskMemory => "InvalidTaskMemory",
            Reason::PartitionConfigurationUnavailable => "PartitionConfigurationUnavailable",
            Reason::InvalidNodeCount => "InvalidNodeCount",
            Reason::PartitionDown => "PartitionDown",
            Reason::Reservation => "Reservation",
            Reason::PartitionConfig => "PartitionConfig",
            Reason::PartitionTimeLimit => "PartitionTimeLimit",
            Reason::MaxMemPerLimit => "MaxMemPerLimit",
            Reason::PartitionNodeLimit => "PartitionNodeLimit",
            Reason::AccountNotAllowed => "AccountNotAllowed",
            Reason::ReqNodeNotAvail => "ReqNodeNotAvail",
            Reason::Resources => "Resources",
            Reason::Priority => "Priority",
            Reason::JobArrayTaskLimit => "JobArrayTaskLimit",
            Reason::Limit(code) => code.as_str(),
        }
    }

    /// What `sbatch` prints when it refuses a job for this reason. For an accounting limit
    /// sbatch prints the reason code on a line of its own.
    pub fn sbatch_says(self) -> &'static str {
        crate::slurm::sbatch::refusal_message(self.code()).unwrap_or(self.code())
    }

    /// Whether `squeue`'s reason for a pending job is this one. A job waiting for drained or
    /// down nodes shows `ReqNodeNotAvail, UnavailableNodes:...` first, then Slurm's sentence.
    pub fn is_squeue_reason(self, squeue_reason: &str) -> bool {
        let r = squeue_reason.trim();
        match self {
            Reason::ReqNodeNotAvail => {
                r.starts_with("ReqNodeNotAvail")
                    || r.starts_with("Nodes required for job are DOWN, DRAINED")
            }
            // `uid 65534 not in group permitted to use this partition (gpu). groups allowed:
            // daemon` (squeue --json: state_reason AccountNotAllowed).
            Reason::AccountNotAllowed => {
                r == "AccountNotAllowed"
                    || r.contains("not in group permitted to use this partition")
            }
            other => r == other.code(),
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl serde::Serialize for Reason {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tres_limit_codes_as_slurm_names_them() {
        use Holder::*;
        use Scope::*;
        let code = |h, s, t| LimitCode::for_tres(h, s, t).as_str();
        assert_eq!(code(Qos, PerUser, "gres/gpu"), "QOSMaxGRESPerUser");
        assert_eq!(code(Qos, PerUser, "gres/gpu:a30"), "QOSMaxGRESPerUser");
        assert_eq!(code(Qos, PerUser, "cpu"), "QOSMaxCpuPerUserLimit");
        assert_eq!(code(Qos, PerUser, "mem"), "QOSMaxMemoryPerUser");
        assert_eq!(code(Qos, Group, "gres/gpu"), "QOSGrpGRES");
        assert_eq!(code(Qos, Group, "cpu"), "QOSGrpCpuLimit");
        assert_eq!(code(Qos, PerJob, "gres/gpu"), "QOSMaxGRESPerJob");
        assert_eq!(code(Assoc, Group, "gres/gpu"), "AssocGrpGRES");
        assert_eq!(code(Assoc, PerJob, "cpu"), "AssocMaxCpuPerJobLimit");
        assert_eq!(code(Qos, PerAccount, "gres/gpu"), "MaxGRESPerAccount");
        assert_eq!(code(Qos, MinPerJob, "gres/gpu"), "QOSMinGRES");
        assert_eq!(
            code(Qos, MinutesPerJob, "cpu"),
            "QOSMaxCpuMinutesPerJobLimit"
        );
        assert_eq!(
            code(Qos, GroupRunMinutes, "gres/gpu"),
            "QOSGrpGRESRunMinutes"
        );
        assert_eq!(code(Qos, GroupMinutes, "gres/gpu"), "QOSGrpGRESMinutes");
        assert_eq!(code(Qos, GroupMinutes, "cpu"), "QOSGrpCPUMinutesLimit");
    }

    #[test]
    fn drained_nodes_read_both_ways() {
        assert!(
            Reason::ReqNodeNotAvail.is_squeue_reason("ReqNodeNotAvail, UnavailableNodes:localhost")
        );
        assert!(Reason::ReqNodeNotAvail.is_squeue_reason(
            "Nodes required for job are DOWN, DRAINED or reserved for jobs in higher priority partitions"
        ));
        assert!(!Reason::Resources.is_squeue_reason("Priority"));
    }
}
