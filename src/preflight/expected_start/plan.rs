//! Where and when the backfill scheduler would start a job that waits for nodes
//! (backfill.c `_attempt_backfill`): the jobs queued ahead keep the nodes they are expected
//! on, whole, while they would run; on the nodes left, Slurm's will-run test (select/cons_tres
//! `_will_run_test`, what `sbatch --test-only` runs) finds the first time one has room as the
//! running jobs and reservations there end.

use std::borrow::Cow;
use std::collections::HashMap;

use super::{ExpectedStart, QueuedAhead};
use crate::preflight::queue_ahead::{
    Holding, LetIn, Need, counted_type, fits, gpus_held, node_seen_as,
};
use crate::preflight::reserved::Kept;
use crate::preflight::{ClusterState, Request, oversubscribe, usage};
use crate::slurm::hostlist;
use crate::slurm::scontrol::Partition;
use crate::slurm::sinfo::NodeRow;
use crate::slurm::state::JobState;

impl ClusterState {
    /// When `req` (`cpus` CPUs on one node) is expected to start on one of `usable`, the
    /// nodes it may use, worked out as Slurm's backfill scheduler plans it:
    /// - the jobs queued ahead (of a PriorityTier as high or higher) keep the nodes they are
    ///   expected on, whole, from their start to their time limit (`queue_ahead::QueuePlan`);
    ///   this job takes a node none of them keeps while it would run, and where there is none
    ///   it tries again from when one of theirs ends (backfill.c's `TRY_LATER`);
    /// - on the nodes left, Slurm's will-run test (select/cons_tres `_will_run_test`) takes
    ///   the running jobs off in the order they end, in groups of those that end within a
    ///   window of the group's first (30 s, doubled after each group), and after each group
    ///   the first node with room takes the job, at the group's last end;
    /// - a reservation holds the cores (or the whole node) it keeps until it ends, from a job
    ///   that would run into it;
    /// - a job in a reservation of some cores runs on those alone, beside the other jobs in
    ///   it;
    /// - jobs queued first that limits let in later (`let_in`, see `limits`) hold their nodes
    ///   from then: the job may start before one of them, as the backfill scheduler keeps no
    ///   node for a job a limit holds;
    /// - in a partition kept to one user at a time (ExclusiveUser), another user's job keeps
    ///   its node whole until it ends.
    ///
    /// On a node with GPUs of several types, a job that asks for one type counts that type's
    /// GPUs alone, and what each job there holds of them (its TRES says, where accounting
    /// tracks the types).
    ///
    /// `None` where something this does not weigh would decide it too: a reservation
    /// without an end, a job on a node with GPUs of several types whose TRES does not say
    /// which it holds, or a job past its time limit that still runs.
    pub fn expected_start(
        &self,
        req: &Request,
        cpus: u64,
        usable: &[&NodeRow],
    ) -> Option<ExpectedStart> {
        let now = self.now?;
        self.expected_start_after(req, cpus, usable, &HeldBack::until(now))
    }

    /// `expected_start` for a job `held_back` until some time: a task of an array that waits
    /// for one of its own to end (its throttle), or a job that waits for one of the user's
    /// jobs to (MaxJobsPU), behind the jobs queued first that those limits let in first.
    pub(in crate::preflight) fn expected_start_after(
        &self,
        req: &Request,
        cpus: u64,
        usable: &[&NodeRow],
        held_back: &HeldBack,
    ) -> Option<ExpectedStart> {
        let not_before = held_back.not_before;
        let now = self.now?;
        let partition = self.partition(&req.partition)?;
        // A typed request weighs the nodes with as many GPUs of its type, and those only
        // where they are of that type alone: their GPUs are the node's GPUs.
        let typed = |n: &&NodeRow| {
            req.gpu_type
                .as_deref()
                .is_none_or(|t| n.gpus_of(Some(t)) >= req.gpus)
        };
        let usable: Vec<&NodeRow> = usable.iter().copied().filter(typed).collect();
        let weighed = Weighed::of(self, partition, req, cpus, &usable, held_back, now)?;
        let job_seconds = weighed.job_seconds;
        // Backfill's attempts: from `start_res`, on the nodes no job ahead keeps over the
        // job's time limit. Each attempt that fails starts later, so they come to an end;
        // the cap only guards against a plan that never lets the job in.
        let mut start_res = not_before.max(now);
        for _ in 0..MAX_ATTEMPTS {
            let until = start_res.saturating_add(job_seconds);
            let open: Vec<bool> = weighed
                .kept
                .iter()
                .map(|kept| {
                    !kept
                        .iter()
                        .any(|&(from, to)| to > start_res && from <= until)
                })
                .collect();
            let later = weighed.first_reopening(&open, start_res);
            if !open.contains(&true) {
                start_res = later?;
                continue;
            }
            let gone_by_then = held_back.by_limits && start_res == not_before;
            match weighed.will_run(&open, start_res, gone_by_then) {
                WillRun::At { at, on, ended } => {
                    // A node that opens before it would start may let it start sooner.
                    if let Some(later) = later
                        && at > later
                    {
                        start_res = later;
                        continue;
                    }
                    // Where it would start later than tried, a job ahead may keep the node
                    // then: try again from there.
                    let (from, to) = backfill_span(at, Some(at.saturating_add(job_seconds)));
                    if at > now
                        && at > start_res
                        && weighed.kept[on]
                            .iter()
                            .any(|&(kept_from, kept_to)| kept_from < to && from < kept_to)
                    {
                        start_res = at;
                        continue;
                    }
                    return Some(weighed.start_at(self, at, on, ended));
                }
                WillRun::Never { ended } => match later {
                    Some(later) => start_res = later,
                    // What is left never ends: jobs without a time limit (a reservation
                    // without an end gave up above).
                    None => return weighed.not_known(ended),
                },
                WillRun::PastLimit => return None,
            }
        }
        None
    }
}

/// What holds a job back before the nodes do.
pub(in crate::preflight) struct HeldBack<'a> {
    /// It starts no sooner than this.
    pub not_before: i64,
    /// Its limits, rather than the backfill scheduler, let it in at `not_before`: Slurm's
    /// main scheduler starts it then on a node with room, the jobs that ended by then gone.
    pub by_limits: bool,
    /// The jobs queued first that its limits let in first (`ClusterState::let_in`): each
    /// holds its node from when it is let in.
    pub let_in: &'a [LetIn<'a>],
}

impl HeldBack<'_> {
    /// Held back by nothing but the nodes, from `not_before` (the state's time, say).
    pub fn until(not_before: i64) -> HeldBack<'static> {
        HeldBack {
            not_before,
            by_limits: false,
            let_in: &[],
        }
    }
}

/// The first window of Slurm's will-run test, in seconds: jobs that end this close to the
/// first of a group are taken off with it.
const WILL_RUN_WINDOW: i64 = 30;

/// The backfill scheduler's resolution (SchedulerParameters `bf_resolution`, 60 s by
/// default): the times it keeps nodes from and to are rounded down to it.
const BACKFILL_RESOLUTION: i64 = 60;

/// How many times the job is tried later before it is given up on.
const MAX_ATTEMPTS: usize = 1000;

/// `t` rounded down to the backfill scheduler's resolution.
fn to_resolution(t: i64) -> i64 {
    t.div_euclid(BACKFILL_RESOLUTION) * BACKFILL_RESOLUTION
}

/// From when to when the backfill scheduler keeps a node for a job that runs from `start`
/// to `end` (`None`: no time limit): rounded down to its resolution, and at least one step
/// long (backfill.c `_add_reservation`).
fn backfill_span(start: i64, end: Option<i64>) -> (i64, i64) {
    let from = to_resolution(start);
    let until = end.map_or(i64::MAX, |end| {
        to_resolution(end).max(from + BACKFILL_RESOLUTION)
    });
    (from, until)
}

/// When the backfill scheduler tries a job again after a reservation in its way that ends at
/// `end`: a maintenance window moves the job's start to its very end; after another, it
/// tries again from its end rounded up to its resolution, plus a second (reservation.c
/// `find_resv_end`, as captured).
fn retried_after(end: i64, maintenance: bool) -> i64 {
    if maintenance {
        return end;
    }
    let rounded_up = to_resolution(end.saturating_add(BACKFILL_RESOLUTION - 1));
    rounded_up.saturating_add(1)
}

/// What decides when a job starts on the nodes it may use: what holds each node until it
/// ends, the first to end first, and the jobs queued ahead expected on each.
struct Weighed<'a> {
    now: i64,
    /// The nodes as the job sees them: on one with GPUs of several types, a job that asks
    /// for one type has those alone (`NodeRow::of_type`).
    nodes: Vec<Cow<'a, NodeRow>>,
    /// What the job needs on each node.
    need: Vec<Need>,
    /// On each node, the CPUs of the job's own reservation there, where it keeps some of
    /// its cores: the job runs on those alone.
    own_cores: Vec<Option<u64>>,
    /// The rows of CPUs the partition shares under OverSubscribe=FORCE.
    rows: Option<u64>,
    job_seconds: i64,
    /// The running jobs and reservations on these nodes, the first to end first (those
    /// without an end last).
    holding: Vec<Held<'a>>,
    /// For each node, where its own are in `holding`, so that each room test reads only
    /// those.
    on_node: Vec<Vec<usize>>,
    /// For each node, the jobs queued ahead expected on it.
    ahead: Vec<Vec<Ahead>>,
    /// For each node, when jobs queued ahead keep it: their spans joined where they overlap
    /// or meet, the first first. Many jobs queued ahead may be expected on one node.
    kept: Vec<Vec<(i64, i64)>>,
}

/// A job queued ahead for which the backfill scheduler keeps a whole node from `from` until
/// `until` (`i64::MAX` without a time limit).
#[derive(Debug, Clone, Copy)]
struct Ahead {
    from: i64,
    until: i64,
    /// Its place in the queue.
    at: usize,
    /// When it is expected to start.
    start: i64,
}

/// The spans of `ahead` joined where they overlap or meet, the first first.
fn joined(ahead: &[Ahead]) -> Vec<(i64, i64)> {
    let mut spans: Vec<(i64, i64)> = ahead.iter().map(|a| (a.from, a.until)).collect();
    spans.sort_unstable();
    let mut joined: Vec<(i64, i64)> = Vec::with_capacity(spans.len());
    for (from, to) in spans {
        match joined.last_mut() {
            Some(last) if from <= last.1 => last.1 = last.1.max(to),
            _ => joined.push((from, to)),
        }
    }
    joined
}

/// What the will-run test found on the nodes it was given.
enum WillRun {
    /// Room at `at` on the node at `on`, once the first `ended` of `Weighed::holding` end.
    At { at: i64, on: usize, ended: usize },
    /// No room while the first `ended` end; the others never do.
    Never { ended: usize },
    /// Room once a job past its time limit ends: when Slurm ends it is not known.
    PastLimit,
}

impl<'a> Weighed<'a> {
    /// `None` where a reservation without an end holds a node, or where it is not known
    /// which GPUs a job holds on a node with several types: not weighed.
    fn of(
        state: &'a ClusterState,
        partition: &Partition,
        req: &Request,
        cpus: u64,
        nodes: &'a [&'a NodeRow],
        held_back: &HeldBack<'a>,
        now: i64,
    ) -> Option<Weighed<'a>> {
        let let_in = held_back.let_in;
        let mem_mib = usage::memory_of(req, state).unwrap_or(0);
        let of_type: Vec<Option<&str>> = nodes
            .iter()
            .map(|n| counted_type(req.gpu_type.as_deref(), n))
            .collect();
        let seen: Vec<Cow<NodeRow>> = nodes
            .iter()
            .zip(&of_type)
            .map(|(&n, &of_type)| node_seen_as(n, of_type))
            .collect();
        let need = seen
            .iter()
            .map(|n| match partition.whole_nodes() || req.exclusive {
                true => Need {
                    cpus: n.cpus_total,
                    gpus: n.gpus_total,
                    mem_mib,
                },
                false => Need {
                    cpus,
                    gpus: req.gpus,
                    mem_mib,
                },
            })
            .collect();
        // In a partition kept to one user at a time, another user's job keeps its node whole.
        let whole_if_others = |user: &str, holding: Holding, n: &NodeRow| {
            if partition.exclusive_user && user != state.user {
                holding.whole_node(n)
            } else {
                holding
            }
        };
        let mut holding: Vec<Held> = Vec::new();
        for (on, &n) in nodes.iter().enumerate() {
            let of_type = of_type[on];
            if let Some(unseen) = unseen_on(state, n, of_type) {
                holding.push(Held {
                    on,
                    by: By::Unseen,
                    in_own_reservation: false,
                    holding: unseen,
                });
            }
            for (job, spans) in state.running_on(n) {
                let gpus = gpus_held(job, of_type)? / spans;
                let held = state.holding(job, spans, &req.partition).with_gpus(gpus);
                holding.push(Held {
                    on,
                    by: By::Job(job.id.as_str()),
                    in_own_reservation: req.reservation.is_some()
                        && job.reservation == req.reservation,
                    holding: whole_if_others(&job.user, held, &seen[on]),
                });
            }
            for r in state
                .reservations
                .iter()
                .filter(|r| r.end.is_none_or(|e| e > now))
            {
                if Some(&r.name) == req.reservation.as_ref() || r.leaves_room() {
                    continue;
                }
                let (cpus, gpus, mem_mib) = match state.kept(r, n) {
                    Kept::Nothing => continue,
                    Kept::Cpus(cpus) => (cpus, 0, 0),
                    Kept::WholeNode => (n.cpus_total, seen[on].gpus_total, n.memory_mib),
                };
                // One without an end holds them for good: not weighed.
                let end = retried_after(r.end?, r.is_maintenance());
                let kept = Holding::kept(cpus, gpus, mem_mib, Some(end));
                holding.push(Held {
                    on,
                    by: By::Reservation(r.name.as_str(), r.start.unwrap_or(now)),
                    in_own_reservation: false,
                    holding: kept,
                });
            }
        }
        if !let_in.is_empty() {
            let on: HashMap<&str, usize> = nodes
                .iter()
                .enumerate()
                .map(|(on, n)| (n.node.as_str(), on))
                .collect();
            for first in let_in {
                let Some(&on) = on.get(first.node) else {
                    continue;
                };
                let gpus = gpus_held(first.job, of_type[on])?;
                let held = first.holding(&req.partition).with_gpus(gpus);
                holding.push(Held {
                    on,
                    by: By::LetIn(first.job.id.as_str(), first.start),
                    in_own_reservation: false,
                    holding: whole_if_others(&first.job.user, held, &seen[on]),
                });
            }
        }
        holding.sort_by_key(|h| h.holding.end.unwrap_or(i64::MAX));
        let mut on_node: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
        for (at, h) in holding.iter().enumerate() {
            on_node[h.on].push(at);
        }
        let plan = state.queue_plan();
        let tier = state.tier_of(&req.partition);
        // A job its limits hold is tried once they let it in. A job queued ahead that starts
        // by then (let in by the same ends, a few seconds later) runs when it is tried, and
        // holds its node until its own end, not to backfill's plan of it, rounded (captured:
        // `plain-jobs-per-user-behind-a-failed-partition-run-out`).
        let running_by = held_back
            .by_limits
            .then(|| held_back.not_before.saturating_add(BACKFILL_RESOLUTION));
        let ahead: Vec<Vec<Ahead>> = nodes
            .iter()
            .map(|n| {
                let planned = plan.planned_on(&n.node).iter();
                planned
                    .filter(|p| p.tier >= tier)
                    .map(|p| {
                        let (from, until) = match running_by {
                            Some(by) if p.start <= by => (p.start, p.end.unwrap_or(i64::MAX)),
                            _ => backfill_span(p.start, p.end),
                        };
                        Ahead {
                            from,
                            until,
                            at: p.at,
                            start: p.start,
                        }
                    })
                    .collect()
            })
            .collect();
        let own_cores = nodes
            .iter()
            .map(|n| state.own_cores(n, req).map(|(_, cpus)| cpus))
            .collect();
        let kept = ahead.iter().map(|spans| joined(spans)).collect();
        Some(Weighed {
            now,
            nodes: seen,
            need,
            own_cores,
            rows: oversubscribe::shared_rows(partition),
            job_seconds: i64::try_from(req.time_seconds).unwrap_or(i64::MAX),
            holding,
            on_node,
            ahead,
            kept,
        })
    }

    /// Whether the job fits on the node at `on` at `at`, once the first `ended` of
    /// `holding` have ended: a reservation keeps its cores only from a job that would run
    /// into it.
    fn fits_on(&self, on: usize, ended: usize, at: i64) -> bool {
        let left: Vec<&Held> = self.on_node[on]
            .iter()
            .filter(|&&i| i >= ended)
            .map(|&i| &self.holding[i])
            .filter(|h| match h.by {
                By::Reservation(_, start) => start < at.saturating_add(self.job_seconds),
                By::LetIn(_, start) => start <= at,
                By::Job(_) | By::Unseen => true,
            })
            .collect();
        let holdings: Vec<&Holding> = left.iter().map(|h| &h.holding).collect();
        let need = self.need[on];
        match self.own_cores[on] {
            None => fits(need, &self.nodes[on], &holdings, self.rows),
            // Its CPUs are the reservation's, less those of the jobs running in it; GPUs
            // and memory are the node's.
            Some(cores) => {
                let used: u64 = left
                    .iter()
                    .filter(|h| h.in_own_reservation)
                    .map(|h| h.holding.cpus)
                    .sum();
                let elsewhere = Need { cpus: 0, ..need };
                cores.saturating_sub(used) >= need.cpus
                    && fits(elsewhere, &self.nodes[on], &holdings, self.rows)
            }
        }
    }

    /// Slurm's will-run test on the `open` nodes, for a job that starts no sooner than
    /// `not_before`: room now, or after each group of the running jobs and reservations
    /// there that end together. Where it is let in at `not_before` rather than planned then
    /// (`gone_by_then`), what ends by then is gone first.
    fn will_run(&self, open: &[bool], not_before: i64, gone_by_then: bool) -> WillRun {
        let room = |ended: usize, at: i64| {
            (0..self.nodes.len()).find(|&on| open[on] && self.fits_on(on, ended, at))
        };
        // A node free all along first: one whose jobs reach their time limits just then is
        // freed a little later, as the controller ends them. A job past its time limit,
        // whose end is not known, is never taken as gone.
        let gone = self.holding.iter().take_while(|h| {
            gone_by_then
                && h.holding
                    .end
                    .is_some_and(|end| end > self.now && end <= not_before)
        });
        let gone = gone.count();
        for ended in [0, gone] {
            if let Some(on) = room(ended, not_before) {
                return WillRun::At {
                    at: not_before,
                    on,
                    ended,
                };
            }
        }
        let end_of = |i: usize| self.holding.get(i).and_then(|h| h.holding.end);
        let (mut ended, mut window) = (gone, WILL_RUN_WINDOW);
        while let Some(first_end) = end_of(ended) {
            while end_of(ended).is_some_and(|end| end <= first_end + window) {
                ended += 1;
            }
            window *= 2;
            let Some(at) = end_of(ended - 1) else {
                break;
            };
            let Some(on) = room(ended, at.max(not_before)) else {
                continue;
            };
            if at <= self.now {
                return WillRun::PastLimit;
            }
            return WillRun::At {
                at: at.max(not_before),
                on,
                ended,
            };
        }
        WillRun::Never { ended }
    }

    /// The first time after `start_res` that a node not `open` then is no longer kept for
    /// a job queued ahead: the backfill scheduler's `later_start`.
    fn first_reopening(&self, open: &[bool], start_res: i64) -> Option<i64> {
        self.kept
            .iter()
            .zip(open)
            .filter(|&(_, &open)| !open)
            .filter_map(|(kept, _)| {
                let (_, to) = kept.iter().find(|&&(_, to)| to > start_res)?;
                (*to != i64::MAX).then_some(*to)
            })
            .min()
    }

    /// Why the job never has room while the first `ended` of `holding` end: the others have
    /// no end we know of, jobs without a time limit or jobs the user cannot see.
    fn not_known(&self, ended: usize) -> Option<ExpectedStart> {
        let left = &self.holding[ended..];
        let jobs_without_time_limit = names(left.iter(), By::job);
        let unseen_on: Vec<String> = left
            .iter()
            .filter(|h| matches!(h.by, By::Unseen))
            .map(|h| self.nodes[h.on].node.clone())
            .collect();
        (!jobs_without_time_limit.is_empty() || !unseen_on.is_empty()).then_some(
            ExpectedStart::NotKnown {
                jobs_without_time_limit,
                unseen_on,
            },
        )
    }

    /// The expected start at `at` on the node at `on`, once the first `ended` of `holding`
    /// have ended, with what ends there by then.
    fn start_at(&self, state: &ClusterState, at: i64, on: usize, ended: usize) -> ExpectedStart {
        let here = |h: &&Held| h.on == on;
        let mut ahead: Vec<&Ahead> = self.ahead[on].iter().filter(|s| s.until <= at).collect();
        ahead.sort_by_key(|s| s.until);
        let jobs_ahead_ending = ahead
            .iter()
            .filter_map(|s| {
                Some(QueuedAhead {
                    job: state.queue.get(s.at)?.id.clone(),
                    start: s.start,
                })
            })
            .collect();
        ExpectedStart::By {
            at,
            in_seconds: u64::try_from(at - self.now).unwrap_or(0),
            node: self.nodes[on].node.clone(),
            jobs_ending: names(self.holding[..ended].iter().filter(here), By::job),
            jobs_ahead_ending,
            reservations_ending: names(self.holding[..ended].iter().filter(here), By::reservation),
            limit_jobs_ending: Vec::new(),
        }
    }
}

/// What jobs the user cannot see hold of `node`, for as long as they run (not known): what
/// sinfo says is allocated there beyond the running jobs squeue shows. Where the cluster's
/// PrivateData hides other users' jobs, squeue shows a node's GPUs in use and no job using
/// them (captured: `plain-private-jobs-hidden-holder`). Counted only where the jobs shown say
/// exactly what they hold there (each on this node alone), and none is still completing.
/// With `of_type`, GPUs of that type alone count.
fn unseen_on(state: &ClusterState, node: &NodeRow, of_type: Option<&str>) -> Option<Holding> {
    let (mut cpus, mut gpus, mut mem_mib) = (0u64, 0u64, 0u64);
    for (job, spans) in state.running_on(node) {
        if spans != 1 {
            return None;
        }
        cpus += job.cpus;
        gpus += gpus_held(job, of_type)?;
        mem_mib += job.mem_mib();
    }
    let gpus_used = match of_type {
        Some(t) => node.gpu_types_used.get(t).copied().unwrap_or(0),
        None => node.gpus_used,
    };
    let completing = state.queue.iter().any(|j| {
        j.state == JobState::Completing && hostlist::expand(&j.nodes).contains(&node.node)
    });
    let unseen_cpus = node.cpus_allocated.saturating_sub(cpus);
    let unseen_gpus = gpus_used.saturating_sub(gpus);
    (!completing && (unseen_cpus > 0 || unseen_gpus > 0)).then(|| {
        let unseen_mem = node.memory_allocated_mib.saturating_sub(mem_mib);
        Holding::kept(unseen_cpus, unseen_gpus, unseen_mem, None)
    })
}

/// What holds part of the node at `on` (in the nodes weighed) until it ends.
struct Held<'a> {
    on: usize,
    by: By<'a>,
    /// A job running in the reservation the job asks for.
    in_own_reservation: bool,
    holding: Holding,
}

/// A running job (its id), a reservation (its name and start), a job queued first that a
/// limit lets in later (its id and start), or jobs the user cannot see.
#[derive(Clone, Copy)]
enum By<'a> {
    Job(&'a str),
    Reservation(&'a str, i64),
    LetIn(&'a str, i64),
    Unseen,
}

impl<'a> By<'a> {
    fn job(self) -> Option<&'a str> {
        match self {
            By::Job(id) | By::LetIn(id, _) => Some(id),
            By::Reservation(..) | By::Unseen => None,
        }
    }

    fn reservation(self) -> Option<&'a str> {
        match self {
            By::Reservation(name, _) => Some(name),
            By::Job(_) | By::LetIn(..) | By::Unseen => None,
        }
    }
}

/// The jobs' ids (or the reservations' names) among `held`, each once, in order.
fn names<'a>(
    held: impl Iterator<Item = &'a Held<'a>>,
    pick: fn(By<'a>) -> Option<&'a str>,
) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for name in held.filter_map(|h| pick(h.by)) {
        if !names.iter().any(|n| n == name) {
            names.push(name.to_string());
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preflight::test_states::{ALLOCATED, two_nodes};
    use crate::slurm::{clock, scontrol};

    /// Both nodes taken, and `queue`.
    fn state(queue: &str) -> ClusterState {
        two_nodes(ALLOCATED, queue)
    }

    /// A request for 2 CPUs (a whole node) for `minutes`.
    fn request(minutes: u64) -> Request {
        Request::plain("gpu", 2, minutes * 60)
    }

    /// In minutes from now, on which node, after which jobs queued ahead.
    fn expected(s: &ClusterState, minutes: u64) -> (i64, String, Vec<String>) {
        let usable: Vec<&NodeRow> = s.nodes.iter().collect();
        match s.expected_start(&request(minutes), 2, &usable) {
            Some(ExpectedStart::By {
                at,
                node,
                jobs_ahead_ending,
                ..
            }) => (
                (at - s.now.unwrap()) / 60,
                node,
                jobs_ahead_ending.into_iter().map(|a| a.job).collect(),
            ),
            other => panic!("{other:?}"),
        }
    }

    /// Job 1 holds n1 for 10 minutes, job 2 n2 for 20.
    const RUNNING: &str = "1|gpu|a|RUNNING|0:00|10:00|2|cpu=2|normal|None|N/A|n1|x\n\
                           2|gpu|b|RUNNING|0:00|20:00|2|cpu=2|normal|None|N/A|n2|x\n";

    /// The job queued ahead takes n1 when job 1 ends (10 min) until its own time limit
    /// (30 min): n2, free at 20 min, is the first node no job ahead keeps.
    #[test]
    fn a_job_queued_ahead_keeps_the_node_it_is_expected_on() {
        let s = state(&format!(
            "{RUNNING}3|gpu|c|PENDING|0:00|20:00|2|cpu=2|normal|Resources|N/A||x\n"
        ));
        assert_eq!(expected(&s, 30), (20, "n2".into(), vec![]));
    }

    /// With n2 held for an hour, the job behind starts on n1 once the job queued ahead
    /// there reaches its time limit; one short enough starts before the job ahead does.
    #[test]
    fn a_job_behind_starts_when_the_job_queued_ahead_ends() {
        let s = state(
            "1|gpu|a|RUNNING|0:00|10:00|2|cpu=2|normal|None|N/A|n1|x\n\
             2|gpu|b|RUNNING|0:00|1:00:00|2|cpu=2|normal|None|N/A|n2|x\n\
             3|gpu|c|PENDING|0:00|20:00|2|cpu=2|normal|Priority|N/A||x\n",
        );
        assert_eq!(expected(&s, 30), (30, "n1".into(), vec!["3".into()]));
        let sentence = s
            .expected_start(&request(30), 2, &s.nodes.iter().collect::<Vec<_>>())
            .unwrap()
            .sentence();
        assert_eq!(
            sentence,
            "expected to start by 18:30 (in 30 min) on n1, when job 1 reaches its time limit and job 3, queued ahead and expected to start at 18:10, reaches its time limit, or sooner if they end early"
        );
    }

    /// A job queued a moment ago, before Slurm looked at it (reason None), is ahead too, and
    /// the sentence says it was not looked at yet rather than that it waits.
    #[test]
    fn a_job_ahead_not_yet_looked_at_is_said_so() {
        let s = state(&format!(
            "{RUNNING}3|gpu|c|PENDING|0:00|20:00|2|cpu=2|normal|None|N/A||x\n"
        ));
        let v = crate::preflight::assess(&request(30), &s);
        assert_eq!(
            v.reason.map(|r| r.code()),
            Some("Priority"),
            "{}",
            v.message
        );
        assert!(
            v.message.contains("job 3 (c), queued ahead of this one a moment ago, before Slurm looked at it, will wait for resources there too, so Slurm gives Priority as the reason"),
            "{}",
            v.message
        );
    }

    /// Two jobs queued ahead planned on n1 one after the other keep it until the second
    /// ends: the job behind starts there then, before n2 frees.
    #[test]
    fn jobs_ahead_one_after_the_other_keep_the_node_until_the_last_ends() {
        let mut s = state(
            "1|gpu|a|RUNNING|0:00|10:00|2|cpu=2|normal|None|N/A|n1|x\n\
             2|gpu|b|RUNNING|0:00|1:00:00|2|cpu=2|normal|None|N/A|n2|x\n\
             3|gpu|c|PENDING|0:00|20:00|2|cpu=2|normal|Resources|2026-11-29T18:10:00|n1|x\n\
             4|gpu|c|PENDING|0:00|20:00|2|cpu=2|normal|Priority|2026-11-29T18:30:00|n1|x\n",
        );
        s.queue[2].sched_nodes = Some("n1".into());
        s.queue[3].sched_nodes = Some("n1".into());
        assert_eq!(
            expected(&s, 30),
            (50, "n1".into(), vec!["3".into(), "4".into()])
        );
    }

    /// n1 with 2 a30 and 2 h100 GPUs, all in use, one of its 2 CPUs free; n2 down.
    const MIXED: &str = "n1|gpu|mixed|1/1/0/2|8000|0|gpu:a30:2,gpu:h100:2|gpu:a30:2(IDX:0-1),gpu:h100:2(IDX:2-3)|\n\
                         n2|gpu|down|0/0/2/2|8000|0|gpu:4|gpu:0|\n";

    /// A request for one a30 GPU and one CPU, for 10 minutes.
    fn a30() -> Request {
        Request {
            gpus: 1,
            gpu_type: Some("a30".into()),
            ..Request::plain("gpu", 1, 600)
        }
    }

    /// When a job asks for GPUs of one type, on a node with GPUs of two types, the other
    /// type's holder ending first frees none of them: it waits for the holder of its own
    /// (captured: `mixed-when-its-type-frees`).
    #[test]
    fn on_a_node_of_two_gpu_types_a_typed_job_waits_for_its_own_type() {
        let s = two_nodes(
            MIXED,
            "1|gpu|a|RUNNING|0:00|20:00|0|gres/gpu=2,gres/gpu:a30=2|normal|None|N/A|n1|x\n\
             2|gpu|b|RUNNING|0:00|5:00|1|cpu=1,gres/gpu=2,gres/gpu:h100=2|normal|None|N/A|n1|x\n",
        );
        let n1: Vec<&NodeRow> = s.nodes.iter().take(1).collect();
        match s.expected_start(&a30(), 1, &n1) {
            Some(ExpectedStart::By { in_seconds, .. }) => assert_eq!(in_seconds, 20 * 60),
            other => panic!("{other:?}"),
        }
    }

    /// Where accounting does not track the types, a job's TRES does not say which GPUs it
    /// holds on such a node: no start is expected rather than a guess.
    #[test]
    fn a_holder_of_gpus_of_no_known_type_leaves_the_start_unknown() {
        let s = two_nodes(
            MIXED,
            "1|gpu|a|RUNNING|0:00|20:00|0|gres/gpu=2|normal|None|N/A|n1|x\n\
             2|gpu|b|RUNNING|0:00|5:00|1|cpu=1,gres/gpu=2|normal|None|N/A|n1|x\n",
        );
        let n1: Vec<&NodeRow> = s.nodes.iter().take(1).collect();
        assert!(s.expected_start(&a30(), 1, &n1).is_none());
    }

    /// After a reservation, backfill tries again from its end rounded up to the minute,
    /// plus a second; after a maintenance window, from its very end (as captured).
    #[test]
    fn a_job_is_tried_again_just_after_a_reservation_ends() {
        let at = |t: &str| clock::parse_timestamp(t).unwrap();
        let after = |end: &str, maintenance| clock::timestamp(retried_after(at(end), maintenance));
        assert_eq!(after("2026-11-30T12:16:57", false), "2026-11-30T12:17:01");
        assert_eq!(after("2026-11-30T12:16:00", false), "2026-11-30T12:16:01");
        assert_eq!(after("2026-11-30T15:12:15", true), "2026-11-30T15:12:15");
    }

    /// A reservation without an end on a node the job may not use leaves its start known (it
    /// once gave none, since the end was looked at before the nodes the reservation keeps).
    #[test]
    fn a_reservation_without_an_end_elsewhere_leaves_the_start_known() {
        let mut s = state(RUNNING);
        s.reservations = scontrol::parse_reservations(
            "ReservationName=forever StartTime=2026-11-29T17:00:00 Nodes=n3 NodeCnt=1 Flags=SPEC_NODES Users=root State=ACTIVE\n",
        );
        assert_eq!(s.reservations[0].end, None);
        assert_eq!(expected(&s, 30), (10, "n1".into(), vec![]));
    }

    /// Backfill keeps nodes for jobs queued ahead to its resolution, rounded down: a job
    /// ahead planned from 18:10:30 keeps n1 until 18:30:00, not 18:30:30.
    #[test]
    fn a_job_ahead_keeps_its_node_to_the_minute() {
        // n1 free, n2 held by job 1 (sinfo's allocation is what the running jobs hold: more
        // would be jobs the user cannot see).
        let s = two_nodes(
            "n1|gpu|idle|0/2/0/2|8000|0|gpu:4|gpu:0|\n\
             n2|gpu|allocated|2/0/0/2|8000|0|gpu:4|gpu:0|\n",
            "1|gpu|a|RUNNING|0:00|1:00:00|2|cpu=2|normal|None|N/A|n2|x\n\
             3|gpu|c|PENDING|0:00|20:00|2|cpu=2|normal|Priority|2026-11-29T18:10:30|n1|x\n",
        );
        let mut s = s;
        s.queue[1].sched_nodes = Some("n1".into());
        let usable: Vec<&NodeRow> = s.nodes.iter().collect();
        match s.expected_start(&request(30), 2, &usable) {
            Some(ExpectedStart::By { at, node, .. }) => {
                assert_eq!(clock::timestamp(at), "2026-11-29T18:30:00");
                assert_eq!(node, "n1");
            }
            other => panic!("{other:?}"),
        }
    }
}
