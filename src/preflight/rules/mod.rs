//! One small function per rule, each returning what it finds, in the order Slurm checks
//! (see the module comment in `preflight/mod.rs`). A rule only looks; `findings` puts them in
//! order. `refusals.rs` holds what sbatch refuses, `waits.rs` what keeps an accepted job
//! pending, `minutes.rs` the TRES-minutes limits both use; all are methods of `Ctx`, what the
//! rules look at, worked out once here.

mod minutes;
mod nodes;
mod refusals;
mod slurm_24_11;
mod waits;

use std::cell::RefCell;
use std::collections::HashMap;

use crate::slurm::config::EnforcePartLimits;
use crate::slurm::sacctmgr::{AccountLimits, Association, Qos};
use crate::slurm::scontrol::{Partition, PartitionState};
use crate::slurm::sinfo::NodeRow;
use crate::slurm::squeue::QueuedJob;
use crate::slurm::tres::Tres;

use super::expected_start::ExpectedStart;
use super::limit_room::{Counted, LimitRoom};
use super::reason::{Reason, Scope};
use super::usage::{self, Held};
use super::words;
use super::{ClusterState, Request};

pub use nodes::room_message;

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
    /// For a job that waits for running jobs to end: when room for it opens.
    pub expected_start: Option<ExpectedStart>,
    /// For a limit the running jobs under it hold: what they hold until when, so that when
    /// it lets the job in can be worked out.
    pub room: Option<LimitRoom>,
}

impl Finding {
    fn new(reason: Reason, effect: Effect, message: String) -> Finding {
        Finding {
            reason,
            effect,
            message,
            setting: None,
            expected_start: None,
            room: None,
        }
    }

    fn decided_by(mut self, setting: String) -> Finding {
        self.setting = Some(setting);
        self
    }

    fn expecting(mut self, start: Option<ExpectedStart>) -> Finding {
        self.expected_start = start;
        self
    }

    fn held_in(mut self, room: LimitRoom) -> Finding {
        self.room = Some(room);
        self
    }

    /// A limit of the partition, a QOS or an association, rather than the state of the
    /// partition or its nodes.
    pub fn is_limit(&self) -> bool {
        !matches!(
            self.reason,
            Reason::Resources | Reason::ReqNodeNotAvail | Reason::PartitionDown
        )
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
    // sbatch checks the node names before the partition, after the array's indices (as
    // captured).
    if let Some(unknown) = refusals::unknown_nodes(req, state) {
        return refusals::array_size(req, state)
            .into_iter()
            .chain([unknown])
            .collect();
    }
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

/// Every limit on running jobs or TRES (MaxJobsPU, MaxTRESPU, GrpJobs, GrpTRES...) that
/// counts `req`, whether it is over it or not, each with what the running jobs under it hold
/// until when: an array's tasks count under all of them, so its timeline adds each task it
/// places and asks them when the next may start. `None` where another accounting limit
/// keeps the job pending, one no job's end frees (TRES-minutes, wall time spent).
pub fn limit_rooms(req: &Request, state: &ClusterState) -> Option<Vec<LimitRoom>> {
    let Some(partition) = state.partition(&req.partition) else {
        return Some(Vec::new());
    };
    let job_qos = state.qos_named(&job_qos(req, state));
    let mut ctx = Ctx::new(req, state, partition, job_qos);
    ctx.every_limit = true;
    let mut found = ctx.accounting_before_selection();
    found.extend(ctx.accounting_after_selection());
    found.into_iter().map(|f| f.room).collect()
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
            "partition {:?} does not exist; this cluster {}",
            req.partition,
            offers(&names.iter().map(String::as_str).collect::<Vec<_>>())
        ),
    )
}

fn unknown_qos(name: &str, state: &ClusterState) -> Finding {
    let names: Vec<&str> = state.qos.iter().map(|q| q.name.as_str()).collect();
    Finding::new(
        Reason::InvalidQos,
        Effect::Refused,
        format!(
            "QOS {name:?} does not exist; this cluster {}",
            offers(&names)
        ),
    )
}

/// `has: a, b`, or `lists none` where Slurm showed nothing (not "has: ").
fn offers(names: &[&str]) -> String {
    if names.is_empty() {
        "lists none".to_string()
    } else {
        format!("has: {}", names.join(", "))
    }
}

/// What the rules look at, worked out once.
struct Ctx<'a> {
    req: &'a Request,
    state: &'a ClusterState,
    partition: &'a Partition,
    /// The partition's nodes: what its limits (CPUs over the largest node) count.
    nodes: Vec<&'a NodeRow>,
    /// Those with the features the job asks for (all without a constraint): where it may run.
    fitting: Vec<&'a NodeRow>,
    /// Partition QOS first, then the job's, unless the job's has OverPartQOS; each limit is
    /// taken from the first QOS that sets it.
    qos_order: Vec<&'a Qos>,
    /// The QOS whose DenyOnLimit turns limits into refusals at submit.
    deny_on_limit: Option<&'a Qos>,
    association: Option<&'a Association>,
    asked: Tres,
    /// The CPUs Slurm gives the job (`usage::cpus_of`).
    cpus: u64,
    enforce: EnforcePartLimits,
    /// What each group of jobs a limit counts holds, worked out once a verdict: the rules
    /// ask several times, and each answer is a pass over the whole queue.
    held: RefCell<HashMap<Whose, Held>>,
    /// Find every limit on running jobs or TRES that counts the job, not only those it is
    /// over (`limit_rooms`).
    every_limit: bool,
}

/// Whose jobs a limit counts (`usage::held_*`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Whose {
    UserUnderQos(String),
    AllUnderQos(String),
    AccountUnderQos { qos: String, account: String },
    Association { account: String, partition: String },
    InAccount(String),
}

impl<'a> Ctx<'a> {
    fn new(
        req: &'a Request,
        state: &'a ClusterState,
        partition: &'a Partition,
        job_qos: Option<&'a Qos>,
    ) -> Ctx<'a> {
        let qos_order = qos_order(state, partition, job_qos);
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
            fitting: state.nodes_for(req).collect(),
            qos_order,
            deny_on_limit,
            association,
            asked: usage::requested(req, state),
            cpus: usage::cpus_of(req, state),
            enforce: state.config.enforce_part_limits,
            held: RefCell::default(),
            every_limit: false,
        }
    }

    fn held(&self, whose: Whose, work_out: impl FnOnce() -> Held) -> Held {
        if let Some(held) = self.held.borrow().get(&whose) {
            return held.clone();
        }
        let held = work_out();
        self.held.borrow_mut().insert(whose, held.clone());
        held
    }

    /// What the current user holds under `q`.
    fn held_by_user(&self, q: &Qos) -> Held {
        let whose = Whose::UserUnderQos(q.name.clone());
        self.held(whose, || usage::held_by_user(q, self.state))
    }

    /// What every user together holds under `q`.
    fn held_by_all(&self, q: &Qos) -> Held {
        let whose = Whose::AllUnderQos(q.name.clone());
        self.held(whose, || usage::held_by_all(q, self.state))
    }

    /// What the jobs of `account` hold under `q`.
    fn held_by_account(&self, q: &Qos, account: &str) -> Held {
        let whose = Whose::AccountUnderQos {
            qos: q.name.clone(),
            account: account.to_string(),
        };
        self.held(whose, || usage::held_by_account(q, account, self.state))
    }

    /// What the current user's jobs under association `a` hold.
    fn held_by_association(&self, a: &Association) -> Held {
        let whose = Whose::Association {
            account: a.account.clone(),
            partition: a.partition.clone(),
        };
        self.held(whose, || usage::held_by_association(a, self.state))
    }

    /// What the jobs of `account` and its sub-accounts hold.
    fn held_in_account(&self, account: &str) -> Held {
        let whose = Whose::InAccount(account.to_string());
        self.held(whose, || usage::held_in_account(account, self.state))
    }

    /// The room for this job under a limit of `max` of `counted` that the running jobs
    /// `counts` picks hold: when it opens as they end.
    fn room(&self, counted: Counted, max: u64, counts: impl Fn(&QueuedJob) -> bool) -> LimitRoom {
        let need = match &counted {
            Counted::Jobs => 1,
            Counted::Tres(tres) => self.asked.get(tres).unwrap_or(0),
            Counted::RunMinutes(tres) => {
                self.asked.get(tres).unwrap_or(0) * self.time_limit_minutes()
            }
        };
        LimitRoom::held_by(counted, max, need, self.state, counts)
    }

    /// Whether a limit on running jobs or TRES is found: where the job is over it, or
    /// always where every limit is asked for (`limit_rooms`).
    fn reports(&self, over: bool) -> bool {
        over || self.every_limit
    }

    /// The findings in the order Slurm meets them. A DOWN partition changes that order, as
    /// captured from Slurm: its limits are not checked while it is down (so more CPUs than
    /// a node has is refused as a node shape), and the scheduler passes its jobs by before
    /// node selection, so they keep the reason they got at submit.
    fn run(&self) -> Vec<Finding> {
        if self.decides_as_24_11() {
            return self.run_as_24_11();
        }
        let down = self.is_down();
        // What sbatch refuses.
        let mut found = self.who_may_submit();
        found.extend(self.group_allowed());
        found.extend(self.qos_allowed_by_partition());
        found.extend(self.account_allowed_by_partition());
        found.extend(self.features_exist());
        found.extend(self.reservation_allowed());
        let partition_limits = self.partition_limits();
        let fewer_nodes_allowed = self.fewer_nodes_allowed();
        // Under EnforcePartLimits=NO a job over a partition limit (MaxNodes=0 too) is queued
        // to wait, and Slurm does not try the node shape (as captured).
        let waits_for_partition = !self.enforce.refuses()
            && !down
            && (!partition_limits.is_empty() || fewer_nodes_allowed.is_some());
        if !waits_for_partition {
            found.extend(self.node_shape());
        }
        if self.enforce.refuses() {
            found.extend(partition_limits.iter().cloned());
        }
        found.extend(self.accounting_at_submit());
        // What keeps an accepted job pending.
        if !self.enforce.refuses() && !down {
            found.extend(partition_limits.iter().cloned());
        }
        found.extend(self.accounting_before_selection());
        // Nodes down, drained or reserved are known before the limits Slurm checks once it
        // has picked nodes; busy ones only after.
        found.extend(self.reservation_ahead());
        found.extend(self.nodes_unavailable());
        if down {
            found.push(self.partition_down());
            if !self.enforce.refuses() {
                // Once the partition is up again, these hold it.
                found.extend(partition_limits);
            }
        }
        found.extend(self.accounting_after_selection());
        found.extend(fewer_nodes_allowed);
        if !down {
            found.extend(self.nodes_busy());
        }
        found
    }

    /// What sbatch refuses first on every release: the array's size, a partition that takes
    /// no jobs, a QOS or account not the user's, and who the partition takes jobs from.
    fn who_may_submit(&self) -> Vec<Finding> {
        let mut found = Vec::new();
        found.extend(refusals::array_size(self.req, self.state));
        found.extend(self.partition_takes_jobs());
        found.extend(self.qos_in_associations());
        found.extend(self.account_in_associations());
        found.extend(self.partition_access());
        found
    }

    /// The job's account and those above it, each with its own shared limits.
    fn account_chain(&self) -> Vec<&'a AccountLimits> {
        usage::account_of(self.req, self.state)
            .map(|a| usage::account_chain(a, self.state))
            .unwrap_or_default()
    }

    fn is_down(&self) -> bool {
        self.partition.state == PartitionState::Down
    }
}

/// The QOS whose limits apply, in the order Slurm takes each limit from them: the partition's
/// QOS first, then the job's, unless the job's has OverPartQOS.
fn qos_order<'a>(
    state: &'a ClusterState,
    partition: &Partition,
    job_qos: Option<&'a Qos>,
) -> Vec<&'a Qos> {
    let partition_qos = partition.qos.as_deref().and_then(|n| state.qos_named(n));
    let mut order: Vec<&Qos> = partition_qos.into_iter().collect();
    if let Some(q) = job_qos {
        if q.has_flag("OverPartQOS") {
            order.insert(0, q);
        } else {
            order.push(q);
        }
        order.dedup_by(|a, b| a.name == b.name);
    }
    order
}

/// The QOS limits that apply to `req`, in Slurm's order (see `qos_order`).
pub fn limiting_qos<'a>(req: &Request, state: &'a ClusterState) -> Vec<&'a Qos> {
    let Some(partition) = state.partition(&req.partition) else {
        return Vec::new();
    };
    qos_order(state, partition, state.qos_named(&job_qos(req, state)))
}

/// The association the job runs under: its account (the spec's, else the user's default) and
/// its partition's association if there is one, else the account's.
pub fn pick_association<'a>(req: &Request, state: &'a ClusterState) -> Option<&'a Association> {
    usage::association_for(usage::account_of(req, state), &req.partition, state)
}

/// `1 job`, `2 jobs`.
fn jobs(n: u64) -> String {
    words::count(n, "job")
}

/// Which limits an earlier QOS already set: Slurm takes each from the first QOS that has it.
#[derive(Default, Clone)]
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
