//! `scontrol show partition`, `show job` and `show reservation`: records of `Key=Value` words.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use super::duration::SlurmTime;
use super::state::JobState;
use super::tres::Tres;
use super::{clock, hostlist};

/// Splits scontrol's output into records (blank-line separated, or one per line with `-o`).
/// A word without `=` continues the previous value (`OS=Linux 6.18 #1 SMP`).
pub fn parse_records(text: &str) -> Vec<BTreeMap<String, String>> {
    let mut records = Vec::new();
    let mut current: BTreeMap<String, String> = BTreeMap::new();
    let mut last_key: Option<String> = None;
    for line in text.lines() {
        if line.trim().is_empty() {
            if !current.is_empty() {
                records.push(std::mem::take(&mut current));
            }
            last_key = None;
            continue;
        }
        // A line that starts without indentation starts a new record (`-o` output, or the
        // first line of the next record when blank lines are missing).
        if !line.starts_with(' ') && !current.is_empty() && is_record_start(line) {
            records.push(std::mem::take(&mut current));
            last_key = None;
        }
        for word in line.split_whitespace() {
            match split_key(word) {
                Some((k, v)) => {
                    current.insert(k.to_string(), v.to_string());
                    last_key = Some(k.to_string());
                }
                None => {
                    if let Some(k) = &last_key
                        && let Some(v) = current.get_mut(k)
                    {
                        v.push(' ');
                        v.push_str(word);
                    }
                }
            }
        }
    }
    if !current.is_empty() {
        records.push(current);
    }
    records
}

fn is_record_start(line: &str) -> bool {
    ["PartitionName=", "JobId=", "NodeName=", "ReservationName="]
        .iter()
        .any(|p| line.starts_with(p))
}

fn split_key(word: &str) -> Option<(&str, &str)> {
    let (k, v) = word.split_once('=')?;
    let ok = k.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/:_.".contains(c));
    ok.then_some((k, v))
}

fn field<'a>(r: &'a BTreeMap<String, String>, key: &str) -> Option<&'a str> {
    r.get(key)
        .map(String::as_str)
        .filter(|v| !v.is_empty() && *v != "(null)")
}

/// A partition as `scontrol show partition` describes it.
/// A partition's `OverSubscribe`: how its jobs share a node's CPUs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverSubscribe {
    /// `NO`: each CPU goes to one job (the default).
    No,
    /// `EXCLUSIVE`: each job gets whole nodes to itself.
    Exclusive,
    /// `YES:N`: up to N jobs on a CPU, among jobs that ask for it (`--oversubscribe`).
    Yes(u64),
    /// `FORCE:N`: up to N of its jobs on each CPU, whether they ask or not.
    Force(u64),
}

impl OverSubscribe {
    /// `NO`, `EXCLUSIVE`, `YES:4`, `FORCE:2`; Slurm's count is 4 when none is given.
    pub fn parse(text: &str) -> OverSubscribe {
        let (kind, count) = match text.split_once(':') {
            Some((kind, count)) => (kind, count.parse().unwrap_or(4)),
            None => (text, 4),
        };
        match kind {
            "EXCLUSIVE" => OverSubscribe::Exclusive,
            "YES" => OverSubscribe::Yes(count),
            "FORCE" => OverSubscribe::Force(count),
            _ => OverSubscribe::No,
        }
    }
}

impl fmt::Display for OverSubscribe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OverSubscribe::No => f.write_str("NO"),
            OverSubscribe::Exclusive => f.write_str("EXCLUSIVE"),
            OverSubscribe::Yes(n) => write!(f, "YES:{n}"),
            OverSubscribe::Force(n) => write!(f, "FORCE:{n}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Partition {
    pub name: String,
    /// The partition's QOS (`QoS=gpu`); `None` for `N/A`.
    pub qos: Option<String>,
    pub max_time: SlurmTime,
    pub state: PartitionState,
    pub nodes: String,
    pub is_default: bool,
    pub tres: Tres,
    /// `MaxCPUsPerNode`; `None` for UNLIMITED.
    pub max_cpus_per_node: Option<u64>,
    /// `MaxMemPerNode` in MiB; `None` for UNLIMITED (or a per-CPU limit instead).
    pub max_mem_per_node_mib: Option<u64>,
    /// `MaxMemPerCPU` in MiB, shown instead of MaxMemPerNode when the partition sets it.
    pub max_mem_per_cpu_mib: Option<u64>,
    /// `DefMemPerCPU` in MiB when the partition sets its own.
    pub def_mem_per_cpu_mib: Option<u64>,
    /// `AllowQos`: `None` for ALL.
    pub allow_qos: Option<Vec<String>>,
    pub deny_qos: Vec<String>,
    /// `AllowGroups`: `None` for ALL.
    pub allow_groups: Option<Vec<String>>,
    /// `AllowAccounts`: `None` for ALL.
    pub allow_accounts: Option<Vec<String>>,
    pub deny_accounts: Vec<String>,
    /// `MinNodes`: the fewest nodes a job there may run on.
    pub min_nodes: u64,
    /// `MaxNodes`: the most nodes a job there may run on; `None` for UNLIMITED.
    pub max_nodes: Option<u64>,
    /// `RootOnly=YES`: only root may submit there.
    pub root_only: bool,
    /// `ReqResv=YES`: a job there must name a reservation.
    pub requires_reservation: bool,
    /// `DisableRootJobs=YES`: root may not run jobs there.
    pub no_root_jobs: bool,
    /// `OverSubscribe`: whether its jobs share CPUs, or each gets whole nodes.
    pub oversubscribe: OverSubscribe,
    /// `ExclusiveUser=YES`: a node runs one user's jobs at a time.
    pub exclusive_user: bool,
    /// `PriorityTier`: under PreemptType=preempt/partition_prio, jobs of a partition with a
    /// higher tier preempt those of a lower one.
    pub priority_tier: u64,
    /// `PreemptMode`: what preempting its jobs does (`REQUEUE`, `CANCEL`, `SUSPEND`...), or
    /// `OFF`; `None` when not shown.
    pub preempt_mode: Option<String>,
}

impl Partition {
    /// `OverSubscribe=EXCLUSIVE`: each job gets whole nodes to itself.
    pub fn whole_nodes(&self) -> bool {
        self.oversubscribe == OverSubscribe::Exclusive
    }
}

/// A partition's `State`, which an administrator sets with `scontrol update`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartitionState {
    /// Takes jobs and starts them.
    Up,
    /// Takes jobs but starts none until it is up again.
    Down,
    /// Takes no new jobs; queued ones still start.
    Drain,
    /// Takes no jobs and starts none.
    Inactive,
    /// A state this version of yenjob does not know, as Slurm spelled it.
    Other(String),
}

impl PartitionState {
    fn parse(text: &str) -> PartitionState {
        match text {
            "UP" => PartitionState::Up,
            "DOWN" => PartitionState::Down,
            "DRAIN" => PartitionState::Drain,
            "INACTIVE" => PartitionState::Inactive,
            other => PartitionState::Other(other.to_string()),
        }
    }
}

impl std::fmt::Display for PartitionState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PartitionState::Up => "UP",
            PartitionState::Down => "DOWN",
            PartitionState::Drain => "DRAIN",
            PartitionState::Inactive => "INACTIVE",
            PartitionState::Other(s) => s,
        })
    }
}

/// A comma list, or `None` for `ALL` (or an absent key).
fn name_list(value: Option<&str>) -> Option<Vec<String>> {
    let v = value?;
    (v != "ALL").then(|| {
        v.split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    })
}

/// A count, or `None` for UNLIMITED (or anything that is not a number).
fn limit(value: Option<&str>) -> Option<u64> {
    value.and_then(|v| v.parse().ok())
}

pub fn parse_partitions(text: &str) -> Vec<Partition> {
    parse_records(text)
        .into_iter()
        .filter_map(|r| {
            Some(Partition {
                name: field(&r, "PartitionName")?.to_string(),
                qos: field(&r, "QoS").filter(|q| *q != "N/A").map(str::to_string),
                max_time: field(&r, "MaxTime")
                    .and_then(SlurmTime::parse)
                    .unwrap_or(SlurmTime::NotSet),
                state: PartitionState::parse(field(&r, "State").unwrap_or("UP")),
                nodes: field(&r, "Nodes").unwrap_or("").to_string(),
                is_default: field(&r, "Default") == Some("YES"),
                tres: Tres::parse(field(&r, "TRES").unwrap_or("")),
                max_cpus_per_node: limit(field(&r, "MaxCPUsPerNode")),
                max_mem_per_node_mib: limit(field(&r, "MaxMemPerNode")),
                max_mem_per_cpu_mib: limit(field(&r, "MaxMemPerCPU")),
                def_mem_per_cpu_mib: limit(field(&r, "DefMemPerCPU")),
                allow_qos: name_list(field(&r, "AllowQos")),
                deny_qos: name_list(field(&r, "DenyQos")).unwrap_or_default(),
                allow_groups: name_list(field(&r, "AllowGroups")),
                allow_accounts: name_list(field(&r, "AllowAccounts")),
                deny_accounts: name_list(field(&r, "DenyAccounts")).unwrap_or_default(),
                min_nodes: field(&r, "MinNodes")
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0),
                max_nodes: limit(field(&r, "MaxNodes")),
                root_only: field(&r, "RootOnly") == Some("YES"),
                requires_reservation: field(&r, "ReqResv") == Some("YES"),
                no_root_jobs: field(&r, "DisableRootJobs") == Some("YES"),
                oversubscribe: OverSubscribe::parse(field(&r, "OverSubscribe").unwrap_or("NO")),
                exclusive_user: field(&r, "ExclusiveUser") == Some("YES"),
                priority_tier: field(&r, "PriorityTier")
                    .and_then(|t| t.parse().ok())
                    .unwrap_or(1),
                preempt_mode: field(&r, "PreemptMode").map(str::to_string),
            })
        })
        .collect()
}

/// A reservation as `scontrol show reservation` describes it: its nodes are off limits, from
/// its start to its end, to jobs that do not ask for it.
#[derive(Debug, Clone, PartialEq)]
pub struct Reservation {
    pub name: String,
    /// Start and end on `clock`'s local seconds; `None` when Slurm gave no time.
    pub start: Option<i64>,
    pub end: Option<i64>,
    /// The nodes, expanded from Slurm's host list (a set: a maintenance window may hold every
    /// node of a large cluster, and each node checked asks whether it is in it).
    pub nodes: BTreeSet<String>,
    /// `MAINT`, `IGNORE_JOBS`, `FLEX`...
    pub flags: Vec<String>,
    /// Who may run in it: `Users`, `Accounts` and `Groups`, each `None` when not set.
    pub users: Option<NameRule>,
    pub accounts: Option<NameRule>,
    pub groups: Option<NameRule>,
    /// `TRES=cpu=N`: the CPUs it keeps on all its nodes together.
    pub cpus: Option<u64>,
    /// `CoreCnt`: the cores it keeps on all its nodes together.
    pub cores: Option<u64>,
    /// The cores it keeps on each node (`NodeName=n CoreIDs=0-1`), which Slurm shows for a
    /// reservation of part of its nodes' cores, though not every time.
    pub cores_on: BTreeMap<String, u64>,
}

/// A reservation's `Users=alice,bob` (only these) or `Users=-carol` (all but these).
#[derive(Debug, Clone, PartialEq)]
pub enum NameRule {
    Only(Vec<String>),
    AllBut(Vec<String>),
}

impl NameRule {
    fn parse(text: &str) -> NameRule {
        let names: Vec<&str> = text.split(',').filter(|n| !n.is_empty()).collect();
        if names.iter().all(|n| n.starts_with('-')) {
            NameRule::AllBut(names.iter().map(|n| n[1..].to_string()).collect())
        } else {
            NameRule::Only(names.iter().map(|n| n.to_string()).collect())
        }
    }

    pub fn admits(&self, name: &str) -> bool {
        self.admits_any(&[name.to_string()])
    }

    /// For a user in several groups: one of them listed, or none of them denied.
    pub fn admits_any(&self, mine: &[String]) -> bool {
        match self {
            NameRule::Only(names) => names.iter().any(|n| mine.contains(n)),
            NameRule::AllBut(names) => !names.iter().any(|n| mine.contains(n)),
        }
    }
}

impl Reservation {
    pub fn is_maintenance(&self) -> bool {
        self.flags.iter().any(|f| f == "MAINT")
    }

    /// Whether a job of `user` (in `groups`) under `account` may run in it: any of its Users,
    /// Accounts or Groups that admits the job will do. `None` when that cannot be told (it
    /// names groups, and the user's are unknown).
    pub fn admits(
        &self,
        user: &str,
        account: Option<&str>,
        groups: Option<&[String]>,
    ) -> Option<bool> {
        let by_user = self.users.as_ref().map(|u| u.admits(user));
        let by_account = self
            .accounts
            .as_ref()
            .map(|a| account.is_some_and(|acct| a.admits(acct)));
        if by_user == Some(true) || by_account == Some(true) {
            return Some(true);
        }
        match (&self.groups, groups) {
            (Some(rule), Some(mine)) => Some(rule.admits_any(mine)),
            (Some(_), None) => None,
            (None, _) => Some(false),
        }
    }

    /// Whether a job that does not ask for this reservation may still use its nodes: a FLEX
    /// or MAGNETIC one lets jobs in, and an ANY_NODES one holds licenses or burst buffers,
    /// not nodes.
    pub fn leaves_room(&self) -> bool {
        self.flags
            .iter()
            .any(|f| matches!(f.as_str(), "FLEX" | "MAGNETIC" | "ANY_NODES"))
    }
}

/// `scontrol show reservation -o`; "No reservations in the system" reads as none.
pub fn parse_reservations(text: &str) -> Vec<Reservation> {
    let mut cores_on = cores_by_node(text);
    parse_records(text)
        .into_iter()
        .filter_map(|r| {
            let name = field(&r, "ReservationName")?.to_string();
            Some(Reservation {
                cores_on: cores_on.remove(&name).unwrap_or_default(),
                cpus: field(&r, "TRES").and_then(|t| Tres::parse(t).get("cpu")),
                cores: field(&r, "CoreCnt").and_then(|c| c.parse().ok()),
                name,
                start: field(&r, "StartTime").and_then(clock::parse_timestamp),
                end: field(&r, "EndTime").and_then(clock::parse_timestamp),
                nodes: field(&r, "Nodes")
                    .map(|list| hostlist::expand(list).into_iter().collect())
                    .unwrap_or_default(),
                flags: field(&r, "Flags")
                    .map(|f| f.split(',').map(str::to_string).collect())
                    .unwrap_or_default(),
                users: field(&r, "Users").map(NameRule::parse),
                accounts: field(&r, "Accounts").map(NameRule::parse),
                groups: field(&r, "Groups").map(NameRule::parse),
            })
        })
        .collect()
}

/// Each reservation's `NodeName=n CoreIDs=0-1` pairs, as a count of cores a node. The pairs
/// repeat within a record, so they are read from the words, not from `parse_records`' map.
fn cores_by_node(text: &str) -> BTreeMap<String, BTreeMap<String, u64>> {
    let mut found: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    let mut reservation = None;
    let mut node = None;
    for word in text.split_whitespace() {
        if let Some(name) = word.strip_prefix("ReservationName=") {
            reservation = Some(name.to_string());
        } else if let Some(name) = word.strip_prefix("NodeName=") {
            node = Some(name.to_string());
        } else if let Some(ids) = word.strip_prefix("CoreIDs=")
            && let (Some(r), Some(n), Some(count)) = (&reservation, node.take(), count_ids(ids))
        {
            found.entry(r.clone()).or_default().insert(n, count);
        }
    }
    found
}

/// How many ids a list such as `0,2-5` names; `None` when it is no such list.
fn count_ids(list: &str) -> Option<u64> {
    list.split(',')
        .map(|part| match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (a.parse::<u64>().ok()?, b.parse::<u64>().ok()?);
                b.checked_sub(a).map(|d| d + 1)
            }
            None => part.parse::<u64>().ok().map(|_| 1),
        })
        .sum()
}

/// One job as `scontrol show job` describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct JobDetails {
    pub id: String,
    pub name: String,
    pub state: JobState,
    pub reason: String,
    pub exit_code: String,
    pub run_time: SlurmTime,
    pub time_limit: SlurmTime,
    pub restarts: u32,
    pub node_list: String,
    pub start_time: String,
    pub std_out: String,
    pub partition: String,
}

/// Each job of `scontrol show job`; an array's pending record is one job a task.
pub fn parse_jobs(text: &str) -> Vec<JobDetails> {
    let jobs = parse_records(text)
        .into_iter()
        .filter_map(|r| {
            let get = |k| field(&r, k).unwrap_or("").to_string();
            Some(JobDetails {
                // An array task is known by its array's id and its index, as squeue shows it.
                id: match (field(&r, "ArrayJobId"), field(&r, "ArrayTaskId")) {
                    (Some(array), Some(task)) if task.parse::<u64>().is_ok() => {
                        format!("{array}_{task}")
                    }
                    (Some(array), Some(tasks)) => format!("{array}_[{tasks}]"),
                    _ => field(&r, "JobId")?.to_string(),
                },
                name: get("JobName"),
                state: JobState::parse(field(&r, "JobState").unwrap_or("")),
                reason: get("Reason").replace('_', " "),
                exit_code: get("ExitCode"),
                run_time: SlurmTime::parse(&get("RunTime")).unwrap_or(SlurmTime::NotSet),
                time_limit: SlurmTime::parse(&get("TimeLimit")).unwrap_or(SlurmTime::NotSet),
                restarts: field(&r, "Restarts")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0),
                node_list: get("NodeList"),
                start_time: get("StartTime"),
                std_out: get("StdOut"),
                partition: get("Partition"),
            })
        })
        .collect();
    super::array_ids::one_per_task(jobs, |j| &j.id, |j, id| JobDetails { id, ..j })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARTITION: &str =
        include_str!("../../tests/fixtures/slurm-22.05/scontrol-show-partition-gpu.txt");
    const RUNNING: &str =
        include_str!("../../tests/fixtures/slurm-22.05/scontrol-show-job.running.txt");
    const PENDING_GRES: &str =
        include_str!("../../tests/fixtures/slurm-22.05/scontrol-show-job.pending-gres.txt");
    const NODE: &str = include_str!("../../tests/fixtures/slurm-22.05/scontrol-show-node.txt");
    const ARRAY_PENDING: &str =
        include_str!("../../tests/fixtures/slurm-22.05/scontrol-show-job.array-pending.txt");

    /// An array's tasks still in its pending record (`JobId=2207 ArrayTaskId=2-3%2`) are one
    /// job a task, by the ids squeue -r gives them.
    #[test]
    fn an_arrays_pending_record_is_one_job_a_task() {
        let jobs = parse_jobs(ARRAY_PENDING);
        let ids: Vec<&str> = jobs.iter().map(|j| j.id.as_str()).collect();
        assert_eq!(ids, ["2207_2", "2207_3", "2207_1", "2207_0"]);
        assert_eq!(jobs[1].state, JobState::Pending);
        assert_eq!(jobs[1].reason, "JobArrayTaskLimit");
        assert_eq!(jobs[2].state, JobState::Running);
    }

    #[test]
    fn partition_from_real_output() {
        let p = &parse_partitions(PARTITION)[0];
        assert_eq!(p.name, "gpu");
        assert_eq!(p.qos.as_deref(), Some("gpu"));
        assert_eq!(p.max_time, SlurmTime::Seconds(86_400));
        assert_eq!(p.state, PartitionState::Up);
        assert_eq!(p.nodes, "localhost");
        assert!(!p.is_default);
        assert_eq!(p.tres.gpus(), 4);
    }

    /// `scontrol show partition -o` on the typed shape (scripts/cluster-start.sh typed).
    #[test]
    fn partition_limits_from_real_output() {
        let text = include_str!("../../tests/fixtures/preflight/typed-starts-typed/partitions.txt");
        let ps = parse_partitions(text);
        let gpu = ps.iter().find(|p| p.name == "gpu").unwrap();
        assert_eq!(gpu.max_cpus_per_node, Some(6));
        assert_eq!(gpu.allow_qos, None);
        let short = ps.iter().find(|p| p.name == "short").unwrap();
        assert_eq!(
            short.allow_qos,
            Some(vec!["normal".to_string(), "deny".to_string()])
        );
        assert_eq!(short.max_time, SlurmTime::Seconds(1800));
    }

    #[test]
    fn running_job_from_real_output() {
        let j = &parse_jobs(RUNNING)[0];
        assert_eq!(j.id, "7");
        assert_eq!(j.name, "train-resnet50-imagenet");
        assert_eq!(j.state, JobState::Running);
        assert_eq!(j.run_time, SlurmTime::Seconds(43));
        assert_eq!(j.time_limit, SlurmTime::Seconds(600));
        assert_eq!(j.std_out, "/home/alice/yenjob/jobs/train-7.out");
    }

    #[test]
    fn pending_reason_words_are_restored() {
        let j = &parse_jobs(PENDING_GRES)[0];
        assert_eq!(j.state, JobState::Pending);
        assert!(
            j.reason.starts_with("Nodes required for job are DOWN"),
            "{}",
            j.reason
        );
    }

    #[test]
    fn values_with_spaces_are_kept() {
        let r = &parse_records(NODE)[0];
        assert!(
            r["OS"].starts_with("Linux 6.18.44-fc-v782 #1 SMP"),
            "{}",
            r["OS"]
        );
    }

    /// A reservation of whole nodes, and two of one core: Slurm shows which cores only now and
    /// then (`NodeName=localhost CoreIDs=0`).
    #[test]
    fn reservations_from_real_output() {
        let fixture = |name: &str| {
            let path = format!(
                "{}/tests/fixtures/preflight/{name}/reservations.txt",
                env!("CARGO_MANIFEST_DIR")
            );
            parse_reservations(&std::fs::read_to_string(path).unwrap())
        };
        let maint = &fixture("plain-maint-now")[0];
        assert_eq!(maint.name, "yj-maint");
        assert!(maint.is_maintenance());
        assert!(maint.nodes.iter().eq(["localhost"]));
        assert_eq!((maint.cpus, maint.cores), (Some(2), Some(2)));
        assert!(maint.cores_on.is_empty());
        assert_eq!(maint.users, Some(NameRule::Only(vec!["root".into()])));
        assert_eq!(
            maint.end.zip(maint.start).map(|(end, start)| end - start),
            Some(3600)
        );
        let shown = &fixture("plain-in-core-reservation")[0];
        assert_eq!((shown.cpus, shown.cores), (Some(1), Some(1)));
        assert_eq!(shown.cores_on.get("localhost"), Some(&1));
        assert_eq!(shown.users, Some(NameRule::Only(vec!["root".into()])));
        let unshown = &fixture("plain-cores-reserved-job-fits")[0];
        assert_eq!((unshown.cpus, unshown.cores), (Some(1), Some(1)));
        assert!(unshown.cores_on.is_empty());
    }

    #[test]
    fn core_ids_by_node_and_reservation() {
        let text = "ReservationName=a Nodes=n[1-2] CoreCnt=5 NodeName=n1 CoreIDs=0,2-3 NodeName=n2 CoreIDs=7 TRES=cpu=10\n\
                    ReservationName=b Nodes=n3 CoreCnt=64 TRES=cpu=64\n";
        let rs = parse_reservations(text);
        assert_eq!(rs[0].cores_on.get("n1"), Some(&3));
        assert_eq!(rs[0].cores_on.get("n2"), Some(&1));
        assert_eq!(rs[0].cpus, Some(10));
        assert!(rs[1].cores_on.is_empty());
        assert_eq!(count_ids("4-2"), None);
        assert_eq!(count_ids("x"), None);
    }

    #[test]
    fn one_line_records() {
        let text = "PartitionName=a QoS=N/A MaxTime=UNLIMITED State=UP Default=YES\nPartitionName=b QoS=gpu MaxTime=1-00:00:00 State=UP\n";
        let ps = parse_partitions(text);
        assert_eq!(ps.len(), 2);
        assert_eq!(ps[0].qos, None);
        assert!(ps[0].is_default);
        assert_eq!(ps[1].qos.as_deref(), Some("gpu"));
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "\\PC*(\n\\PC*){0,5}") {
            let _ = parse_partitions(&s);
            let _ = parse_jobs(&s);
        }
    }
}
