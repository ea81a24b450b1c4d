//! Pre-flight: from a job request and the cluster's state, tell whether Slurm will start the
//! job now, keep it pending (and why, with the user's own numbers), or refuse it. Pure: the
//! state is gathered elsewhere, so every verdict is testable on captured output.
//!
//! The order of the checks follows Slurm's: submit-time refusals first (partition, QOS,
//! node shape, MaxSubmitPU), then the limits checked before scheduling (time, MaxJobsPU),
//! then per-user TRES limits, then free resources.

use crate::slurm::duration::{SlurmTime, format_seconds};
use crate::slurm::sacctmgr::{Association, Qos};
use crate::slurm::scontrol::Partition;
use crate::slurm::sinfo::NodeRow;
use crate::slurm::squeue::QueuedJob;
use crate::slurm::state::JobState;

/// What the job asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub partition: String,
    pub qos: Option<String>,
    pub gpus: u64,
    pub cpus: u64,
    pub mem_mib: Option<u64>,
    pub time_seconds: u64,
}

/// Everything the verdict depends on.
#[derive(Debug, Clone, Default)]
pub struct ClusterState {
    pub user: String,
    pub partitions: Vec<Partition>,
    pub nodes: Vec<NodeRow>,
    pub qos: Vec<Qos>,
    pub associations: Vec<Association>,
    /// Pending and running jobs of every user.
    pub queue: Vec<QueuedJob>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    StartsNow,
    Pends,
    Rejected,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Verdict {
    pub outcome: Outcome,
    /// Slurm's reason code (`QOSMaxGRESPerUser`, `Resources`...); none when it starts.
    pub reason: Option<String>,
    /// One plain sentence with the numbers.
    pub message: String,
    /// A pending job that can never start as asked (over a time or per-job limit).
    pub never_starts: bool,
    /// What was looked at, one line each.
    pub facts: Vec<String>,
}

impl Verdict {
    fn new(outcome: Outcome, reason: Option<&str>, message: String) -> Verdict {
        Verdict {
            outcome,
            reason: reason.map(str::to_string),
            message,
            never_starts: false,
            facts: Vec::new(),
        }
    }
    fn reject(reason: &str, message: String) -> Verdict {
        Verdict::new(Outcome::Rejected, Some(reason), message)
    }
    fn pend(reason: &str, message: String) -> Verdict {
        Verdict::new(Outcome::Pends, Some(reason), message)
    }
    fn pend_forever(reason: &str, message: String) -> Verdict {
        Verdict {
            never_starts: true,
            ..Verdict::pend(reason, message)
        }
    }

    /// The headline: `WILL START NOW`, `WILL PEND (QOSMaxGRESPerUser)`, `WILL BE REJECTED (...)`.
    pub fn headline(&self) -> String {
        match (&self.outcome, &self.reason) {
            (Outcome::StartsNow, _) => "WILL START NOW".to_string(),
            (Outcome::Pends, Some(r)) if self.never_starts => format!("WILL PEND FOREVER ({r})"),
            (Outcome::Pends, Some(r)) => format!("WILL PEND ({r})"),
            (Outcome::Pends, None) => "WILL PEND".to_string(),
            (Outcome::Rejected, Some(r)) => format!("WILL BE REJECTED ({r})"),
            (Outcome::Rejected, None) => "WILL BE REJECTED".to_string(),
        }
    }
}

/// A QOS limit together with the QOS it comes from.
struct Limits<'a> {
    /// The partition's QOS first, then the job's, as Slurm applies them (unless the job's QOS
    /// has the OverPartQOS flag, which puts it first).
    ordered: Vec<&'a Qos>,
}

impl<'a> Limits<'a> {
    fn first<T>(&self, pick: impl Fn(&Qos) -> Option<T>) -> Option<(T, &'a Qos)> {
        self.ordered.iter().find_map(|q| pick(q).map(|v| (v, *q)))
    }
}

pub fn assess(req: &Request, state: &ClusterState) -> Verdict {
    let mut v = decide(req, state);
    v.facts = describe(req, state);
    v
}

fn decide(req: &Request, state: &ClusterState) -> Verdict {
    // 1. The partition must exist.
    let Some(partition) = state.partitions.iter().find(|p| p.name == req.partition) else {
        let names: Vec<String> = state
            .partitions
            .iter()
            .map(|p| {
                if p.is_default {
                    format!("{} (default)", p.name)
                } else {
                    p.name.clone()
                }
            })
            .collect();
        return Verdict::reject(
            "InvalidPartition",
            format!(
                "partition {:?} does not exist; this cluster has: {}",
                req.partition,
                names.join(", ")
            ),
        );
    };

    // 2. The job's QOS must exist and be allowed for the user.
    let job_qos_name = job_qos(req, state);
    let job_qos = state.qos.iter().find(|q| q.name == job_qos_name);
    if req.qos.is_some() && job_qos.is_none() {
        let names: Vec<&str> = state.qos.iter().map(|q| q.name.as_str()).collect();
        return Verdict::reject(
            "InvalidQOS",
            format!(
                "QOS {job_qos_name:?} does not exist; this cluster has: {}",
                names.join(", ")
            ),
        );
    }
    let allowed: Vec<&String> = state.associations.iter().flat_map(|a| &a.qos).collect();
    if req.qos.is_some() && !allowed.is_empty() && !allowed.iter().any(|q| **q == job_qos_name) {
        let mut names: Vec<&str> = allowed.iter().map(|s| s.as_str()).collect();
        names.dedup();
        return Verdict::reject(
            "InvalidQOS",
            format!(
                "you may not use QOS {job_qos_name:?}; your associations allow: {}",
                names.join(", ")
            ),
        );
    }
    let partition_qos = partition
        .qos
        .as_ref()
        .and_then(|n| state.qos.iter().find(|q| &q.name == n));
    let mut ordered: Vec<&Qos> = partition_qos.into_iter().collect();
    if let Some(q) = job_qos {
        if q.has_flag("OverPartQOS") {
            ordered.insert(0, q);
        } else if !ordered.iter().any(|o| o.name == q.name) {
            ordered.push(q);
        }
    }
    let limits = Limits { ordered };

    // 3. Some node of the partition must be big enough.
    let nodes: Vec<&NodeRow> = state
        .nodes
        .iter()
        .filter(|n| n.partition == partition.name)
        .collect();
    let max_gpus = nodes.iter().map(|n| n.gpus_total).max().unwrap_or(0);
    let max_cpus = nodes.iter().map(|n| n.cpus_total).max().unwrap_or(0);
    let max_mem = nodes.iter().map(|n| n.memory_mib).max().unwrap_or(0);
    if !nodes.is_empty() {
        if req.gpus > max_gpus {
            return Verdict::reject(
                "NodeConfigurationUnavailable",
                format!(
                    "no node in partition {} has {} GPUs (the largest has {max_gpus}): Slurm refuses it with \"Requested node configuration is not available\"",
                    partition.name, req.gpus
                ),
            );
        }
        if req.cpus > max_cpus {
            return Verdict::reject(
                "NodeConfigurationUnavailable",
                format!(
                    "no node in partition {} has {} CPUs (the largest has {max_cpus}); ask for at most {max_cpus}",
                    partition.name, req.cpus
                ),
            );
        }
        if let Some(mem) = req.mem_mib
            && mem > max_mem
        {
            return Verdict::reject(
                "NodeConfigurationUnavailable",
                format!(
                    "no node in partition {} has {} MiB of memory (the largest has {max_mem} MiB)",
                    partition.name, mem
                ),
            );
        }
    }

    // 4. MaxSubmitPU counts pending and running jobs.
    let mine = |q: &Qos, running_only: bool| -> Vec<&QueuedJob> {
        state
            .queue
            .iter()
            .filter(|j| j.user == state.user)
            .filter(|j| {
                !running_only || matches!(j.state, JobState::Running | JobState::Completing)
            })
            .filter(|j| uses_qos(j, q, state))
            .collect()
    };
    if let Some((max, q)) = limits.first(|q| q.max_submit_per_user) {
        let submitted = mine(q, false).len() as u64;
        if submitted >= max {
            return Verdict::reject(
                "QOSMaxSubmitJobPerUserLimit",
                format!(
                    "you already have {submitted} jobs queued or running under QOS {}, which allows {max} per user; wait for one to end or cancel one",
                    q.name
                ),
            );
        }
    }

    // 5. Time limits: a job over them pends forever (unless DenyOnLimit refuses it).
    if !partition.max_time.allows(req.time_seconds) {
        return Verdict::pend_forever(
            "PartitionTimeLimit",
            format!(
                "the time limit {} is longer than partition {}'s maximum {}; it will never start: ask for at most {}",
                format_seconds(req.time_seconds),
                partition.name,
                partition.max_time,
                partition.max_time
            ),
        );
    }
    if let Some((wall, q)) = limits.first(|q| q.max_wall.seconds().map(SlurmTime::Seconds))
        && !wall.allows(req.time_seconds)
    {
        let message = format!(
            "the time limit {} is longer than QOS {}'s MaxWall {wall}",
            format_seconds(req.time_seconds),
            q.name
        );
        return if q.has_flag("DenyOnLimit") {
            Verdict::reject("QOSMaxWallDurationPerJobLimit", message)
        } else {
            Verdict::pend_forever(
                "QOSMaxWallDurationPerJobLimit",
                message + "; it will never start",
            )
        };
    }

    // 6. A job that alone exceeds a per-job or per-user GPU limit never starts.
    if let Some((max, q)) = limits.first(|q| q.max_tres_per_job.get("gres/gpu"))
        && req.gpus > max
    {
        return Verdict::pend_forever(
            "QOSMaxGRESPerJob",
            format!(
                "QOS {} allows {max} GPUs per job; this job asks for {}",
                q.name, req.gpus
            ),
        );
    }
    let gpu_limit = limits.first(|q| q.max_tres_per_user.get("gres/gpu"));
    if let Some((max, q)) = gpu_limit
        && req.gpus > max
    {
        return Verdict::pend_forever(
            "QOSMaxGRESPerUser",
            format!(
                "QOS {} allows {max} GPUs per user; this job alone asks for {}",
                q.name, req.gpus
            ),
        );
    }

    // 7. MaxJobsPU counts running jobs.
    if let Some((max, q)) = limits.first(|q| q.max_jobs_per_user) {
        let running = mine(q, true).len() as u64;
        if running >= max {
            return Verdict::pend(
                "QOSMaxJobsPerUserLimit",
                format!(
                    "you already run {running} jobs under QOS {}, which allows {max} at once per user; this one starts when one of them ends",
                    q.name
                ),
            );
        }
    }

    // 8. Per-user TRES in use plus this job.
    if let Some((max, q)) = gpu_limit {
        let held: u64 = mine(q, true).iter().map(|j| j.gpus).sum();
        if req.gpus > 0 && held + req.gpus > max {
            return Verdict::pend(
                "QOSMaxGRESPerUser",
                format!(
                    "you hold {held} of the {max} GPUs QOS {} allows per user; this job asks for {}",
                    q.name, req.gpus
                ),
            );
        }
    }
    if let Some((max, q)) = limits.first(|q| q.max_tres_per_user.get("cpu")) {
        let held: u64 = mine(q, true).iter().map(|j| j.cpus).sum();
        if held + req.cpus > max {
            return Verdict::pend(
                "QOSMaxCpuPerUserLimit",
                format!(
                    "you hold {held} of the {max} CPUs QOS {} allows per user; this job asks for {}",
                    q.name, req.cpus
                ),
            );
        }
    }
    if let Some((max, q)) = limits.first(|q| q.grp_tres.get("gres/gpu")) {
        let held: u64 = state
            .queue
            .iter()
            .filter(|j| {
                matches!(j.state, JobState::Running | JobState::Completing) && uses_qos(j, q, state)
            })
            .map(|j| j.gpus)
            .sum();
        if req.gpus > 0 && held + req.gpus > max {
            return Verdict::pend(
                "QOSGrpGRES",
                format!(
                    "all users together hold {held} of the {max} GPUs of QOS {}; this job asks for {}",
                    q.name, req.gpus
                ),
            );
        }
    }

    // 9. Free resources on some usable node.
    let usable: Vec<&&NodeRow> = nodes.iter().filter(|n| n.is_usable()).collect();
    if !nodes.is_empty() && usable.is_empty() {
        return Verdict::pend(
            "ReqNodeNotAvail",
            format!(
                "every node of partition {} is down, drained or reserved",
                partition.name
            ),
        );
    }
    let fits = |n: &NodeRow| {
        n.gpus_total.saturating_sub(n.gpus_used) >= req.gpus
            && n.cpus_idle >= req.cpus
            && req
                .mem_mib
                .is_none_or(|m| n.memory_mib.saturating_sub(n.memory_allocated_mib) >= m)
    };
    if !usable.is_empty() && !usable.iter().any(|n| fits(n)) {
        let free_gpus: u64 = usable
            .iter()
            .map(|n| n.gpus_total.saturating_sub(n.gpus_used))
            .sum();
        let total_gpus: u64 = usable.iter().map(|n| n.gpus_total).sum();
        let free_cpus: u64 = usable.iter().map(|n| n.cpus_idle).sum();
        let total_cpus: u64 = usable.iter().map(|n| n.cpus_total).sum();
        return Verdict::pend(
            "Resources",
            format!(
                "partition {} has {free_gpus} of {total_gpus} GPUs and {free_cpus} of {total_cpus} CPUs free; this job asks for {} GPUs and {} CPUs on one node, so it waits for running jobs to end",
                partition.name, req.gpus, req.cpus
            ),
        );
    }
    let ahead = state
        .queue
        .iter()
        .filter(|j| {
            j.partition == partition.name && j.state == JobState::Pending && j.reason == "Resources"
        })
        .count();
    let mut message = format!(
        "partition {} has room for {} GPUs and {} CPUs now",
        partition.name, req.gpus, req.cpus
    );
    if ahead > 0 {
        message.push_str(&format!(" ({ahead} job(s) wait for resources there; the backfill scheduler may let this one pass)"));
    }
    Verdict::new(Outcome::StartsNow, None, message)
}

/// The QOS the job will run under: the spec's, else the user's default.
fn job_qos(req: &Request, state: &ClusterState) -> String {
    if let Some(q) = &req.qos {
        return q.clone();
    }
    state
        .associations
        .iter()
        .find_map(|a| a.default_qos.clone())
        .unwrap_or_else(|| "normal".to_string())
}

/// Whether a queued job counts against QOS `q`: as its job QOS or as its partition's QOS.
fn uses_qos(job: &QueuedJob, q: &Qos, state: &ClusterState) -> bool {
    job.qos == q.name
        || state
            .partitions
            .iter()
            .any(|p| p.name == job.partition && p.qos.as_deref() == Some(q.name.as_str()))
}

/// Context lines shown above the verdict.
fn describe(req: &Request, state: &ClusterState) -> Vec<String> {
    let mut facts = Vec::new();
    let Some(p) = state.partitions.iter().find(|p| p.name == req.partition) else {
        return facts;
    };
    let nodes: Vec<&NodeRow> = state
        .nodes
        .iter()
        .filter(|n| n.partition == p.name)
        .collect();
    let gpus_total: u64 = nodes.iter().map(|n| n.gpus_total).sum();
    let gpus_used: u64 = nodes.iter().map(|n| n.gpus_used).sum();
    let cpus_idle: u64 = nodes.iter().map(|n| n.cpus_idle).sum();
    let cpus_total: u64 = nodes.iter().map(|n| n.cpus_total).sum();
    facts.push(format!(
        "partition {}: {} node(s), {} of {gpus_total} GPUs free, {cpus_idle} of {cpus_total} CPUs idle, max time {}, QOS {}",
        p.name,
        nodes.len(),
        gpus_total.saturating_sub(gpus_used),
        p.max_time,
        p.qos.as_deref().unwrap_or("none")
    ));
    let qos_names = [p.qos.clone(), Some(job_qos(req, state))];
    for name in qos_names.iter().flatten() {
        if let Some(q) = state.qos.iter().find(|q| &q.name == name) {
            let mut parts = Vec::new();
            if !q.max_tres_per_user.is_empty() {
                parts.push(format!("MaxTRESPU {}", tres_text(&q.max_tres_per_user)));
            }
            if let Some(n) = q.max_jobs_per_user {
                parts.push(format!("MaxJobsPU {n}"));
            }
            if let Some(n) = q.max_submit_per_user {
                parts.push(format!("MaxSubmitPU {n}"));
            }
            if q.max_wall != SlurmTime::NotSet {
                parts.push(format!("MaxWall {}", q.max_wall));
            }
            if !q.grp_tres.is_empty() {
                parts.push(format!("GrpTRES {}", tres_text(&q.grp_tres)));
            }
            let limits = if parts.is_empty() {
                "no limits".to_string()
            } else {
                parts.join(", ")
            };
            let mine: Vec<&QueuedJob> = state
                .queue
                .iter()
                .filter(|j| j.user == state.user && uses_qos(j, q, state))
                .collect();
            let running: Vec<&&QueuedJob> = mine
                .iter()
                .filter(|j| j.state == JobState::Running)
                .collect();
            let gpus: u64 = running.iter().map(|j| j.gpus).sum();
            facts.push(format!(
                "QOS {}: {limits}; you have {} running ({gpus} GPUs) and {} pending under it",
                q.name,
                running.len(),
                mine.len() - running.len()
            ));
        }
    }
    facts.dedup();
    facts.push(format!(
        "this job asks for {} GPU(s), {} CPU(s){}, {}",
        req.gpus,
        req.cpus,
        req.mem_mib
            .map(|m| format!(", {m} MiB"))
            .unwrap_or_default(),
        format_seconds(req.time_seconds)
    ));
    facts
}

fn tres_text(t: &crate::slurm::tres::Tres) -> String {
    t.0.iter()
        .filter(|(k, _)| !(k.starts_with("gres/") && k.contains(':')))
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}
