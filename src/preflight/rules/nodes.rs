//! What keeps a job off the nodes: nodes out of service (down, drained, reserved before the
//! job would end), a partition set DOWN, the job's reservation not begun, nodes without room
//! now (counting the cores a reservation keeps and what preempted jobs would free), and jobs
//! queued ahead; and the sentence for a job that starts.

use std::collections::HashSet;

use crate::slurm::clock;
use crate::slurm::duration::format_seconds;
use crate::slurm::hostlist::abridged;
use crate::slurm::scontrol::{OverSubscribe, Reservation};
use crate::slurm::sinfo::NodeRow;
use crate::slurm::squeue::QueuedJob;

use super::super::queue_ahead::{self, HeldUp};
use super::super::reason::Reason;
use super::super::usage;
use super::super::{ClusterState, Request};
use super::{Ctx, Effect, Finding, words};

/// Why a job behind one that named its nodes may not use them.
const KEPT_FOR_NAMED_JOBS: &str =
    "Slurm keeps the nodes a job queued ahead names (`--nodelist`) from the jobs queued behind it";

impl Ctx<'_> {
    /// Every node of the partition (with the features asked for) down, drained or reserved,
    /// now or before the job would end.
    pub(super) fn nodes_unavailable(&self) -> Option<Finding> {
        if self.fitting.is_empty()
            || self
                .fitting
                .iter()
                .any(|n| self.state.node_open(n, self.req))
        {
            return None;
        }
        let up: Vec<&NodeRow> = self.fitting.iter().copied().filter(|n| n.is_up()).collect();
        let reserved = up
            .iter()
            .find_map(|n| self.state.reservation_in_the_way(n, self.req));
        if let Some(r) = reserved {
            return Some(
                self.reserved(r)
                    .expecting(self.state.expected_start(self.req, self.cpus, &up)),
            );
        }
        let states: Vec<String> = self
            .fitting
            .iter()
            .map(|n| format!("{} {}", n.node, n.state))
            .collect();
        Some(Finding::new(
            Reason::ReqNodeNotAvail,
            Effect::Pends,
            format!(
                "every node of partition {}{} is down, drained or reserved ({}); it waits until an admin brings one back",
                self.partition.name,
                self.req.which_nodes(),
                states.join(", ")
            ),
        ))
    }

    /// A partition an administrator set to DOWN: the job is queued and waits for it.
    pub(super) fn partition_down(&self) -> Finding {
        let p = &self.partition.name;
        Finding::new(
            Reason::PartitionDown,
            Effect::Pends,
            format!(
                "partition {p} is DOWN: Slurm queues the job but starts nothing there until an administrator brings the partition up (`sinfo -p {p}` shows it)"
            ),
        )
    }

    /// The job's reservation has not begun.
    pub(super) fn reservation_ahead(&self) -> Option<Finding> {
        let r = self
            .state
            .reservation_named(self.req.reservation.as_deref()?)?;
        let (start, now) = (r.start?, self.state.now?);
        (start > now).then(|| {
            Finding::new(
                Reason::Reservation,
                Effect::Pends,
                format!(
                    "reservation {} begins at {}; the job waits for it",
                    r.name,
                    clock::when_and_how_soon(start, now)
                ),
            )
        })
    }

    /// The nodes that are up are reserved now, or from before the job would end.
    fn reserved(&self, r: &Reservation) -> Finding {
        let p = &self.partition.name;
        let what = if r.is_maintenance() {
            format!("maintenance (reservation {})", r.name)
        } else {
            format!("reservation {}", r.name)
        };
        let now = self.state.now.unwrap_or_default();
        let until = match r.end {
            Some(end) => format!("it ends at {}", clock::when_and_how_soon(end, now)),
            None => "it has no end time".to_string(),
        };
        let message = match r.start {
            Some(start) if start > now => {
                let fits = time_before(start, now)
                    .map(|t| format!("ask for at most {t} (`--time`) to start now, or "))
                    .unwrap_or_default();
                format!(
                    "the nodes of partition {p} that are up are kept for {what} from {}, and this job's time limit of {} would run into it: {fits}it waits until {until}",
                    clock::when_and_how_soon(start, now),
                    format_seconds(self.req.time_seconds),
                )
            }
            _ => format!(
                "the nodes of partition {p} that are up are kept for {what}, and it waits until {until}"
            ),
        };
        Finding::new(Reason::ReqNodeNotAvail, Effect::Pends, message)
    }

    /// No usable node with room for the job now.
    pub(super) fn nodes_busy(&self) -> Option<Finding> {
        let usable: Vec<&NodeRow> = self
            .fitting
            .iter()
            .copied()
            .filter(|n| self.state.node_open(n, self.req))
            .collect();
        if usable.is_empty() {
            return None;
        }
        let gpu_type = self.req.gpu_type.as_deref();
        let room_now: Vec<&NodeRow> = usable
            .iter()
            .copied()
            .filter(|n| self.state.room_on(n, self.req, self.cpus, false))
            .collect();
        if !room_now.is_empty() {
            return self.queued_ahead(&room_now, &usable);
        }
        // Room once lower-tier jobs are preempted: it starts (`room_message` names them).
        if usable
            .iter()
            .any(|n| self.state.room_on(n, self.req, self.cpus, true))
        {
            return None;
        }
        if let Some(found) = self.beyond_own_cores(&usable) {
            return Some(found);
        }
        let gpu = words::gpu(gpu_type);
        let free_gpus: u64 = usable.iter().map(|n| n.free_gpus_of(gpu_type)).sum();
        let total_gpus: u64 = usable.iter().map(|n| n.gpus_of(gpu_type)).sum();
        let free_cpus: u64 = usable
            .iter()
            .map(|n| self.state.cpus_open(n, self.req))
            .sum();
        let total_cpus: u64 = usable.iter().map(|n| n.cpus_total).sum();
        let reserved = self.cpus_kept_words(&usable);
        let in_own_cores = usable
            .iter()
            .any(|n| self.state.own_cores(n, self.req).is_some());
        let waits_for = if in_own_cores {
            "the jobs running in its reservation to end"
        } else if reserved.is_empty() {
            "running jobs to end"
        } else {
            "running jobs or the reservation to end"
        };
        let kept = reserved + &self.sharing_words(&usable) + &self.shared_cpus_words();
        // Memory is never shared: say so when no node has as much free as the job asks.
        let most_memory = usable
            .iter()
            .map(|n| n.memory_mib.saturating_sub(n.memory_allocated_mib))
            .max()
            .unwrap_or(0);
        let memory = match usage::memory_of(self.req, self.state) {
            Some(asked) if asked > most_memory => {
                format!(" and {asked} MiB of memory (the most free on a node is {most_memory} MiB)")
            }
            _ => String::new(),
        };
        // Once a job of the partition waits for resources, Slurm's scheduler passes the jobs
        // queued behind it there by with the reason Priority (as captured); one that named its
        // nodes keeps only those.
        let ahead = self
            .state
            .waiting_for_resources()
            .find(|j| j.partition == self.partition.name && !j.names_its_nodes());
        if ahead.is_none()
            && let Some(job) = self.kept_for_named_jobs(&usable)
        {
            return Some(self.kept_for(job, &usable));
        }
        let (reason, behind) = match ahead {
            Some(j) => (
                Reason::Priority,
                format!(
                    "; job {} ({}), queued ahead of this one{}, so Slurm gives Priority as the reason{}",
                    j.id,
                    j.user,
                    // A job queued a moment ago has no reason until the scheduler looks at it.
                    match j.reason.as_str() {
                        "None" =>
                            " a moment ago, before Slurm looked at it, will wait for resources there too",
                        _ => ", waits for resources there too",
                    },
                    self.may_rank_above()
                ),
            ),
            None => (Reason::Resources, String::new()),
        };
        let expected_start = self.state.expected_start(self.req, self.cpus, &usable);
        let found = Finding::new(
            reason,
            Effect::Pends,
            format!(
                "{} {free_gpus} of {} and {free_cpus} of {} free{kept}; this job asks for {} and {}{memory} on one node, so it waits for {waits_for}{behind}",
                match (&self.req.nodelist, self.req.which_nodes()) {
                    (Some(node), _) =>
                        format!("node {node} of partition {} has", self.partition.name),
                    (None, which) if which.is_empty() =>
                        format!("partition {} has", self.partition.name),
                    (None, which) =>
                        format!("partition {}'s nodes{which} have", self.partition.name),
                },
                words::count(total_gpus, &gpu),
                words::count(total_cpus, "CPU"),
                words::count(self.req.gpus, &gpu),
                words::count(self.cpus, "CPU")
            ),
        );
        Some(found.expecting(expected_start))
    }

    /// Under priority/multifactor a new job may rank above queued ones: every queued job is
    /// taken as ahead, and the sentence says it may go first.
    fn may_rank_above(&self) -> &'static str {
        if self.state.config.multifactor_priority {
            " (PriorityType is priority/multifactor: Slurm may rank this job above some queued ones, and then it starts sooner)"
        } else {
            ""
        }
    }

    /// `; partition gpu gives each job whole nodes (OverSubscribe=EXCLUSIVE), and 1 of its 1
    /// nodes runs jobs`: why nodes with room do not take the job.
    fn sharing_words(&self, usable: &[&NodeRow]) -> String {
        let p = self.partition;
        let taken = usable
            .iter()
            .filter(|n| !self.state.may_share(n, p, self.req))
            .count();
        if taken == 0 {
            return String::new();
        }
        if self.req.exclusive && !p.whole_nodes() {
            return format!(
                "; it asks for a node of its own (`exclusive`), and jobs run on {taken} of the {} it may use",
                words::count(usable.len() as u64, "node")
            );
        }
        let rule = if p.whole_nodes() {
            "gives each job whole nodes (OverSubscribe=EXCLUSIVE), and jobs run on"
        } else {
            "runs one user's jobs on a node at a time (ExclusiveUser), and other users' jobs run on"
        };
        format!(
            "; partition {} {rule} {taken} of its {}",
            p.name,
            words::count(usable.len() as u64, "node")
        )
    }

    /// `; partition normal lets up to 2 of its jobs share each CPU (OverSubscribe=FORCE:2),
    /// not CPUs that other partitions' jobs hold`: why CPUs in use count as free, or do not.
    fn shared_cpus_words(&self) -> String {
        match self.partition.oversubscribe {
            OverSubscribe::Force(n) if n > 1 => format!(
                "; partition {} lets up to {n} of its jobs share each CPU (OverSubscribe=FORCE:{n}), not CPUs that other partitions' jobs hold",
                self.partition.name
            ),
            _ => String::new(),
        }
    }

    /// The job queued ahead that named a node (`--nodelist`) and waits for resources, when
    /// such jobs name every node in `usable`: Slurm then keeps them all from this job.
    fn kept_for_named_jobs(&self, usable: &[&NodeRow]) -> Option<&QueuedJob> {
        let kept: Option<Vec<&QueuedJob>> = usable
            .iter()
            .map(|n| self.state.kept_for_named_job(n, self.req))
            .collect();
        kept?.first().copied()
    }

    /// Every node the job may use kept for `job`, queued ahead, which named it.
    fn kept_for(&self, job: &QueuedJob, usable: &[&NodeRow]) -> Finding {
        let p = &self.partition.name;
        let which = match usable {
            [one] => format!(
                "node {}, the only one of partition {p} this job may use now, is",
                one.node
            ),
            all => {
                let nodes: Vec<&str> = all.iter().map(|n| n.node.as_str()).collect();
                format!(
                    "nodes {}, the only ones of partition {p} this job may use now, are",
                    abridged(&nodes, 8)
                )
            }
        };
        Finding::new(
            Reason::ReqNodeNotAvail,
            Effect::Pends,
            format!(
                "{which} kept for job {} ({}), queued ahead of this one, which named {} and waits for resources: {KEPT_FOR_NAMED_JOBS}, so this one waits behind it{}",
                job.id,
                job.user,
                job.req_nodes.as_deref().unwrap_or_default(),
                self.may_rank_above()
            ),
        )
        .expecting(self.state.expected_start(self.req, self.cpus, usable))
    }

    /// Nodes with room now, on each of which a job queued ahead is expected to start before
    /// this one would end: Slurm starts this one after those.
    fn queued_ahead(&self, room_now: &[&NodeRow], usable: &[&NodeRow]) -> Option<Finding> {
        let held: Vec<HeldUp> = room_now
            .iter()
            .map(|n| self.state.holds_up(n, self.req))
            .collect::<Option<_>>()?;
        let now = self.state.now?;
        // On the node where the job ahead starts last, a job ending by then starts now.
        let first = held.iter().max_by_key(|h| h.start)?;
        let shorter = time_before(first.start, now)
            .map(|t| {
                format!(
                    "ask for at most {t} (`--time`) and the backfill scheduler starts it within a minute, or "
                )
            })
            .unwrap_or_default();
        // Slurm says Priority when the job ahead is of the same partition, and that the
        // nodes are kept for a higher-priority partition's job when it is another's. A job
        // ahead that named its nodes keeps only those: unavailable when they are all this
        // job may use, else this one waits for Resources elsewhere (as captured).
        let reason = if first.job.names_its_nodes() {
            if self.kept_for_named_jobs(usable).is_some() {
                Reason::ReqNodeNotAvail
            } else {
                Reason::Resources
            }
        } else if first.job.partition == self.partition.name {
            Reason::Priority
        } else {
            Reason::ReqNodeNotAvail
        };
        let kept = if reason == Reason::ReqNodeNotAvail && first.job.names_its_nodes() {
            format!(" ({KEPT_FOR_NAMED_JOBS})")
        } else {
            String::new()
        };
        let found = Finding::new(
            reason,
            Effect::Pends,
            format!(
                "partition {} has room for it now, but {}, and this job's time limit of {} would hold that one up: {shorter}it waits its turn{kept}{}",
                self.partition.name,
                queue_ahead::describe(first, &self.partition.name, now),
                format_seconds(self.req.time_seconds),
                self.may_rank_above()
            ),
        );
        Some(found.expecting(self.state.expected_start(self.req, self.cpus, usable)))
    }

    /// A job in a reservation of some cores has only those: asking for more CPUs than it keeps
    /// on any node, the job never starts in it.
    fn beyond_own_cores(&self, usable: &[&NodeRow]) -> Option<Finding> {
        let own: Vec<(&Reservation, u64)> = usable
            .iter()
            .map(|n| self.state.own_cores(n, self.req))
            .collect::<Option<_>>()?;
        let most = own.iter().map(|(_, cpus)| *cpus).max()?;
        (most < self.cpus).then(|| {
            Finding::new(
                Reason::Resources,
                Effect::PendsForever,
                format!(
                    "reservation {} keeps {} of a node, and a job in it runs on those alone; this job asks for {} on one node, so it will never start there unless an administrator gives the reservation more cores",
                    own[0].0.name,
                    words::count(most, "CPU"),
                    words::count(self.cpus, "CPU")
                ),
            )
        })
    }

    /// `, 1 more kept for reservation yj-cores until 18:48`: the CPUs of these nodes that
    /// reservations of some cores keep from the job, or that the job's own has no more of.
    fn cpus_kept_words(&self, usable: &[&NodeRow]) -> String {
        let now = self.state.now.unwrap_or_default();
        let mut kept: Vec<(&Reservation, u64)> = Vec::new();
        for n in usable {
            for (r, cpus) in self.state.cpus_kept_from(n, self.req) {
                match kept.iter_mut().find(|(seen, _)| seen.name == r.name) {
                    Some((_, total)) => *total += cpus,
                    None => kept.push((r, cpus)),
                }
            }
        }
        let mut words: Vec<String> = kept
            .iter()
            .map(|(r, cpus)| match (r.start, r.end) {
                (Some(start), _) if start > now => {
                    let fits = time_before(start, now)
                        .map(|t| format!("; ask for at most {t} (`--time`) to run before it"))
                        .unwrap_or_default();
                    format!(
                        "{cpus} more kept for reservation {} from {}, in {}, which this job's time limit of {} would run into{fits}",
                        r.name,
                        clock::when(start, now),
                        clock::in_words(start - now),
                        format_seconds(self.req.time_seconds)
                    )
                }
                (_, Some(end)) => format!(
                    "{cpus} more kept for reservation {} until {}",
                    r.name,
                    clock::when(end, now)
                ),
                (_, None) => format!("{cpus} more kept for reservation {}", r.name),
            })
            .collect();
        let own: Vec<(&Reservation, u64, u64)> = usable
            .iter()
            .filter_map(|n| {
                let (r, cpus) = self.state.own_cores(n, self.req)?;
                Some((r, cpus, self.state.cpus_open(n, self.req)))
            })
            .collect();
        if let Some((r, _, _)) = own.first() {
            let cpus: u64 = own.iter().map(|(_, cpus, _)| cpus).sum();
            let left: u64 = own.iter().map(|(_, _, left)| left).sum();
            words.push(format!(
                "reservation {}, which this job runs in, has {left} of its {cpus} free",
                r.name
            ));
        }
        if words.is_empty() {
            String::new()
        } else {
            format!(" ({})", words.join("; "))
        }
    }
}

/// `, by preempting job 12 (nobody, partition normal, PriorityTier 1 below gpu's 2; PreemptMode
/// REQUEUE)`: the job has no room on its `open` nodes without preempting.
fn preempting_words(req: &Request, state: &ClusterState, open: &[&NodeRow], cpus: u64) -> String {
    let Some(node) = open.iter().find(|n| state.room_on(n, req, cpus, true)) else {
        return String::new();
    };
    let mine = state
        .partition(&req.partition)
        .map_or(0, |p| p.priority_tier);
    let jobs: Vec<String> = state
        .preemptable_on(node, req)
        .jobs
        .iter()
        .map(|j| {
            let theirs = state.partition(&j.partition);
            let mode = theirs
                .and_then(|p| p.preempt_mode.as_deref())
                .map(|m| format!("; PreemptMode {m}"))
                .unwrap_or_default();
            let why = if state.config.preempt_type == crate::slurm::config::PreemptType::Qos {
                format!(
                    "QOS {}, which QOS {}'s Preempt list names",
                    j.qos,
                    super::job_qos(req, state)
                )
            } else {
                format!(
                    "partition {}, PriorityTier {} below {}'s {mine}{mode}",
                    j.partition,
                    theirs.map_or(0, |p| p.priority_tier),
                    req.partition
                )
            };
            format!("job {} ({}, {why})", j.id, j.user)
        })
        .collect();
    format!(", by preempting {}", jobs.join(", "))
}

/// `, sharing CPUs with other jobs of partition normal (OverSubscribe=FORCE:2)`, when every
/// node that has room for the job now (`with_room`) has it only on CPUs that its partition's
/// jobs already use.
fn sharing_cpus_words(
    req: &Request,
    state: &ClusterState,
    with_room: &[&NodeRow],
    cpus: u64,
) -> String {
    let Some(partition) = state.partition(&req.partition) else {
        return String::new();
    };
    if !with_room.iter().all(|n| state.shares_cpus(n, req, cpus)) {
        return String::new();
    }
    format!(
        ", sharing CPUs with other jobs of partition {} (OverSubscribe={})",
        partition.name, partition.oversubscribe
    )
}

/// The sentence for a job that starts now.
pub fn room_message(req: &Request, state: &ClusterState) -> String {
    let gpus = words::count(req.gpus, &words::gpu(req.gpu_type.as_deref()));
    let cpus = usage::cpus_of(req, state);
    let on = match (req.which_nodes(), req.exclusive) {
        (which, false) if which.is_empty() => which,
        (which, false) => format!(" on a node{which}"),
        (which, true) => format!(" on a node{which} of its own (`exclusive`)"),
    };
    let mut message = format!(
        "partition {} has room for {gpus} and {}{on} now",
        req.partition,
        words::count(cpus, "CPU"),
    );
    // One pass over the partition's nodes serves both: a job that has room without
    // preempting may share CPUs; one that has none preempts.
    let open: Vec<&NodeRow> = state
        .nodes_for(req)
        .filter(|n| state.node_open(n, req))
        .collect();
    let with_room: Vec<&NodeRow> = open
        .iter()
        .copied()
        .filter(|n| state.room_on(n, req, cpus, false))
        .collect();
    message.push_str(&if with_room.is_empty() {
        preempting_words(req, state, &open, cpus)
    } else {
        sharing_cpus_words(req, state, &with_room, cpus)
    });
    message.push_str(&jobs_ahead_words(req, state, &with_room));
    message
}

/// What the jobs queued ahead for resources in `req`'s partition leave it, where it has room
/// now on `with_room`: the queue plan expects some on other nodes (those they ask for, or
/// that free first for them); the others it does not hold up (else it would wait its turn),
/// as it ends before they are expected to start.
fn jobs_ahead_words(req: &Request, state: &ClusterState, with_room: &[&NodeRow]) -> String {
    let plan = state.queue_plan();
    let expected_on = |n: &NodeRow| plan.planned_on(&n.node).iter().map(|p| p.at);
    let here: HashSet<usize> = with_room.iter().flat_map(|n| expected_on(n)).collect();
    // Of the whole partition: a job ahead may be expected on a node this one may not use.
    let anywhere: HashSet<usize> = state
        .nodes_of(&req.partition)
        .flat_map(expected_on)
        .collect();
    let (mut elsewhere, mut there) = (0u64, 0u64);
    for (at, job) in state.queue.iter().enumerate() {
        if job.partition != req.partition || !queue_ahead::waits_for_resources(job) {
            continue;
        }
        match anywhere.contains(&at) && !here.contains(&at) {
            true => elsewhere += 1,
            false => there += 1,
        }
    }
    let waits = |n: u64| if n == 1 { "waits" } else { "wait" };
    let mut parts = Vec::new();
    if elsewhere > 0 {
        let (is, nodes) = match elsewhere {
            1 => ("is", "another node"),
            _ => ("are", "other nodes"),
        };
        parts.push(format!(
            "{} queued ahead {} for resources there, but {is} expected on {nodes}",
            words::count(elsewhere, "job"),
            waits(elsewhere)
        ));
    }
    if there > 0 {
        let they = if there == 1 { "it is" } else { "they are" };
        let ahead = match elsewhere {
            0 => words::count(there, "job"),
            _ => format!("{there} more"),
        };
        parts.push(format!(
            "{ahead} queued ahead {} for resources there; this one ends before {they} expected to start, so the backfill scheduler starts it within a minute",
            waits(there)
        ));
    }
    match parts.is_empty() {
        true => String::new(),
        false => format!(" ({})", parts.join("; ")),
    }
}

/// The longest time limit, in whole minutes, of a job starting `now` that ends by `start`;
/// `None` when that is under a minute.
fn time_before(start: i64, now: i64) -> Option<String> {
    let minutes = u64::try_from(start - now).ok()? / 60;
    (minutes > 0).then(|| format_seconds(minutes * 60))
}
