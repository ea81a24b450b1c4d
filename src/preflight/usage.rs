//! What a request asks for and what jobs already hold, counted the way Slurm's accounting
//! policy counts them: running jobs hold TRES and count toward MaxJobs; pending ones count
//! toward MaxSubmit only; a job counts under its own QOS and under its partition's QOS; a
//! typed GPU allocation counts once toward `gres/gpu` and once toward `gres/gpu:TYPE`.

use std::collections::HashSet;

use crate::slurm::assoc_mgr::{JobCounts, LimitUse, Owner};
use crate::slurm::duration::SlurmTime;
use crate::slurm::sacctmgr::{AccountLimits, Association, Qos};
use crate::slurm::sinfo::NodeRow;
use crate::slurm::squeue::QueuedJob;
use crate::slurm::state::JobState;
use crate::slurm::tres::Tres;

use super::limit_room::Counted;
use super::{ClusterState, Request};

/// The TRES Slurm sets for the request (`tres_req_cnt`): cpu, mem (asked, or the default per
/// CPU), node, and GPUs under `gres/gpu` plus their type. An untyped request on a partition
/// whose nodes have one GPU type counts toward that type too, as it does once Slurm has
/// picked the node. A whole-node job counts what its node has (`whole_node_tres`).
pub fn requested(req: &Request, state: &ClusterState) -> Tres {
    if req.exclusive
        && let Some(node) = whole_node_for(req, state)
    {
        return whole_node_tres(req, state, node);
    }
    let mut t = Tres::default();
    t.0.insert("cpu".into(), cpus_of(req, state));
    if let Some(mem) = memory_of(req, state) {
        t.0.insert("mem".into(), mem);
    }
    t.0.insert("node".into(), 1);
    if req.gpus > 0 {
        t.0.insert("gres/gpu".into(), req.gpus);
        let gpu_type = req.gpu_type.clone().or_else(|| only_gpu_type(req, state));
        if let Some(ty) = gpu_type {
            t.0.insert(format!("gres/gpu:{ty}"), req.gpus);
        }
    }
    t
}

/// The node a whole-node job (`--exclusive`) is expected to get: the first it may use that is
/// open and runs no jobs, else the first it may use.
pub fn whole_node_for<'a>(req: &'a Request, state: &'a ClusterState) -> Option<&'a NodeRow> {
    let idle = |n: &&NodeRow| n.cpus_allocated == 0 && n.gpus_used == 0;
    state
        .nodes_for(req)
        .find(|n| idle(n) && state.node_open(n, req))
        .or_else(|| state.nodes_for(req).next())
}

/// What Slurm gives a whole-node job once it has the node, as captured: every CPU and GPU of
/// the node (each GPU type too), and the memory asked for, else the default per CPU for
/// every CPU.
pub fn whole_node_tres(req: &Request, state: &ClusterState, node: &NodeRow) -> Tres {
    let mut t = Tres::default();
    t.0.insert("cpu".into(), node.cpus_total);
    let whole = Request {
        cpus: node.cpus_total,
        ..req.clone()
    };
    if let Some(mem) = memory_of(&whole, state) {
        t.0.insert("mem".into(), mem);
    }
    t.0.insert("node".into(), 1);
    if node.gpus_total > 0 {
        t.0.insert("gres/gpu".into(), node.gpus_total);
        for (ty, count) in &node.gpu_types {
            t.0.insert(format!("gres/gpu:{ty}"), *count);
        }
    }
    t
}

/// CPUs the job will get: what it asks for, or more on a partition with MaxMemPerCPU, where
/// Slurm gives a job asking for more memory per CPU as many CPUs as its memory needs.
pub fn cpus_of(req: &Request, state: &ClusterState) -> u64 {
    let per_cpu = state
        .partition(&req.partition)
        .and_then(|p| p.max_mem_per_cpu_mib)
        .filter(|m| *m > 0);
    match (per_cpu, memory_of(req, state)) {
        (Some(per_cpu), Some(mem)) => req.cpus.max(mem.div_ceil(per_cpu)),
        _ => req.cpus,
    }
}

/// Memory the job will get: what it asks for, else the partition's or the site's default.
pub fn memory_of(req: &Request, state: &ClusterState) -> Option<u64> {
    if req.mem_mib.is_some() {
        return req.mem_mib;
    }
    let per_cpu = state
        .partition(&req.partition)
        .and_then(|p| p.def_mem_per_cpu_mib)
        .or(state.config.def_mem_per_cpu_mib);
    per_cpu
        .map(|m| m * req.cpus)
        .or(state.config.def_mem_per_node_mib)
}

fn only_gpu_type(req: &Request, state: &ClusterState) -> Option<String> {
    let mut types = state
        .nodes_of(&req.partition)
        .flat_map(|n| n.gpu_types.keys().cloned())
        .collect::<Vec<_>>();
    types.sort();
    types.dedup();
    (types.len() == 1).then(|| types.remove(0))
}

/// What the jobs under one QOS hold.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Held {
    /// TRES of the running jobs.
    pub tres: Tres,
    pub running_jobs: u64,
    /// Pending and running jobs (array tasks one each).
    pub submitted_jobs: u64,
    /// Of the above, what jobs not shown to the user hold (`ClusterState::jobs_hidden`):
    /// the controller's count beyond what squeue shows. No end of theirs is known.
    pub unseen: Unseen,
}

/// What the controller counts under a limit beyond the jobs the user can see.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Unseen {
    pub tres: Tres,
    pub running_jobs: u64,
    pub submitted_jobs: u64,
}

impl Unseen {
    /// Of a count of `counted`, what no job the user sees holds.
    pub fn of(&self, counted: &Counted) -> u64 {
        match counted {
            Counted::Jobs => self.running_jobs,
            Counted::Tres(tres) => self.tres.get(tres).unwrap_or(0),
            Counted::RunMinutes(_) => 0,
        }
    }
}

impl Held {
    fn add(&mut self, job: &QueuedJob) {
        let tasks = job.task_count();
        self.submitted_jobs += tasks;
        if is_running(job) {
            self.running_jobs += 1;
            self.tres.add(&job.tres);
        }
    }
}

fn is_running(job: &QueuedJob) -> bool {
    matches!(job.state, JobState::Running | JobState::Completing)
}

/// Whether `job` counts against QOS `q`: as its job QOS or as its partition's QOS.
pub fn counts_under(job: &QueuedJob, q: &Qos, state: &ClusterState) -> bool {
    job.qos == q.name
        || state
            .partition(&job.partition)
            .is_some_and(|p| p.qos.as_deref() == Some(q.name.as_str()))
}

/// What the jobs `keep` picks hold.
fn held_where(state: &ClusterState, keep: impl Fn(&QueuedJob) -> bool) -> Held {
    let mut held = Held::default();
    for job in state.queue.iter().filter(|j| keep(j)) {
        held.add(job);
    }
    held
}

/// What the current user holds under `q`.
pub fn held_by_user(q: &Qos, state: &ClusterState) -> Held {
    held_where(state, |j| counts_for_user(j, q, state))
}

/// Whether `job` is the current user's and counts toward `q`'s per-user limits.
pub fn counts_for_user(job: &QueuedJob, q: &Qos, state: &ClusterState) -> bool {
    job.user == state.user && counts_under(job, q, state)
}

/// What the jobs of `account` hold under `q`, every user's together (MaxTRESPA, MaxJobsPA,
/// MaxSubmitPA). Slurm counts the account the job runs under, not its sub-accounts.
pub fn held_by_account(q: &Qos, account: &str, state: &ClusterState) -> Held {
    let shown = held_where(state, |j| counts_for_account(j, q, account, state));
    let counted = MinutesOf::Qos(q)
        .counted(state)
        .map(|u| u.per_account.get(account).cloned().unwrap_or_default());
    with_unseen(shown, counted.as_ref(), state)
}

/// Whether `job` runs under `account` and counts toward `q`'s per-account limits.
pub fn counts_for_account(job: &QueuedJob, q: &Qos, account: &str, state: &ClusterState) -> bool {
    job.account.as_deref() == Some(account) && counts_under(job, q, state)
}

/// What every user together holds under `q` (GrpTRES, GrpJobs).
pub fn held_by_all(q: &Qos, state: &ClusterState) -> Held {
    let shown = held_where(state, |j| counts_under(j, q, state));
    with_unseen(
        shown,
        MinutesOf::Qos(q).counted(state).map(|u| &u.held),
        state,
    )
}

/// `shown`, what squeue's jobs hold, raised to the controller's counts where other users'
/// jobs are hidden and the counts were read (`scontrol show assoc_mgr`): as nobody under
/// PrivateData=jobs, squeue showed no job where the controller counted root's 3 GPUs
/// (`plain-private-group-gpus-hidden`).
fn with_unseen(mut shown: Held, counted: Option<&JobCounts>, state: &ClusterState) -> Held {
    if !state.jobs_hidden() {
        return shown;
    }
    let Some(counted) = counted else {
        return shown;
    };
    let mut unseen = Unseen::default();
    for (tres, &count) in &counted.tres.0 {
        let seen = shown.tres.get(tres).unwrap_or(0);
        if count > seen {
            unseen.tres.0.insert(tres.clone(), count - seen);
            shown.tres.0.insert(tres.clone(), count);
        }
    }
    unseen.running_jobs = counted.running_jobs.saturating_sub(shown.running_jobs);
    unseen.submitted_jobs = counted.submitted_jobs.saturating_sub(shown.submitted_jobs);
    shown.running_jobs += unseen.running_jobs;
    shown.submitted_jobs += unseen.submitted_jobs;
    shown.unseen = unseen;
    shown
}

/// Whose TRES-minutes limits: a QOS, the user's association, or an account's own row.
#[derive(Debug, Clone, Copy)]
pub enum MinutesOf<'a> {
    Qos(&'a Qos),
    Association(&'a Association),
    Account(&'a str),
}

impl MinutesOf<'_> {
    /// The controller's counters for these limits, if they were read.
    fn counted<'s>(&self, state: &'s ClusterState) -> Option<&'s LimitUse> {
        state.limit_use.iter().find(|u| match (self, &u.owner) {
            (MinutesOf::Qos(q), Owner::Qos(name)) => q.name == *name,
            (
                MinutesOf::Association(a),
                Owner::Association {
                    account,
                    user,
                    partition,
                },
            ) => {
                user.as_deref() == Some(state.user.as_str())
                    && *account == a.account
                    && *partition == a.partition
            }
            (
                MinutesOf::Account(name),
                Owner::Association {
                    account,
                    user: None,
                    ..
                },
            ) => account == name,
            _ => false,
        })
    }
}

/// The TRES-minutes the running jobs under `of` hold (GrpTRESRunMins): the controller's own
/// count when it was read, else their shares (`run_minutes_shares`).
pub fn run_minutes_held(of: MinutesOf, state: &ClusterState) -> Tres {
    match of.counted(state) {
        Some(counted) => counted.tres_run_mins.clone(),
        None => run_minutes_shares(of, state),
    }
}

/// The TRES-minutes of the running jobs under `of` that the controller counts, each job's
/// share as `run_seconds_counted` tells.
pub fn run_minutes_shares(of: MinutesOf, state: &ClusterState) -> Tres {
    let counts = counts_under_minutes(of, state);
    let decays = state.config.multifactor_priority;
    let mut seconds = Tres::default();
    for job in state.queue.iter().filter(|j| is_running(j) && counts(j)) {
        let Some(counted) = run_seconds_counted(job, decays) else {
            continue;
        };
        for (tres, count) in &job.tres.0 {
            *seconds.0.entry(tres.clone()).or_default() += count * counted;
        }
    }
    Tres(seconds.0.into_iter().map(|(t, s)| (t, s / 60)).collect())
}

/// The seconds of a running job that GrpTRESRunMins counts, times each of its TRES: under
/// priority/basic its whole time limit, until it ends (captured run out,
/// `plain-qos-run-minutes-run-out`: the job the limit held started as the job under it
/// reached its time limit, not as it ran down); where the priority decays
/// (priority/multifactor), what is left of it, lowered at each decay. `None` for a job
/// without a time limit.
fn run_seconds_counted(job: &QueuedJob, decays: bool) -> Option<u64> {
    let limit = job.time_limit.seconds()?;
    Some(match decays {
        true => limit.saturating_sub(job.elapsed.seconds().unwrap_or(0)),
        false => limit,
    })
}

/// Whether a job counts under `of`'s TRES-minutes limits: a QOS's jobs, the user's in the
/// association, or those of the account and the accounts within it.
pub fn counts_under_minutes<'s>(
    of: MinutesOf<'s>,
    state: &'s ClusterState,
) -> impl Fn(&QueuedJob) -> bool + 's {
    let within = match of {
        MinutesOf::Account(account) => accounts_within(account, state),
        _ => HashSet::new(),
    };
    move |job: &QueuedJob| match of {
        MinutesOf::Qos(q) => counts_under(job, q, state),
        MinutesOf::Association(a) => under_association(job, a, state),
        MinutesOf::Account(_) => job.account.as_deref().is_some_and(|a| within.contains(a)),
    }
}

/// The wall time used under `of` so far (GrpWall), in minutes, as the controller counts it;
/// `None` when its counters were not read.
pub fn wall_minutes_used(of: MinutesOf, state: &ClusterState) -> Option<u64> {
    of.counted(state).map(|u| u.wall_minutes_used)
}

/// The TRES-minutes used under `of` so far (GrpTRESMins), as the controller counts them;
/// `None` when its counters were not read.
pub fn minutes_used<'s>(of: MinutesOf, state: &'s ClusterState) -> Option<&'s Tres> {
    of.counted(state).map(|u| &u.tres_mins_used)
}

/// The limits of `req`'s accounts that the controller's counts were read for and did not
/// show: under PrivateData=usage it shows a user no account's own row, only their
/// association's (captured as `nobody`, `plain-private-usage-account-jobs-hidden`). The
/// account's GrpTRESMins and GrpWall need those counts; where jobs are hidden too, its
/// GrpTRES, GrpJobs, GrpSubmit and GrpTRESRunMins do. A line for `not_checked` each.
pub fn counts_kept_from_user(req: &Request, state: &ClusterState) -> Vec<String> {
    // Not read at all: none was needed, or the failure is named already.
    if state.limit_use.is_empty() {
        return Vec::new();
    }
    let Some(account) = account_of(req, state) else {
        return Vec::new();
    };
    let hidden = state.jobs_hidden();
    let mut lines = Vec::new();
    for a in account_chain(account, state) {
        if MinutesOf::Account(&a.account).counted(state).is_some() {
            continue;
        }
        let set = |limits: &[(&'static str, bool)]| -> Vec<&'static str> {
            limits
                .iter()
                .filter(|(_, needs)| *needs)
                .map(|(name, _)| *name)
                .collect()
        };
        // Counted from the QOS's counts per account (`least_in_account`).
        let bounded = set(&[
            ("GrpTRES", hidden && !a.grp_tres.is_empty()),
            ("GrpJobs", hidden && a.grp_jobs.is_some()),
            ("GrpSubmit", hidden && a.grp_submit.is_some()),
        ]);
        let unchecked = set(&[
            ("GrpTRESMins", !a.minutes.grp_tres_mins.is_empty()),
            (
                "GrpTRESRunMins",
                hidden && !a.minutes.grp_tres_run_mins.is_empty(),
            ),
            ("GrpWall", a.grp_wall != SlurmTime::NotSet),
        ]);
        const WHY: &str = "the controller does not show you the account's counts (the cluster's PrivateData=usage)";
        if !bounded.is_empty() {
            lines.push(format!(
                "account {}'s {} weighed from what its jobs hold under the one QOS where they hold most, which may be short of its count: {WHY}",
                a.account,
                bounded.join(", ")
            ));
        }
        if !unchecked.is_empty() {
            lines.push(format!(
                "account {}'s {} not checked: {WHY}",
                a.account,
                unchecked.join(", ")
            ));
        }
    }
    lines
}

/// The current user's association for a job of `account` (any, when unknown) in `partition`:
/// the one for that partition if there is one, else the account's, as Slurm picks it.
pub fn association_for<'a>(
    account: Option<&str>,
    partition: &str,
    state: &'a ClusterState,
) -> Option<&'a Association> {
    let candidates: Vec<&Association> = state
        .associations
        .iter()
        .filter(|a| a.user == state.user)
        .filter(|a| account.is_none_or(|acct| a.account == acct))
        .collect();
    candidates
        .iter()
        .find(|a| a.partition == partition)
        .or_else(|| candidates.iter().find(|a| a.partition.is_empty()))
        .copied()
}

/// What the current user's jobs under association `a` hold (its MaxJobs, MaxSubmit, GrpTRES):
/// jobs of another account, or of a partition with an association of its own, count apart.
/// When the jobs' accounts were not read (the user has one association, or none with
/// limits), every job of the user counts.
pub fn held_by_association(a: &Association, state: &ClusterState) -> Held {
    held_where(state, |j| under_association(j, a, state))
}

/// Whether `job` is the current user's and counts toward association `a`'s limits.
pub fn under_association(job: &QueuedJob, a: &Association, state: &ClusterState) -> bool {
    job.user == state.user
        && match &job.account {
            None => true,
            Some(account) => association_for(Some(account), &job.partition, state)
                .is_some_and(|b| b.account == a.account && b.partition == a.partition),
        }
}

/// The account a job runs under: the request's, else the user's default.
pub fn account_of<'a>(req: &'a Request, state: &'a ClusterState) -> Option<&'a str> {
    req.account.as_deref().or(state.default_account.as_deref())
}

/// `account`'s own row and its parents' up to the root, nearest first.
pub fn account_chain<'a>(account: &str, state: &'a ClusterState) -> Vec<&'a AccountLimits> {
    let mut chain: Vec<&AccountLimits> = Vec::new();
    let mut next = Some(account.to_string());
    while let Some(name) = next {
        let Some(row) = state.accounts.iter().find(|a| a.account == name) else {
            break;
        };
        // A cycle cannot happen in Slurm's tree; stop rather than loop if it ever does.
        if chain.iter().any(|a| a.account == row.account) {
            break;
        }
        chain.push(row);
        next = row.parent.clone();
    }
    chain
}

/// What the jobs of `account` and of its sub-accounts hold, every user's together.
pub fn held_in_account(account: &str, state: &ClusterState) -> Held {
    let shown = held_where(state, in_account(account, state));
    let counted = match MinutesOf::Account(account).counted(state) {
        Some(u) => Some(u.held.clone()),
        None => least_in_account(account, state),
    };
    with_unseen(shown, counted.as_ref(), state)
}

/// Where the controller does not show an account's own counts (PrivateData=usage), what its
/// jobs and its sub-accounts' hold under the one QOS where they hold most, from each QOS's
/// counts per account, which it does show: each job counts under its QOS, so the account
/// holds at least that. `None` where no counts were read.
fn least_in_account(account: &str, state: &ClusterState) -> Option<JobCounts> {
    if state.limit_use.is_empty() {
        return None;
    }
    let within = accounts_within(account, state);
    let mut least = JobCounts::default();
    for u in &state.limit_use {
        let mut under_qos = JobCounts::default();
        for (_, counts) in u
            .per_account
            .iter()
            .filter(|(a, _)| within.contains(a.as_str()))
        {
            under_qos.add(counts);
        }
        least.raise_to(&under_qos);
    }
    Some(least)
}

/// Whether a job runs under `account` or one of its sub-accounts (an account's GrpJobs and
/// GrpTRES).
pub fn in_account<'s>(account: &str, state: &'s ClusterState) -> impl Fn(&QueuedJob) -> bool + 's {
    let within = accounts_within(account, state);
    move |j| j.account.as_deref().is_some_and(|a| within.contains(a))
}

/// `account` and its sub-accounts, each found once rather than once a job: a large queue's
/// jobs run under a few dozen accounts.
fn accounts_within<'a>(account: &str, state: &'a ClusterState) -> HashSet<&'a str> {
    state
        .accounts
        .iter()
        .filter(|row| {
            account_chain(&row.account, state)
                .iter()
                .any(|up| up.account == account)
        })
        .map(|row| row.account.as_str())
        .collect()
}
