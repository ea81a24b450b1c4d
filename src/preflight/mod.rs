//! Pre-flight: from a job request and the cluster's state, tell whether Slurm will start the
//! job now, keep it pending (and why, with the user's own numbers), or refuse it. Pure: the
//! state is gathered elsewhere, so every verdict is testable on captured output.
//!
//! The rules (`rules/`) run in Slurm's own order: what `sbatch` refuses (partition and its
//! state, QOS and account, groups, reservation, node shape, partition limits under
//! EnforcePartLimits, accounting limits at submit: GrpSubmit, MaxSubmitPA and MaxSubmitPU
//! always, the others under DenyOnLimit), then what keeps a job pending
//! (partition limits otherwise, then `acct_policy.c`'s checks before node selection — GrpJobs,
//! MaxJobsPA, MaxJobsPU, MaxWall —, nodes out of service (down, drained, or reserved before the
//! job would end), the checks after node selection — GrpTRESMins, GrpTRES, GrpTRESRunMins,
//! MaxTRESMins, MaxTRESPerJob, MaxTRESPerNode, MinTRES, MaxTRESPA, MaxTRESPU, each TRES in
//! Slurm's order, partition QOS before job QOS), then free nodes; a partition set DOWN moves
//! some of these (`rules::Ctx::run`). The first rule that fires is the reason Slurm gives; the
//! others are listed as limits the job also exceeds.

mod array;
mod describe;
mod expected_start;
mod index;
mod limit_room;
mod oversubscribe;
mod preemption;
mod queue_ahead;
mod reason;
mod reserved;
mod rules;
pub mod test_only;
mod usage;
pub mod words;

#[cfg(test)]
mod replay_tests;
#[cfg(test)]
mod test_states;

pub use array::{ArrayPlan, Throttle, Timeline, assess_array, of_queued_array, throttle};
pub use expected_start::{ExpectedStart, QueuedAhead, while_pending};
pub use index::StateIndex;
pub use reason::{Holder, LimitCode, Reason, Scope};
pub use reserved::HIDDEN as RESERVATIONS_HIDDEN;

use crate::slurm::assoc_mgr::LimitUse;
use crate::slurm::config::SiteConfig;
use crate::slurm::constraint::Constraint;
use crate::slurm::hostlist::HostList;
use crate::slurm::sacctmgr::{AccountLimits, Association, Qos};
use crate::slurm::scontrol::{Partition, Reservation};
use crate::slurm::sinfo::NodeRow;
use crate::slurm::squeue::QueuedJob;

/// What the job asks for (kept in `run.json`, so that a run submitted again is checked again).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Request {
    pub partition: String,
    pub qos: Option<String>,
    pub account: Option<String>,
    /// The reservation the job asks to run in (`--reservation`).
    #[serde(default)]
    pub reservation: Option<String>,
    pub gpus: u64,
    /// `a30` for `--gres=gpu:a30:N`; `None` for any type.
    pub gpu_type: Option<String>,
    pub cpus: u64,
    pub mem_mib: Option<u64>,
    pub time_seconds: u64,
    /// Jobs this submission makes: 1, or a job array's task count (each counts toward
    /// MaxSubmitPU at submit, as Slurm counts them).
    pub tasks: u64,
    /// The node features the job needs (`--constraint`); `None` for any node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constraint: Option<Constraint>,
    /// The one node the job asks to run on (`--nodelist`); `None` for any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodelist: Option<String>,
    /// Nodes the job keeps off (`--exclude`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclude: Option<HostList>,
    /// A whole node to itself (`--exclusive`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub exclusive: bool,
}

impl Request {
    /// A request of `cpus` CPUs for `seconds` in `partition`, and nothing else: what tests
    /// build their requests from.
    #[cfg(test)]
    pub(crate) fn plain(partition: &str, cpus: u64, seconds: u64) -> Request {
        Request {
            partition: partition.into(),
            qos: None,
            account: None,
            reservation: None,
            gpus: 0,
            gpu_type: None,
            cpus,
            mem_mib: None,
            time_seconds: seconds,
            tasks: 1,
            constraint: None,
            nodelist: None,
            exclude: None,
            exclusive: false,
        }
    }

    /// Whether its nodelist and exclude leave it `node` (features aside).
    pub fn may_use(&self, node: &str) -> bool {
        self.nodelist.as_deref().is_none_or(|n| n == node)
            && self.exclude.as_ref().is_none_or(|x| !x.contains(node))
    }

    /// ` named yj1`, ` with features ampere&ib`, ` other than yj2`: which of a partition's
    /// nodes the job may run on, said after "every node of partition gpu"; empty for all.
    pub fn which_nodes(&self) -> String {
        let mut words = String::new();
        if let Some(node) = &self.nodelist {
            words.push_str(&format!(" named {node}"));
        }
        if let Some(c) = &self.constraint {
            words.push_str(&format!(" with features {c}"));
        }
        if let Some(x) = &self.exclude {
            words.push_str(&format!(" other than {x}"));
        }
        words
    }
}

/// Everything the verdict depends on.
#[derive(Debug, Clone, Default)]
pub struct ClusterState {
    pub user: String,
    /// The user's Unix groups, for a partition's AllowGroups; `None` when unknown.
    pub groups: Option<Vec<String>>,
    /// The account a job goes to without `--account`.
    pub default_account: Option<String>,
    pub config: SiteConfig,
    pub partitions: Vec<Partition>,
    pub nodes: Vec<NodeRow>,
    pub qos: Vec<Qos>,
    /// The current user's associations.
    pub associations: Vec<Association>,
    /// Every account's own limits, shared by its users and sub-accounts.
    pub accounts: Vec<AccountLimits>,
    /// Pending and running jobs of every user.
    pub queue: Vec<QueuedJob>,
    /// What the controller counts against the GrpTRESMins and GrpTRESRunMins of each QOS and
    /// of the user's associations and accounts; empty when none has them, or the counters
    /// could not be read.
    pub limit_use: Vec<LimitUse>,
    /// Reservations ahead or active: the nodes or cores they keep are off limits to this job
    /// while they last (`reserved`).
    pub reservations: Vec<Reservation>,
    /// The local time the state was read (`slurm::clock`); `None` leaves reservations ahead
    /// out of the verdict.
    pub now: Option<i64>,
    /// Which jobs run on which node, worked out from the fields above when first needed;
    /// `StateIndex::default()` when building a state.
    pub index: StateIndex,
    /// What could not be read, a line each with why (`QOS limits not checked (...)`): the
    /// verdict weighs the rest, and names these beside it.
    pub not_read: Vec<String>,
}

impl ClusterState {
    pub fn partition(&self, name: &str) -> Option<&Partition> {
        self.partitions.iter().find(|p| p.name == name)
    }

    pub fn nodes_of<'a>(&'a self, partition: &'a str) -> impl Iterator<Item = &'a NodeRow> + 'a {
        self.nodes.iter().filter(move |n| n.partition == partition)
    }

    /// The nodes of `req`'s partition that its nodelist and exclude leave it and that have
    /// the features it asks for: the ones it may run on.
    pub fn nodes_for<'a>(&'a self, req: &'a Request) -> impl Iterator<Item = &'a NodeRow> + 'a {
        self.nodes_of(&req.partition)
            .filter(move |n| req.may_use(&n.node) && n.has_features(req.constraint.as_ref()))
    }

    /// Whether squeue hides other users' jobs from this user (PrivateData=jobs; root sees
    /// every job): the limits they share then count from the controller's counts.
    pub fn jobs_hidden(&self) -> bool {
        self.config.hides_jobs_from(&self.user)
    }

    pub fn qos_named(&self, name: &str) -> Option<&Qos> {
        self.qos.iter().find(|q| q.name == name)
    }

    pub fn reservation_named(&self, name: &str) -> Option<&Reservation> {
        self.reservations.iter().find(|r| r.name == name)
    }

    /// Whether `req` of this user may join the jobs on `node` in `partition`: a job that asks
    /// for a whole node (`--exclusive`), or of a partition that gives jobs whole nodes
    /// (OverSubscribe=EXCLUSIVE), needs a node without jobs, and one of a partition with
    /// ExclusiveUser a node without other users' jobs.
    pub fn may_share(&self, node: &NodeRow, partition: &Partition, req: &Request) -> bool {
        let busy = node.cpus_allocated > 0 || node.gpus_used > 0;
        let whole_node = partition.whole_nodes() || req.exclusive;
        let others_here = || self.running_on(node).any(|(j, _)| j.user != self.user);
        !(whole_node && busy || partition.exclusive_user && others_here())
    }
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
    pub reason: Option<Reason>,
    /// One plain sentence with the numbers; it starts with the setting that decided a
    /// borderline case ("EnforcePartLimits is NO: ...").
    pub message: String,
    /// A pending job that can never start as asked (over a time or per-job limit).
    pub never_starts: bool,
    /// Other limits the job exceeds too, in the order Slurm would report them next.
    pub also: Vec<String>,
    /// A job that waits for running jobs to end: when room for it opens by their time
    /// limits (what `sbatch --test-only` says).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_start: Option<ExpectedStart>,
    /// What was looked at, one line each.
    pub facts: Vec<String>,
    /// A job array: how many tasks start now, why the rest wait, and its throttle.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub array: Option<ArrayPlan>,
    /// What the verdict could not weigh because Slurm did not tell (its `not_read`): a
    /// verdict of "starts now" with QOS limits unread may still pend.
    pub not_checked: Vec<String>,
}

impl Verdict {
    /// Refused at submit, or accepted only to pend forever: either way it will never run as
    /// asked, so `submit` sends it only with `--force` and `check` exits 2.
    pub fn never_runs(&self) -> bool {
        self.outcome == Outcome::Rejected || self.never_starts
    }

    /// The headline: `WILL START NOW`, `WILL PEND (QOSMaxGRESPerUser)`, `WILL BE REJECTED (...)`.
    pub fn headline(&self) -> String {
        match (&self.outcome, &self.reason) {
            (Outcome::StartsNow, _) => match &self.array {
                Some(a) if a.start_now < a.tasks => {
                    format!("WILL START {} OF {} TASKS NOW", a.start_now, a.tasks)
                }
                Some(a) => format!("WILL START ALL {} TASKS NOW", a.tasks),
                None => "WILL START NOW".to_string(),
            },
            (Outcome::Pends, Some(r)) if self.never_starts => format!("WILL PEND FOREVER ({r})"),
            (Outcome::Pends, Some(r)) => format!("WILL PEND ({r})"),
            (Outcome::Pends, None) => "WILL PEND".to_string(),
            (Outcome::Rejected, Some(r)) => format!("WILL BE REJECTED ({r})"),
            (Outcome::Rejected, None) => "WILL BE REJECTED".to_string(),
        }
    }
}

pub fn assess(req: &Request, state: &ClusterState) -> Verdict {
    let found = rules::findings(req, state);
    // A job that waits now and would then wait forever (over a time limit, say, behind a
    // down partition) never starts either.
    let forever = found
        .iter()
        .any(|f| f.effect == rules::Effect::PendsForever);
    let expected_start = state.expected_start_of(req, &found);
    let mut findings = found.into_iter();
    let mut verdict = match findings.next() {
        None => Verdict {
            outcome: Outcome::StartsNow,
            reason: None,
            message: rules::room_message(req, state),
            never_starts: false,
            also: Vec::new(),
            expected_start: None,
            facts: Vec::new(),
            array: None,
            not_checked: Vec::new(),
        },
        Some(first) if let Some(ahead) = behind_a_failed_partition(req, state, &first) => {
            let also = std::iter::once(first).chain(findings);
            Verdict {
                outcome: Outcome::Pends,
                reason: Some(Reason::Priority),
                message: format!(
                    "job {} ({}), queued ahead of this one, has no room on the nodes of partition {} now, so Slurm's scheduler starts no job of the partition behind it and gives Priority as the reason",
                    ahead.id, ahead.user, req.partition
                ),
                expected_start,
                never_starts: forever,
                also: also
                    .filter(|f| f.is_limit())
                    .map(|f| format!("{} ({})", f.message, f.reason))
                    .collect(),
                facts: Vec::new(),
                array: None,
                not_checked: Vec::new(),
            }
        }
        Some(first) => {
            let (outcome, never_starts) = match first.effect {
                rules::Effect::Refused => (Outcome::Rejected, false),
                rules::Effect::Pends => (Outcome::Pends, forever),
                rules::Effect::PendsForever => (Outcome::Pends, true),
            };
            // A whole-node job's limits count what its node has, not what it asked for.
            let whole_node = match first.reason {
                Reason::Limit(_) if req.exclusive => {
                    " (it asks for a node of its own, `exclusive`, and Slurm gives it every CPU and GPU of the node, which the limits count)"
                }
                _ => "",
            };
            Verdict {
                outcome,
                reason: Some(first.reason),
                message: first.sentence() + whole_node,
                expected_start,
                never_starts,
                also: findings
                    .filter(|f| f.is_limit())
                    .filter(|f| f.reason != first.reason || f.message != first.message)
                    .map(|f| format!("{} ({})", f.message, f.reason))
                    .collect(),
                facts: Vec::new(),
                array: None,
                not_checked: Vec::new(),
            }
        }
    };
    verdict.facts = describe::facts(req, state);
    verdict.not_checked = state.not_read.clone();
    verdict
        .not_checked
        .extend(usage::counts_kept_from_user(req, state));
    if verdict.outcome != Outcome::Rejected {
        verdict
            .not_checked
            .extend(queue_ahead::hidden_pending(req, state));
        verdict.not_checked.extend(reserved::hidden(state));
    }
    verdict
}

/// The job queued ahead behind which a job that a TRES limit keeps pending gets Priority
/// instead: Slurm's main scheduler gives Priority to a job without a reason behind a job it
/// found no nodes for, before it weighs that job's own limits; the backfill scheduler, which
/// would weigh them, does not start a job over its limits, so Priority stays (as captured).
/// Not an array: its waiting tasks kept their limit's reason behind such a job (captured,
/// `plain-gpus-per-user-queued-first-no-room-array`).
fn behind_a_failed_partition<'a>(
    req: &Request,
    state: &'a ClusterState,
    first: &rules::Finding,
) -> Option<&'a QueuedJob> {
    let tres_limit = match first.reason {
        Reason::Limit(code) => LimitCode::holds_tres(code.as_str()),
        _ => false,
    };
    (tres_limit && first.effect == rules::Effect::Pends && req.tasks == 1)
        .then(|| state.failing_the_partition(req))
        .flatten()
}
