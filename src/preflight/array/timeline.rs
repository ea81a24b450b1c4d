//! When an array's waiting tasks are expected to start, and when the whole array has ended,
//! if every task runs to its time limit. Slurm shows one start for an array's waiting tasks
//! (their one record carries the last task its backfill scheduler planned, each keeping a
//! node whole) and none for tasks held by the throttle or a limit; a sweep's user wants to
//! know when the last result is in.

use crate::preflight::expected_start::{ExpectedStart, HeldBack, as_timestamp};
use crate::preflight::limit_room::LimitRoom;
use crate::preflight::rules;
use crate::preflight::{ClusterState, Reason, Request, usage};
use crate::slurm::clock;
use crate::slurm::sinfo::NodeRow;
use crate::slurm::squeue::QueuedJob;

/// When an array's tasks are expected to start and the last of them to end, if each runs to
/// its time limit.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Timeline {
    /// When the first task that waits is expected to start; `None` when all start now.
    #[serde(
        serialize_with = "as_optional_timestamp",
        skip_serializing_if = "Option::is_none"
    )]
    pub next_start: Option<i64>,
    /// When the last task is expected to start; `None` when all start now.
    #[serde(
        serialize_with = "as_optional_timestamp",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_start: Option<i64>,
    /// When the last task reaches its time limit: every result is in by then.
    #[serde(serialize_with = "as_timestamp")]
    pub all_end_by: i64,
    /// When the state was read.
    #[serde(skip)]
    pub now: i64,
    #[serde(skip)]
    tasks: u64,
    /// How many of them wait.
    #[serde(skip)]
    waiting: u64,
    #[serde(skip)]
    task_seconds: i64,
    /// When each waiting task is expected to start, in the order Slurm starts them (by
    /// index).
    #[serde(skip)]
    pub task_starts: Vec<i64>,
}

impl Timeline {
    /// `if each task runs to its time limit (10 min), the next task is expected to start by
    /// 14:20 (in 10 min), the last by 14:30 (in 20 min), and all 3 have ended by 14:40 (in 30
    /// min); sooner as tasks end early`
    pub fn sentence(&self) -> String {
        let at = |t: i64| clock::when_and_how_soon(t, self.now);
        let each = format!(
            "if each task runs to its time limit ({})",
            clock::in_words(self.task_seconds)
        );
        let ended = match self.tasks {
            1 => format!("it has ended by {}", at(self.all_end_by)),
            n => format!("all {n} have ended by {}", at(self.all_end_by)),
        };
        let (Some(next), Some(last)) = (self.next_start, self.last_start) else {
            return format!("{each}, {ended}");
        };
        let starts = match (self.waiting, next == last) {
            (1, _) => format!("the waiting task is expected to start by {}", at(next)),
            (n, true) => format!(
                "the {n} waiting tasks are expected to start by {}",
                at(next)
            ),
            (_, false) => format!(
                "the {} task is expected to start by {}, the last by {}",
                if self.waiting == self.tasks {
                    "first"
                } else {
                    "next"
                },
                at(next),
                at(last)
            ),
        };
        format!("{each}, {starts}, and {ended}; sooner as tasks end early")
    }
}

fn as_optional_timestamp<S: serde::Serializer>(at: &Option<i64>, to: S) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => as_timestamp(at, to),
        None => to.serialize_none(),
    }
}

/// The timeline of an array of `tasks` tasks of `one`'s shape, of which the first `started`
/// run in `state` and the next waits for `waits_for`, at most `cap` at once (see
/// `carry_on`). `None` where a task waits for something that does not end on its own (a
/// node out of service, TRES-minutes spent), behind a job queued first under a limit in its
/// way that waits for something else, or for something `expected_start` does not weigh.
pub(super) fn timeline(
    one: &Request,
    cap: u64,
    tasks: u64,
    started: u64,
    waits_for: Option<Reason>,
    state: &ClusterState,
) -> Option<Timeline> {
    let now = state.now?;
    let task_seconds = i64::try_from(one.time_seconds).ok()?;
    if let Some(reason) = waits_for
        && !matches!(
            reason,
            Reason::JobArrayTaskLimit | Reason::Resources | Reason::Priority | Reason::Limit(_)
        )
        && !(reason == Reason::ReqNodeNotAvail && state.waits_for_a_reservation(one))
    {
        return None;
    }
    let mut throttle = LimitRoom::of_jobs(cap);
    for index in 0..started {
        throttle.hold_another(&index.to_string(), now, now + task_seconds);
    }
    carry_on(one, throttle, tasks, started, now + task_seconds, state)
}

/// The timeline of the array queued as job `array` (a sweep's latest submission), whose
/// tasks are of `one`'s shape, at most `cap` at once: its running tasks hold the throttle
/// until their time limits, and its waiting tasks, one record to Slurm, start as `carry_on`
/// expects. `None` where none waits, or as for `timeline`.
pub fn of_queued_array(
    array: &str,
    one: &Request,
    cap: Option<u64>,
    state: &ClusterState,
) -> Option<Timeline> {
    let of_array = |j: &&QueuedJob| j.id.split('_').next() == Some(array);
    let running: Vec<&QueuedJob> = state
        .queue
        .iter()
        .filter(of_array)
        .filter(|j| !j.state.is_waiting())
        .collect();
    let waiting: u64 = state
        .queue
        .iter()
        .filter(of_array)
        .filter(|j| j.state.is_waiting())
        .map(QueuedJob::task_count)
        .sum();
    if waiting == 0 {
        return None;
    }
    let started = u64::try_from(running.len()).ok()?;
    let mut throttle = LimitRoom::of_jobs(cap.unwrap_or(started + waiting));
    let now = state.now?;
    let mut ends_by = now;
    for task in &running {
        let end = state.end_of(task)?;
        throttle.hold_another(&task.id, now, end);
        ends_by = ends_by.max(end);
    }
    // The waiting tasks come in again one by one, as the timeline places them.
    let without_them = ClusterState {
        queue: state
            .queue
            .iter()
            .filter(|j| !(of_array(j) && j.state.is_waiting()))
            .cloned()
            .collect(),
        index: Default::default(),
        ..state.clone()
    };
    carry_on(
        one,
        throttle,
        started + waiting,
        started,
        ends_by,
        &without_them,
    )
}

/// Carries an array of `tasks` tasks of `one`'s shape on from the first `started`, which
/// run in `state` (and hold `throttle`) and have all ended by `ends_by`. Each task that waits
/// starts no sooner than the one before it, nor before a slot of the throttle frees (the first
/// of the array's running tasks ends), nor before every limit on running jobs or TRES that
/// counts it lets it in as the jobs under it end (`rules::limit_rooms`: the user's under
/// MaxJobsPU or MaxTRESPU, everyone's under GrpJobs..., the array's tasks before it among
/// them); and on the nodes when the backfill scheduler would plan it behind the tasks before
/// it, each taken as running from now until its own time limit.
fn carry_on(
    one: &Request,
    mut throttle: LimitRoom,
    tasks: u64,
    started: u64,
    ends_by: i64,
    state: &ClusterState,
) -> Option<Timeline> {
    let now = state.now?;
    let task_seconds = i64::try_from(one.time_seconds).ok()?;
    let mut limits = rules::limit_rooms(one, state)?;
    // Before any task is placed: the jobs queued first that these limits let in later.
    let let_in = state.let_in_by(limits.iter());
    let cpus = usage::cpus_of(one, state);
    let mut planned = state.clone();
    let (mut next_start, mut last_start, mut all_end_by) = (None, None, ends_by);
    let mut task_starts = Vec::new();
    let mut not_before = now;
    for index in started..tasks {
        for room in std::iter::once(&throttle).chain(&limits) {
            not_before = not_before.max(room.opens(not_before)?.at);
        }
        let (at, node) = {
            let mut usable: Vec<&NodeRow> = planned
                .nodes_for(one)
                .filter(|n| planned.node_open(n, one))
                .collect();
            // Every node kept for reservations (ReqNodeNotAvail, as `rules` finds it): the
            // task is planned around them on the nodes that are up, as a job is.
            if usable.is_empty() {
                usable = planned.nodes_for(one).filter(|n| n.is_up()).collect();
            }
            let held_back = HeldBack {
                not_before,
                by_limits: false,
                let_in: &let_in,
            };
            match planned.expected_start_after(one, cpus, &usable, &held_back)? {
                ExpectedStart::By { at, node, .. } => (at, node),
                ExpectedStart::NotKnown { .. } => return None,
            }
        };
        let held_for = u64::try_from(at - now + task_seconds).ok()?;
        let task = super::place_task(one, &mut planned, index, &node, held_for);
        planned.add_running_behind_queue(task);
        next_start.get_or_insert(at);
        last_start = Some(at);
        task_starts.push(at);
        not_before = at;
        let end = at + task_seconds;
        all_end_by = all_end_by.max(end);
        for room in std::iter::once(&mut throttle).chain(&mut limits) {
            room.hold_another(&index.to_string(), at, end);
        }
    }
    Some(Timeline {
        next_start,
        last_start,
        all_end_by,
        now,
        tasks,
        waiting: tasks - started,
        task_seconds,
        task_starts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preflight::test_states::{
        ALLOCATED, ARRAY_40, IDLE, N1_HALF, N1_HALF_N2_HALF, in_minutes, two_nodes,
    };
    use crate::preflight::{Throttle, assess_array};
    use crate::slurm::{sacctmgr, squeue};

    fn state(nodes: &str, queue: &str) -> ClusterState {
        two_nodes(nodes, queue)
    }

    /// An array of `tasks` tasks of `cpus` CPUs for `minutes`, run at most `throttle` at once.
    fn array(
        s: &ClusterState,
        tasks: u64,
        cpus: u64,
        minutes: u64,
        throttle: Option<u64>,
    ) -> Timeline {
        let req = Request {
            tasks,
            ..Request::plain("gpu", cpus, minutes * 60)
        };
        let throttle = throttle.map(|limit| Throttle {
            limit,
            because: format!("%{limit}"),
        });
        let verdict = assess_array(&req, throttle, s);
        let plan = verdict
            .array
            .unwrap_or_else(|| panic!("{}", verdict.message));
        plan.timeline
            .unwrap_or_else(|| panic!("{}", verdict.message))
    }

    /// (next start, last start, all ended), in minutes from now.
    fn minutes(t: &Timeline) -> (Option<i64>, Option<i64>, i64) {
        let of = |at: i64| (at - t.now) / 60;
        (t.next_start.map(of), t.last_start.map(of), of(t.all_end_by))
    }

    /// Of `req` on `s`, one task starts now and the others wait for `reason`; the next is
    /// expected at 10 minutes, the last at 20, and all have ended by 30.
    fn one_now_the_rest_by_20(req: &Request, s: &ClusterState, reason: &str) {
        let plan = assess_array(req, None, s).array.unwrap();
        assert_eq!(plan.start_now, 1);
        assert_eq!(plan.wait_reason.map(|r| r.code()), Some(reason));
        assert_eq!(
            minutes(plan.timeline.as_ref().unwrap()),
            (Some(10), Some(20), 30)
        );
    }

    /// Six tasks run two at a time: two now, each next pair when a pair ends.
    #[test]
    fn a_throttled_array_runs_in_waves_of_its_throttle() {
        let t = array(&state(IDLE, ""), 6, 1, 10, Some(2));
        assert_eq!(minutes(&t), (Some(10), Some(20), 30));
        assert_eq!(
            t.sentence(),
            "if each task runs to its time limit (10 min), the next task is expected to start by 18:10 (in 10 min), the last by 18:20 (in 20 min), and all 6 have ended by 18:30 (in 30 min); sooner as tasks end early"
        );
    }

    /// Tasks of a whole node each, with n1 held for 10 minutes and n2 for 20: the first
    /// waits for n1, the second for n2, the third for the first task to end on n1.
    #[test]
    fn tasks_that_wait_for_nodes_start_as_the_nodes_free() {
        let s = state(
            ALLOCATED,
            "1|gpu|a|RUNNING|0:00|10:00|2|cpu=2|normal|None|N/A|n1|x\n\
             2|gpu|b|RUNNING|0:00|20:00|2|cpu=2|normal|None|N/A|n2|x\n",
        );
        let t = array(&s, 3, 2, 30, None);
        assert_eq!(minutes(&t), (Some(10), Some(40), 70));
        assert!(
            t.sentence()
                .contains("the first task is expected to start by 18:10")
        );
    }

    /// A throttle and busy nodes together: a task starts when both a slot of the throttle
    /// and room on a node are free.
    #[test]
    fn a_task_waits_for_both_its_throttle_and_room() {
        // n2 is held for an hour; on n1 one task of 2 CPUs fits at a time.
        let s = state(
            "n1|gpu|idle|0/2/0/2|8000|0|gpu:4|gpu:0|\n\
             n2|gpu|allocated|2/0/0/2|8000|0|gpu:4|gpu:0|\n",
            "2|gpu|b|RUNNING|0:00|1:00:00|2|cpu=2|normal|None|N/A|n2|x\n",
        );
        let t = array(&s, 4, 2, 10, Some(2));
        // Tasks 0 now on n1, 1 at 10 min on n1, 2 at 20 min, 3 at 30 min (n2 frees at 60).
        assert_eq!(minutes(&t), (Some(10), Some(30), 40));
    }

    /// In JSON the times are timestamps as Slurm prints them; all that start now have no
    /// start to give.
    #[test]
    fn json_gives_timestamps() {
        let waves = array(&state(IDLE, ""), 6, 1, 10, Some(2));
        assert_eq!(
            serde_json::to_value(&waves).unwrap(),
            serde_json::json!({
                "next_start": "2026-11-29T18:10:00",
                "last_start": "2026-11-29T18:20:00",
                "all_end_by": "2026-11-29T18:30:00",
            })
        );
        let whole = array(&state(IDLE, ""), 2, 1, 10, None);
        assert_eq!(
            serde_json::to_value(&whole).unwrap(),
            serde_json::json!({"all_end_by": "2026-11-29T18:10:00"})
        );
    }

    /// Every task starts now: the array has ended by one time limit from now.
    #[test]
    fn an_array_that_starts_whole_ends_after_one_time_limit() {
        let t = array(&state(IDLE, ""), 4, 1, 10, None);
        assert_eq!(minutes(&t), (None, None, 10));
        assert_eq!(
            t.sentence(),
            "if each task runs to its time limit (10 min), all 4 have ended by 18:10 (in 10 min)"
        );
    }

    /// One job of the user `me` running on n1 under `qos`, 1 CPU for 10 minutes.
    fn one_job_of_mine_running(qos: &str) -> ClusterState {
        state(
            N1_HALF,
            &format!("7|gpu|me|RUNNING|0:00|10:00|1|cpu=1|{qos}|None|N/A|n1|x\n"),
        )
    }

    /// Under QOS sweep's MaxJobsPU 2, with one job of the user's running for 10 minutes: one
    /// task starts now, two more when that job and the first task end, and the last when those
    /// two end.
    #[test]
    fn tasks_held_by_jobs_per_user_start_as_the_users_jobs_end() {
        let mut s = one_job_of_mine_running("sweep");
        s.qos = sacctmgr::parse_qos("sweep||2|10||||||\n");
        let req = Request {
            qos: Some("sweep".into()),
            tasks: 4,
            ..Request::plain("gpu", 1, 600)
        };
        one_now_the_rest_by_20(&req, &s, "QOSMaxJobsPerUserLimit");
        // The user's own job pending under the QOS goes first, at 10 minutes beside the
        // second task; pending for nodes, when it takes its place is not known.
        let pending = "8|gpu|me|PENDING|0:00|10:00|1|cpu=1|sweep|QOSMaxJobsPerUserLimit|N/A||x\n";
        let mut behind = s.clone();
        behind.queue.extend(squeue::parse(pending));
        one_now_the_rest_by_20(&req, &behind, "QOSMaxJobsPerUserLimit");
        s.queue.extend(squeue::parse(
            &pending.replace("QOSMaxJobsPerUserLimit", "Resources"),
        ));
        let verdict = assess_array(&req, None, &s);
        assert_eq!(verdict.array.unwrap().timeline, None);
    }

    /// The same under the association's MaxJobs 2, with no QOS limit.
    #[test]
    fn tasks_held_by_the_associations_job_count_start_as_the_users_jobs_end() {
        let mut s = one_job_of_mine_running("normal");
        s.default_account = Some("yenlab".into());
        s.associations = sacctmgr::parse_associations("yen|yenlab|me||normal|normal|||2||\n");
        let req = Request {
            tasks: 4,
            ..Request::plain("gpu", 1, 600)
        };
        one_now_the_rest_by_20(&req, &s, "AssocMaxJobsLimit");
    }

    /// Under QOS sweep's GrpJobs 2, shared by all users, with another user's job running for
    /// 10 minutes: the tasks start as the jobs under it end. Another job under it that waits
    /// for nodes takes its place when they free, which is not known.
    #[test]
    fn tasks_held_by_a_shared_limit_start_as_its_jobs_end_unless_others_wait() {
        let mut s = one_job_of_mine_running("sweep");
        s.queue[0].user = "you".into();
        s.qos = sacctmgr::parse_qos("sweep||||||2|||\n");
        let req = Request {
            qos: Some("sweep".into()),
            tasks: 4,
            ..Request::plain("gpu", 1, 600)
        };
        one_now_the_rest_by_20(&req, &s, "QOSGrpJobsLimit");
        s.queue.extend(squeue::parse(
            "8|gpu|you|PENDING|0:00|10:00|1|cpu=1|sweep|Resources|N/A||x\n",
        ));
        assert_eq!(assess_array(&req, None, &s).array.unwrap().timeline, None);
    }

    /// Under QOS sweep's MaxTRESPU gres/gpu=2, with one 1-GPU job of the user's running for
    /// 10 minutes: each task of 1 GPU takes the GPU the last to end frees.
    #[test]
    fn tasks_held_by_a_tres_limit_start_as_its_tres_frees() {
        let mut s = state(
            N1_HALF,
            "7|gpu|me|RUNNING|0:00|10:00|1|cpu=1,gres/gpu=1|sweep|None|N/A|n1|x\n",
        );
        s.qos = sacctmgr::parse_qos("sweep|gres/gpu=2||||||||\n");
        let req = Request {
            qos: Some("sweep".into()),
            gpus: 1,
            tasks: 4,
            ..Request::plain("gpu", 1, 600)
        };
        one_now_the_rest_by_20(&req, &s, "QOSMaxGRESPerUser");
    }

    /// One 1-GPU job of the user's running on n1 for `limit` under QOS sweep's GrpTRESRunMins
    /// gres/gpu=20, and a request for 1 GPU for 10 minutes under it.
    fn one_gpu_job_of_mine_under_run_minutes(limit: &str) -> (ClusterState, Request) {
        let mut s = state(
            N1_HALF,
            &format!("7|gpu|me|RUNNING|0:00|{limit}|1|cpu=1,gres/gpu=1|sweep|None|N/A|n1|x\n"),
        );
        s.qos = sacctmgr::parse_qos(&format!("sweep{}gres/gpu=20|||\n", "|".repeat(16)));
        let req = Request {
            qos: Some("sweep".into()),
            gpus: 1,
            ..Request::plain("gpu", 1, 600)
        };
        (s, req)
    }

    /// Under QOS sweep's GrpTRESRunMins gres/gpu=20, with one 1-GPU job of the user's
    /// running for 10 minutes (10 GPU-minutes, counted until it ends under priority/basic):
    /// each task of 1 GPU × 10 minutes takes the GPU-minutes the jobs ending free. Where the
    /// priority decays, what the jobs hold shrinks at each decay: no timeline.
    #[test]
    fn tasks_held_by_running_minutes_start_as_the_jobs_under_it_end() {
        let (mut s, one) = one_gpu_job_of_mine_under_run_minutes("10:00");
        let req = Request { tasks: 4, ..one };
        one_now_the_rest_by_20(&req, &s, "QOSGrpGRESRunMinutes");
        s.config.multifactor_priority = true;
        assert_eq!(assess_array(&req, None, &s).array.unwrap().timeline, None);
    }

    /// Regression: an administrator's limit lowered below what the running jobs hold made the
    /// time limit that would fit underflow.
    #[test]
    fn running_minutes_over_a_lowered_limit_leave_no_time_limit_that_fits() {
        let (s, req) = one_gpu_job_of_mine_under_run_minutes("30:00");
        let verdict = crate::preflight::assess(&req, &s);
        assert_eq!(
            verdict.reason.map(|r| r.code()),
            Some("QOSGrpGRESRunMinutes")
        );
        assert!(
            !verdict.message.contains("would start it now"),
            "{}",
            verdict.message
        );
    }

    /// A sweep queued as array 40, throttled to 2: tasks 0 and 1 run for 10 minutes more,
    /// tasks 2 and 3 wait (one record to Slurm) and take their places when they end.
    #[test]
    fn a_queued_arrays_waiting_tasks_take_the_places_of_its_running_ones() {
        let s = state(N1_HALF_N2_HALF, ARRAY_40);
        let one = Request::plain("gpu", 1, 15 * 60);
        let t = of_queued_array("40", &one, Some(2), &s).unwrap();
        assert_eq!(minutes(&t), (Some(10), Some(10), 25));
        assert_eq!(t.task_starts, [in_minutes(10), in_minutes(10)]);
        assert_eq!(
            t.sentence(),
            "if each task runs to its time limit (15 min), the 2 waiting tasks are expected to start by 18:10 (in 10 min), and all 4 have ended by 18:25 (in 25 min); sooner as tasks end early"
        );
        // Another array's tasks are not this one's.
        assert_eq!(of_queued_array("41", &one, Some(2), &s), None);
    }
}
