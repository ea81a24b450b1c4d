//! Where PrivateData=reservations hides the reservations a user may not use, `sbatch
//! --test-only` still sees them: Slurm's will-run test weighs the running jobs and every
//! reservation (no job queued, no limit). Asked with `--begin` at the start the verdict
//! expects, it says whether the job can start then; where the jobs are shown, a later start
//! can only be a hidden reservation in the way (captured as `nobody`:
//! `plain-private-reservations-maint-ahead`, where it said two hours, the end of the
//! maintenance window, and Slurm said `ReqNodeNotAvail, Reserved for maintenance`). An
//! array's tasks start in waves (the throttle, the room): each wave is asked of, and one a
//! hidden reservation holds up moves, with the waves after it.
//! Where the jobs are hidden too, it also waits for jobs the backfill scheduler would start
//! the job around (captured: "+10 min" of a job Slurm started), so it is not asked.

use super::expected_start::ExpectedStart;
use super::reason::Reason;
use super::{ClusterState, Outcome, Request, Timeline, Verdict, assess_array, reserved};
use crate::slurm::clock;
use crate::slurm::sbatch::TestOnly;
use crate::slurm::scontrol::Reservation;

/// How far apart two starts may be and still be the same one: the backfill scheduler's
/// resolution.
const SAME_START: i64 = 60;

/// At most this many questions for one plan: an array of many waves has its first ones
/// asked of, and the warning stays for the rest.
pub const MOST_ASKED: usize = 8;

/// What asking test-only of a plan's starts found.
#[derive(Debug, Default)]
struct Found {
    /// The nodes test-only's later starts say are kept, for the planner to place the tasks
    /// around.
    windows: Vec<Reservation>,
    /// Each start test-only moved, and what it said of it.
    moved: Vec<(i64, TestOnly)>,
    /// How far it was asked.
    asked: Asked,
}

#[derive(Debug, Default)]
enum Asked {
    /// Of every start: the plan weighs every reservation.
    Every,
    /// Of the starts up to this one (`MOST_ASKED`).
    Through(i64),
    /// Of no start, or not of all: one is not known.
    #[default]
    NotAll,
    /// A question failed, for this reason.
    Failed(String),
}

/// The starts of an array's waves, planned again in a state with the hidden windows found.
type Replan<'a> = &'a dyn Fn(&ClusterState) -> Option<Vec<i64>>;

/// Asks `ask` (`sbatch --test-only --begin=AT`) of each start in `starts` (when a job, or
/// each wave of an array's tasks, is expected to start, planned from `state` without the
/// reservations hidden from the user) in order. A later start is a hidden reservation in
/// the way: of a single job (`replan` is `None`), test-only's start is its own; an array's
/// tasks are planned again with the nodes kept from then until test-only's start
/// (`replan` of the state with those windows), and the waves after it asked of.
async fn find_hidden<E: std::fmt::Display>(
    req: &Request,
    state: &ClusterState,
    mut starts: Option<Vec<i64>>,
    replan: Option<Replan<'_>>,
    mut ask: impl AsyncFnMut(i64) -> Result<TestOnly, E>,
) -> Found {
    let mut found = Found::default();
    // The last start asked of that test-only agreed with, or moved a wave to.
    let mut checked: Option<i64> = None;
    for asked in 0.. {
        let Some(plan) = &starts else {
            return found;
        };
        let Some(at) = plan
            .iter()
            .copied()
            .find(|t| checked.is_none_or(|c| *t > c + SAME_START))
        else {
            found.asked = Asked::Every;
            return found;
        };
        if let Some(through) = checked.filter(|_| asked == MOST_ASKED) {
            found.asked = Asked::Through(through);
            return found;
        }
        let said = match ask(at).await {
            Ok(said) => said,
            Err(e) => {
                found.asked = Asked::Failed(e.to_string());
                return found;
            }
        };
        if said.start <= at + SAME_START {
            checked = Some(at);
            continue;
        }
        let Some(replan) = replan else {
            found.moved.push((at, said));
            found.asked = Asked::Every;
            return found;
        };
        // No task starts on the partition's nodes from `at` (or from when the tasks asked
        // of before it end, which test-only let run) until test-only's start.
        let task_seconds = i64::try_from(req.time_seconds).unwrap_or(i64::MAX);
        let from = checked.map_or(at, |c| at.max(c.saturating_add(task_seconds)));
        let window = hidden_window(state, &req.partition, from, said.start);
        checked = Some(said.start);
        found.windows.push(window);
        found.moved.push((at, said));
        starts = replan(&with_windows(state, &found.windows));
    }
    found
}

/// `state` with the nodes kept for the hidden `windows` too.
fn with_windows(state: &ClusterState, windows: &[Reservation]) -> ClusterState {
    let mut seen = state.clone();
    seen.reservations.extend(windows.iter().cloned());
    seen.index = Default::default();
    seen
}

/// Asks `ask` (`sbatch --test-only --begin=AT` of the job's own script, or of one task's)
/// whether the job of `req` can start when `verdict`, made from `state` without the
/// reservations hidden from the user, expects it to (each wave of an array's tasks, in
/// order), and weighs each answer in: where one starts later, a hidden reservation keeps the
/// nodes then (ReqNodeNotAvail where it is the start now); where all start when expected,
/// none is in the way, and the warning that one may be goes.
pub async fn weigh<E: std::fmt::Display>(
    verdict: &mut Verdict,
    req: &Request,
    state: &ClusterState,
    ask: impl AsyncFnMut(i64) -> Result<TestOnly, E>,
) {
    let Some(now) = state.now else { return };
    let throttle = verdict.array.as_ref().map(|plan| plan.throttle.clone());
    let replan = |seen: &ClusterState| starts(&assess_array(req, throttle.clone()?, seen), now);
    let replan: Option<Replan<'_>> = match throttle {
        Some(_) => Some(&replan),
        None => None,
    };
    let found = find_hidden(req, state, starts(verdict, now), replan, ask).await;
    match (&found.moved[..], &verdict.array) {
        ([], _) => {}
        ([(at, said)], None) => held_up(verdict, *at, said, now),
        (moved, _) => waves_held_up(verdict, req, state, &found.windows, moved, now),
    }
    let them = if verdict.array.is_some() {
        "each wave of its tasks start then too: none is in their way"
    } else {
        "it start then too: none is in its way"
    };
    let asked = say_asked(&found, them, now);
    match found.asked {
        Asked::Every => verdict.not_checked.retain(|line| line != reserved::HIDDEN),
        Asked::Failed(_) => verdict.not_checked.extend(asked.clone()),
        Asked::Through(_) | Asked::NotAll => {}
    }
    if !matches!(found.asked, Asked::Failed(_)) {
        verdict.facts.extend(asked);
    }
}

/// What test-only was asked of, said beside the plan: none in the way (`them`), the starts
/// it was asked of up to `MOST_ASKED`, or why it failed; nothing where it moved a start (that
/// is said) or was not asked.
fn say_asked(found: &Found, them: &str, now: i64) -> Option<String> {
    match &found.asked {
        Asked::Every if found.moved.is_empty() => Some(format!(
            "`sbatch --test-only`, which sees the reservations hidden from you (the cluster's PrivateData), has {them}"
        )),
        Asked::Through(through) => Some(format!(
            "`sbatch --test-only`, which sees the reservations hidden from you, was asked of the tasks expected to start by {}: none other is in their way; the tasks after them were not asked of",
            clock::when_and_how_soon(*through, now)
        )),
        Asked::Failed(e) => Some(format!(
            "`sbatch --test-only`, asked of the reservations hidden from you, failed: {e}"
        )),
        Asked::Every | Asked::NotAll => None,
    }
}

/// When `verdict` has the job start, or each wave of an array's tasks, in order; `None`
/// where one is not known (it waits for what ends at no known time).
fn starts(verdict: &Verdict, now: i64) -> Option<Vec<i64>> {
    let Some(plan) = &verdict.array else {
        return match (&verdict.outcome, &verdict.expected_start) {
            (Outcome::StartsNow, _) => Some(vec![now]),
            (Outcome::Pends, Some(ExpectedStart::By { at, .. })) => Some(vec![*at]),
            _ => None,
        };
    };
    let mut starts = Vec::new();
    if plan.start_now > 0 {
        starts.push(now);
    }
    if plan.wait > 0 {
        starts.extend(&plan.timeline.as_ref()?.task_starts);
    }
    Some(waves(starts))
}

/// Each start once: tasks that start within the backfill scheduler's resolution of one
/// another are one wave (the timeline starts each task no sooner than the one before it).
fn waves(mut starts: Vec<i64>) -> Vec<i64> {
    starts.dedup_by(|later, first| *later <= *first + SAME_START);
    starts
}

/// `sbatch --test-only, which sees it, has it start by 16:35 (in 2 h) on localhost, not now`.
fn test_only_words(said: &TestOnly, expected: i64, now: i64) -> String {
    let not_then = if expected <= now + SAME_START {
        "not now".to_string()
    } else {
        format!("not at {}", clock::when(expected, now))
    };
    format!(
        "`sbatch --test-only`, which sees it, has it start by {} on {}, {not_then}",
        clock::when_and_how_soon(said.start, now),
        said.nodes
    )
}

/// A single job that test-only starts later than expected (`at`): a hidden reservation
/// keeps the node before it would end, and it starts when test-only says.
fn held_up(verdict: &mut Verdict, at: i64, said: &TestOnly, now: i64) {
    let hidden = format!(
        "a reservation not shown to you (the cluster's PrivateData=reservations) keeps the node before this job would end: {}",
        test_only_words(said, at, now)
    );
    if verdict.outcome == Outcome::StartsNow {
        verdict.outcome = Outcome::Pends;
        verdict.reason = Some(Reason::ReqNodeNotAvail);
        verdict.message = hidden;
    } else {
        verdict.facts.push(hidden);
    }
    verdict.expected_start = Some(expected_by(said, now));
}

/// `a reservation not shown to you ... keeps the nodes before the tasks expected then would
/// end: ...`, of the wave test-only moved from `at`.
fn wave_words(at: i64, said: &TestOnly, now: i64) -> String {
    let tasks = if at <= now + SAME_START {
        "the tasks due to start now"
    } else {
        "the tasks expected then"
    };
    format!(
        "a reservation not shown to you (the cluster's PrivateData=reservations) keeps the nodes before {tasks} would end: {}",
        test_only_words(said, at, now)
    )
}

/// Waves of an array's tasks that test-only starts later than expected (`moved`): the array
/// is planned again with the nodes kept for the hidden `windows`, and where the first wave
/// moved, the array starts then.
fn waves_held_up(
    verdict: &mut Verdict,
    req: &Request,
    state: &ClusterState,
    windows: &[Reservation],
    moved: &[(i64, TestOnly)],
    now: i64,
) {
    let Some(plan) = verdict.array.as_mut() else {
        return;
    };
    let first = starts_first(plan.start_now, plan.timeline.as_ref(), now);
    let seen = with_windows(state, windows);
    let Some(replanned) = assess_array(req, plan.throttle.clone(), &seen).array else {
        return;
    };
    let started_now = plan.start_now;
    *plan = super::ArrayPlan {
        throttle: plan.throttle.clone(),
        ..replanned
    };
    for (at, said) in moved {
        let hidden = wave_words(*at, said, now);
        if started_now > 0 && plan.start_now == 0 && *at <= now + SAME_START {
            verdict.outcome = Outcome::Pends;
            verdict.reason = plan.wait_reason;
            verdict.message = format!("none of the {} tasks starts now: {hidden}", plan.tasks);
        } else {
            verdict.facts.push(hidden);
        }
        if Some(*at) == first {
            verdict.expected_start = Some(expected_by(said, now));
        }
    }
}

/// When an array's first task starts: now, or the timeline's first start.
fn starts_first(start_now: u64, timeline: Option<&Timeline>, now: i64) -> Option<i64> {
    match start_now {
        0 => timeline?.task_starts.first().copied(),
        _ => Some(now),
    }
}

/// What asking test-only of a queued sweep's waiting tasks (`timeline`, of the array
/// queued as job `array`, whose tasks are of `one`'s shape, at most `cap` at once) found:
/// the timeline planned again around the hidden windows it implies, and what to say beside
/// it.
pub async fn weigh_timeline<E: std::fmt::Display>(
    timeline: Timeline,
    array: &str,
    one: &Request,
    cap: Option<u64>,
    state: &ClusterState,
    ask: impl AsyncFnMut(i64) -> Result<TestOnly, E>,
) -> (Option<Timeline>, Vec<String>) {
    let now = timeline.now;
    let replan = |seen: &ClusterState| {
        super::of_queued_array(array, one, cap, seen).map(|t| waves(t.task_starts))
    };
    let starts = Some(waves(timeline.task_starts.clone()));
    let found = find_hidden(one, state, starts, Some(&replan), ask).await;
    let mut said: Vec<String> = found
        .moved
        .iter()
        .map(|(at, said)| wave_words(*at, said, now))
        .collect();
    let them = "each waiting task start when expected: none is in their way";
    said.extend(say_asked(&found, them, now));
    if matches!(
        found.asked,
        Asked::NotAll | Asked::Through(_) | Asked::Failed(_)
    ) {
        said.push(reserved::HIDDEN.to_string());
    }
    let timeline = match found.windows.is_empty() {
        true => Some(timeline),
        false => super::of_queued_array(array, one, cap, &with_windows(state, &found.windows)),
    };
    (timeline, said)
}

/// What test-only's answer implies: the nodes of `partition`, kept whole from `from` until
/// `until` by reservations the user is not shown, for the planner to place tasks around.
fn hidden_window(state: &ClusterState, partition: &str, from: i64, until: i64) -> Reservation {
    Reservation {
        name: "(not shown to you)".to_string(),
        start: Some(from),
        end: Some(until),
        nodes: state.nodes_of(partition).map(|n| n.node.clone()).collect(),
        // Its end is test-only's start itself, when the backfill scheduler tries a job again
        // after a maintenance window (`expected_start`'s `retried_after`).
        flags: vec!["MAINT".to_string()],
        users: None,
        accounts: None,
        groups: None,
        cpus: None,
        cores: None,
        cores_on: Default::default(),
    }
}

fn expected_by(said: &TestOnly, now: i64) -> ExpectedStart {
    ExpectedStart::By {
        at: said.start,
        in_seconds: u64::try_from(said.start - now).unwrap_or(0),
        node: said.nodes.clone(),
        jobs_ending: Vec::new(),
        jobs_ahead_ending: Vec::new(),
        reservations_ending: Vec::new(),
        limit_jobs_ending: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preflight::test_states::{ARRAY_40, IDLE, N1_HALF_N2_HALF, in_minutes, two_nodes};
    use crate::preflight::{Throttle, assess};
    use std::cell::RefCell;

    /// A maintenance window not shown to the user on both nodes, from `from` to `until`
    /// minutes: test-only as Slurm answers it on idle nodes for a job of `minutes`, asked
    /// with `--begin` (each `at` asked is kept in `asked`).
    struct Hidden {
        from: i64,
        until: i64,
        minutes: i64,
        asked: RefCell<Vec<i64>>,
    }

    impl Hidden {
        fn new(from: i64, until: i64, minutes: i64) -> Hidden {
            Hidden {
                from: in_minutes(from),
                until: in_minutes(until),
                minutes,
                asked: RefCell::default(),
            }
        }

        fn said(&self, at: i64) -> TestOnly {
            self.asked.borrow_mut().push(at);
            let clear = at + self.minutes * 60 <= self.from || at >= self.until;
            TestOnly {
                start: if clear { at } else { self.until },
                nodes: "n1".into(),
            }
        }

        /// The minutes from now asked of.
        fn asked(&self) -> Vec<i64> {
            self.asked
                .borrow()
                .iter()
                .map(|at| (at - in_minutes(0)) / 60)
                .collect()
        }
    }

    /// `req`'s verdict on idle nodes, a job or an array at most `throttle` at once, weighed
    /// through `hidden`.
    async fn weighed(req: &Request, throttle: Option<u64>, hidden: &Hidden) -> Verdict {
        let s = two_nodes(IDLE, "");
        let mut v = match req.tasks {
            1 => assess(req, &s),
            _ => {
                let throttle = throttle.map(|limit| Throttle {
                    limit,
                    because: format!("%{limit}"),
                });
                assess_array(req, throttle, &s)
            }
        };
        v.not_checked.push(reserved::HIDDEN.to_string());
        weigh(&mut v, req, &s, async |at| {
            Ok::<_, std::convert::Infallible>(hidden.said(at))
        })
        .await;
        v
    }

    fn job(minutes: u64) -> Request {
        Request::plain("gpu", 1, minutes * 60)
    }

    fn array(tasks: u64, cpus: u64, minutes: u64) -> Request {
        Request {
            tasks,
            ..Request::plain("gpu", cpus, minutes * 60)
        }
    }

    fn expected_at(v: &Verdict) -> i64 {
        match v.expected_start {
            Some(ExpectedStart::By { at, .. }) => (at - in_minutes(0)) / 60,
            ref other => panic!("{other:?}"),
        }
    }

    /// (next start, all ended), in minutes from now.
    fn timeline(v: &Verdict) -> (Option<i64>, i64) {
        let t = v.array.as_ref().and_then(|a| a.timeline.as_ref()).unwrap();
        let of = |at: i64| (at - in_minutes(0)) / 60;
        (t.next_start.map(of), of(t.all_end_by))
    }

    /// As captured (`plain-private-reservations-maint-ahead`): test-only said two hours, the
    /// end of the maintenance window an hour ahead, and Slurm pended the job.
    #[tokio::test]
    async fn a_later_start_is_a_hidden_reservation_in_the_way() {
        let hidden = Hidden::new(60, 120, 120);
        let v = weighed(&job(120), None, &hidden).await;
        assert_eq!(v.outcome, Outcome::Pends);
        assert_eq!(v.reason, Some(Reason::ReqNodeNotAvail));
        assert!(
            v.message.starts_with("a reservation not shown to you"),
            "{}",
            v.message
        );
        assert!(v.message.ends_with("on n1, not now"), "{}", v.message);
        assert!(v.not_checked.is_empty());
        assert_eq!(expected_at(&v), 120);
        assert_eq!(hidden.asked(), [0]);
    }

    /// When test-only agrees, nothing hidden is in the way: the warning goes.
    #[tokio::test]
    async fn the_same_start_drops_the_warning() {
        let v = weighed(&job(30), None, &Hidden::new(60, 120, 30)).await;
        assert_eq!(v.outcome, Outcome::StartsNow);
        assert!(v.not_checked.is_empty());
        assert!(
            v.facts.iter().any(|f| f.contains("none is in its way")),
            "{:?}",
            v.facts
        );
    }

    /// A job expected later is asked of at that start (`--begin`), which test-only weighs as
    /// the verdict does: the nodes' jobs ending, not the jobs queued ahead.
    #[tokio::test]
    async fn a_job_expected_later_is_asked_of_then() {
        let s = two_nodes(
            "n1|gpu|allocated|2/0/0/2|8000|0|gpu:4|gpu:0|\n\
             n2|gpu|allocated|2/0/0/2|8000|0|gpu:4|gpu:0|\n",
            "1|gpu|a|RUNNING|0:00|20:00|2|cpu=2|normal|None|N/A|n1|x\n\
             2|gpu|b|RUNNING|0:00|30:00|2|cpu=2|normal|None|N/A|n2|x\n",
        );
        let req = job(60);
        let mut v = assess(&req, &s);
        assert_eq!(expected_at(&v), 20);
        v.not_checked.push(reserved::HIDDEN.to_string());
        let hidden = Hidden::new(60, 90, 60);
        weigh(&mut v, &req, &s, async |at| {
            Ok::<_, std::convert::Infallible>(hidden.said(at))
        })
        .await;
        assert_eq!(hidden.asked(), [20]);
        assert_eq!(v.reason, Some(Reason::Resources));
        assert_eq!(expected_at(&v), 90);
        assert!(
            v.facts
                .iter()
                .any(|f| f.contains("has it start by 19:30 (in 1 h 30 min) on n1, not at 18:20")),
            "{:?}",
            v.facts
        );
    }

    /// Four tasks of a whole node for 40 minutes on two nodes: two start now, two at 40
    /// minutes, which would run into a window at an hour; test-only moves them to its end,
    /// and the array ends 40 minutes after.
    #[tokio::test]
    async fn a_later_wave_a_hidden_reservation_holds_up_moves() {
        let hidden = Hidden::new(60, 120, 40);
        let v = weighed(&array(4, 2, 40), None, &hidden).await;
        assert_eq!(hidden.asked(), [0, 40]);
        assert_eq!(v.outcome, Outcome::StartsNow);
        assert_eq!(v.array.as_ref().unwrap().start_now, 2);
        assert_eq!(timeline(&v), (Some(120), 160));
        assert!(v.not_checked.is_empty(), "{:?}", v.not_checked);
        assert!(
            v.facts
                .iter()
                .any(|f| f.contains("keeps the nodes before the tasks expected then would end")),
            "{:?}",
            v.facts
        );
    }

    /// The same window half an hour ahead: no task starts now, and the first start at the
    /// window's end.
    #[tokio::test]
    async fn a_first_wave_a_hidden_reservation_holds_up_waits_for_it() {
        let hidden = Hidden::new(30, 90, 40);
        let v = weighed(&array(4, 2, 40), None, &hidden).await;
        assert_eq!(v.outcome, Outcome::Pends);
        assert_eq!(v.reason, Some(Reason::ReqNodeNotAvail));
        let plan = v.array.as_ref().unwrap();
        assert_eq!((plan.start_now, plan.wait), (0, 4));
        assert_eq!(
            plan.timeline.as_ref().unwrap().task_starts.len(),
            4,
            "{plan:?}"
        );
        assert!(
            v.message
                .starts_with("none of the 4 tasks starts now: a reservation not shown to you"),
            "{}",
            v.message
        );
        assert_eq!(expected_at(&v), 90);
        assert_eq!(timeline(&v), (Some(90), 170));
        assert_eq!(hidden.asked(), [0, 130]);
        assert!(v.not_checked.is_empty());
    }

    /// Waves beyond `MOST_ASKED` are not asked of: the warning stays, and the facts say how
    /// far test-only found none.
    #[tokio::test]
    async fn many_waves_are_asked_of_up_to_a_bound() {
        let hidden = Hidden::new(600, 660, 10);
        let v = weighed(&array(24, 1, 10), Some(2), &hidden).await;
        assert_eq!(hidden.asked().len(), MOST_ASKED);
        assert_eq!(v.not_checked, [reserved::HIDDEN]);
        assert!(
            v.facts.iter().any(|f| f.contains("was asked of the tasks expected to start by 19:10 (in 1 h 10 min): none other is in their way; the tasks after them were not asked of")),
            "{:?}",
            v.facts
        );
    }

    /// As many waves as `MOST_ASKED`, each asked of: none is left unasked, and the warning
    /// goes.
    #[tokio::test]
    async fn as_many_waves_as_asked_of_drop_the_warning() {
        let hidden = Hidden::new(600, 660, 10);
        let v = weighed(&array(16, 1, 10), Some(2), &hidden).await;
        assert_eq!(hidden.asked().len(), MOST_ASKED);
        assert!(v.not_checked.is_empty(), "{:?}", v.not_checked);
        assert!(
            v.facts.iter().any(|f| f.contains("none is in their way")),
            "{:?}",
            v.facts
        );
    }

    /// A sweep queued as array 40, throttled to 2: tasks 0 and 1 run 10 minutes more, and
    /// tasks 2 and 3 of 15 minutes, expected then, would run into a window from 12 minutes:
    /// `status` expects them at its end, and says why.
    #[tokio::test]
    async fn a_queued_sweeps_waiting_tasks_wait_for_a_hidden_window() {
        let s = two_nodes(N1_HALF_N2_HALF, ARRAY_40);
        let one = job(15);
        let timeline = crate::preflight::of_queued_array("40", &one, Some(2), &s).unwrap();
        let hidden = Hidden::new(12, 40, 15);
        let ask = async |at| Ok::<_, std::convert::Infallible>(hidden.said(at));
        let (timeline, said) = weigh_timeline(timeline, "40", &one, Some(2), &s, ask).await;
        assert_eq!(hidden.asked(), [10]);
        let t = timeline.unwrap();
        assert_eq!(t.task_starts, [in_minutes(40), in_minutes(40)]);
        assert_eq!(t.all_end_by, in_minutes(55));
        assert_eq!(said.len(), 1, "{said:?}");
        assert!(
            said[0].ends_with("has it start by 18:40 (in 40 min) on n1, not at 18:10"),
            "{said:?}"
        );
        // Where it finds none, it says so, and the timeline stands.
        let timeline = crate::preflight::of_queued_array("40", &one, Some(2), &s).unwrap();
        let clear = Hidden::new(60, 90, 15);
        let ask = async |at| Ok::<_, std::convert::Infallible>(clear.said(at));
        let (timeline, said) = weigh_timeline(timeline, "40", &one, Some(2), &s, ask).await;
        assert_eq!(
            timeline.unwrap().task_starts,
            [in_minutes(10), in_minutes(10)]
        );
        assert!(said[0].contains("none is in their way"), "{said:?}");
    }

    /// A test-only that fails leaves the warning, and says why.
    #[tokio::test]
    async fn a_failed_test_only_is_named() {
        let s = two_nodes(IDLE, "");
        let req = job(10);
        let mut v = assess(&req, &s);
        v.not_checked.push(reserved::HIDDEN.to_string());
        weigh(&mut v, &req, &s, async |_| {
            Err("sbatch: error: Invalid partition name specified")
        })
        .await;
        assert_eq!(v.outcome, Outcome::StartsNow);
        assert_eq!(v.not_checked[0], reserved::HIDDEN);
        assert!(
            v.not_checked[1].ends_with("failed: sbatch: error: Invalid partition name specified")
        );
    }
}
