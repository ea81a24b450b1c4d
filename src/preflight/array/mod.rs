//! The pre-flight of a job array: Slurm counts every task as a job. At submit, all tasks
//! count toward MaxSubmitPU and the last index must stay under MaxArraySize (`assess` checks
//! both, with `Request::tasks`). Once accepted, tasks start one by one while each finds room:
//! this module starts them in a copy of the cluster's state until one would wait, and says
//! why. It also derives the throttle `%K` that keeps the array off limits its tasks cannot
//! pass: a task beyond MaxJobsPU or MaxTRESPU only waits, and holds the queue while it does.
//! `timeline` carries the simulation on to when the waiting tasks start and the last ends.

mod timeline;

pub use timeline::{Timeline, of_queued_array};

use crate::slurm::duration::SlurmTime;
use crate::slurm::sacctmgr::Qos;
use crate::slurm::squeue::QueuedJob;
use crate::slurm::state::JobState;
use crate::slurm::tres::Tres;

use super::rules::{self, Effect};
use super::{ClusterState, Outcome, Reason, Request, Verdict, usage};

/// At most this many tasks at once, and which limit says so.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Throttle {
    pub limit: u64,
    /// `QOS gpu allows 2 running jobs per user (MaxJobsPU)`.
    pub because: String,
}

/// What the verdict of an array adds to a job's.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ArrayPlan {
    pub tasks: u64,
    /// Tasks that start as soon as the array is submitted.
    pub start_now: u64,
    /// Tasks that wait, for `wait_reason` first.
    pub wait: u64,
    pub wait_reason: Option<Reason>,
    /// The `%K` of `--array=0-N%K`; `None` when every task may run at once.
    pub throttle: Option<Throttle>,
    /// When the waiting tasks are expected to start and the last to end, if each runs to its
    /// time limit; `None` where a task waits for something that does not end on its own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeline: Option<Timeline>,
}

/// The smallest of `max_parallel`, MaxJobsPU and, for each resource a task asks for, how many
/// tasks MaxTRESPU lets one user run (each limit from the first QOS that sets it, as Slurm
/// takes them), the same per account (MaxJobsPA, MaxTRESPA) and for all users (GrpJobs,
/// GrpTRES), the association's MaxJobs and the account's own GrpJobs and GrpTRES. `None` when
/// none is below the task count.
pub fn throttle(
    req: &Request,
    max_parallel: Option<u32>,
    state: &ClusterState,
) -> Option<Throttle> {
    let mut candidates: Vec<Throttle> = Vec::new();
    if let Some(k) = max_parallel {
        candidates.push(Throttle {
            limit: u64::from(k),
            because: format!("max_parallel = {k} in [sweep]"),
        });
    }
    let asked = usage::requested(req, state);
    let mut jobs_seen = false;
    let mut tres_seen: Vec<&str> = Vec::new();
    for q in rules::limiting_qos(req, state) {
        if let Some(max) = q.max_jobs_per_user.filter(|_| !jobs_seen) {
            jobs_seen = true;
            candidates.push(Throttle {
                limit: max,
                because: format!(
                    "QOS {} allows {max} running jobs per user (MaxJobsPU)",
                    q.name
                ),
            });
        }
        for (tres, each) in asked.in_slurm_order() {
            if each == 0 || tres_seen.contains(&tres) {
                continue;
            }
            if let Some(max) = q.max_tres_per_user.get(tres) {
                tres_seen.push(tres);
                candidates.push(Throttle {
                    limit: max / each,
                    because: format!(
                        "QOS {} allows {max} {tres} per user (MaxTRESPU) and each task asks for {each}",
                        q.name
                    ),
                });
            }
        }
    }
    // A QOS's per-account and all-users limits are shared with others, like the account's own
    // limits below: the array never needs more tasks at once than they let run.
    type JobsOf = fn(&Qos) -> Option<u64>;
    type TresOf = fn(&Qos) -> &Tres;
    let shared: [(&str, JobsOf, &str, TresOf, &str); 2] = [
        (
            "per account",
            |q| q.max_jobs_per_account,
            "MaxJobsPA",
            |q| &q.max_tres_per_account,
            "MaxTRESPA",
        ),
        (
            "for all users together",
            |q| q.grp_jobs,
            "GrpJobs",
            |q| &q.grp_tres,
            "GrpTRES",
        ),
    ];
    for (per, jobs_of, jobs_name, tres_of, tres_name) in shared {
        let mut shared_jobs_seen = false;
        let mut shared_tres_seen: Vec<&str> = Vec::new();
        for q in rules::limiting_qos(req, state) {
            if let Some(max) = jobs_of(q).filter(|_| !shared_jobs_seen) {
                shared_jobs_seen = true;
                candidates.push(Throttle {
                    limit: max,
                    because: format!(
                        "QOS {} allows {max} running jobs {per} ({jobs_name}), shared with others",
                        q.name
                    ),
                });
            }
            for (tres, each) in asked.in_slurm_order() {
                if each == 0 || shared_tres_seen.contains(&tres) {
                    continue;
                }
                if let Some(max) = tres_of(q).get(tres) {
                    shared_tres_seen.push(tres);
                    candidates.push(Throttle {
                        limit: max / each,
                        because: format!(
                            "QOS {} allows {max} {tres} {per} ({tres_name}) and each task asks for {each}",
                            q.name
                        ),
                    });
                }
            }
        }
    }
    if !jobs_seen
        && let Some(a) = rules::pick_association(req, state)
        && let Some(max) = a.max_jobs
    {
        candidates.push(Throttle {
            limit: max,
            because: format!(
                "your association ({}) allows {max} running jobs",
                a.describe()
            ),
        });
    }
    // An account's own limits are shared with its other users: the array never needs more
    // than the account can run at once even when they run nothing.
    let account = usage::account_of(req, state)
        .map(|a| usage::account_chain(a, state))
        .unwrap_or_default();
    for a in account {
        if let Some(max) = a.grp_jobs {
            candidates.push(Throttle {
                limit: max,
                because: format!(
                    "account {} allows {max} running jobs for all its users together (GrpJobs)",
                    a.account
                ),
            });
        }
        for (tres, each) in asked.in_slurm_order() {
            if each == 0 {
                continue;
            }
            if let Some(max) = a.grp_tres.get(tres) {
                candidates.push(Throttle {
                    limit: max / each,
                    because: format!(
                        "account {} allows {max} {tres} for all its users together (GrpTRES) and each task asks for {each}",
                        a.account
                    ),
                });
            }
        }
    }
    candidates
        .into_iter()
        .filter(|t| t.limit > 0)
        .min_by_key(|t| t.limit)
        .filter(|t| t.limit < req.tasks)
}

/// The verdict of an array of `req.tasks` tasks run with `throttle`: refused as a whole, or
/// how many tasks start now and why the next one waits.
pub fn assess_array(req: &Request, throttle: Option<Throttle>, state: &ClusterState) -> Verdict {
    let mut verdict = super::assess(req, state);
    let mut plan = ArrayPlan {
        tasks: req.tasks,
        start_now: 0,
        wait: req.tasks,
        wait_reason: verdict.reason,
        throttle: throttle.clone(),
        timeline: None,
    };
    if verdict.outcome == Outcome::Rejected {
        verdict.array = Some(plan);
        return verdict;
    }
    let cap = throttle.as_ref().map_or(req.tasks, |t| t.limit);
    let one = Request {
        tasks: 1,
        ..req.clone()
    };
    let mut now = state.clone();
    let mut waits_for: Option<(Reason, String)> = None;
    let mut preempted: Vec<QueuedJob> = Vec::new();
    while plan.start_now < req.tasks {
        if plan.start_now >= cap {
            waits_for = Some((
                Reason::JobArrayTaskLimit,
                format!("the array's throttle %{cap} lets {cap} of its tasks run at once"),
            ));
            break;
        }
        // Refusals were settled for the whole array above; what is left is why a task waits.
        match rules::findings(&one, &now)
            .into_iter()
            .find(|f| f.effect != Effect::Refused)
        {
            Some(f) => {
                waits_for = Some((f.reason, f.sentence()));
                break;
            }
            None => {
                preempted.extend(start_task(&one, &mut now, plan.start_now));
                plan.start_now += 1;
            }
        }
    }
    plan.wait = req.tasks - plan.start_now;
    plan.wait_reason = waits_for.as_ref().map(|(r, _)| *r);
    plan.timeline =
        timeline::timeline(&one, cap, req.tasks, plan.start_now, plan.wait_reason, &now);
    let n = req.tasks;
    let preempting = preempting_words(&preempted);
    match (plan.start_now, &waits_for) {
        (_, None) if !preempted.is_empty() => {
            verdict.message = format!("all {n} tasks start now{preempting}");
        }
        (_, None) => {
            verdict.message = format!("all {n} tasks start now: {}", verdict.message);
        }
        (0, Some(_)) => {
            verdict.message = format!("none of the {n} tasks starts now: {}", verdict.message);
        }
        (k, Some((reason, why))) => {
            verdict.outcome = Outcome::StartsNow;
            verdict.reason = None;
            verdict.never_starts = false;
            verdict.message = format!(
                "{k} of {n} tasks start now{preempting}; the other {} wait ({reason}): {why}",
                n - k
            );
        }
    }
    verdict.array = Some(plan);
    verdict
}

/// `, preempting job 4109 (nobody, partition normal)`: the running jobs the array's tasks
/// take the place of.
fn preempting_words(preempted: &[QueuedJob]) -> String {
    if preempted.is_empty() {
        return String::new();
    }
    let jobs: Vec<String> = preempted
        .iter()
        .map(|j| {
            format!(
                "job {} ({}, partition {}, QOS {})",
                j.id, j.user, j.partition, j.qos
            )
        })
        .collect();
    format!(", preempting {}", jobs.join(", "))
}

/// The first open node of `req`'s partition with room for a task (`cpus` CPUs) now, that it
/// would not take from a job queued ahead; `preempting`: counting what lower-priority jobs
/// there hold as free.
fn node_with_room(
    req: &Request,
    state: &ClusterState,
    cpus: u64,
    preempting: bool,
) -> Option<String> {
    // A task that preempts goes ahead of the jobs queued; one that does not waits its turn.
    state
        .nodes_for(req)
        .filter(|n| state.node_open(n, req))
        .find(|n| {
            state.room_on(n, req, cpus, preempting)
                && (preempting || state.holds_up(n, req).is_none())
        })
        .map(|n| n.node.clone())
}

/// Takes the running jobs a task of `req` preempts on `node` off it (Slurm requeues or
/// cancels them), and returns them: what they held there is free.
fn preempt_on(state: &mut ClusterState, node: &str, req: &Request) -> Vec<QueuedJob> {
    let Some(row) = state
        .nodes
        .iter()
        .find(|n| n.node == node && n.partition == req.partition)
    else {
        return Vec::new();
    };
    let ids: Vec<String> = state
        .preemptable_on(row, req)
        .jobs
        .iter()
        .map(|j| j.id.clone())
        .collect();
    let mut taken = Vec::new();
    for id in ids {
        let Some(at) = state.queue.iter().position(|j| j.id == id) else {
            continue;
        };
        let job = state.take_job(at);
        let mem = job.mem_mib();
        for n in state.nodes.iter_mut().filter(|n| n.node == node) {
            n.cpus_idle += job.cpus;
            n.cpus_allocated = n.cpus_allocated.saturating_sub(job.cpus);
            n.memory_allocated_mib = n.memory_allocated_mib.saturating_sub(mem);
            n.gpus_used = n.gpus_used.saturating_sub(job.gpus);
            for (t, used) in n.gpu_types_used.iter_mut() {
                let held = job.tres.get(&format!("gres/gpu:{t}")).unwrap_or(0);
                *used = used.saturating_sub(held);
            }
        }
        taken.push(job);
    }
    taken
}

/// Records one started task in `state`: a running job of the user, and its CPUs, GPUs and
/// memory taken on the first node with room. Returns the jobs it preempts to get there.
fn start_task(req: &Request, state: &mut ClusterState, index: u64) -> Vec<QueuedJob> {
    let cpus = usage::cpus_of(req, state);
    // The first node with room, else one where preempting lower-priority jobs makes room.
    let (node_name, preempted) = match node_with_room(req, state, cpus, false) {
        Some(name) => (name, Vec::new()),
        None => match node_with_room(req, state, cpus, true) {
            Some(name) => {
                let preempted = preempt_on(state, &name, req);
                (name, preempted)
            }
            None => (String::new(), Vec::new()),
        },
    };
    let task = place_task(req, state, index, &node_name, req.time_seconds);
    if preempted.is_empty() {
        state.add_running_behind_queue(task);
    } else {
        state.add_running(task);
    }
    preempted
}

/// Takes a task's CPUs, GPUs and memory on `node_name`, and returns the task as a running job
/// of the user there that holds them for `held_seconds` from now.
fn place_task(
    req: &Request,
    state: &mut ClusterState,
    index: u64,
    node_name: &str,
    held_seconds: u64,
) -> QueuedJob {
    let tres = usage::requested(req, state);
    let mem = usage::memory_of(req, state).unwrap_or(0);
    let gpu_type = req.gpu_type.clone();
    let cpus = usage::cpus_of(req, state);
    let node = state
        .nodes
        .iter_mut()
        .find(|n| n.partition == req.partition && n.node == node_name);
    if let Some(n) = node {
        n.cpus_idle = n.cpus_idle.saturating_sub(cpus);
        n.cpus_allocated += cpus;
        n.memory_allocated_mib += mem;
        n.gpus_used += req.gpus;
        let ty = gpu_type.or_else(|| {
            n.gpu_types
                .iter()
                .find(|(t, total)| **total > n.gpu_types_used.get(*t).copied().unwrap_or(0))
                .map(|(t, _)| t.clone())
        });
        if let Some(t) = ty {
            *n.gpu_types_used.entry(t).or_insert(0) += req.gpus;
        }
    }
    // The same node shows up once per partition it is in: keep the copies in step.
    let snapshot: Vec<_> = state
        .nodes
        .iter()
        .filter(|n| n.node == node_name && n.partition == req.partition)
        .cloned()
        .collect();
    if let Some(updated) = snapshot.first() {
        for n in state.nodes.iter_mut().filter(|n| n.node == node_name) {
            n.cpus_idle = updated.cpus_idle;
            n.cpus_allocated = updated.cpus_allocated;
            n.memory_allocated_mib = updated.memory_allocated_mib;
            n.gpus_used = updated.gpus_used;
            n.gpu_types_used = updated.gpu_types_used.clone();
        }
    }
    QueuedJob {
        id: format!("array_{index}"),
        partition: req.partition.clone(),
        user: state.user.clone(),
        state: JobState::Running,
        elapsed: SlurmTime::Seconds(0),
        time_limit: SlurmTime::Seconds(held_seconds),
        cpus,
        gpus: req.gpus,
        tres,
        qos: rules::job_qos(req, state),
        reason: "None".into(),
        start_time: String::new(),
        nodes: node_name.to_string(),
        name: String::new(),
        account: req
            .account
            .clone()
            .or_else(|| state.default_account.clone()),
        reservation: req.reservation.clone(),
        sched_nodes: None,
        constraint: req.constraint.clone(),
        req_nodes: req.nodelist.clone(),
        excluded_nodes: req.exclude.clone(),
    }
}
