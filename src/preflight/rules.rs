//! One small function per rule, each returning what it finds, in the order Slurm checks
//! (see the module comment in `mod.rs`). A rule only looks; `findings` puts them in order.

use crate::slurm::config::EnforcePartLimits;
use crate::slurm::duration::format_seconds;
use crate::slurm::sacctmgr::{Association, Qos};
use crate::slurm::scontrol::Partition;
use crate::slurm::sinfo::NodeRow;
use crate::slurm::tres::Tres;

use super::reason::{Holder, LimitCode, Reason, Scope};
use super::usage::{self, Held};
use super::{ClusterState, Request};

/// What a finding does to the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Refused,
    Pends,
    PendsForever,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub reason: Reason,
    pub effect: Effect,
    /// The numbers, in one sentence.
    pub message: String,
    /// The site setting that decided between refusing and pending, when one did.
    pub setting: Option<String>,
}

impl Finding {
    fn new(reason: Reason, effect: Effect, message: String) -> Finding {
        Finding {
            reason,
            effect,
            message,
            setting: None,
        }
    }

    fn decided_by(mut self, setting: String) -> Finding {
        self.setting = Some(setting);
        self
    }

    /// A limit of the partition, a QOS or an association, rather than nodes being busy.
    pub fn is_limit(&self) -> bool {
        !matches!(self.reason, Reason::Resources | Reason::ReqNodeNotAvail)
    }

    /// The message, led by the deciding setting and what it means.
    pub fn sentence(&self) -> String {
        let Some(setting) = &self.setting else {
            return self.message.clone();
        };
        let consequence = match self.effect {
            Effect::Refused => format!("sbatch refuses it (\"{}\")", self.reason.sbatch_says()),
            Effect::PendsForever => "Slurm accepts it and it pends forever".to_string(),
            Effect::Pends => "Slurm accepts it and it pends".to_string(),
        };
        format!("{setting}, so {consequence}: {}", self.message)
    }
}

/// Everything that keeps the job from starting now, the decisive finding first.
pub fn findings(req: &Request, state: &ClusterState) -> Vec<Finding> {
    let Some(partition) = state.partition(&req.partition) else {
        return vec![unknown_partition(req, state)];
    };
    let job_qos_name = job_qos(req, state);
    let Some(job_qos) = state.qos_named(&job_qos_name) else {
        // Without accounting (no QOS known) only the default may be assumed to exist.
        if req.qos.is_some() && !state.qos.is_empty() {
            return vec![unknown_qos(&job_qos_name, state)];
        }
        return Ctx::new(req, state, partition, None).run();
    };
    Ctx::new(req, state, partition, Some(job_qos)).run()
}

/// The QOS the job will run under: the spec's, else the association's default, else normal.
pub fn job_qos(req: &Request, state: &ClusterState) -> String {
    if let Some(q) = &req.qos {
        return q.clone();
    }
    pick_association(req, state)
        .and_then(|a| a.default_qos.clone())
        .or_else(|| {
            state
                .associations
                .iter()
                .find_map(|a| a.default_qos.clone())
        })
        .unwrap_or_else(|| "normal".to_string())
}

fn unknown_partition(req: &Request, state: &ClusterState) -> Finding {
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
    Finding::new(
        Reason::InvalidPartition,
        Effect::Refused,
        format!(
            "partition {:?} does not exist; this cluster has: {}",
            req.partition,
            names.join(", ")
        ),
    )
}

fn unknown_qos(name: &str, state: &ClusterState) -> Finding {
    let names: Vec<&str> = state.qos.iter().map(|q| q.name.as_str()).collect();
    Finding::new(
        Reason::InvalidQos,
        Effect::Refused,
        format!(
            "QOS {name:?} does not exist; this cluster has: {}",
            names.join(", ")
        ),
    )
}

/// What the rules look at, worked out once.
struct Ctx<'a> {
    req: &'a Request,
    state: &'a ClusterState,
    partition: &'a Partition,
    nodes: Vec<&'a NodeRow>,
    /// Partition QOS first, then the job's, unless the job's has OverPartQOS; each limit is
    /// taken from the first QOS that sets it.
    qos_order: Vec<&'a Qos>,
    /// The QOS whose DenyOnLimit turns limits into refusals at submit.
    deny_on_limit: Option<&'a Qos>,
    association: Option<&'a Association>,
    asked: Tres,
    enforce: EnforcePartLimits,
}

impl<'a> Ctx<'a> {
    fn new(
        req: &'a Request,
        state: &'a ClusterState,
        partition: &'a Partition,
        job_qos: Option<&'a Qos>,
    ) -> Ctx<'a> {
        let partition_qos = partition.qos.as_deref().and_then(|n| state.qos_named(n));
        let mut qos_order: Vec<&Qos> = partition_qos.into_iter().collect();
        if let Some(q) = job_qos {
            if q.has_flag("OverPartQOS") {
                qos_order.insert(0, q);
            } else {
                qos_order.push(q);
            }
            qos_order.dedup_by(|a, b| a.name == b.name);
        }
        let deny_on_limit = qos_order
            .iter()
            .copied()
            .find(|q| q.has_flag("DenyOnLimit"));
        let association = pick_association(req, state);
        Ctx {
            req,
            state,
            partition,
            nodes: state.nodes_of(&partition.name).collect(),
            qos_order,
            deny_on_limit,
            association,
            asked: usage::requested(req, state),
            enforce: state.config.enforce_part_limits,
        }
    }

    fn run(&self) -> Vec<Finding> {
        let mut found = Vec::new();
        // What sbatch refuses.
        found.extend(self.qos_allowed());
        found.extend(self.account_allowed());
        found.extend(self.node_shape());
        if self.enforce.refuses() {
            found.extend(self.partition_limits());
        }
        found.extend(self.accounting_at_submit());
        // What keeps an accepted job pending.
        if !self.enforce.refuses() {
            found.extend(self.partition_limits());
        }
        found.extend(self.accounting_before_selection());
        found.extend(self.accounting_after_selection());
        found.extend(self.nodes_now());
        found
    }

    /// A QOS not in the user's associations, or not allowed by the partition.
    fn qos_allowed(&self) -> Option<Finding> {
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
        if self.req.qos.is_some() && !allowed.is_empty() && !allowed.contains(&name.as_str()) {
            let mut names = allowed.clone();
            names.sort();
            names.dedup();
            return Some(Finding::new(
                Reason::InvalidQos,
                Effect::Refused,
                format!(
                    "you may not use QOS {name:?}; your associations allow: {}",
                    names.join(", ")
                ),
            ));
        }
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

    /// An account the partition does not allow, or that is not one of the user's.
    fn account_allowed(&self) -> Option<Finding> {
        let account = self
            .req
            .account
            .as_deref()
            .or(self.state.default_account.as_deref())?;
        let mine: Vec<&str> = self
            .state
            .associations
            .iter()
            .map(|a| a.account.as_str())
            .collect();
        if self.req.account.is_some() && !mine.is_empty() && !mine.contains(&account) {
            return Some(Finding::new(
                Reason::InvalidAccount,
                Effect::Refused,
                format!(
                    "you have no association with account {account:?}; yours: {}",
                    mine.join(", ")
                ),
            ));
        }
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

    /// GPUs or memory no node of the partition has: sbatch refuses it whatever the settings.
    fn node_shape(&self) -> Option<Finding> {
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
        let with_gpus: Vec<&&NodeRow> = self
            .nodes
            .iter()
            .filter(|n| n.gpus_of(gpu_type) >= req.gpus)
            .collect();
        if with_gpus.is_empty() {
            let most = self
                .nodes
                .iter()
                .map(|n| n.gpus_of(gpu_type))
                .max()
                .unwrap_or(0);
            return refuse(match gpu_type {
                Some(t) if most == 0 => {
                    let mut types: Vec<&str> = self
                        .nodes
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
                Some(t) => format!(
                    "no node in partition {p} has {} {t} GPUs (the largest has {most})",
                    req.gpus
                ),
                None => format!(
                    "no node in partition {p} has {} GPUs (the largest has {most})",
                    req.gpus
                ),
            });
        }
        let mem = usage::memory_of(req, self.state)?;
        let most = with_gpus.iter().map(|n| n.memory_mib).max().unwrap_or(0);
        (mem > most).then(|| Finding::new(
            Reason::NodeConfigurationUnavailable,
            Effect::Refused,
            format!("no node in partition {p} has {mem} MiB of memory (the largest has {most} MiB); Slurm says \"Memory specification can not be satisfied\""),
        ))
    }

    /// Time over MaxTime and CPUs over what a node has or MaxCPUsPerNode allows: refused
    /// under EnforcePartLimits=ALL/ANY, pending forever under NO.
    fn partition_limits(&self) -> Vec<Finding> {
        let (req, p) = (self.req, self.partition);
        let setting = format!("EnforcePartLimits is {}", self.enforce);
        let refuse = self.enforce.refuses();
        let mut found = Vec::new();
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
        let node_cpus = self.nodes.iter().map(|n| n.cpus_total).max();
        let cap = match (node_cpus, p.max_cpus_per_node) {
            (Some(n), Some(m)) => Some(n.min(m)),
            (a, b) => a.or(b),
        };
        if let Some(cap) = cap
            && req.cpus > cap
        {
            let why = match p.max_cpus_per_node {
                Some(m) if m == cap => format!(
                    "partition {} allows {m} CPUs per node (MaxCPUsPerNode)",
                    p.name
                ),
                _ => format!(
                    "no node in partition {} has {} CPUs (the largest has {cap})",
                    p.name, req.cpus
                ),
            };
            let message = format!("{why}; ask for at most {cap}");
            found.push(if refuse {
                Finding::new(Reason::TooManyRequestedCpus, Effect::Refused, message)
            } else {
                Finding::new(Reason::PartitionConfig, Effect::PendsForever, message)
            });
        }
        found
            .into_iter()
            .map(|f| f.decided_by(setting.clone()))
            .collect()
    }

    /// `acct_policy_validate`: MaxSubmit always; under DenyOnLimit also every limit the job
    /// alone exceeds (MaxTRESPU, GrpTRES, MaxWall, MaxTRESPerJob, MaxTRESPerNode).
    fn accounting_at_submit(&self) -> Vec<Finding> {
        let mut found = Vec::new();
        let mut seen = Seen::default();
        for q in &self.qos_order {
            let user = usage::held_by_user(q, self.state);
            if let Some(deny) = self.deny_on_limit {
                let setting = format!("QOS {} has DenyOnLimit", deny.name);
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
                if let Some(f) = self.over_max_wall(q, &mut seen, Effect::Refused) {
                    found.push(f.decided_by(setting.clone()));
                }
                for scope in [Scope::PerJob, Scope::PerNode] {
                    for f in self.per_job_limits(q, scope, &mut seen, Effect::Refused) {
                        found.push(f.decided_by(setting.clone()));
                    }
                }
            }
            if let Some(max) = seen.first_count("MaxSubmitPU", q.max_submit_per_user)
                && user.submitted_jobs + 1 > max
            {
                found.push(Finding::new(
                    Reason::Limit(LimitCode::QOS_MAX_SUBMIT_PER_USER),
                    Effect::Refused,
                    format!(
                        "you already have {} jobs queued or running under QOS {}, which allows {max} per user; wait for one to end or cancel one",
                        user.submitted_jobs, q.name
                    ),
                ));
            }
        }
        if let Some(a) = self.association {
            let all = usage::held_by_user_anywhere(self.state);
            if seen.count_unset("MaxSubmitPU")
                && let Some(max) = a.max_submit
                && all.submitted_jobs + 1 > max
            {
                found.push(Finding::new(
                    Reason::Limit(LimitCode::ASSOC_MAX_SUBMIT),
                    Effect::Refused,
                    format!(
                        "you already have {} jobs queued or running, and your association (account {}) allows {max}",
                        all.submitted_jobs, a.account
                    ),
                ));
            }
        }
        found
    }

    /// `_qos_job_runnable_pre_select`: GrpJobs, MaxJobsPU, MaxWall; then the association's.
    fn accounting_before_selection(&self) -> Vec<Finding> {
        let mut found = Vec::new();
        let mut seen = Seen::default();
        for q in &self.qos_order {
            if let Some(max) = seen.first_count("GrpJobs", q.grp_jobs) {
                let all = usage::held_by_all(q, self.state);
                if all.running_jobs >= max {
                    found.push(Finding::new(
                        Reason::Limit(LimitCode::QOS_GRP_JOBS),
                        Effect::Pends,
                        format!(
                            "all users together run {} jobs under QOS {}, which allows {max} at once",
                            all.running_jobs, q.name
                        ),
                    ));
                }
            }
            if let Some(max) = seen.first_count("MaxJobsPU", q.max_jobs_per_user) {
                let user = usage::held_by_user(q, self.state);
                if user.running_jobs >= max {
                    found.push(Finding::new(
                        Reason::Limit(LimitCode::QOS_MAX_JOBS_PER_USER),
                        Effect::Pends,
                        format!(
                            "you already run {} jobs under QOS {}, which allows {max} at once per user; this one starts when one of them ends",
                            user.running_jobs, q.name
                        ),
                    ));
                }
            }
            if self.deny_on_limit.is_none()
                && let Some(f) = self.over_max_wall(q, &mut seen, Effect::PendsForever)
            {
                found.push(f);
            }
        }
        if let Some(a) = self.association {
            let all = usage::held_by_user_anywhere(self.state);
            if seen.count_unset("MaxJobsPU")
                && let Some(max) = a.max_jobs
                && all.running_jobs >= max
            {
                found.push(Finding::new(
                    Reason::Limit(LimitCode::ASSOC_MAX_JOBS),
                    Effect::Pends,
                    format!(
                        "you already run {} jobs, and your association (account {}) allows {max} at once",
                        all.running_jobs, a.account
                    ),
                ));
            }
            if seen.count_unset("MaxWall")
                && let Some(wall) = a.max_wall.seconds()
                && self.req.time_seconds > wall
            {
                found.push(Finding::new(
                    Reason::Limit(LimitCode::ASSOC_MAX_WALL),
                    Effect::PendsForever,
                    format!(
                        "the time limit {} is longer than your association's MaxWall {}",
                        format_seconds(self.req.time_seconds),
                        format_seconds(wall)
                    ),
                ));
            }
        }
        found
    }

    /// `_qos_job_runnable_post_select`: per QOS, GrpTRES, MaxTRESPerJob, MaxTRESPerNode,
    /// MaxTRESPU, each over the TRES in Slurm's order; then the association's GrpTRES and
    /// MaxTRES where no QOS set the same limit.
    fn accounting_after_selection(&self) -> Vec<Finding> {
        let mut found = Vec::new();
        let mut seen = Seen::default();
        // Under DenyOnLimit a job alone over a limit was refused at submit already.
        let alone = if self.deny_on_limit.is_some() {
            None
        } else {
            Some(Effect::PendsForever)
        };
        for q in &self.qos_order {
            let user = usage::held_by_user(q, self.state);
            let all = usage::held_by_all(q, self.state);
            found.extend(self.usage_limits(
                q,
                Holder::Qos,
                Scope::Group,
                &q.grp_tres,
                &all,
                &mut seen,
                alone,
            ));
            if let Some(effect) = alone {
                found.extend(self.per_job_limits(q, Scope::PerJob, &mut seen, effect));
                found.extend(self.per_job_limits(q, Scope::PerNode, &mut seen, effect));
            }
            found.extend(self.usage_limits(
                q,
                Holder::Qos,
                Scope::PerUser,
                &q.max_tres_per_user,
                &user,
                &mut seen,
                alone,
            ));
        }
        if let Some(a) = self.association {
            let held = usage::held_by_user_anywhere(self.state);
            for (tres, asked) in self.asked.in_slurm_order() {
                if seen.tres_unset(Scope::Group, tres)
                    && let Some(max) = a.grp_tres.get(tres)
                {
                    let used = held.tres.get(tres).unwrap_or(0);
                    if asked > max {
                        found.push(alone_over_assoc(a, Scope::Group, tres, asked, max));
                    } else if used + asked > max {
                        found.push(Finding::new(
                            Reason::Limit(LimitCode::for_tres(Holder::Assoc, Scope::Group, tres)),
                            Effect::Pends,
                            format!(
                                "your association (account {}) holds {used} of its {max} {}; this job asks for {asked}",
                                a.account,
                                noun(tres)
                            ),
                        ));
                    }
                }
                if seen.tres_unset(Scope::PerJob, tres)
                    && let Some(max) = a.max_tres_per_job.get(tres)
                    && asked > max
                {
                    found.push(alone_over_assoc(a, Scope::PerJob, tres, asked, max));
                }
            }
        }
        found
    }

    /// GrpTRES or MaxTRESPU of one QOS: the job alone over it (never starts) or together
    /// with what is held.
    #[allow(clippy::too_many_arguments)]
    fn usage_limits(
        &self,
        q: &Qos,
        holder: Holder,
        scope: Scope,
        limits: &Tres,
        held: &Held,
        seen: &mut Seen,
        alone: Option<Effect>,
    ) -> Vec<Finding> {
        let mut found = Vec::new();
        for (tres, asked) in self.asked.in_slurm_order() {
            let Some(max) = seen.first(scope, tres, limits.get(tres)) else {
                continue;
            };
            let used = held.tres.get(tres).unwrap_or(0);
            if asked > max {
                if let Some(effect) = alone {
                    found.push(alone_over(q, holder, scope, tres, asked, max, effect));
                }
            } else if used + asked > max {
                let who = match scope {
                    Scope::Group => format!(
                        "all users together hold {used} of the {max} {} of QOS {}",
                        noun(tres),
                        q.name
                    ),
                    _ => format!(
                        "you hold {used} of the {max} {} QOS {} allows per user",
                        noun(tres),
                        q.name
                    ),
                };
                found.push(Finding::new(
                    Reason::Limit(LimitCode::for_tres(holder, scope, tres)),
                    Effect::Pends,
                    format!("{who}; this job asks for {asked}"),
                ));
            }
        }
        found
    }

    /// MaxTRESPerJob or MaxTRESPerNode of one QOS (one node: the same numbers).
    fn per_job_limits(
        &self,
        q: &Qos,
        scope: Scope,
        seen: &mut Seen,
        effect: Effect,
    ) -> Vec<Finding> {
        let limits = match scope {
            Scope::PerNode => &q.max_tres_per_node,
            _ => &q.max_tres_per_job,
        };
        self.asked
            .in_slurm_order()
            .into_iter()
            .filter_map(|(tres, asked)| {
                let max = seen.first(scope, tres, limits.get(tres))?;
                (asked > max).then(|| alone_over(q, Holder::Qos, scope, tres, asked, max, effect))
            })
            .collect()
    }

    fn over_max_wall(&self, q: &Qos, seen: &mut Seen, effect: Effect) -> Option<Finding> {
        let wall = seen.first_count("MaxWall", q.max_wall.seconds())?;
        (self.req.time_seconds > wall).then(|| {
            let never = if effect == Effect::PendsForever {
                "; it will never start"
            } else {
                ""
            };
            Finding::new(
                Reason::Limit(LimitCode::QOS_MAX_WALL),
                effect,
                format!(
                    "the time limit {} is longer than QOS {}'s MaxWall {}{never}",
                    format_seconds(self.req.time_seconds),
                    q.name,
                    format_seconds(wall)
                ),
            )
        })
    }

    /// Down or drained nodes, or no node with room now.
    fn nodes_now(&self) -> Option<Finding> {
        if self.nodes.is_empty() {
            return None;
        }
        let usable: Vec<&&NodeRow> = self.nodes.iter().filter(|n| n.is_usable()).collect();
        if usable.is_empty() {
            let states: Vec<String> = self
                .nodes
                .iter()
                .map(|n| format!("{} {}", n.node, n.state))
                .collect();
            return Some(Finding::new(
                Reason::ReqNodeNotAvail,
                Effect::Pends,
                format!(
                    "every node of partition {} is down, drained or reserved ({}); it waits until an admin brings one back",
                    self.partition.name,
                    states.join(", ")
                ),
            ));
        }
        let gpu_type = self.req.gpu_type.as_deref();
        let mem = usage::memory_of(self.req, self.state);
        let fits = |n: &NodeRow| {
            n.free_gpus_of(gpu_type) >= self.req.gpus
                && n.cpus_idle >= self.req.cpus
                && mem.is_none_or(|m| n.memory_mib.saturating_sub(n.memory_allocated_mib) >= m)
        };
        if usable.iter().any(|n| fits(n)) {
            return None;
        }
        let gpu_word = gpu_type
            .map(|t| format!("{t} GPUs"))
            .unwrap_or("GPUs".into());
        let free_gpus: u64 = usable.iter().map(|n| n.free_gpus_of(gpu_type)).sum();
        let total_gpus: u64 = usable.iter().map(|n| n.gpus_of(gpu_type)).sum();
        let free_cpus: u64 = usable.iter().map(|n| n.cpus_idle).sum();
        let total_cpus: u64 = usable.iter().map(|n| n.cpus_total).sum();
        Some(Finding::new(
            Reason::Resources,
            Effect::Pends,
            format!(
                "partition {} has {free_gpus} of {total_gpus} {gpu_word} and {free_cpus} of {total_cpus} CPUs free; this job asks for {} {gpu_word} and {} CPUs on one node, so it waits for running jobs to end",
                self.partition.name, self.req.gpus, self.req.cpus
            ),
        ))
    }
}

/// The association the job runs under: its account (the spec's, else the user's default) and
/// its partition's association if there is one, else the account's.
fn pick_association<'a>(req: &Request, state: &'a ClusterState) -> Option<&'a Association> {
    let account = req.account.as_ref().or(state.default_account.as_ref());
    let candidates: Vec<&Association> = state
        .associations
        .iter()
        .filter(|a| a.user == state.user)
        .filter(|a| account.is_none_or(|acct| &a.account == acct))
        .collect();
    candidates
        .iter()
        .find(|a| a.partition == req.partition)
        .or_else(|| candidates.iter().find(|a| a.partition.is_empty()))
        .copied()
}

/// Which limits an earlier QOS already set: Slurm takes each from the first QOS that has it.
#[derive(Default)]
struct Seen {
    tres: Vec<(Scope, String)>,
    counts: Vec<&'static str>,
}

impl Seen {
    fn first(&mut self, scope: Scope, tres: &str, limit: Option<u64>) -> Option<u64> {
        let limit = limit?;
        if self.tres.iter().any(|(s, t)| *s == scope && t == tres) {
            return None;
        }
        self.tres.push((scope, tres.to_string()));
        Some(limit)
    }

    fn first_count(&mut self, name: &'static str, limit: Option<u64>) -> Option<u64> {
        let limit = limit?;
        if self.counts.contains(&name) {
            return None;
        }
        self.counts.push(name);
        Some(limit)
    }

    fn tres_unset(&self, scope: Scope, tres: &str) -> bool {
        !self.tres.iter().any(|(s, t)| *s == scope && t == tres)
    }

    fn count_unset(&self, name: &str) -> bool {
        !self.counts.contains(&name)
    }
}

/// A job that alone asks for more than a QOS limit allows.
fn alone_over(
    q: &Qos,
    holder: Holder,
    scope: Scope,
    tres: &str,
    asked: u64,
    max: u64,
    effect: Effect,
) -> Finding {
    let per = match scope {
        Scope::Group => "for all users together",
        Scope::PerJob => "per job",
        Scope::PerNode => "per node",
        Scope::PerUser => "per user",
    };
    let never = if effect == Effect::PendsForever {
        ", so it will never start"
    } else {
        ""
    };
    Finding::new(
        Reason::Limit(LimitCode::for_tres(holder, scope, tres)),
        effect,
        format!(
            "QOS {} allows {max} {} {per}; this job alone asks for {asked}{never}",
            q.name,
            noun(tres)
        ),
    )
}

fn alone_over_assoc(a: &Association, scope: Scope, tres: &str, asked: u64, max: u64) -> Finding {
    let per = if scope == Scope::Group {
        "in all"
    } else {
        "per job"
    };
    Finding::new(
        Reason::Limit(LimitCode::for_tres(Holder::Assoc, scope, tres)),
        Effect::PendsForever,
        format!(
            "your association (account {}) allows {max} {} {per}; this job alone asks for {asked}, so it will never start",
            a.account,
            noun(tres)
        ),
    )
}

/// How a TRES reads in a sentence.
fn noun(tres: &str) -> String {
    match tres {
        "cpu" => "CPUs".into(),
        "mem" => "MiB of memory".into(),
        "node" => "nodes".into(),
        "gres/gpu" => "GPUs".into(),
        other => match other.strip_prefix("gres/gpu:") {
            Some(ty) => format!("{ty} GPUs"),
            None => other.to_string(),
        },
    }
}

/// The sentence for a job that starts now.
pub fn room_message(req: &Request, state: &ClusterState) -> String {
    let gpu_word = req
        .gpu_type
        .as_ref()
        .map(|t| format!("{t} GPUs"))
        .unwrap_or("GPUs".into());
    let mut message = format!(
        "partition {} has room for {} {gpu_word} and {} CPUs now",
        req.partition, req.gpus, req.cpus
    );
    let ahead = state
        .queue
        .iter()
        .filter(|j| {
            j.partition == req.partition
                && j.state == crate::slurm::state::JobState::Pending
                && j.reason == "Resources"
        })
        .count();
    if ahead > 0 {
        message.push_str(&format!(" ({ahead} job(s) wait for resources there; the backfill scheduler may let this one pass)"));
    }
    message
}
