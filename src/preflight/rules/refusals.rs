//! What sbatch refuses: a partition that takes no jobs, a QOS or account not allowed, a node
//! shape no node has, partition limits under EnforcePartLimits=ALL/ANY, and
//! `acct_policy_validate`'s accounting limits.

use crate::slurm::duration::format_seconds;
use crate::slurm::hostlist::abridged;
use crate::slurm::scontrol::{NameRule, PartitionState, Reservation};
use crate::slurm::sinfo::NodeRow;

use super::super::reason::{Holder, LimitCode, Reason, Scope};
use super::super::usage;
use super::super::{ClusterState, Request};
use super::minutes::Minutes;
use super::waits::{alone_over, not_shown};
use super::{Ctx, Effect, Finding, Seen, job_qos, jobs, words};

/// An array whose last index (`tasks - 1`) reaches the site's MaxArraySize: sbatch says so
/// before anything else.
pub(super) fn array_size(req: &Request, state: &ClusterState) -> Option<Finding> {
    let max = state.config.max_array_size?;
    (req.tasks > 1 && req.tasks > max).then(|| {
        let message = match max.checked_sub(1) {
            Some(last) => format!(
                "this array has {} tasks (indices 0-{}), and the cluster's MaxArraySize is {max}, so indices stop at {last}; split the sweep into arrays of at most {max} tasks",
                req.tasks,
                req.tasks - 1,
            ),
            // Slurm's way to turn job arrays off.
            None => "the cluster's MaxArraySize is 0: it takes no job arrays, and a sweep is one"
                .to_string(),
        };
        Finding::new(Reason::InvalidArray, Effect::Refused, message)
    })
}

/// A nodelist or exclude naming a node the cluster does not have, or a node both name:
/// sbatch refuses it before it looks at the partition (as captured).
pub(super) fn unknown_nodes(req: &Request, state: &ClusterState) -> Option<Finding> {
    let refuse = |message: String| {
        Some(Finding::new(
            Reason::InvalidNodeName,
            Effect::Refused,
            message,
        ))
    };
    if let (Some(node), Some(x)) = (&req.nodelist, &req.exclude)
        && x.contains(node)
    {
        return refuse(format!(
            "node {node} is both the job's nodelist and in its exclude ({x}); drop it from one"
        ));
    }
    // Without the nodes (never so from a cluster) there is nothing to check the names against.
    if state.nodes.is_empty() {
        return None;
    }
    let known = |name: &str| state.nodes.iter().any(|n| n.node == name);
    let named = req.nodelist.iter().map(|n| ("nodelist", n.as_str())).chain(
        req.exclude
            .iter()
            .flat_map(|x| x.names().iter().map(|n| ("exclude", n.as_str()))),
    );
    let unknown: Vec<(&str, &str)> = named.filter(|(_, n)| !known(n)).collect();
    let (key, _) = unknown.first()?;
    let names: Vec<&str> = unknown.iter().map(|(_, n)| *n).collect();
    let nodes_here = match state.partition(&req.partition) {
        Some(p) => format!("partition {}'s nodes are {}", p.name, p.nodes),
        None => {
            let mut all: Vec<&str> = state.nodes.iter().map(|n| n.node.as_str()).collect();
            all.dedup();
            format!("its nodes are {}", abridged(&all, 8))
        }
    };
    refuse(format!(
        "this cluster has no node named {} (`{key}`); {nodes_here}",
        names.join(", ")
    ))
}

impl Ctx<'_> {
    /// A partition an administrator set to DRAIN or INACTIVE takes no new jobs; sbatch says
    /// so before anything else about the job but its array indices.
    pub(super) fn partition_takes_jobs(&self) -> Option<Finding> {
        let p = self.partition;
        let meaning = match p.state {
            PartitionState::Drain => "takes no new jobs (queued ones still start)",
            PartitionState::Inactive => "takes no jobs and starts none",
            _ => return None,
        };
        Some(Finding::new(
            Reason::PartitionNotAvailable,
            Effect::Refused,
            format!(
                "partition {} is {}: an administrator set it so, and it {meaning}; submit when `sinfo -p {}` shows it up, or to another partition",
                p.name, p.state, p.name
            ),
        ))
    }

    /// A QOS not in the user's associations.
    pub(super) fn qos_in_associations(&self) -> Option<Finding> {
        let name = job_qos(self.req, self.state);
        // The QOS of the association the job runs under; all of the user's if it is unknown.
        let allowed: Vec<&str> = match self.association {
            Some(a) => a.qos.iter().map(String::as_str).collect(),
            None => self
                .state
                .associations
                .iter()
                .flat_map(|a| a.qos.iter().map(String::as_str))
                .collect(),
        };
        let refused =
            self.req.qos.is_some() && !allowed.is_empty() && !allowed.contains(&name.as_str());
        refused.then(|| {
            let mut names = allowed.clone();
            names.sort();
            names.dedup();
            Finding::new(
                Reason::InvalidQos,
                Effect::Refused,
                format!(
                    "you may not use QOS {name:?}; your associations allow: {}",
                    names.join(", ")
                ),
            )
        })
    }

    /// A QOS the partition does not allow (AllowQos, DenyQos).
    pub(super) fn qos_allowed_by_partition(&self) -> Option<Finding> {
        let name = job_qos(self.req, self.state);
        let p = self.partition;
        let refused_by_partition =
            p.allow_qos.as_ref().is_some_and(|a| !a.contains(&name)) || p.deny_qos.contains(&name);
        refused_by_partition.then(|| {
            let rule = match &p.allow_qos {
                Some(a) => format!("allows QOS {} only (AllowQos)", a.join(", ")),
                None => format!("denies QOS {} (DenyQos)", p.deny_qos.join(", ")),
            };
            Finding::new(
                Reason::InvalidQos,
                Effect::Refused,
                format!(
                    "partition {} {rule}; this job would run under QOS {name}",
                    p.name
                ),
            )
        })
    }

    /// An account that is not one of the user's.
    pub(super) fn account_in_associations(&self) -> Option<Finding> {
        let account = usage::account_of(self.req, self.state)?;
        let mine: Vec<&str> = self
            .state
            .associations
            .iter()
            .map(|a| a.account.as_str())
            .collect();
        let refused = self.req.account.is_some() && !mine.is_empty() && !mine.contains(&account);
        refused.then(|| {
            Finding::new(
                Reason::InvalidAccount,
                Effect::Refused,
                format!(
                    "you have no association with account {account:?}; yours: {}",
                    mine.join(", ")
                ),
            )
        })
    }

    /// A partition that takes jobs only in a reservation (ReqResv) or only from root
    /// (RootOnly), or none from root (DisableRootJobs): sbatch refuses these whatever
    /// EnforcePartLimits says, before AllowGroups.
    pub(super) fn partition_access(&self) -> Option<Finding> {
        let p = self.partition;
        let root = self.state.user == "root";
        let (reason, message) = if p.requires_reservation && self.req.reservation.is_none() {
            (
                Reason::AccessDenied,
                format!(
                    "partition {} takes only jobs that run in a reservation (ReqResv); name one with `reservation` in the spec's [job] table",
                    p.name
                ),
            )
        } else if p.root_only && !root {
            (
                Reason::AccessDenied,
                format!(
                    "partition {} takes jobs from root only (RootOnly); use another partition",
                    p.name
                ),
            )
        } else if p.no_root_jobs && root {
            (
                Reason::RootJobsDisabled,
                format!(
                    "partition {} takes no jobs from root (DisableRootJobs); submit as yourself",
                    p.name
                ),
            )
        } else {
            return None;
        };
        Some(Finding::new(reason, Effect::Refused, message))
    }

    /// A partition whose AllowGroups leaves out every group of the user (root may use any).
    pub(super) fn group_allowed(&self) -> Option<Finding> {
        let p = self.partition;
        let allowed = p.allow_groups.as_ref()?;
        let groups = self.state.groups.as_ref()?;
        if self.state.user == "root" || groups.iter().any(|g| allowed.contains(g)) {
            return None;
        }
        Some(Finding::new(
            Reason::GroupNotPermitted,
            Effect::Refused,
            format!(
                "partition {} takes jobs from members of {} only (AllowGroups), and you ({}) are in {}; ask the site to add you, or use another partition",
                p.name,
                allowed.join(", "),
                self.state.user,
                groups.join(", ")
            ),
        ))
    }

    /// An account the partition does not take (AllowAccounts, DenyAccounts).
    pub(super) fn account_allowed_by_partition(&self) -> Option<Finding> {
        let account = usage::account_of(self.req, self.state)?;
        let p = self.partition;
        let refused = p
            .allow_accounts
            .as_ref()
            .is_some_and(|a| !a.iter().any(|x| x == account))
            || p.deny_accounts.iter().any(|x| x == account);
        refused.then(|| {
            Finding::new(
                Reason::InvalidAccount,
                Effect::Refused,
                format!(
                    "partition {} does not take jobs of account {account}",
                    p.name
                ),
            )
        })
    }

    /// A constraint naming a feature no node of the cluster has, in any partition: sbatch
    /// refuses it before the reservation, the partition's limits and the node shape (as
    /// captured).
    pub(super) fn features_exist(&self) -> Option<Finding> {
        let constraint = self.req.constraint.as_ref()?;
        let has = |f: &str| {
            self.state
                .nodes
                .iter()
                .any(|n| n.features.iter().any(|g| g == f))
        };
        let unknown: Vec<&str> = constraint
            .features()
            .into_iter()
            .filter(|f| !has(f))
            .collect();
        if unknown.is_empty() {
            return None;
        }
        let mut known: Vec<&str> = self
            .state
            .nodes
            .iter()
            .flat_map(|n| n.features.iter().map(String::as_str))
            .collect();
        known.sort_unstable();
        known.dedup();
        let (here, what_to_do) = if known.is_empty() {
            (
                "this cluster's nodes have no features".to_string(),
                "drop the constraint",
            )
        } else {
            (
                format!("features here: {}", known.join(", ")),
                "ask for features among those",
            )
        };
        Some(Finding::new(
            Reason::InvalidFeature,
            Effect::Refused,
            format!(
                "no node of this cluster has the feature {} that constraint {constraint} names ({here}); {what_to_do}",
                unknown.join(", ")
            ),
        ))
    }

    /// A reservation asked for that does not exist, or whose Users, Accounts and Groups leave
    /// the job out.
    pub(super) fn reservation_allowed(&self) -> Option<Finding> {
        let name = self.req.reservation.as_deref()?;
        let Some(r) = self.state.reservation_named(name) else {
            let mut names: Vec<&str> = self
                .state
                .reservations
                .iter()
                .map(|r| r.name.as_str())
                .collect();
            names.sort();
            let here = if names.is_empty() {
                "there are none now".to_string()
            } else {
                format!("there are: {}", names.join(", "))
            };
            return Some(Finding::new(
                Reason::InvalidReservation,
                Effect::Refused,
                format!("reservation {name:?} does not exist (or has ended); {here}"),
            ));
        };
        let account = usage::account_of(self.req, self.state);
        let groups = self.state.groups.as_deref();
        (r.admits(&self.state.user, account, groups) == Some(false)).then(|| {
            Finding::new(
                Reason::ReservationAccessDenied,
                Effect::Refused,
                format!(
                    "reservation {name} is for {}; this job runs as {} under account {}",
                    who_may(r),
                    self.state.user,
                    account.unwrap_or("(none)")
                ),
            )
        })
    }

    /// No node of the partition with the features asked for, or none of those with the GPUs
    /// or memory asked for: sbatch refuses it whatever the settings.
    pub(super) fn node_shape(&self) -> Option<Finding> {
        if self.nodes.is_empty() {
            return None;
        }
        let (req, p) = (self.req, &self.partition.name);
        let gpu_type = req.gpu_type.as_deref();
        let refuse = |message: String| {
            Some(Finding::new(
                Reason::NodeConfigurationUnavailable,
                Effect::Refused,
                message,
            ))
        };
        if let Some(node) = &req.nodelist
            && !self.nodes.iter().any(|n| &n.node == node)
        {
            return refuse(format!(
                "node {node}, the job's nodelist, is not in partition {p}, whose nodes are {}; name one of those, or the partition {node} is in",
                self.partition.nodes
            ));
        }
        if let Some(x) = &req.exclude
            && self.nodes.iter().all(|n| x.contains(&n.node))
        {
            return refuse(format!(
                "exclude ({x}) leaves no node of partition {p}, whose nodes are {}; keep one of them",
                self.partition.nodes
            ));
        }
        if let Some(constraint) = &req.constraint
            && self.fitting.is_empty()
        {
            // The nodes its nodelist and exclude leave, which the features then rule out.
            let left: Vec<&NodeRow> = self
                .nodes
                .iter()
                .copied()
                .filter(|n| req.may_use(&n.node))
                .collect();
            let among = Request {
                constraint: None,
                ..req.clone()
            }
            .which_nodes();
            return refuse(format!(
                "no node in partition {p}{among} has the features constraint {constraint} asks for (its nodes have: {})",
                features_of_nodes(&left)
            ));
        }
        let p = &format!("{p}{}", req.which_nodes());
        let with_gpus: Vec<&&NodeRow> = self
            .fitting
            .iter()
            .filter(|n| n.gpus_of(gpu_type) >= req.gpus)
            .collect();
        if with_gpus.is_empty() {
            let most = self
                .fitting
                .iter()
                .map(|n| n.gpus_of(gpu_type))
                .max()
                .unwrap_or(0);
            return refuse(match gpu_type {
                Some(t) if most == 0 => {
                    let mut types: Vec<&str> = self
                        .fitting
                        .iter()
                        .flat_map(|n| n.gpu_types.keys().map(String::as_str))
                        .collect();
                    types.sort();
                    types.dedup();
                    let here = if types.is_empty() {
                        "its GPUs have no type".to_string()
                    } else {
                        format!("GPU types here: {}", types.join(", "))
                    };
                    format!("no node in partition {p} has {t} GPUs ({here})")
                }
                gpu_type => format!(
                    "no node in partition {p} has {} (the largest has {most})",
                    words::count(req.gpus, &words::gpu(gpu_type))
                ),
            });
        }
        // A whole node's CPUs over MaxCPUsPerNode: no node may be given whole (as captured).
        if req.exclusive
            && let Some(max) = self.partition.max_cpus_per_node
            && with_gpus.iter().all(|n| n.cpus_total > max)
        {
            let fewest = with_gpus.iter().map(|n| n.cpus_total).min().unwrap_or(0);
            return refuse(format!(
                "this job asks for a whole node (`exclusive`), and Slurm gives it every CPU of one; partition {p} allows {} per node (MaxCPUsPerNode), and its nodes have {fewest} or more",
                words::count(max, "CPU")
            ));
        }
        if let Some(raised) = self.raised_cpus_over_a_node() {
            return refuse(raised);
        }
        if self.is_down()
            && !self.decides_as_24_11()
            && let Some(cpus) = self.over_cpu_cap()
        {
            // While the partition is down Slurm skips its limits and tries the node shape.
            return refuse(cpus);
        }
        let mem = usage::memory_of(req, self.state)?;
        let most = with_gpus.iter().map(|n| n.memory_mib).max().unwrap_or(0);
        (mem > most).then(|| Finding::new(
            Reason::NodeConfigurationUnavailable,
            Effect::Refused,
            format!("no node in partition {p} has {mem} MiB of memory (the largest has {most} MiB); Slurm says \"Memory specification can not be satisfied\""),
        ))
    }

    /// Time over MaxTime, CPUs over what a node has or MaxCPUsPerNode allows, and memory
    /// over MaxMemPerNode, in that order (as captured): refused under
    /// EnforcePartLimits=ALL/ANY, pending forever under NO.
    pub(super) fn partition_limits(&self) -> Vec<Finding> {
        let (req, p) = (self.req, self.partition);
        let setting = format!("EnforcePartLimits is {}", self.enforce);
        let refuse = self.enforce.refuses();
        let mut found = Vec::new();
        // Slurm checks the node count first. MaxNodes=0 it checks only under
        // EnforcePartLimits=ALL/ANY here; otherwise at node selection (`fewer_nodes_allowed`).
        let max_zero = refuse && p.max_nodes == Some(0);
        if let Some(message) = self
            .node_count_refused()
            .filter(|_| p.min_nodes > 1 || max_zero)
        {
            let code = match self.decides_as_24_11() {
                true => Reason::InvalidNodeCount,
                false => Reason::PartitionConfigurationUnavailable,
            };
            found.push(if refuse {
                Finding::new(code, Effect::Refused, message)
            } else {
                Finding::new(Reason::PartitionNodeLimit, Effect::PendsForever, message)
            });
        }
        if !p.max_time.allows(req.time_seconds) {
            let message = format!(
                "the time limit {} is longer than partition {}'s MaxTime {}; ask for at most {}",
                format_seconds(req.time_seconds),
                p.name,
                p.max_time,
                p.max_time
            );
            found.push(if refuse {
                Finding::new(Reason::InvalidTimeLimit, Effect::Refused, message)
            } else {
                Finding::new(Reason::PartitionTimeLimit, Effect::PendsForever, message)
            });
        }
        // 22.05 refuses more CPUs than a node has as a node shape while the partition is
        // down; 24.11 queues the job, and refuses it at submit while the partition is up
        // (`cpus_over_every_node`).
        let cpus_here = match (self.decides_as_24_11(), self.is_down()) {
            (false, down) => !down,
            (true, true) => !refuse,
            (true, false) => refuse || !self.over_every_node(),
        };
        if let Some(message) = self.over_cpu_cap().filter(|_| cpus_here) {
            found.push(if refuse {
                Finding::new(Reason::TooManyRequestedCpus, Effect::Refused, message)
            } else {
                Finding::new(Reason::PartitionConfig, Effect::PendsForever, message)
            });
        }
        if let Some(max) = p.max_mem_per_node_mib
            && let Some(mem) = usage::memory_of(req, self.state)
            && mem > max
        {
            let by_default = if req.mem_mib.is_none() {
                " (the site's default for its CPUs)"
            } else {
                ""
            };
            let message = format!(
                "this job asks for {mem} MiB of memory{by_default}, and partition {} allows {max} MiB a node (MaxMemPerNode); ask for at most {max}M",
                p.name
            );
            found.push(if refuse {
                Finding::new(Reason::InvalidTaskMemory, Effect::Refused, message)
            } else {
                Finding::new(Reason::MaxMemPerLimit, Effect::PendsForever, message)
            });
        }
        found
            .into_iter()
            .map(|f| f.decided_by(setting.clone()))
            .collect()
    }

    /// A yenjob job runs on one node: a partition whose MinNodes is over 1, or whose MaxNodes
    /// is 0, never runs it. What to say.
    fn node_count_refused(&self) -> Option<String> {
        let p = self.partition;
        if p.min_nodes > 1 {
            Some(format!(
                "partition {} runs jobs on at least {} nodes (MinNodes), and this job runs on one; use another partition",
                p.name, p.min_nodes
            ))
        } else if p.max_nodes == Some(0) {
            Some(format!(
                "partition {} allows jobs on at most 0 nodes (MaxNodes=0), so it runs none; use another partition",
                p.name
            ))
        } else {
            None
        }
    }

    /// MaxNodes=0 under EnforcePartLimits=NO: Slurm finds it when it picks nodes, after the
    /// limits checked once nodes are picked (as captured).
    pub(super) fn fewer_nodes_allowed(&self) -> Option<Finding> {
        let p = self.partition;
        if p.max_nodes != Some(0) || p.min_nodes > 1 || self.enforce.refuses() {
            return None;
        }
        let message = self.node_count_refused()?;
        Some(
            Finding::new(Reason::PartitionNodeLimit, Effect::PendsForever, message)
                .decided_by(format!("EnforcePartLimits is {}", self.enforce)),
        )
    }

    /// MaxMemPerCPU raised the job's CPUs past what any node of the partition has (on 24.11,
    /// or past its MaxCPUsPerNode): sbatch refuses that as a node shape whatever
    /// EnforcePartLimits says (as captured).
    fn raised_cpus_over_a_node(&self) -> Option<String> {
        let (req, p) = (self.req, self.partition);
        let per_cpu = p.max_mem_per_cpu_mib?;
        let most = self.nodes.iter().map(|n| n.cpus_total).max()?;
        let per_node = p
            .max_cpus_per_node
            .filter(|m| *m < most && self.decides_as_24_11());
        let cap = per_node.unwrap_or(most);
        (self.cpus > req.cpus && self.cpus > cap).then(|| {
            let beyond = match per_node {
                Some(m) => format!("partition {} allows {} per node (MaxCPUsPerNode)", p.name, words::count(m, "CPU")),
                None => format!("no node there has {} (the largest has {most})", self.cpus),
            };
            format!(
                "partition {} allows {per_cpu} MiB of memory per CPU (MaxMemPerCPU), so Slurm gives this job's {} MiB {}, and {beyond}; ask for at most {}M, or use a partition without that limit",
                p.name,
                usage::memory_of(req, self.state).unwrap_or(0),
                words::count(self.cpus, "CPU"),
                per_cpu * cap
            )
        })
    }

    /// More CPUs than any node of the partition has.
    pub(super) fn over_every_node(&self) -> bool {
        let most = self.nodes.iter().map(|n| n.cpus_total).max();
        most.is_some_and(|most| self.req.cpus > most)
    }

    /// More CPUs than any node of the partition has or its MaxCPUsPerNode allows: what to say.
    fn over_cpu_cap(&self) -> Option<String> {
        let (req, p) = (self.req, self.partition);
        let node_cpus = self.nodes.iter().map(|n| n.cpus_total).max();
        let cap = match (node_cpus, p.max_cpus_per_node) {
            (Some(n), Some(m)) => Some(n.min(m)),
            (a, b) => a.or(b),
        }?;
        (req.cpus > cap).then(|| {
            let why = match p.max_cpus_per_node {
                Some(m) if m == cap => format!(
                    "partition {} allows {} per node (MaxCPUsPerNode)",
                    p.name,
                    words::count(m, "CPU")
                ),
                _ => format!(
                    "no node in partition {} has {} (the largest has {cap})",
                    p.name,
                    words::count(req.cpus, "CPU")
                ),
            };
            format!("{why}; ask for at most {cap}")
        })
    }

    /// `acct_policy_validate`, per QOS in `_qos_policy_validate`'s order: GrpSubmit,
    /// MaxSubmitPA and MaxSubmitPU always; under DenyOnLimit also every limit the job alone
    /// exceeds (MaxTRESPA; MaxTRESPU and GrpTRES; MaxTRESMins, GrpTRESMins and
    /// GrpTRESRunMins; MaxWall; MaxTRESPerJob and MaxTRESPerNode; MinTRES). Then the
    /// association's MaxSubmit and the accounts' GrpSubmit.
    pub(super) fn accounting_at_submit(&self) -> Vec<Finding> {
        let mut found = Vec::new();
        let mut seen = Seen::default();
        let account = usage::account_of(self.req, self.state);
        for q in &self.qos_order {
            let user = self.held_by_user(q);
            let deny = self
                .deny_on_limit
                .map(|deny| format!("QOS {} has DenyOnLimit", deny.name));
            if let Some(setting) = &deny {
                for (tres, asked) in self.asked.in_slurm_order() {
                    let pa = seen.first(Scope::PerAccount, tres, q.max_tres_per_account.get(tres));
                    if let Some(max) = pa.filter(|max| asked > *max) {
                        found.push(
                            alone_over(
                                q,
                                Holder::Qos,
                                Scope::PerAccount,
                                tres,
                                asked,
                                max,
                                Effect::Refused,
                            )
                            .decided_by(setting.clone()),
                        );
                    }
                }
                for (tres, asked) in self.asked.in_slurm_order() {
                    let pu = seen.first(Scope::PerUser, tres, q.max_tres_per_user.get(tres));
                    let grp = seen.first(Scope::Group, tres, q.grp_tres.get(tres));
                    if let Some(max) = pu.filter(|max| asked > *max) {
                        found.push(
                            alone_over(
                                q,
                                Holder::Qos,
                                Scope::PerUser,
                                tres,
                                asked,
                                max,
                                Effect::Refused,
                            )
                            .decided_by(setting.clone()),
                        );
                    } else if let Some(max) = grp.filter(|max| asked > *max) {
                        found.push(
                            alone_over(
                                q,
                                Holder::Qos,
                                Scope::Group,
                                tres,
                                asked,
                                max,
                                Effect::Refused,
                            )
                            .decided_by(setting.clone()),
                        );
                    }
                }
            }
            if let Some(max) = seen.first_count("GrpSubmit", q.grp_submit) {
                let all = self.held_by_all(q);
                if all.submitted_jobs + self.req.tasks > max {
                    found.push(Finding::new(
                        Reason::Limit(LimitCode::QOS_GRP_SUBMIT),
                        Effect::Refused,
                        format!(
                            "QOS {} allows {} queued or running for all users together (GrpSubmit), and they have {}{}{}",
                            q.name,
                            jobs(max),
                            all.submitted_jobs,
                            not_shown(all.unseen.submitted_jobs),
                            array_counts(self.req.tasks)
                        ),
                    ));
                }
            }
            if let Some(setting) = &deny {
                let m = Minutes::of_qos(q);
                let time_limits = [
                    self.minutes_alone(&m, Scope::MinutesPerJob, &mut seen, Effect::Refused),
                    self.minutes_alone(&m, Scope::GroupMinutes, &mut seen, Effect::Refused),
                    self.run_minutes_limits(&m, &mut seen, Some(Effect::Refused)),
                ];
                for f in time_limits.into_iter().flatten() {
                    // At submit only the job alone counts; the running jobs' share waits.
                    if f.effect == Effect::Refused {
                        found.push(f.decided_by(setting.clone()));
                    }
                }
                if let Some(f) = self.over_max_wall(q, &mut seen, Effect::Refused) {
                    found.push(f.decided_by(setting.clone()));
                }
                if let Some(f) = self.wall_alone(&m, &mut seen) {
                    found.push(f.decided_by(setting.clone()));
                }
                for scope in [Scope::PerJob, Scope::PerNode] {
                    for f in self.per_job_limits(q, scope, &mut seen, Effect::Refused) {
                        found.push(f.decided_by(setting.clone()));
                    }
                }
            }
            if let Some(max) = seen.first_count("MaxSubmitPA", q.max_submit_per_account)
                && let Some(account) = account
            {
                let held = self.held_by_account(q, account);
                if held.submitted_jobs + self.req.tasks > max {
                    found.push(Finding::new(
                        Reason::Limit(LimitCode::QOS_MAX_SUBMIT_PER_ACCOUNT),
                        Effect::Refused,
                        format!(
                            "QOS {} allows {} queued or running per account (MaxSubmitPA), and the users of account {account} have {}{}{}",
                            q.name,
                            jobs(max),
                            held.submitted_jobs,
                            not_shown(held.unseen.submitted_jobs),
                            array_counts(self.req.tasks)
                        ),
                    ));
                }
            }
            if let Some(max) = seen.first_count("MaxSubmitPU", q.max_submit_per_user)
                && user.submitted_jobs + self.req.tasks > max
            {
                let held = user.submitted_jobs;
                let message = if self.req.tasks > 1 {
                    format!(
                        "this array has {} tasks, each a job to Slurm, and you already have {} queued or running under QOS {}, which allows {max} per user: {} would fit",
                        self.req.tasks,
                        jobs(held),
                        q.name,
                        words::count(max.saturating_sub(held), "task")
                    )
                } else {
                    format!(
                        "you already have {} queued or running under QOS {}, which allows {max} per user; wait for one to end or cancel one",
                        jobs(held),
                        q.name
                    )
                };
                found.push(Finding::new(
                    Reason::Limit(LimitCode::QOS_MAX_SUBMIT_PER_USER),
                    Effect::Refused,
                    message,
                ));
            }
            if let Some(setting) = &deny {
                for f in self.minimums(q, &mut seen, Effect::Refused) {
                    found.push(f.decided_by(setting.clone()));
                }
            }
        }
        // The association's and its accounts' limits, where no QOS set the same: MaxSubmit
        // and GrpSubmit always; under DenyOnLimit also every one the job alone exceeds, in
        // `_acct_policy_validate`'s order (captured: MaxTRES and GrpTRES refused, and a QOS's
        // MaxWall taking the place of the association's).
        let deny = self
            .deny_on_limit
            .map(|q| format!("QOS {} has DenyOnLimit", q.name));
        let refused = Effect::Refused;
        if let Some(a) = self.association {
            let held = self.held_by_association(a);
            let m = Minutes::of_association(a);
            let mut seen = seen.clone();
            if let Some(setting) = &deny {
                let alone = [
                    self.association_alone(a, Scope::Group, &seen, refused),
                    self.minutes_alone(&m, Scope::GroupMinutes, &mut seen, refused),
                    self.run_minutes_limits(&m, &mut seen, Some(refused)),
                    self.wall_alone(&m, &mut seen).into_iter().collect(),
                    self.minutes_alone(&m, Scope::MinutesPerJob, &mut seen, refused),
                    self.association_alone(a, Scope::PerJob, &seen, refused),
                ];
                for f in alone.into_iter().flatten().filter(|f| f.effect == refused) {
                    found.push(f.decided_by(setting.clone()));
                }
            }
            if seen.count_unset("MaxSubmitPU")
                && let Some(max) = a.max_submit
                && held.submitted_jobs + self.req.tasks > max
            {
                let array = if self.req.tasks > 1 {
                    format!(
                        "; this array's {} tasks count one each, so {} would fit",
                        self.req.tasks,
                        max.saturating_sub(held.submitted_jobs)
                    )
                } else {
                    String::new()
                };
                found.push(Finding::new(
                    Reason::Limit(LimitCode::ASSOC_MAX_SUBMIT),
                    Effect::Refused,
                    format!(
                        "you already have {} queued or running under your association ({}), which allows {max}{array}",
                        jobs(held.submitted_jobs),
                        a.describe()
                    ),
                ));
            }
            if let Some(setting) = &deny
                && let Some(f) = self.over_association_wall(a, &seen, refused)
            {
                found.push(f.decided_by(setting.clone()));
            }
        }
        for a in self.account_chain() {
            let m = Minutes::of_account(a);
            let mut seen = seen.clone();
            if let Some(setting) = &deny {
                for f in self.account_grp_alone(a, &seen, refused) {
                    found.push(f.decided_by(setting.clone()));
                }
            }
            let held = self.held_in_account(&a.account);
            if let Some(max) = a.grp_submit
                && held.submitted_jobs + self.req.tasks > max
            {
                found.push(Finding::new(
                    Reason::Limit(LimitCode::ASSOC_GRP_SUBMIT),
                    Effect::Refused,
                    format!(
                        "account {} allows {} queued or running for all its users together (GrpSubmit), and they have {}{}{}",
                        a.account,
                        jobs(max),
                        held.submitted_jobs,
                        not_shown(held.unseen.submitted_jobs),
                        array_counts(self.req.tasks)
                    ),
                ));
            }
            if let Some(setting) = &deny {
                let alone = [
                    self.minutes_alone(&m, Scope::GroupMinutes, &mut seen, refused),
                    self.run_minutes_limits(&m, &mut seen, Some(refused)),
                    self.wall_alone(&m, &mut seen).into_iter().collect(),
                ];
                for f in alone.into_iter().flatten().filter(|f| f.effect == refused) {
                    found.push(f.decided_by(setting.clone()));
                }
            }
        }
        found
    }
}

/// What an array adds to a submit limit's sentence: each task counts as a job.
fn array_counts(tasks: u64) -> String {
    if tasks > 1 {
        format!("; this array's {tasks} tasks count one each")
    } else {
        String::new()
    }
}

/// `users root, alice or accounts lab`: who a reservation admits, in words.
fn who_may(r: &Reservation) -> String {
    let rule = |kind: &str, rule: &Option<NameRule>| match rule {
        Some(NameRule::Only(names)) => Some(format!("{kind} {}", names.join(", "))),
        Some(NameRule::AllBut(names)) => Some(format!("{kind} other than {}", names.join(", "))),
        None => None,
    };
    [
        rule("users", &r.users),
        rule("accounts", &r.accounts),
        rule("groups", &r.groups),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" or ")
}

/// `ampere,ib (1 node); hopper,ib (1 node)`: nodes by their features.
fn features_of_nodes(nodes: &[&NodeRow]) -> String {
    let mut sets: Vec<(String, usize)> = Vec::new();
    for n in nodes {
        let set = if n.features.is_empty() {
            "no features".to_string()
        } else {
            n.features.join(",")
        };
        match sets.iter_mut().find(|(s, _)| *s == set) {
            Some((_, count)) => *count += 1,
            None => sets.push((set, 1)),
        }
    }
    let words: Vec<String> = sets
        .iter()
        .map(|(set, count)| match count {
            1 => format!("{set} (1 node)"),
            n => format!("{set} ({n} nodes)"),
        })
        .collect();
    words.join("; ")
}

#[cfg(test)]
mod tests {
    use crate::preflight::Request;
    use crate::preflight::test_states::{IDLE, two_nodes};

    /// Regression: a MaxArraySize of 0 (job arrays turned off) said indices stop at
    /// 18446744073709551615.
    #[test]
    fn a_cluster_without_job_arrays_refuses_a_sweep_in_words() {
        let mut s = two_nodes(IDLE, "");
        s.config.max_array_size = Some(0);
        let req = Request {
            tasks: 2,
            ..Request::plain("gpu", 1, 600)
        };
        let finding = super::array_size(&req, &s).expect("refused");
        assert_eq!(
            finding.message,
            "the cluster's MaxArraySize is 0: it takes no job arrays, and a sweep is one"
        );
    }
}
