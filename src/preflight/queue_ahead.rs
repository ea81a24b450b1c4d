//! Jobs queued ahead. Slurm starts pending jobs in priority order: a job behind one that waits
//! for resources starts only when the backfill scheduler finds that it leaves that one's
//! expected start alone, and otherwise waits with the reason `Priority`. Backfill plans whole
//! nodes: from that start the node is kept for the job ahead, so the job behind must end
//! before it even where both would fit (as captured). Jobs queued now are ahead of a job about
//! to be submitted, unless their partition's PriorityTier is lower: Slurm schedules the jobs
//! of a higher tier first (as captured, without preemption too).

use std::borrow::Cow;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use super::{ClusterState, LimitCode, Request};
use super::{usage, words};
use crate::slurm::sinfo::NodeRow;
use crate::slurm::squeue::QueuedJob;
use crate::slurm::state::JobState;
use crate::slurm::{clock, hostlist};

/// Under PrivateData=jobs, the jobs not shown to the user pending under the QOS `req` counts
/// under (its partition's first, whose count is of that partition's jobs), from the
/// controller's counts: whether they are queued ahead of it and wait for the room it would
/// take, nothing the user may read tells (captured as `nobody`: root's job waiting for the
/// node held up a job that had room, `plain-private-queue-ahead-held-up`, Priority, and let
/// a shorter one start, `plain-private-queue-ahead-backfilled`). A line for `not_checked`.
pub fn hidden_pending(req: &Request, state: &ClusterState) -> Option<String> {
    if !state.jobs_hidden() {
        return None;
    }
    super::rules::limiting_qos(req, state).into_iter().find_map(|q| {
        let unseen = usage::held_by_all(q, state).unseen;
        let pending = unseen.submitted_jobs.saturating_sub(unseen.running_jobs);
        (pending > 0).then(|| {
            let (jobs, are, it) = match pending {
                1 => ("1 job".to_string(), "is", "it"),
                n => (format!("{n} jobs"), "are", "them"),
            };
            format!(
                "{jobs} not shown to you (the cluster's PrivateData) {are} pending under QOS {}: where queued ahead of this one and waiting for the room it would take, this one waits behind {it} (Priority)",
                q.name
            )
        })
    })
}

/// A job queued ahead that starting the new job now would hold up.
#[derive(Debug, Clone)]
pub struct HeldUp<'a> {
    pub job: &'a QueuedJob,
    /// When it is expected to start (local clock seconds).
    pub start: i64,
}

/// Where and when each job queued ahead is expected to start: worked out once for a state
/// (`ClusterState::queue_plan`), then asked of each node.
#[derive(Debug, Clone, Default)]
pub struct QueuePlan {
    now: i64,
    /// The queue's length when this was worked out (`index.rs` keeps it in step).
    pub(super) queue_len: usize,
    /// For each node, the jobs waiting for resources expected to start there first, one for
    /// each PriorityTier of their partitions: the tier, the job's place in the queue, when.
    /// It follows from `planned_on`, and is kept beside it because `holds_up` asks it of
    /// every node for every task of an array, where a node may have thousands planned.
    first_on: HashMap<String, Vec<FirstOfTier>>,
    /// For each node, every job waiting for resources expected to run there, in queue order.
    planned_on: HashMap<String, Vec<Planned>>,
}

/// A job queued ahead, expected to run on a node from `start` until its time limit.
#[derive(Debug, Clone, Copy)]
pub(super) struct Planned {
    /// The PriorityTier of its partition.
    pub tier: u64,
    /// Its place in the queue.
    pub at: usize,
    pub start: i64,
    /// `None` for a job without a time limit.
    pub end: Option<i64>,
}

impl QueuePlan {
    /// The jobs queued ahead expected to run on `node`, in queue order.
    pub(super) fn planned_on(&self, node: &str) -> &[Planned] {
        self.planned_on.get(node).map_or(&[], Vec::as_slice)
    }
}

/// The tier, the job's place in the queue, and when it is expected to start.
type FirstOfTier = (u64, usize, i64);

/// A job queued first that a limit lets in at `start` (`limit_room`). The backfill scheduler
/// plans no job a limit holds, so it keeps no node until then; from then it runs, on the node
/// of its partition with room for it first, until its time limit.
#[derive(Debug, Clone)]
pub(super) struct LetIn<'a> {
    pub job: &'a QueuedJob,
    pub node: &'a str,
    pub start: i64,
    pub end: i64,
}

impl LetIn<'_> {
    /// What it holds on its node, beside a job of `partition`.
    pub(super) fn holding(&self, partition: &str) -> Holding {
        Holding {
            end: Some(self.end),
            cpus: self.job.cpus,
            gpus: self.job.gpus,
            mem_mib: self.job.mem_mib(),
            same_partition: self.job.partition == partition,
        }
    }
}

/// All that decides where a pending job fits: its partition, node count, CPUs, GPUs, memory,
/// and which nodes it may use (GPU type, features, nodes named).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Shape<'a> {
    partition: &'a str,
    nodes: u64,
    cpus: u64,
    gpus: u64,
    mem_mib: u64,
    gpu_type: Option<&'a str>,
    constraint: Option<&'a str>,
    req_nodes: Option<&'a str>,
    excluded_nodes: Option<&'a str>,
    time_limit: Option<u64>,
}

/// A node as a job that asks for GPUs of one type sees it (`ClusterState::seen_by`).
struct SeenNode<'n> {
    node: Cow<'n, NodeRow>,
    /// What the running jobs hold there.
    holding: Vec<Holding>,
    /// The type whose GPUs alone count, where the node has GPUs of other types too.
    of_type: Option<&'n str>,
}

impl SeenNode<'_> {
    /// The GPUs `job` holds that count here.
    fn gpus_of(&self, job: &QueuedJob) -> u64 {
        gpus_held(job, self.of_type).unwrap_or(job.gpus)
    }
}

/// What a running job holds on one node until it ends; no end for no time limit.
#[derive(Debug, Clone, Copy)]
pub(super) struct Holding {
    pub end: Option<i64>,
    pub cpus: u64,
    gpus: u64,
    mem_mib: u64,
    /// Of the pending job's partition: under OverSubscribe=FORCE its CPUs can be shared.
    same_partition: bool,
}

impl ClusterState {
    /// The job queued ahead, expected first, that starting `req` on `node` now would hold
    /// up: one of a partition of the same PriorityTier or a higher one, expected to start
    /// on this node before `req` would end.
    pub fn holds_up(&self, node: &NodeRow, req: &Request) -> Option<HeldUp<'_>> {
        let plan = self.queue_plan();
        let ends = plan
            .now
            .saturating_add(i64::try_from(req.time_seconds).unwrap_or(i64::MAX));
        let tier = self.tier_of(&req.partition);
        let &(_, at, start) = plan
            .first_on
            .get(&node.node)?
            .iter()
            .filter(|(of, _, _)| *of >= tier)
            .min_by_key(|(_, _, start)| *start)?;
        let job = self.queue.get(at)?;
        (ends > start).then_some(HeldUp { job, start })
    }

    /// The job queued ahead (of `req`'s PriorityTier or a higher one) that named `node`
    /// (`--nodelist`) and waits for resources: Slurm's scheduler keeps the nodes such a job
    /// names from the jobs behind it, instead of holding up its whole partition (as
    /// captured).
    pub fn kept_for_named_job(&self, node: &NodeRow, req: &Request) -> Option<&QueuedJob> {
        let tier = self.tier_of(&req.partition);
        self.waiting_for_resources()
            .filter(|j| j.names_its_nodes() && self.tier_of(&j.partition) >= tier)
            .find(|j| {
                j.req_nodes
                    .as_deref()
                    .is_some_and(|named| hostlist::expand(named).contains(&node.node))
            })
    }

    /// The first job queued in `req`'s partition (of its PriorityTier or a higher one) for
    /// which Slurm's main scheduler finds no nodes now: it then starts no job behind it
    /// there, and gives those that had no reason yet Priority (job_scheduler.c's failed
    /// partitions). One waiting for resources; or one whose reason is a limit on the TRES
    /// running jobs hold, which Slurm weighs only once it has found nodes, with no room on
    /// its nodes now (as captured). One that named its nodes or runs in a reservation keeps
    /// only those.
    pub fn failing_the_partition(&self, req: &Request) -> Option<&QueuedJob> {
        let now = self.now?;
        let tier = self.tier_of(&req.partition);
        self.queue
            .iter()
            .filter(|j| j.state == JobState::Pending && j.partition == req.partition)
            .filter(|j| !j.names_its_nodes() && j.reservation.is_none())
            .filter(|j| self.tier_of(&j.partition) >= tier)
            .find(|j| {
                waits_for_resources(j)
                    || (LimitCode::holds_tres(&j.reason)
                        && earliest_room(j, &mut self.rooms_for(j, now), &Kept::default())
                            .is_some_and(|(_, at)| at > now))
            })
    }

    /// A partition's PriorityTier (1, Slurm's default, for one not known).
    pub(super) fn tier_of(&self, partition: &str) -> u64 {
        self.partition(partition).map_or(1, |p| p.priority_tier)
    }

    /// The plan of the jobs queued ahead. Once the backfill scheduler has planned a job it
    /// is expected at its time (squeue's StartTime) on its nodes (SchedNodes); until then,
    /// as backfill would plan it, on the nodes of its partition that have room for it first
    /// as running jobs end and that no job planned before it keeps while it would run.
    /// Empty without the time the state was read.
    pub(super) fn work_out_queue_plan(&self) -> QueuePlan {
        let Some(now) = self.now else {
            return QueuePlan::default();
        };
        let mut first_on: HashMap<String, Vec<FirstOfTier>> = HashMap::new();
        let mut planned_on: HashMap<String, Vec<Planned>> = HashMap::new();
        let mut plan = |node: &str, tier: u64, at: usize, start: i64, end: Option<i64>| {
            keep_first(&mut first_on, node, (tier, at, start));
            let planned = Planned {
                tier,
                at,
                start,
                end,
            };
            match planned_on.get_mut(node) {
                Some(all) => all.push(planned),
                None => {
                    planned_on.insert(node.to_string(), vec![planned]);
                }
            }
        };
        // Where the running jobs leave a job of one shape room, and when, is worked out once a
        // shape, as a large queue holds thousands of jobs of a few shapes; the nodes the jobs
        // planned before it keep are then weighed for each job.
        let mut by_shape: HashMap<Shape, Rooms> = HashMap::new();
        let mut kept = Kept::default();
        for (at, job) in self.queue.iter().enumerate() {
            if !waits_for_resources(job) {
                continue;
            }
            let tier = self.tier_of(&job.partition);
            let planned = clock::parse_timestamp(&job.start_time).filter(|&t| t >= now);
            let end_from = |start: i64| {
                let limit = i64::try_from(job.time_limit.seconds()?).ok()?;
                Some(start.saturating_add(limit))
            };
            if let (Some(start), Some(nodes)) = (planned, &job.sched_nodes) {
                for node in hostlist::expand(nodes) {
                    kept.keep(&node, start, end_from(start));
                    plan(&node, tier, at, start, end_from(start));
                }
                continue;
            }
            let shape = Shape {
                partition: job.partition.as_str(),
                nodes: job.node_count(),
                cpus: job.cpus,
                gpus: job.gpus,
                mem_mib: job.mem_mib(),
                gpu_type: job.gpu_type(),
                constraint: job.constraint.as_ref().map(|c| c.as_str()),
                req_nodes: job.req_nodes.as_deref(),
                excluded_nodes: job.excluded_nodes.as_ref().map(|h| h.as_str()),
                time_limit: job.time_limit.seconds(),
            };
            let rooms = by_shape
                .entry(shape)
                .or_insert_with(|| self.rooms_for(job, now));
            let Some((nodes, room_at)) = earliest_room(job, rooms, &kept) else {
                continue;
            };
            let start = planned.unwrap_or(room_at);
            for node in nodes {
                kept.keep(node, start, end_from(start));
                plan(node, tier, at, start, end_from(start));
            }
        }
        QueuePlan {
            now,
            queue_len: self.queue.len(),
            first_on,
            planned_on,
        }
    }

    /// The nodes of `job`'s partition (those it named, if it named some) that the running
    /// jobs leave room for it, each with when they first do (its CPUs, GPUs and memory spread
    /// evenly over as many nodes as it asks for), and what its constraint counts.
    fn rooms_for<'s>(&'s self, job: &'s QueuedJob, now: i64) -> Rooms<'s> {
        let named: Option<Vec<String>> = job.req_nodes.as_deref().map(hostlist::expand);
        let rows = self
            .partition(&job.partition)
            .and_then(super::oversubscribe::shared_rows);
        let count = job.node_count();
        let need = Need {
            cpus: job.cpus.div_ceil(count),
            gpus: job.gpus.div_ceil(count),
            mem_mib: job.mem_mib().div_ceil(count),
        };
        // In the order of `nodes`: lightest first, then as listed (`parse_nodes`), as Slurm
        // tries them.
        let nodes: Vec<(i64, &NodeRow)> = self
            .nodes
            .iter()
            .filter(|n| self.may_run_on(job, n, named.as_deref(), need.gpus))
            .filter_map(|n| {
                let seen = self.seen_by(n, job.gpu_type(), &job.partition);
                let at = room_from(need, &seen.node, &seen.holding, rows, now)?;
                Some((at, n))
            })
            .collect();
        let counts = job
            .constraint
            .as_ref()
            .map(|c| c.counts())
            .unwrap_or_default();
        Rooms {
            soonest: (0..nodes.len())
                .map(|order| Reverse((nodes[order].0, order)))
                .collect(),
            nodes,
            count: usize::try_from(count).unwrap_or(usize::MAX),
            counts,
        }
    }

    /// Where each of `jobs`, queued first and let in by their limits (a job and when, in the
    /// order they are let in), runs: on the first node of its partition with room for it
    /// then, or soonest after, beside the running jobs and those let in before it. A job on
    /// several nodes, or without a time limit, is left out.
    pub(super) fn let_in<'a>(&'a self, jobs: &[(&'a QueuedJob, i64)]) -> Vec<LetIn<'a>> {
        let mut placed: Vec<LetIn> = Vec::new();
        for &(job, at) in jobs {
            let seconds = job.time_limit.seconds().and_then(|s| i64::try_from(s).ok());
            let (1, Some(seconds)) = (job.node_count(), seconds) else {
                continue;
            };
            let need = Need {
                cpus: job.cpus,
                gpus: job.gpus,
                mem_mib: job.mem_mib(),
            };
            let rows = self
                .partition(&job.partition)
                .and_then(super::oversubscribe::shared_rows);
            let named: Option<Vec<String>> = job.req_nodes.as_deref().map(hostlist::expand);
            let first = self
                .nodes
                .iter()
                .filter(|n| self.may_run_on(job, n, named.as_deref(), need.gpus))
                .filter_map(|n| {
                    let mut seen = self.seen_by(n, job.gpu_type(), &job.partition);
                    for p in placed.iter().filter(|p| p.node == n.node) {
                        let gpus = seen.gpus_of(p.job);
                        seen.holding.push(p.holding(&job.partition).with_gpus(gpus));
                    }
                    let at = room_from(need, &seen.node, &seen.holding, rows, at)?;
                    Some((at, n.node.as_str()))
                })
                .min_by_key(|(start, _)| *start);
            if let Some((start, node)) = first {
                placed.push(LetIn {
                    job,
                    node,
                    start,
                    end: start.saturating_add(seconds),
                });
            }
        }
        placed
    }

    /// Whether `job` may run on `node`: one of its partition, with the features it asks for,
    /// among the nodes it `named` if it named some, not one it excluded, and with `gpus` GPUs
    /// of its type.
    fn may_run_on(
        &self,
        job: &QueuedJob,
        node: &NodeRow,
        named: Option<&[String]>,
        gpus: u64,
    ) -> bool {
        node.partition == job.partition
            && job
                .constraint
                .as_ref()
                .is_none_or(|c| c.admits(&node.features, job.node_count()))
            && named.is_none_or(|named| named.contains(&node.node))
            && job
                .excluded_nodes
                .as_ref()
                .is_none_or(|kept_off| !kept_off.contains(&node.node))
            && job.gpu_type().is_none_or(|t| node.gpus_of(Some(t)) >= gpus)
    }

    /// What each job running on `node` holds there until it ends; `partition`: the partition
    /// of the job that would start after them.
    pub(super) fn holdings_on(&self, node: &NodeRow, partition: &str) -> Vec<Holding> {
        self.running_on(node)
            .map(|(j, spans)| self.holding(j, spans, partition))
            .collect()
    }

    /// `node` and what its running jobs hold there, as a job of `partition` that asks for
    /// GPUs of `gpu_type` sees them: where the node has GPUs of other types too, its GPUs of
    /// that type and what each job holds of them; all its GPUs where a job's TRES does not
    /// say which it holds.
    fn seen_by<'n>(
        &self,
        node: &'n NodeRow,
        gpu_type: Option<&'n str>,
        partition: &str,
    ) -> SeenNode<'n> {
        let by_type = counted_type(gpu_type, node).and_then(|t| {
            let holding = self
                .running_on(node)
                .map(|(j, spans)| {
                    let gpus = gpus_held(j, Some(t))? / spans;
                    Some(self.holding(j, spans, partition).with_gpus(gpus))
                })
                .collect::<Option<Vec<Holding>>>()?;
            Some(SeenNode {
                node: node_seen_as(node, Some(t)),
                holding,
                of_type: Some(t),
            })
        });
        by_type.unwrap_or_else(|| SeenNode {
            node: Cow::Borrowed(node),
            holding: self.holdings_on(node, partition),
            of_type: None,
        })
    }

    /// What running `job`, on `spans` nodes, holds on each of them until it ends.
    pub(super) fn holding(&self, job: &QueuedJob, spans: u64, partition: &str) -> Holding {
        Holding {
            end: self.end_of(job),
            cpus: job.cpus / spans,
            gpus: job.gpus / spans,
            mem_mib: job.mem_mib() / spans,
            same_partition: job.partition == partition,
        }
    }

    /// Whether a job planned by the backfill scheduler waits for resources: the plan then
    /// wants its nodes (SchedNodes, read with the jobs' extra fields).
    fn has_planned_jobs_ahead(&self) -> bool {
        self.waiting_for_resources()
            .any(|j| clock::parse_timestamp(&j.start_time).is_some())
    }

    /// Whether the plan of the jobs queued ahead needs their extra fields: the nodes backfill
    /// planned them on, or, where a job may not go on every node (nodes with features, or
    /// several nodes a job may name), the features and nodes each asks for.
    pub fn jobs_ahead_need_extras(&self) -> bool {
        let features = self.nodes.iter().any(|n| !n.features.is_empty());
        let several = self.nodes.iter().any(|n| n.node != self.nodes[0].node);
        ((features || several) && self.waiting_for_resources().next().is_some())
            || self.has_planned_jobs_ahead()
    }

    /// Pending jobs the scheduler holds resources back for: those waiting for `Resources`,
    /// or behind such a job (`Priority`). Jobs held by a limit wait whatever the nodes do.
    pub(super) fn waiting_for_resources(&self) -> impl Iterator<Item = &QueuedJob> {
        self.queue.iter().filter(|j| waits_for_resources(j))
    }

    /// When a running job reaches its time limit; `None` for no limit.
    pub(super) fn end_of(&self, job: &QueuedJob) -> Option<i64> {
        let left = job
            .time_limit
            .seconds()?
            .saturating_sub(job.elapsed.seconds().unwrap_or(0));
        Some(self.now? + i64::try_from(left).ok()?)
    }
}

/// Where the running jobs leave a job of one shape room (`ClusterState::rooms_for`).
struct Rooms<'s> {
    /// Each node it may use, and when it first has room there, in the order Slurm tries them.
    nodes: Vec<(i64, &'s NodeRow)>,
    /// How many nodes it asks for.
    count: usize,
    /// The features its constraint counts (`ampere*1`), and on how many nodes.
    counts: Vec<(&'s str, u64)>,
    /// For a job of one node, the soonest each node may take it as far as known (at first
    /// when the running jobs leave room, later when jobs planned before keep it then), and
    /// its place in `nodes`. The nodes kept only grow as jobs are planned, so each is a
    /// bound from below, worked out again only when it comes first.
    soonest: BinaryHeap<Reverse<(i64, usize)>>,
}

impl<'s> Rooms<'s> {
    /// `earliest_room` for a job of one node that counts no feature: the first node of
    /// `soonest` that is still free then. One of a long queue's thousands of such jobs asks
    /// again only of the nodes that jobs planned since have taken.
    fn soonest_one(&mut self, seconds: Option<i64>, kept: &Kept) -> Option<(Vec<&'s str>, i64)> {
        while let Some(Reverse((at, order))) = self.soonest.pop() {
            let node = self.nodes[order].1;
            // A node kept for good by a job without a time limit never takes it.
            let Some(clear) = kept.clear_from(&node.node, at, seconds) else {
                continue;
            };
            self.soonest.push(Reverse((clear, order)));
            if clear == at {
                return Some((vec![node.node.as_str()], at));
            }
        }
        None
    }
}

/// The nodes that jobs queued ahead are expected to keep, each from its start to its time
/// limit: the backfill scheduler plans each job around those it planned before it, keeping
/// their nodes whole (as captured, `multi-two-ahead-one-shape-*`).
#[derive(Default)]
struct Kept {
    /// For each node, when it is kept, joined where they overlap or meet, in time order: a
    /// start and an end, `None` for a job without a time limit.
    on: HashMap<String, Vec<(i64, Option<i64>)>>,
}

impl Kept {
    fn keep(&mut self, node: &str, start: i64, end: Option<i64>) {
        let spans = match self.on.get_mut(node) {
            Some(spans) => spans,
            None => self.on.entry(node.to_string()).or_default(),
        };
        let end_of = |e: Option<i64>| e.unwrap_or(i64::MAX);
        // The spans that end before this one starts stay before it, those that start after
        // it ends stay after it; those between are joined with it.
        let first = spans.partition_point(|&(_, e)| end_of(e) < start);
        let last = spans.partition_point(|&(s, _)| s <= end_of(end));
        let (mut start, mut end) = (start, end_of(end));
        for &(s, e) in &spans[first..last] {
            start = start.min(s);
            end = end.max(end_of(e));
        }
        let end = (end != i64::MAX).then_some(end);
        spans.splice(first..last, [(start, end)]);
    }

    /// The first time from `at` that a job of `seconds` (`None`: no time limit) can start
    /// on `node` and end before any job planned there before it starts; `None` if never.
    fn clear_from(&self, node: &str, at: i64, seconds: Option<i64>) -> Option<i64> {
        let Some(spans) = self.on.get(node) else {
            return Some(at);
        };
        let mut at = at;
        let first = spans.partition_point(|&(_, e)| e.is_some_and(|e| e <= at));
        for &(start, end) in &spans[first..] {
            if seconds.is_some_and(|s| at.saturating_add(s) <= start) {
                break;
            }
            at = at.max(end?);
        }
        Some(at)
    }
}

/// The nodes a job waiting for resources is expected on, and when it starts there: the first
/// time as many nodes as it asks for (as many with each counted feature as it counts) have
/// room for it as the running jobs end and are kept by no job planned before it while it
/// would run (`kept`). Of nodes free at the same time, the lightest, then the first listed,
/// as Slurm picks them. `None` when too few ever do.
fn earliest_room<'s>(
    job: &QueuedJob,
    rooms: &mut Rooms<'s>,
    kept: &Kept,
) -> Option<(Vec<&'s str>, i64)> {
    let seconds = job.time_limit.seconds().and_then(|s| i64::try_from(s).ok());
    if rooms.nodes.len() < rooms.count {
        return None;
    }
    if rooms.count == 1 && rooms.counts.is_empty() {
        return rooms.soonest_one(seconds, kept);
    }
    // A node free before the last one picked may be kept by then: try again from when the
    // last is free until every node picked is free at the same time.
    let mut not_before = i64::MIN;
    loop {
        let mut clear: Vec<(i64, usize, &NodeRow)> = rooms
            .nodes
            .iter()
            .enumerate()
            .filter_map(|(order, &(at, n))| {
                Some((
                    kept.clear_from(&n.node, at.max(not_before), seconds)?,
                    order,
                    n,
                ))
            })
            .collect();
        clear.sort_by_key(|&(at, order, _)| (at, order));
        let timed: Vec<(i64, &NodeRow)> = clear.iter().map(|&(at, _, n)| (at, n)).collect();
        let picked = first_meeting_counts(&timed, rooms.count, &rooms.counts)?;
        let start = picked.iter().map(|(at, _)| *at).max()?;
        if picked.iter().all(|(at, _)| *at == start) {
            return Some((picked.iter().map(|(_, n)| n.node.as_str()).collect(), start));
        }
        not_before = start;
    }
}

/// The first `count` of `rooms` (nodes in the order they have room) among which each counted
/// feature is on as many nodes as its count: a node without one is taken only while enough
/// places are left for the nodes still owed. `None` when the nodes never meet the counts.
/// The owed nodes add up as if none had two counted features: where one has, the plan may
/// keep a later node than Slurm would (exact for one counted feature, or features apart).
fn first_meeting_counts<'r, 'n>(
    rooms: &'r [(i64, &'n NodeRow)],
    count: usize,
    counts: &[(&str, u64)],
) -> Option<Vec<&'r (i64, &'n NodeRow)>> {
    let mut owed: Vec<(&str, u64)> = counts.to_vec();
    let mut picked = Vec::with_capacity(count);
    for room in rooms {
        if picked.len() == count {
            break;
        }
        let has = |name: &str| room.1.features.iter().any(|f| f == name);
        let helps = owed.iter().any(|&(name, n)| n > 0 && has(name));
        let still_owed: u64 = owed.iter().map(|&(_, n)| n).sum();
        let places_left = (count - picked.len()) as u64;
        if helps || places_left > still_owed {
            picked.push(room);
            for (name, n) in &mut owed {
                if *n > 0 && has(name) {
                    *n -= 1;
                }
            }
        }
    }
    (picked.len() == count && owed.iter().all(|&(_, n)| n == 0)).then_some(picked)
}

/// Records that the job at `first` is expected on `node`, unless one of its tier is expected
/// there no later.
fn keep_first(first_on: &mut HashMap<String, Vec<FirstOfTier>>, node: &str, first: FirstOfTier) {
    let Some(firsts) = first_on.get_mut(node) else {
        first_on.insert(node.to_string(), vec![first]);
        return;
    };
    match firsts.iter_mut().find(|(tier, _, _)| *tier == first.0) {
        Some(kept) if kept.2 <= first.2 => {}
        Some(kept) => *kept = first,
        None => firsts.push(first),
    }
}

/// A job just queued says `None` until the scheduler has looked at it: it is queued ahead
/// all the same (live, a job submitted a second after another that waited was planned behind
/// it).
pub(super) fn waits_for_resources(job: &QueuedJob) -> bool {
    job.state == JobState::Pending
        && matches!(job.reason.as_str(), "Resources" | "Priority" | "None")
}

impl Holding {
    /// All of `node` until this one's end: what another user's job keeps of a node from a
    /// job of a partition kept to one user at a time (ExclusiveUser).
    pub(super) fn whole_node(self, node: &NodeRow) -> Holding {
        Holding::kept(node.cpus_total, node.gpus_total, node.memory_mib, self.end)
    }

    /// The same holding, with `gpus` GPUs (those of one type, say).
    pub(super) fn with_gpus(self, gpus: u64) -> Holding {
        Holding { gpus, ..self }
    }

    /// What a reservation keeps of a node until `end`: some of its cores, or all of it.
    pub(super) fn kept(cpus: u64, gpus: u64, mem_mib: u64, end: Option<i64>) -> Holding {
        Holding {
            end,
            cpus,
            gpus,
            mem_mib,
            same_partition: false,
        }
    }
}

/// What a job needs on each of its nodes.
#[derive(Debug, Clone, Copy)]
pub(super) struct Need {
    pub cpus: u64,
    pub gpus: u64,
    pub mem_mib: u64,
}

/// The GPU type whose GPUs alone count against a job that asks for `gpu_type` on `node`:
/// that type, where the node has GPUs of other types too; `None` where all its GPUs count.
pub(super) fn counted_type<'t>(gpu_type: Option<&'t str>, node: &NodeRow) -> Option<&'t str> {
    gpu_type.filter(|t| node.gpu_types.keys().any(|k| k != t))
}

/// `node` as a job sees it where only GPUs of `of_type` count (`counted_type`): those alone
/// are its GPUs (`NodeRow::of_type`); the node itself where all count.
pub(super) fn node_seen_as<'n>(node: &'n NodeRow, of_type: Option<&str>) -> Cow<'n, NodeRow> {
    match of_type {
        Some(t) => Cow::Owned(node.of_type(t)),
        None => Cow::Borrowed(node),
    }
}

/// The GPUs `job` holds that count: all of them, or with `of_type` those of that type;
/// `None` where its TRES does not say how many of that type it holds.
pub(super) fn gpus_held(job: &QueuedJob, of_type: Option<&str>) -> Option<u64> {
    match of_type {
        Some(t) => job.gpus_of_type(t),
        None => Some(job.gpus),
    }
}

/// The earliest time from `now` that `need` fits on `node`, as the jobs `holding` it end;
/// `None` when it never does (the node is too small). `shared_rows`: the rows of CPUs the
/// partition shares under OverSubscribe=FORCE.
fn room_from(
    need: Need,
    node: &NodeRow,
    holding: &[Holding],
    shared_rows: Option<u64>,
    now: i64,
) -> Option<i64> {
    // The jobs in the order they end (those without a time limit last): what is free grows
    // as each one ends, so each end is weighed once.
    let mut by_end: Vec<&Holding> = holding.iter().collect();
    by_end.sort_by_key(|h| h.end.unwrap_or(i64::MAX));
    let mut ended = 0;
    let mut at = now;
    loop {
        while by_end
            .get(ended)
            .is_some_and(|h| h.end.is_some_and(|end| end <= at))
        {
            ended += 1;
        }
        if fits(need, node, &by_end[ended..], shared_rows) {
            return Some(at);
        }
        at = by_end.get(ended)?.end?;
    }
}

/// Whether `need` fits on `node` beside the jobs `still_holding` it: GPUs and memory are
/// never shared, CPUs only among the partition's own jobs under OverSubscribe=FORCE
/// (`shared_rows`). A node whose memory sinfo did not give is not short of it.
pub(super) fn fits(
    need: Need,
    node: &NodeRow,
    still_holding: &[&Holding],
    shared_rows: Option<u64>,
) -> bool {
    let shares = |h: &Holding| shared_rows.is_some() && h.same_partition;
    let gpus: u64 = still_holding.iter().map(|h| h.gpus).sum();
    let mem: u64 = still_holding.iter().map(|h| h.mem_mib).sum();
    let unshared: u64 = still_holding
        .iter()
        .filter(|h| !shares(h))
        .map(|h| h.cpus)
        .sum();
    let cpus_free = match shared_rows {
        Some(rows) => {
            let ours = still_holding.iter().filter(|h| shares(h)).map(|h| h.cpus);
            super::oversubscribe::free_in_rows(node.cpus_total, unshared, ours.collect(), rows)
        }
        None => node.cpus_total.saturating_sub(unshared),
    };
    cpus_free >= need.cpus
        && node.gpus_total.saturating_sub(gpus) >= need.gpus
        && (node.memory_mib == 0 || node.memory_mib.saturating_sub(mem) >= need.mem_mib)
}

/// `job 3942 (nobody), queued ahead of this one, ...` in words, with `now` for the time; the
/// job's partition is named when it is not `partition`.
pub fn describe(held: &HeldUp<'_>, partition: &str, now: i64) -> String {
    let whose = if held.job.partition == partition {
        held.job.user.clone()
    } else {
        format!("{}, partition {}", held.job.user, held.job.partition)
    };
    let nodes = match (held.job.node_count(), &held.job.constraint) {
        _ if let Some(named) = &held.job.req_nodes => format!(" on {named}"),
        (1, None) => String::new(),
        (1, Some(c)) => format!(" on a node with features {c}"),
        (n, None) => format!(" on {n} nodes"),
        (n, Some(c)) => format!(" on {n} nodes with features {c}"),
    };
    let gpus = words::count(held.job.gpus, &words::gpu(held.job.gpu_type()));
    format!(
        "job {} ({whose}), queued ahead of this one, waits for {} and {gpus}{nodes} and is expected to start at {}",
        held.job.id,
        words::count(held.job.cpus, "CPU"),
        clock::when(held.start, now)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preflight::test_states::{N1_HALF_N2_FULL, two_nodes};
    use crate::slurm::constraint::Constraint;

    /// n1 half taken, n2 taken, and `queue`.
    fn state(queue: &str) -> ClusterState {
        two_nodes(N1_HALF_N2_FULL, queue)
    }

    fn request(minutes: u64) -> Request {
        Request::plain("gpu", 1, minutes * 60)
    }

    /// A job queued first under MaxTRESPU fails the partition where it has no room on the
    /// nodes now (2 CPUs, with one free on n1), not where it has (1 CPU); one held by its job
    /// count never does, as Slurm weighs that before looking for nodes.
    #[test]
    fn a_job_held_by_a_tres_limit_fails_the_partition_only_without_room() {
        let running = "1|gpu|me|RUNNING|0:00|10:00|1|cpu=1|gpu|None|N/A|n1|x\n\
                       2|gpu|you|RUNNING|0:00|10:00|2|cpu=2|gpu|None|N/A|n2|x\n";
        let queued = |cpus: u64, reason: &str| {
            format!("3|gpu|me|PENDING|0:00|10:00|{cpus}|cpu={cpus}|gpu|{reason}|N/A||x\n")
        };
        let failing = |cpus, reason| {
            let s = state(&format!("{running}{}", queued(cpus, reason)));
            s.failing_the_partition(&request(10)).map(|j| j.id.clone())
        };
        assert_eq!(failing(2, "QOSMaxGRESPerUser"), Some("3".to_string()));
        assert_eq!(failing(1, "QOSMaxGRESPerUser"), None);
        assert_eq!(failing(2, "QOSMaxJobsPerUserLimit"), None);
        assert_eq!(failing(1, "Resources"), Some("3".to_string()));
    }

    const RUNNING: &str = "1|gpu|a|RUNNING|0:00|10:00|1|cpu=1|normal|None|N/A|n1|x\n\
                           2|gpu|b|RUNNING|0:00|5:00|2|cpu=2|normal|None|N/A|n2|x\n";

    /// The job ahead needs a whole node: n2 frees first, so it is expected there and leaves
    /// n1 to a job of any length.
    #[test]
    fn a_job_ahead_holds_up_the_node_it_is_expected_on() {
        let s = state(&format!(
            "{RUNNING}3|gpu|c|PENDING|0:00|10:00|2|cpu=2|normal|Resources|N/A||x\n"
        ));
        let (n1, n2) = (&s.nodes[0], &s.nodes[1]);
        assert!(s.holds_up(n1, &request(60)).is_none());
        let held = s.holds_up(n2, &request(10)).unwrap();
        assert_eq!(held.job.id, "3");
        assert_eq!(held.start - s.now.unwrap(), 300);
        // A job that ends by then leaves it alone.
        assert!(s.holds_up(n2, &request(5)).is_none());
    }

    /// Once the backfill scheduler has planned the job ahead, its time is Slurm's.
    #[test]
    fn the_planned_start_is_slurms() {
        let s = state(&format!(
            "{RUNNING}3|gpu|c|PENDING|0:00|10:00|2|cpu=2|normal|Priority|2026-11-29T18:20:00||x\n"
        ));
        let held = s.holds_up(&s.nodes[1], &request(30)).unwrap();
        assert_eq!(held.start - s.now.unwrap(), 20 * 60);
        assert!(s.holds_up(&s.nodes[1], &request(20)).is_none());
    }

    /// Under OverSubscribe=FORCE:2 the job ahead shares the CPUs its partition's jobs hold,
    /// so it is expected once the GPUs free (10 min), not once those CPUs do (60 min).
    #[test]
    fn a_job_ahead_shares_cpus_under_force() {
        let with = |oversubscribe: &str| {
            let mut s = state(
                "1|gpu|a|RUNNING|0:00|10:00|1|cpu=1,gres/gpu=4|normal|None|N/A|n1|x\n\
                 2|gpu|b|RUNNING|0:00|1:00:00|1|cpu=1|normal|None|N/A|n1|x\n\
                 3|gpu|c|PENDING|0:00|10:00|2|cpu=2,gres/gpu=1|normal|Resources|N/A||x\n",
            );
            s.nodes.truncate(1);
            s.partitions = crate::slurm::scontrol::parse_partitions(&format!(
                "PartitionName=gpu Nodes=n1 OverSubscribe={oversubscribe}\n"
            ));
            s
        };
        let shared = with("FORCE:2");
        let held = shared.holds_up(&shared.nodes[0], &request(20)).unwrap();
        assert_eq!(held.start - shared.now.unwrap(), 10 * 60);
        let apart = with("NO");
        let held = apart.holds_up(&apart.nodes[0], &request(20));
        assert!(held.is_none(), "{held:?}");
        assert!(apart.holds_up(&apart.nodes[0], &request(61)).is_some());
    }

    /// A job ahead of two nodes' worth waits for both: n1 frees at 10 min, n2 at 5, so both
    /// are kept from 10 min, each for half its CPUs and GPUs. Alone it would fit neither.
    #[test]
    fn a_job_ahead_of_two_nodes_holds_up_both() {
        let s = state(&format!(
            "{RUNNING}3|gpu|c|PENDING|0:00|10:00|4|cpu=4,node=2,gres/gpu=8|normal|Resources|N/A||x\n"
        ));
        for node in &s.nodes {
            let held = s.holds_up(node, &request(11)).unwrap();
            assert_eq!(held.job.id, "3");
            assert_eq!(held.start - s.now.unwrap(), 600);
            assert!(s.holds_up(node, &request(10)).is_none());
        }
        assert!(
            describe(
                &s.holds_up(&s.nodes[0], &request(11)).unwrap(),
                "gpu",
                s.now.unwrap()
            )
            .contains("waits for 4 CPUs and 8 GPUs on 2 nodes")
        );
    }

    /// A job ahead that needs a feature only n1 has is expected there (in 10 min), though n2
    /// frees first: a long job on n2 does not hold it up.
    #[test]
    fn a_job_ahead_waits_for_a_node_with_its_features() {
        let mut s = state(&format!(
            "{RUNNING}3|gpu|c|PENDING|0:00|10:00|2|cpu=2|normal|Resources|N/A||x\n"
        ));
        s.nodes[0].features = vec!["ampere".into()];
        s.queue[2].constraint = Some(Constraint::parse("ampere").unwrap());
        assert!(s.holds_up(&s.nodes[1], &request(60)).is_none());
        let held = s.holds_up(&s.nodes[0], &request(11)).unwrap();
        assert_eq!(held.start - s.now.unwrap(), 600);
        assert!(
            describe(&held, "gpu", s.now.unwrap())
                .contains("waits for 2 CPUs and 0 GPUs on a node with features ampere")
        );
    }

    /// A job ahead of two nodes, one of them with ampere (`ampere*1`), which only n1 has
    /// (free in 10 min): then every node is free, and Slurm takes n1 and the first listed of
    /// the others, n2, though n3 is free now; so a long job on n3 holds nothing up. Read as
    /// two nodes of any kind, it was expected on n3 and n2 at 5 min; as nodes kept in the
    /// order they free, on n3 and n1.
    #[test]
    fn a_job_ahead_gets_as_many_nodes_with_a_feature_as_it_counts() {
        let mut s = state(&format!(
            "{RUNNING}3|gpu|c|PENDING|0:00|10:00|4|cpu=4,node=2|normal|Resources|N/A||x
"
        ));
        let mut n3 = s.nodes[1].clone();
        n3.node = "n3".into();
        n3.state = "idle".into();
        n3.cpus_allocated = 0;
        n3.cpus_idle = 2;
        s.nodes.push(n3);
        s.nodes[0].features = vec!["ampere".into()];
        s.queue[2].constraint = Some(Constraint::parse_queued("ampere*1").unwrap());
        assert!(s.holds_up(&s.nodes[2], &request(60)).is_none());
        for n in [0, 1] {
            let held = s.holds_up(&s.nodes[n], &request(11)).unwrap();
            assert_eq!(held.start - s.now.unwrap(), 600, "{}", s.nodes[n].node);
        }
        assert!(
            describe(
                &s.holds_up(&s.nodes[0], &request(11)).unwrap(),
                "gpu",
                s.now.unwrap()
            )
            .contains("on 2 nodes with features ampere*1")
        );
    }

    /// The spans a node is kept are joined where they overlap or meet, in time order.
    #[test]
    fn kept_spans_join_where_they_meet() {
        let mut kept = Kept::default();
        kept.keep("n1", 100, Some(200));
        kept.keep("n1", 300, Some(400));
        kept.keep("n1", 200, Some(250));
        assert_eq!(kept.on["n1"], [(100, Some(250)), (300, Some(400))]);
        kept.keep("n1", 240, Some(310));
        assert_eq!(kept.on["n1"], [(100, Some(400))]);
        kept.keep("n1", 500, None);
        assert_eq!(kept.on["n1"], [(100, Some(400)), (500, None)]);
    }

    /// A job takes a node kept later only if it ends by then; else it waits out each span it
    /// would run into, and one kept for good never takes a job without a time limit.
    #[test]
    fn a_job_waits_out_the_spans_it_would_run_into() {
        let mut kept = Kept::default();
        kept.keep("n1", 100, Some(200));
        kept.keep("n1", 300, Some(400));
        assert_eq!(kept.clear_from("n2", 0, Some(1000)), Some(0));
        assert_eq!(kept.clear_from("n1", 0, Some(100)), Some(0));
        assert_eq!(kept.clear_from("n1", 150, Some(100)), Some(200));
        assert_eq!(kept.clear_from("n1", 0, Some(101)), Some(400));
        assert_eq!(kept.clear_from("n1", 0, None), Some(400));
        kept.keep("n1", 500, None);
        assert_eq!(kept.clear_from("n1", 0, None), None);
        assert_eq!(kept.clear_from("n1", 0, Some(50)), Some(0));
    }

    proptest::proptest! {
        /// The heap of soonest times gives, job after job, what asking every node again
        /// would: the soonest node still free then, the first of equals, with jobs of other
        /// shapes planned between them.
        #[test]
        fn soonest_one_is_the_first_node_free(
            rooms in proptest::collection::vec(0i64..50, 1..6),
            seconds in 1i64..30,
            jobs in 1usize..12,
            others in proptest::collection::vec((0usize..6, 0i64..80, 1i64..30), 0..12),
        ) {
            let text: String = (0..rooms.len())
                .map(|i| format!("n{i}|gpu|idle|0/2/0/2|8000|0|gpu:4|gpu:0|\n"))
                .collect();
            let nodes = crate::slurm::sinfo::parse_nodes(&text);
            let mut heap = Rooms {
                nodes: rooms.iter().zip(&nodes).map(|(&at, n)| (at, n)).collect(),
                count: 1,
                counts: Vec::new(),
                soonest: (0..rooms.len()).map(|i| Reverse((rooms[i], i))).collect(),
            };
            let mut kept = Kept::default();
            // One heap is for jobs of one shape, time limit included.
            for job in 0..jobs {
                let asked = heap.nodes.iter().enumerate()
                    .filter_map(|(i, &(at, n))| Some((kept.clear_from(&n.node, at, Some(seconds))?, i)))
                    .min();
                let got = heap.soonest_one(Some(seconds), &kept);
                let want = asked.map(|(at, i)| (vec![nodes[i].node.as_str()], at));
                proptest::prop_assert_eq!(&got, &want);
                if let Some((on, at)) = got {
                    kept.keep(on[0], at, Some(at + seconds));
                }
                // A job of another shape planned between two of this one.
                if let Some(&(i, start, len)) = others.get(job) {
                    kept.keep(&format!("n{}", i % rooms.len()), start, Some(start + len));
                }
            }
        }
    }

    /// Nodes in the order they have room, each count met by the first that can: a node
    /// without the feature is taken only while places are left for those owed.
    #[test]
    fn counted_features_pick_the_first_nodes_that_meet_them() {
        let row = |name: &str, features: &str| NodeRow {
            node: name.into(),
            features: features
                .split(',')
                .filter(|f| !f.is_empty())
                .map(Into::into)
                .collect(),
            ..crate::slurm::sinfo::parse_nodes("x|gpu|idle|0/2/0/2|8000|0|gpu:4|gpu:0|\n")[0]
                .clone()
        };
        let nodes = [
            row("a", ""),
            row("b", ""),
            row("c", "r1"),
            row("d", "r2"),
            row("e", "r1,r2"),
        ];
        let rooms: Vec<(i64, &NodeRow)> = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (i as i64, n))
            .collect();
        let names = |count, counts: &[(&str, u64)]| {
            first_meeting_counts(&rooms, count, counts).map(|p| {
                p.iter()
                    .map(|(_, n)| n.node.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            })
        };
        assert_eq!(names(2, &[]).as_deref(), Some("a,b"));
        assert_eq!(names(2, &[("r1", 1)]).as_deref(), Some("a,c"));
        assert_eq!(names(3, &[("r1", 1), ("r2", 1)]).as_deref(), Some("a,c,d"));
        assert_eq!(names(2, &[("r1", 1), ("r2", 1)]).as_deref(), Some("c,d"));
        assert_eq!(names(2, &[("r1", 2)]).as_deref(), Some("c,e"));
        assert_eq!(names(2, &[("r2", 3)]), None);
    }

    /// A job ahead asking for a30 GPUs is expected on the node that has them (in 10 min),
    /// though n2's GPUs free first: a long job on n2 does not hold it up.
    #[test]
    fn a_job_ahead_waits_for_a_node_with_its_gpu_type() {
        let mut s = state(&format!(
            "{RUNNING}3|gpu|c|PENDING|0:00|10:00|2|cpu=2,gres/gpu=2,gres/gpu:a30=2|normal|Resources|N/A||x\n"
        ));
        s.nodes[0].gpu_types = [("a30".to_string(), 4)].into();
        s.nodes[1].gpu_types = [("h100".to_string(), 4)].into();
        assert_eq!(s.queue[2].gpu_type(), Some("a30"));
        assert!(s.holds_up(&s.nodes[1], &request(60)).is_none());
        let held = s.holds_up(&s.nodes[0], &request(11)).unwrap();
        assert!(
            describe(&held, "gpu", s.now.unwrap()).contains("waits for 2 CPUs and 2 a30 GPUs and")
        );
    }

    /// A job ahead that named n1 (`--nodelist`) is expected there (in 10 min), though n2
    /// frees first: a long job on n2 does not hold it up.
    #[test]
    fn a_job_ahead_waits_for_the_node_it_named() {
        let mut s = state(&format!(
            "{RUNNING}3|gpu|c|PENDING|0:00|10:00|2|cpu=2|normal|Resources|N/A||x\n"
        ));
        s.queue[2].req_nodes = Some("n1".into());
        assert!(s.holds_up(&s.nodes[1], &request(60)).is_none());
        let held = s.holds_up(&s.nodes[0], &request(11)).unwrap();
        assert_eq!(held.start - s.now.unwrap(), 600);
        assert!(
            describe(&held, "gpu", s.now.unwrap())
                .contains("waits for 2 CPUs and 0 GPUs on n1 and")
        );
    }

    /// Two jobs ahead alike but for the features they need are planned apart: the plan is
    /// worked out once per shape, and a shape counts the features too (it once did not, and
    /// the second job took the first one's node).
    #[test]
    fn jobs_ahead_alike_but_for_their_features_are_planned_apart() {
        let mut s = state(&format!(
            "{RUNNING}3|gpu|c|PENDING|0:00|10:00|2|cpu=2|normal|Resources|N/A||x\n\
             4|gpu|c|PENDING|0:00|10:00|2|cpu=2|normal|Resources|N/A||x\n"
        ));
        s.nodes[0].features = vec!["ampere".into()];
        s.nodes[1].features = vec!["hopper".into()];
        s.queue[2].constraint = Some(Constraint::parse("hopper").unwrap());
        s.queue[3].constraint = Some(Constraint::parse("ampere").unwrap());
        let on_n1 = s.holds_up(&s.nodes[0], &request(11)).unwrap();
        assert_eq!(on_n1.job.id, "4");
        assert_eq!(on_n1.start - s.now.unwrap(), 600);
        let on_n2 = s.holds_up(&s.nodes[1], &request(6)).unwrap();
        assert_eq!(on_n2.job.id, "3");
        assert_eq!(on_n2.start - s.now.unwrap(), 300);
    }

    /// Once the backfill scheduler has planned a job, its nodes are Slurm's (SchedNodes), not
    /// those that free first.
    #[test]
    fn the_planned_nodes_are_slurms() {
        let mut s = state(&format!(
            "{RUNNING}3|gpu|c|PENDING|0:00|10:00|2|cpu=2|normal|Priority|2026-11-29T18:20:00||x\n"
        ));
        s.queue[2].sched_nodes = Some("n1".into());
        assert!(s.holds_up(&s.nodes[0], &request(30)).is_some());
        assert!(s.holds_up(&s.nodes[1], &request(30)).is_none());
    }

    /// A job ahead that waits for memory is expected once the job holding it ends (10 min on
    /// n1), not on n2, whose CPUs free first but whose memory a longer job holds.
    #[test]
    fn a_job_ahead_waits_for_memory() {
        let s = state(
            "1|gpu|a|RUNNING|0:00|10:00|1|cpu=1,mem=7000M|normal|None|N/A|n1|x\n\
             2|gpu|b|RUNNING|0:00|5:00|1|cpu=1|normal|None|N/A|n2|x\n\
             4|gpu|d|RUNNING|0:00|1:00:00|1|cpu=1,mem=7000M|normal|None|N/A|n2|x\n\
             3|gpu|c|PENDING|0:00|10:00|1|cpu=1,mem=4000M|normal|Resources|N/A||x\n",
        );
        let held = s.holds_up(&s.nodes[0], &request(11)).unwrap();
        assert_eq!(held.start - s.now.unwrap(), 600);
        assert!(s.holds_up(&s.nodes[1], &request(30)).is_none());
    }

    /// A job queued a moment ago says `None` until the scheduler has looked at it: it is
    /// queued ahead all the same (it was once passed over, and a job submitted right after
    /// it was said to wait for Resources where Slurm gave Priority).
    #[test]
    fn a_job_just_queued_is_ahead() {
        let s = state(&format!(
            "{RUNNING}3|gpu|c|PENDING|0:00|10:00|2|cpu=2|normal|None|N/A||x\n"
        ));
        let held = s.holds_up(&s.nodes[1], &request(10)).unwrap();
        assert_eq!(held.job.id, "3");
    }

    /// A job held by a limit, or one no node can ever take, holds nothing back.
    #[test]
    fn jobs_not_waiting_for_nodes_hold_nothing_up() {
        let s = state(&format!(
            "{RUNNING}3|gpu|c|PENDING|0:00|10:00|2|cpu=2|normal|QOSMaxJobsPerUserLimit|N/A||x\n\
             4|gpu|c|PENDING|0:00|10:00|8|cpu=8|normal|Resources|N/A||x\n"
        ));
        assert!(s.holds_up(&s.nodes[1], &request(60)).is_none());
    }
}
