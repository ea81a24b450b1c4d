//! Every scenario captured from the real Slurm by `scripts/capture-preflight.sh`, replayed:
//! the state yenjob read before the request, and what Slurm then did with it. The verdict's
//! class and reason must equal Slurm's, and the sentence must carry the right numbers.

use std::path::{Path, PathBuf};

use super::*;
use crate::slurm::constraint::Constraint;
use crate::slurm::duration::SlurmTime;
use crate::slurm::hostlist::HostList;
use crate::slurm::{config, sacctmgr, scontrol, sinfo, squeue, tres};

/// Slurm 22.05's captures (Debian 12's Slurm, the cluster CI runs).
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/preflight");

/// Each Slurm version's captures: 22.05, and 24.11 (Debian 13's Slurm, run in a chroot by
/// `scripts/slurm-chroot.sh`), a cross-section of the same scenarios.
const VERSIONS: &[(&str, &str)] = &[
    ("22.05", FIXTURES),
    (
        "24.11",
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/preflight-slurm-24.11"
        ),
    ),
];

struct Scenario {
    name: String,
    /// The Slurm version it was captured from.
    version: &'static str,
    /// The request as the capture script wrote it.
    words: String,
    request: Request,
    /// A job array's `%K`, as the capture script asked for it.
    throttle: Option<u64>,
    state: ClusterState,
    /// `running`, `pending|REASON` or `rejected|SBATCH STDERR`.
    slurm: String,
    /// What `sbatch --test-only` said of the request, on one line; scenarios captured before
    /// it was asked have none.
    test_only: Option<String>,
    /// A request that waited for resources: `STATE|StartTime|SchedNodes` once the backfill
    /// scheduler planned it; scenarios captured before it was asked have none.
    planned: Option<String>,
    /// An array run out to its end: when each task really started, `TASK|START` a line.
    starts: Option<String>,
}

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file))
        .unwrap_or_else(|e| panic!("{}: {e}", dir.join(file).display()))
}

/// `partition=gpu gpus=a30:1 cpus=1 time=10:00 [mem=..] [qos=..]`, as the capture script
/// turns it into sbatch options.
fn parse_request(words: &str) -> Request {
    let mut r = Request::plain("", 1, 0);
    for word in words.split_whitespace() {
        let (k, v) = word.split_once('=').expect("key=value");
        match k {
            "partition" => r.partition = v.into(),
            "qos" => r.qos = Some(v.into()),
            "account" => r.account = Some(v.into()),
            "reservation" => r.reservation = Some(v.into()),
            "gpus" => match v.split_once(':') {
                Some((t, n)) => {
                    r.gpu_type = Some(t.into());
                    r.gpus = n.parse().unwrap();
                }
                None => r.gpus = v.parse().unwrap(),
            },
            "cpus" => r.cpus = v.parse().unwrap(),
            "mem" => r.mem_mib = tres::parse_mem_mib(v),
            "tasks" => r.tasks = v.parse().unwrap(),
            "constraint" => r.constraint = Some(Constraint::parse(v).unwrap()),
            "nodelist" => r.nodelist = Some(v.into()),
            "exclude" => r.exclude = Some(HostList::parse(v).unwrap()),
            "exclusive" => r.exclusive = v == "yes",
            "throttle" | "user" | "settle" => {}
            "time" => r.time_seconds = SlurmTime::parse(v).and_then(|t| t.seconds()).unwrap(),
            other => panic!("unknown request word {other}"),
        }
    }
    r
}

fn load(dir: &Path) -> Scenario {
    load_from(dir, VERSIONS[0].0)
}

fn load_from(dir: &Path, version: &'static str) -> Scenario {
    Scenario {
        name: dir.file_name().unwrap().to_string_lossy().into_owned(),
        version,
        words: read(dir, "request.txt").trim().to_string(),
        request: parse_request(&read(dir, "request.txt")),
        throttle: read(dir, "request.txt")
            .split_whitespace()
            .find_map(|w| w.strip_prefix("throttle="))
            .map(|k| k.parse().unwrap()),
        state: ClusterState {
            user: read(dir, "request.txt")
                .split_whitespace()
                .find_map(|w| w.strip_prefix("user="))
                .unwrap_or("root")
                .into(),
            groups: std::fs::read_to_string(dir.join("groups.txt"))
                .ok()
                .map(|g| g.split_whitespace().map(str::to_string).collect()),
            default_account: sacctmgr::parse_default_account(&read(dir, "user.txt")),
            config: config::parse(&read(dir, "config.txt")),
            partitions: scontrol::parse_partitions(&read(dir, "partitions.txt")),
            nodes: sinfo::parse_nodes(&read(dir, "nodes.txt")),
            qos: sacctmgr::parse_qos(&read(dir, "qos.txt")),
            associations: sacctmgr::parse_associations(&read(dir, "assoc.txt")),
            queue: {
                let mut queue = squeue::parse(&read(dir, "queue.txt"));
                if let Ok(accounts) = std::fs::read_to_string(dir.join("queue-accounts.txt")) {
                    squeue::add_extra_fields(&mut queue, &accounts);
                }
                if let Ok(excluded) = std::fs::read_to_string(dir.join("queue-excluded.txt")) {
                    squeue::add_excluded_nodes(&mut queue, &squeue::parse_excluded(&excluded));
                }
                queue
            },
            // Scenarios captured before accounts' own limits were read have no such file.
            accounts: std::fs::read_to_string(dir.join("accounts.txt"))
                .map(|a| sacctmgr::parse_account_limits(&a))
                .unwrap_or_default(),
            // Scenarios captured before the QOS counters were read have no such file.
            limit_use: std::fs::read_to_string(dir.join("assoc-mgr.txt"))
                .map(|a| crate::slurm::assoc_mgr::parse(&a))
                .unwrap_or_default(),
            // Scenarios captured before reservations were read have neither file.
            reservations: std::fs::read_to_string(dir.join("reservations.txt"))
                .map(|r| scontrol::parse_reservations(&r))
                .unwrap_or_default(),
            now: std::fs::read_to_string(dir.join("now.txt"))
                .ok()
                .and_then(|t| crate::slurm::clock::parse_timestamp(&t)),
            index: StateIndex::default(),
            not_read: Vec::new(),
        },
        slurm: read(dir, "slurm.txt").trim().to_string(),
        test_only: std::fs::read_to_string(dir.join("test-only.txt"))
            .ok()
            .map(|t| t.trim().to_string()),
        planned: std::fs::read_to_string(dir.join("planned.txt"))
            .ok()
            .map(|t| t.trim().to_string()),
        starts: std::fs::read_to_string(dir.join("starts.txt")).ok(),
    }
}

impl Scenario {
    /// `assess`, or for an array `assess_array` with the throttle Slurm was given.
    fn verdict(&self) -> Verdict {
        if self.request.tasks == 1 {
            return assess(&self.request, &self.state);
        }
        let throttle = self.throttle.map(|limit| Throttle {
            limit,
            because: format!("%{limit}"),
        });
        assess_array(&self.request, throttle, &self.state)
    }
}

impl Scenario {
    /// Its name, with the Slurm version where that is not 22.05.
    fn label(&self) -> String {
        match self.version {
            "22.05" => self.name.clone(),
            version => format!("{} (Slurm {version})", self.name),
        }
    }
}

fn scenarios_of(version: &'static str, root: &str) -> Vec<Scenario> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs.iter().map(|d| load_from(d, version)).collect()
}

/// Slurm 22.05's scenarios.
fn scenarios() -> Vec<Scenario> {
    scenarios_of(VERSIONS[0].0, VERSIONS[0].1)
}

/// Every version's scenarios.
fn every_versions_scenarios() -> Vec<Scenario> {
    VERSIONS
        .iter()
        .flat_map(|(version, root)| scenarios_of(version, root))
        .collect()
}

/// Whether two captures of Slurm's outcome say the same (`ReqNodeNotAvail, ...` may go on
/// with other words).
fn same_decision(one: &str, other: &str) -> bool {
    let decision = |s: &str| s.split(',').next().unwrap_or(s).trim().to_string();
    decision(one) == decision(other)
}

/// Whether the verdict is what Slurm did.
fn agrees(v: &Verdict, slurm: &str) -> bool {
    let (what, detail) = slurm.split_once('|').unwrap_or((slurm, ""));
    match (what, &v.outcome, v.reason) {
        ("running", Outcome::StartsNow, _) => true,
        ("pending", Outcome::Pends, Some(r)) => r.is_squeue_reason(detail),
        ("rejected", Outcome::Rejected, Some(r)) => detail.contains(r.sbatch_says()),
        ("array", _, _) => {
            let (running, reason) = detail.split_once('|').unwrap_or((detail, "-"));
            let Some(plan) = &v.array else { return false };
            let waits_for = match plan.wait_reason {
                Some(r) => r.is_squeue_reason(reason),
                None => reason == "-",
            };
            // Where none starts, the headline names the same reason.
            let headline = plan.start_now > 0 || v.reason == plan.wait_reason;
            plan.start_now.to_string() == running && waits_for && headline
        }
        _ => false,
    }
}

/// Captured as a user PrivateData keeps from what decided Slurm's verdict, the jobs queued
/// ahead (`hidden_jobs_queued_ahead_are_named_where_they_may_decide`) or a maintenance window
/// (`hidden_reservations_are_named`): the verdict from what the user reads cannot know them,
/// and names them in `not_checked`. (`check` and `submit` then ask `sbatch --test-only` of the
/// maintenance window, and find it: `tests/fake_slurm.rs`.)
const HIDDEN_DECIDES: &[&str] = &[
    "plain-private-queue-ahead-held-up",
    "plain-private-reservations-maint-ahead",
    "plain-private-reservations-maint-array-next-task",
    "plain-private-reservations-maint-array-waits",
];

#[test]
fn every_captured_scenario_gets_slurms_verdict() {
    let all = every_versions_scenarios();
    assert!(
        all.len() >= 30,
        "only {} scenarios in {FIXTURES}",
        all.len()
    );
    let wrong: Vec<String> = all
        .iter()
        .filter_map(|s| {
            let v = s.verdict();
            if HIDDEN_DECIDES.contains(&s.name.as_str()) {
                return None;
            }
            (!agrees(&v, &s.slurm)).then(|| {
                format!(
                    "{}: yenjob {} — {}; Slurm: {}",
                    s.label(),
                    v.headline(),
                    v.message,
                    s.slurm
                )
            })
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "{} disagree:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

/// What `submit` says of a refusal (`sbatch::rejection_reason`) is the code the pre-flight
/// gave, for every refusal captured.
#[test]
fn sbatch_refusals_read_as_the_verdicts_code() {
    for s in every_versions_scenarios() {
        let Some(stderr) = s.slurm.strip_prefix("rejected|") else {
            continue;
        };
        // The capture script joined sbatch's lines with spaces.
        let stderr = stderr.replace(" sbatch: error: ", "\nsbatch: error: ");
        let v = s.verdict();
        assert_eq!(
            crate::slurm::sbatch::rejection_reason(&stderr),
            v.reason.map(|r| r.code()).unwrap_or(""),
            "{}: {stderr}",
            s.label()
        );
    }
}

/// `sbatch: Job 2127 to start at 2026-11-30T10:14:20 using 1 processors on nodes localhost in
/// partition gpu`: the time, the node and the CPUs.
fn test_only_start(said: &str) -> Option<(i64, &str, u64)> {
    let after = |word: &str| said.split(word).nth(1)?.split_whitespace().next();
    let at = crate::slurm::clock::parse_timestamp(after(" to start at ")?)?;
    Some((at, after(" on nodes ")?, after(" using ")?.parse().ok()?))
}

/// `428|2026-12-01T03:14:38` lines (`starts.txt`): when the first job or task started.
fn first_start(starts: &str) -> Option<i64> {
    starts
        .lines()
        .filter_map(|l| l.split_once('|'))
        .find_map(|(_, at)| crate::slurm::clock::parse_timestamp(at))
}

/// `PENDING|2026-11-30T10:19:29|localhost`: when and where the backfill scheduler planned a
/// waiting job.
fn planned_start(planned: &str) -> Option<(i64, &str)> {
    let mut fields = planned.split('|');
    let (state, at, node) = (fields.next()?, fields.next()?, fields.next()?);
    let at = crate::slurm::clock::parse_timestamp(at)?;
    (state == "PENDING").then_some((at, node))
}

/// Where the nodes a job may use free at the same moment, backfill may plan it on either:
/// both nodes of `multi-two-nodes-ahead-held-up` free when the two-node job queued ahead
/// ends; 22.05 planned the request on yj2 (as yenjob expects it), 24.11 on yj1, at that time.
const NODES_FREE_TOGETHER: &[(&str, &str)] = &[("multi-two-nodes-ahead-held-up", "24.11")];

/// Every job that waits for nodes (for running jobs to end, behind jobs queued ahead, or for
/// a reservation to end) is expected when and where Slurm plans it:
/// - the backfill scheduler's plan once it was submitted (squeue's StartTime and SchedNodes;
///   its times are rounded to its resolution, 60 s);
/// - `sbatch --test-only`'s answer, to a few seconds, where no other job waits in the
///   partition and none waits for nodes anywhere: its will-run test weighs no job queued
///   ahead, and with one in the partition Slurm adds a rough delay for it (job_mgr.c's
///   `_delayed_job_start_time`: their CPUs times their time limits over the partition's
///   CPUs, wherever they may run), which backfill's plan does not have. Nor where it weighs
///   other CPUs than Slurm gives the job: it does not raise them for a partition's
///   MaxMemPerCPU (it says 1 processor, and now, where the job then waits), nor where only
///   a reservation's end makes room: its will-run test does not look past it ("Requested
///   node configuration is not available");
/// - where jobs without a time limit are in the way, Slurm's answer is a year away, a
///   placeholder, and yenjob says the time is not known.
///
/// No scenario that backfill planned is left without an expected start.
#[test]
fn expected_starts_are_when_slurm_plans_them() {
    const YEAR: i64 = 365 * 86_400;
    let (mut compared, mut wrong, mut without) = (0, Vec::new(), Vec::new());
    // (An array's waiting tasks are compared in `an_arrays_last_task_starts_when_slurm_plans_it`.)
    for s in every_versions_scenarios()
        .into_iter()
        .filter(|s| s.request.tasks == 1)
    {
        let Some(said) = &s.test_only else { continue };
        let v = s.verdict();
        let now = s.state.now.unwrap();
        let reserved = !s.state.reservations.is_empty();
        // test-only leaves ExclusiveUser out (captured: it said now, where the job pended).
        let one_user_at_a_time = s
            .state
            .partition(&s.request.partition)
            .is_some_and(|p| p.exclusive_user);
        // test-only weighs no job queued ahead, and delays for those of the partition.
        let others_wait = s.state.queue.iter().any(|j| {
            j.state == crate::slurm::state::JobState::Pending
                && (j.partition == s.request.partition
                    || matches!(j.reason.as_str(), "Resources" | "Priority"))
        });
        let mut check = |what: &str, agrees: bool| {
            compared += 1;
            if !agrees {
                let ours = v.expected_start.as_ref().map(|e| e.sentence());
                wrong.push(format!("{}: yenjob {ours:?}; {what}", s.label()));
            }
        };
        match &v.expected_start {
            // test-only leaves limits out, and backfill plans no job a limit holds
            // (`a_job_a_limit_holds_starts_when_expected`).
            Some(ExpectedStart::By {
                limit_jobs_ending, ..
            }) if !limit_jobs_ending.is_empty() => {}
            Some(ExpectedStart::By { at, node, .. }) => {
                let planned = s.planned.as_deref().and_then(planned_start);
                if let Some((plan_at, plan_node)) = planned {
                    let what = format!("backfill planned {}", s.planned.as_deref().unwrap_or(""));
                    let either = NODES_FREE_TOGETHER.contains(&(s.name.as_str(), s.version));
                    check(
                        &what,
                        (at - plan_at).abs() <= 60 && (node == plan_node || either),
                    );
                }
                // Run out: when it started (the controller ends a job a little after its
                // time limit).
                if let Some(started) = s.starts.as_deref().and_then(first_start) {
                    check(
                        &format!("it started at {started}"),
                        (started - at).abs() <= 60,
                    );
                }
                let cpus = super::usage::cpus_of(&s.request, &s.state);
                match test_only_start(said) {
                    Some(_) if one_user_at_a_time => {}
                    Some((slurm_at, slurm_node, slurm_cpus))
                        if !others_wait && slurm_cpus == cpus =>
                    {
                        check(said, (at - slurm_at).abs() <= 5 && node == slurm_node)
                    }
                    Some(_) => {}
                    // Its will-run test does not look past a reservation's end.
                    None if reserved => {}
                    None => check(said, false),
                }
            }
            // Slurm sees the jobs PrivateData hides from the user, and plans by their ends.
            Some(ExpectedStart::NotKnown { unseen_on, .. }) if !unseen_on.is_empty() => {}
            Some(ExpectedStart::NotKnown { .. }) => match test_only_start(said) {
                Some((slurm_at, _, _)) => check(said, slurm_at - now >= YEAR - 60),
                None => check(said, false),
            },
            // Slurm planned it, and yenjob says nothing.
            None if HIDDEN_DECIDES.contains(&s.name.as_str()) => {}
            None if s.planned.as_deref().and_then(planned_start).is_some() => {
                without.push(s.label())
            }
            None => {}
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert!(compared >= 30, "only {compared} expected starts compared");
    assert!(without.is_empty(), "no expected start: {without:?}");
}

/// The waiting tasks of an array are one pending record to Slurm. The backfill scheduler
/// plans them one by one (up to `bf_max_job_array_resv`, 20), each keeping its node whole
/// while it would run, and the record shows the last one's start: where the tasks need their
/// nodes whole, or only one waits, that is when the array's timeline expects its last task (to
/// backfill's resolution, 60 s).
///
/// Where tasks run side by side on a node, backfill's plan puts them one after another, and
/// the scheduler then starts them together (on the live cluster, two tasks of 1 CPU on a node
/// of 2 started side by side when the job ahead ended, where backfill had planned the third
/// two time limits later): the timeline expects them together, before backfill's plan.
///
/// On Slurm 24.11 the record shows the first waiting task's start instead, and the
/// timeline's next start is compared with it.
#[test]
fn an_arrays_last_task_starts_when_slurm_plans_it() {
    const SIDE_BY_SIDE: &[&str] = &["plain-array-behind-queued", "plain-array-side-by-side"];
    let mut compared = 0;
    let planned_right = |s: &Scenario| {
        !HIDDEN_DECIDES.contains(&s.name.as_str())
            && !PLANNED_INTO_A_RESERVATION.contains(&s.name.as_str())
    };
    for s in every_versions_scenarios()
        .into_iter()
        .filter(|s| s.request.tasks > 1 && planned_right(s))
    {
        let Some((plan_at, _)) = s.planned.as_deref().and_then(planned_start) else {
            continue;
        };
        let v = s.verdict();
        let timeline = v.array.as_ref().and_then(|a| a.timeline.as_ref());
        let Some(last) = timeline.and_then(|t| t.last_start) else {
            panic!(
                "{}: no expected start; Slurm planned {:?}",
                s.label(),
                s.planned
            );
        };
        let said = format!(
            "{}: yenjob {}; backfill planned {:?}",
            s.label(),
            timeline.map(|t| t.sentence()).unwrap_or_default(),
            s.planned
        );
        let next = timeline.and_then(|t| t.next_start).unwrap_or(last);
        match (s.version, SIDE_BY_SIDE.contains(&s.name.as_str())) {
            ("22.05", true) => assert!(plan_at - last >= 60, "{said}"),
            ("22.05", false) => assert!((last - plan_at).abs() <= 60, "{said}"),
            // 24.11's record shows the first waiting task's planned start (captured: two
            // tasks, 10 minutes apart, and three with two side by side).
            _ => assert!((next - plan_at).abs() <= 60, "{said}"),
        }
        compared += 1;
    }
    assert!(compared >= 4, "only {compared} arrays compared");
}

/// Backfill's plan of an array's waiting tasks, one record to it, runs into a reservation
/// ahead: it planned the second task when the first ends (40 minutes), through a maintenance
/// window an hour ahead (`plain-maint-ahead-array-next-task-after-it`). Run out in minutes
/// (`plain-maint-soon-array-next-task-runs-after-it`: tasks of 2 minutes, a window from 3 to
/// 6), the second task waited past backfill's plan and started when the window ended, as the
/// timeline expects (`an_arrays_tasks_start_when_its_timeline_expects`).
const PLANNED_INTO_A_RESERVATION: &[&str] = &[
    "plain-maint-ahead-array-next-task-after-it",
    "plain-maint-soon-array-next-task-runs-after-it",
];

#[test]
fn an_arrays_task_that_would_run_into_a_reservation_waits_for_its_end() {
    for name in PLANNED_INTO_A_RESERVATION {
        let s = load(&Path::new(FIXTURES).join(name));
        let (plan_at, _) = s.planned.as_deref().and_then(planned_start).unwrap();
        let window_ends = s.state.reservations[0].end.unwrap();
        let v = s.verdict();
        let timeline = v.array.as_ref().and_then(|a| a.timeline.as_ref());
        let last = timeline.and_then(|t| t.last_start).unwrap();
        assert!(
            (last - window_ends).abs() <= 60 && plan_at < last,
            "{name}: {}; backfill planned {:?}",
            timeline.map(|t| t.sentence()).unwrap_or_default(),
            s.planned
        );
    }
}

/// Where an array was run out to its end (short time limits, special `starts`), its timeline
/// expects the first waiting task and the last when they really started, to a minute: Slurm
/// ends a job a few seconds after its time limit and starts the next a few seconds later.
#[test]
fn an_arrays_tasks_start_when_its_timeline_expects() {
    let mut compared = 0;
    for s in every_versions_scenarios() {
        let Some(starts) = &s.starts else { continue };
        let v = s.verdict();
        let Some(plan) = v.array.as_ref() else {
            continue;
        };
        let timeline = plan.timeline.as_ref().expect("a timeline");
        let started: Vec<i64> = starts
            .lines()
            .filter_map(|l| l.split_once('|'))
            .filter_map(|(_, at)| crate::slurm::clock::parse_timestamp(at))
            .collect();
        assert_eq!(started.len() as u64, plan.tasks, "{}: {starts}", s.label());
        let waited = &started[plan.start_now as usize..];
        let said = format!(
            "{}: yenjob {}; Slurm {starts}",
            s.label(),
            timeline.sentence()
        );
        let (Some(next), Some(last)) = (timeline.next_start, timeline.last_start) else {
            panic!("{said}");
        };
        assert!((waited[0] - next).abs() <= 60, "{said}");
        assert!((waited[waited.len() - 1] - last).abs() <= 60, "{said}");
        compared += 1;
    }
    assert!(compared >= 3, "only {compared} arrays were run out");
}

/// Where a job a limit holds was run out (special `starts`), it started when its expected
/// start said, to a minute. Slurm gives no start for such a job: `sbatch --test-only` said
/// each would start at once, leaving the limit out.
#[test]
fn a_job_a_limit_holds_starts_when_expected() {
    let mut compared = 0;
    for s in every_versions_scenarios() {
        let Some(starts) = &s.starts else { continue };
        let v = s.verdict();
        if v.array.is_some() {
            continue;
        }
        let said = format!(
            "{}: yenjob {:?}; Slurm {starts}",
            s.label(),
            v.expected_start
        );
        // Priority where a job queued ahead fails the partition first, the limit listed.
        let held = match v.reason {
            Some(Reason::Limit(_)) => true,
            Some(Reason::Priority) => !v.also.is_empty(),
            _ => false,
        };
        // (A job run out that no limit holds: `expected_starts_are_when_slurm_plans_them`.)
        if !held {
            continue;
        }
        let started = first_start(starts).unwrap_or_else(|| panic!("{said}"));
        let Some(ExpectedStart::By { at, .. }) = v.expected_start else {
            panic!("{said}");
        };
        assert!((started - at).abs() <= 60, "{said}");
        let test_only = s.test_only.as_deref().unwrap_or_default();
        assert!(test_only.contains("to start at"), "{said}: {test_only}");
        compared += 1;
    }
    assert!(compared >= 4, "only {compared} jobs were run out");
}

/// Every job run out that pended with no start from Slurm's backfill (a limit held it, or
/// ExclusiveUser kept it off the node) is told by `status`, once queued, when it starts: the
/// job as squeue then shows it (pending, Slurm's reason, no StartTime) added to the state,
/// `while_pending`'s answer is when it really started, to backfill's 60 s.
#[test]
fn status_tells_a_pending_job_slurm_plans_no_start_for_when_it_starts() {
    let mut told = 0;
    for s in every_versions_scenarios() {
        let (Some(starts), Some(reason)) = (&s.starts, s.slurm.strip_prefix("pending|")) else {
            continue;
        };
        let planned = s.planned.as_deref().and_then(planned_start);
        if s.request.tasks > 1 || planned.is_some() {
            continue;
        }
        let (id, started) = starts
            .lines()
            .find_map(|l| l.split_once('|'))
            .unwrap_or_else(|| panic!("{}: {starts}", s.label()));
        let r = &s.request;
        let line = format!(
            "{id}|{}|{}|PENDING|0:00|{}|{}|cpu={}|{}|{reason}|N/A||yj\n",
            r.partition,
            s.state.user,
            SlurmTime::Seconds(r.time_seconds),
            r.cpus,
            r.cpus,
            r.qos.as_deref().unwrap_or("normal"),
        );
        let mut state = s.state.clone();
        state.queue.extend(squeue::parse(&line));
        let said = format!("{}: Slurm started {id} at {started}", s.label());
        let Some(ExpectedStart::By { at, .. }) = while_pending(id, r, &state) else {
            panic!("{said}; status expects no start");
        };
        let started = crate::slurm::clock::parse_timestamp(started).unwrap();
        assert!((started - at).abs() <= 60, "{said}; status expects {at}");
        told += 1;
    }
    assert!(told >= 8, "only {told} jobs were told");
}

/// Slurm's will-run test takes the running jobs off together when they end within 30 s of the
/// first of them (live, `sbatch --test-only` answered the later of two ends 3 s apart, on the
/// first node): the job is expected at the later end, on the first node with room, not at
/// the earlier end on the node that frees first.
#[test]
fn jobs_ending_close_together_are_taken_off_together() {
    let mut s = load(&Path::new(FIXTURES).join("multi-when-the-first-node-frees"));
    let expected = |s: &Scenario| match s.verdict().expected_start {
        Some(ExpectedStart::By { at, node, .. }) => (at - s.state.now.unwrap(), node),
        other => panic!("{other:?}"),
    };
    // Job 2465 on yj2 ends in 10 minutes, job 2464 on yj1 in 20.
    assert_eq!(expected(&s), (600, "yj2".to_string()));
    // Job 2464 ending 20 s after job 2465: both are taken off at once.
    let on_yj1 = s.state.queue.iter_mut().find(|j| j.id == "2464").unwrap();
    on_yj1.elapsed = SlurmTime::parse("0:00").unwrap();
    on_yj1.time_limit = SlurmTime::parse("10:20").unwrap();
    s.state.index = StateIndex::default();
    assert_eq!(expected(&s), (620, "yj1".to_string()));
    // 40 s after: beyond the first window, so yj2 alone at its end.
    let on_yj1 = s.state.queue.iter_mut().find(|j| j.id == "2464").unwrap();
    on_yj1.time_limit = SlurmTime::parse("10:40").unwrap();
    s.state.index = StateIndex::default();
    assert_eq!(expected(&s), (600, "yj2".to_string()));
}

/// A maintenance window of the whole node ahead keeps it from a job that would run into it:
/// one whose room opens too close to the window starts after the window ends, one that ends
/// before it starts when its room opens.
#[test]
fn a_reservation_ahead_holds_the_node_from_a_job_that_would_run_into_it() {
    let mut s = load(&Path::new(FIXTURES).join("plain-node-busy"));
    let now = s.state.now.unwrap();
    let maintenance = |from: i64| {
        let at = crate::slurm::clock::timestamp;
        scontrol::parse_reservations(&format!(
            "ReservationName=yj-maint StartTime={} EndTime={} Nodes=localhost NodeCnt=1 CoreCnt=2 Flags=MAINT,IGNORE_JOBS,SPEC_NODES TRES=cpu=2 Users=root State=INACTIVE\n",
            at(now + from),
            at(now + from + 3600)
        ))
    };
    let expected = |s: &Scenario| match s.verdict().expected_start {
        Some(ExpectedStart::By { at, .. }) => at - now,
        other => panic!("{other:?}"),
    };
    // The job running there ends in 10 minutes, and this one takes 10.
    assert_eq!(expected(&s), 600);
    s.state.reservations = maintenance(25 * 60);
    assert_eq!(expected(&s), 600);
    s.state.reservations = maintenance(15 * 60);
    assert_eq!(expected(&s), 15 * 60 + 3600);
}

/// One row per scenario: the exact code, whether it never starts, and the numbers the
/// sentence must carry.
#[test]
fn each_verdict_names_the_code_and_numbers() {
    #[rustfmt::skip]
    let table: &[(&str, &str, bool, &[&str])] = &[
        ("plain-starts", "", false, &["room for 1 GPU and 1 CPU"]),
        ("plain-unknown-partition", "InvalidPartition", false, &["\"nosuch\"", "normal (default), gpu"]),
        ("plain-more-gpus-than-a-node", "NodeConfigurationUnavailable", false, &["5 GPUs (the largest has 4)"]),
        ("plain-more-cpus-than-a-node", "PartitionConfig", true, &["EnforcePartLimits is NO, so Slurm accepts it and it pends forever: no node", "10 CPUs (the largest has 2)"]),
        ("plain-over-partition-time", "PartitionTimeLimit", true, &["EnforcePartLimits is NO", "2-00:00:00", "MaxTime 1-00:00:00"]),
        // The partition's MaxMemPerNode (not read before: said to start).
        ("plain-over-max-mem-per-node", "MaxMemPerLimit", true, &["EnforcePartLimits is NO, so Slurm accepts it and it pends forever", "6000 MiB of memory, and partition gpu allows 4000 MiB a node (MaxMemPerNode)"]),
        ("plain-under-max-mem-per-node", "", false, &["room for 1 GPU"]),
        // MaxMemPerCPU: Slurm gives a job as many CPUs as its memory needs.
        ("plain-max-mem-per-cpu-raises-cpus", "", false, &["room for 1 GPU and 2 CPUs"]),
        ("plain-max-mem-per-cpu-raised-over-a-node", "NodeConfigurationUnavailable", false, &["allows 1000 MiB of memory per CPU (MaxMemPerCPU), so Slurm gives this job's 3000 MiB 3 CPUs", "the largest has 2"]),
        ("plain-max-mem-per-cpu-raised-cpus-busy", "Resources", false, &["1 GPU and 2 CPUs on one node"]),
        ("plain-over-max-mem-per-node-by-default", "MaxMemPerLimit", true, &["2048 MiB of memory (the site's default for its CPUs)", "allows 1500 MiB a node"]),
        ("plain-over-max-mem-per-node-and-time", "PartitionTimeLimit", true, &["2-00:00:00"]),
        ("plain-over-max-mem-per-node-and-cpus", "PartitionConfig", true, &["10 CPUs"]),
        ("plain-over-max-mem-per-node-and-jobs-per-user", "MaxMemPerLimit", true, &["6000 MiB of memory"]),
        ("plain-more-memory-than-a-node", "NodeConfigurationUnavailable", false, &["30000 MiB", "the largest has 24"]),
        // A partition's node counts, access flags and node sharing. Under EnforcePartLimits=NO
        // a job over a partition limit waits, and Slurm does not try the node shape.
        ("plain-over-partition-time-more-gpus-than-a-node", "PartitionTimeLimit", true, &["2-00:00:00"]),
        ("plain-partition-min-nodes", "PartitionNodeLimit", true, &["partition gpu runs jobs on at least 2 nodes (MinNodes), and this job runs on one"]),
        ("plain-partition-min-nodes-jobs-per-user", "PartitionNodeLimit", true, &["MinNodes"]),
        ("plain-partition-min-nodes-more-gpus-than-a-node", "PartitionNodeLimit", true, &["MinNodes"]),
        ("plain-partition-min-nodes-over-partition-time", "PartitionNodeLimit", true, &["MinNodes"]),
        ("plain-partition-max-nodes-zero", "PartitionNodeLimit", true, &["at most 0 nodes (MaxNodes=0)"]),
        ("plain-partition-max-nodes-zero-more-gpus-than-a-node", "QOSMaxGRESPerUser", true, &["QOS gpu allows 4 GPUs per user; this job alone asks for 5"]),
        ("typed-partition-min-nodes", "PartitionConfigurationUnavailable", false, &["EnforcePartLimits is ALL", "at least 2 nodes (MinNodes)"]),
        ("typed-partition-max-nodes-zero", "PartitionConfigurationUnavailable", false, &["EnforcePartLimits is ALL", "(MaxNodes=0)"]),
        ("plain-partition-needs-reservation", "AccessDenied", false, &["partition gpu takes only jobs that run in a reservation (ReqResv)"]),
        ("plain-partition-needs-reservation-in-one", "", false, &["room for 1 GPU"]),
        ("plain-partition-needs-reservation-drained", "PartitionNotAvailable", false, &["DRAIN"]),
        ("plain-partition-needs-reservation-group-not-allowed", "AccessDenied", false, &["(ReqResv)"]),
        ("plain-partition-needs-reservation-root-only", "AccessDenied", false, &["(ReqResv)"]),
        ("plain-partition-needs-reservation-unknown-qos", "InvalidQOS", false, &["\"nosuch\""]),
        ("plain-partition-needs-reservation-more-gpus-than-a-node", "AccessDenied", false, &["(ReqResv)"]),
        ("plain-partition-root-only", "AccessDenied", false, &["partition gpu takes jobs from root only (RootOnly)"]),
        ("plain-partition-root-only-root", "", false, &["room for 1 GPU"]),
        ("plain-partition-root-only-drained", "PartitionNotAvailable", false, &["DRAIN"]),
        ("plain-partition-root-only-group-not-allowed", "AccessDenied", false, &["(RootOnly)"]),
        ("plain-partition-no-root-jobs", "RootJobsDisabled", false, &["partition gpu takes no jobs from root (DisableRootJobs)"]),
        ("plain-partition-no-root-jobs-nobody", "", false, &["room for 1 GPU"]),
        ("plain-partition-exclusive-node-busy", "Resources", false, &["partition gpu gives each job whole nodes (OverSubscribe=EXCLUSIVE), and jobs run on 1 of its 1 node", "waits for running jobs to end"]),
        ("plain-partition-exclusive-node-free", "", false, &["room for 1 GPU"]),
        ("plain-force-shares-cpus", "", false, &["room for 0 GPUs and 1 CPU now, sharing CPUs with other jobs of partition normal (OverSubscribe=FORCE:2)"]),
        ("plain-force-shares-cpus-twice", "", false, &["sharing CPUs with other jobs of partition normal"]),
        ("plain-force-every-cpu-shared", "Resources", false, &["0 of 2 CPUs free; partition normal lets up to 2 of its jobs share each CPU (OverSubscribe=FORCE:2), not CPUs that other partitions' jobs hold; this job asks for 0 GPUs and 1 CPU"]),
        ("plain-force-other-partition-keeps-cpus", "Resources", false, &["0 of 2 CPUs free; partition normal lets up to 2 of its jobs share each CPU"]),
        ("plain-force-gpus-not-shared", "Resources", false, &["0 of 4 GPUs"]),
        ("plain-force-gpu-beside", "", false, &["room for 1 GPU and 1 CPU now, sharing CPUs with other jobs of partition gpu (OverSubscribe=FORCE:2)"]),
        ("plain-force-memory-not-shared", "Resources", false, &["this job asks for 0 GPUs and 1 CPU and 8000 MiB of memory (the most free on a node is 4105 MiB) on one node"]),
        ("plain-force-array", "", false, &["2 of 3 tasks start now; the other 1 wait (Resources)", "lets up to 2 of its jobs share each CPU"]),
        ("plain-yes-needs-the-jobs-consent", "Resources", false, &["0 of 2 CPUs free; this job asks for 0 GPUs and 1 CPU"]),
        ("plain-partition-exclusive-user-other-user", "Resources", false, &["runs one user's jobs on a node at a time (ExclusiveUser), and other users' jobs run on 1 of its 1 node"]),
        ("plain-partition-exclusive-user-other-user-run-out", "Resources", false, &["other users' jobs run on 1 of its 1 node", "expected to start by 03:14 (in 1 min) on localhost, when job 426 reaches its time limit"]),
        ("plain-partition-exclusive-user-same-user", "", false, &["room for 1 GPU"]),
        ("plain-qos-not-allowed", "InvalidQOS", false, &["\"restricted\"", "deny, gpu, lab, normal, perjob"]),
        // A partition's AllowGroups, for a user outside them (root may use any partition).
        ("plain-group-allowed", "", false, &["room for 1 GPU"]),
        ("plain-group-not-allowed", "GroupNotPermitted", false, &["partition gpu takes jobs from members of daemon only (AllowGroups), and you (nobody) are in nogroup"]),
        ("plain-group-not-allowed-root", "", false, &["room for 1 GPU"]),
        ("plain-group-not-allowed-drained-partition", "PartitionNotAvailable", false, &["partition gpu is DRAIN"]),
        ("plain-group-not-allowed-more-gpus-than-a-node", "GroupNotPermitted", false, &["members of daemon only"]),
        ("plain-group-not-allowed-qos-not-allowed", "InvalidQOS", false, &["you may not use QOS \"restricted\""]),
        ("plain-group-not-allowed-unknown-account", "InvalidAccount", false, &["no association with account \"nosuch\""]),
        ("plain-gpu-type-not-on-any-node", "NodeConfigurationUnavailable", false, &["a30 GPUs (its GPUs have no type)"]),
        ("plain-node-busy", "Resources", false, &["4 of 4 GPUs and 0 of 2 CPUs free", "1 GPU and 2 CPUs"]),
        ("plain-gpus-per-user", "QOSMaxGRESPerUser", false, &["you hold 3 of the 4 GPUs QOS gpu allows per user; this job asks for 2"]),
        ("plain-jobs-per-user", "QOSMaxJobsPerUserLimit", false, &["you already run 2 jobs under QOS gpu, which allows 2"]),
        ("plain-jobs-and-gpus-per-user", "QOSMaxJobsPerUserLimit", false, &["you already run 2 jobs"]),
        ("plain-submit-limit", "QOSMaxSubmitJobPerUserLimit", false, &["4 jobs queued or running under QOS gpu, which allows 4"]),
        // Jobs queued ahead waiting for the node: backfill starts a job that ends before the
        // first is expected to start; it plans whole nodes, so room beside it does not count.
        ("plain-queue-ahead-held-up", "Priority", false, &["job 2895 (nobody), queued ahead of this one, waits for 2 CPUs and 1 GPU", "expected to start by 13:29 (in 19 min) on localhost, when job 2895, queued ahead and expected to start at 13:19, reaches its time limit", "time limit of 10:00 would hold that one up: ask for at most 9:00 (`--time`)"]),
        // Jobs queued in a lower PriorityTier are scheduled after this one; one in another
        // partition of the same tier keeps the node, and Slurm names that partition's priority.
        ("plain-queue-ahead-lower-tier", "", false, &["partition gpu has room for 1 GPU and 1 CPU now"]),
        ("plain-queue-ahead-same-tier", "ReqNodeNotAvail", false, &["but job 2903 (nobody, partition normal), queued ahead of this one, waits for 2 CPUs and 0 GPUs"]),
        ("plain-queue-ahead-backfilled", "", false, &["1 job queued ahead waits for resources there; this one ends before it is expected to start"]),
        // The same once backfill has planned the job ahead: its StartTime and SchedNodes.
        ("plain-queue-ahead-planned-held-up", "Priority", false, &["job 2899 (nobody), queued ahead of this one, waits for 2 CPUs and 1 GPU and is expected to start at 13:19", "would hold that one up"]),
        ("plain-queue-ahead-planned-backfilled", "", false, &["1 job queued ahead waits for resources there; this one ends before it is expected to start"]),
        // A job ahead of two nodes keeps both: the one a job holds, and the one free now.
        ("multi-two-nodes-ahead-held-up", "Priority", false, &["job 2920 (nobody), queued ahead of this one, waits for 2 CPUs and 4 GPUs on 2 nodes and is expected to start at", "expected to start by 13:35 (in 19 min) on yj2, when job 2920, queued ahead and expected to start at 13:25, reaches its time limit, or sooner if it ends early", "would hold that one up"]),
        ("multi-two-nodes-ahead-backfilled", "", false, &["1 job queued ahead waits for resources there; this one ends before it is expected to start"]),
        ("multi-two-nodes-ahead-planned-held-up", "Priority", false, &["job 2924 (nobody), queued ahead of this one, waits for 2 CPUs and 4 GPUs on 2 nodes and is expected to start at 13:26", "would hold that one up"]),
        ("multi-two-nodes-ahead-planned-backfilled", "", false, &["1 job queued ahead waits for resources there; this one ends before it is expected to start"]),
        // Node features asked for with a constraint (yj1: ampere,ib; yj2: hopper,ib).
        ("multi-constraint-starts", "", false, &["partition gpu has room for 1 GPU and 1 CPU on a node with features ampere now"]),
        ("multi-constraint-comma-is-and", "", false, &["on a node with features ampere,ib now"]),
        ("multi-constraint-unknown-feature", "InvalidFeature", false, &["no node of this cluster has the feature nosuch that constraint nosuch names (features here: ampere, hopper, ib)"]),
        ("multi-constraint-unknown-feature-in-or", "InvalidFeature", false, &["the feature nosuch that constraint ampere|nosuch names"]),
        ("multi-constraint-unknown-feature-over-partition-time", "InvalidFeature", false, &["nosuch"]),
        ("multi-constraint-no-node-has-all", "NodeConfigurationUnavailable", false, &["no node in partition gpu has the features constraint ampere&hopper asks for (its nodes have: ampere,ib (1 node); hopper,ib (1 node))"]),
        // Under EnforcePartLimits=NO a partition limit comes before the node shape.
        ("multi-constraint-no-node-has-all-over-partition-time", "PartitionTimeLimit", true, &["MaxTime"]),
        ("multi-constraint-more-gpus-than-its-nodes", "NodeConfigurationUnavailable", false, &["no node in partition gpu with features ampere has 3 GPUs (the largest has 2)"]),
        ("multi-constraint-node-busy", "Resources", false, &["partition gpu's nodes with features ampere have 0 of 2 GPUs and 1 of 2 CPUs free"]),
        ("multi-constraint-other-node-free", "", false, &["on a node with features hopper now"]),
        ("multi-constraint-or-other-node-free", "", false, &["on a node with features ampere|hopper now"]),
        ("multi-constraint-grouped", "", false, &["on a node with features (ampere|hopper)&ib now"]),
        // Read left to right, as Slurm does: (ib|ampere)&hopper, yj2 only, whose GPUs are held.
        ("multi-constraint-left-to-right", "Resources", false, &["partition gpu's nodes with features ib|ampere&hopper have 0 of 2 GPUs"]),
        ("multi-constraint-node-drained", "ReqNodeNotAvail", false, &["every node of partition gpu with features ampere is down, drained or reserved (yj1 drained)"]),
        ("multi-no-constraint-other-node-up", "", false, &["partition gpu has room for 1 GPU and 1 CPU now"]),
        // A job ahead that needs yj1's features waits for yj1 alone: a longer job starts on
        // yj2 (before its features were read, yenjob expected the job ahead there: Priority).
        ("multi-constraint-ahead-needs-the-other-node", "", false, &["partition gpu has room for 1 GPU and 1 CPU now (1 job queued ahead waits for resources there, but is expected on another node)"]),
        ("multi-exclude-ahead-needs-the-other-node", "", false, &["partition gpu has room for 1 GPU and 1 CPU now (1 job queued ahead waits for resources there, but is expected on another node)"]),
        ("multi-constraint-ahead-needs-the-other-node-planned", "", false, &["partition gpu has room for 1 GPU and 1 CPU now (1 job queued ahead waits for resources there, but is expected on another node)"]),
        // Regression: a job ahead whose feature has a count (`ampere*1`) was taken as free to
        // go on any node, and so as held up by the request on yj2.
        ("multi-counted-constraint-ahead-needs-the-other-node", "", false, &["partition gpu has room for 1 GPU and 1 CPU now (1 job queued ahead waits for resources there, but is expected on another node)"]),
        ("multi-counted-constraint-ahead-needs-the-other-node-planned", "", false, &["partition gpu has room for 1 GPU and 1 CPU now (1 job queued ahead waits for resources there, but is expected on another node)"]),
        // Node Weight: the job queued ahead is expected on the lightest of the nodes that free
        // together (yj2, of Weight 1 beside yj1's 10), the first listed of equals. Regression:
        // a job that named the other node was told it ended before that job's start.
        ("multi-weight-equal-ahead-on-the-first-node", "Priority", false, &["queued ahead of this one, waits for 1 CPU and 2 GPUs", "ask for at most 9:00", "on yj1, when job 2, queued ahead"]),
        ("multi-weight-equal-the-second-node-free", "", false, &["on a node named yj2 now (1 job queued ahead waits for resources there, but is expected on another node)"]),
        ("multi-weight-ahead-on-the-lighter-node", "Priority", false, &["queued ahead of this one, waits for 1 CPU and 2 GPUs", "ask for at most 9:00", "on yj2, when job 37, queued ahead"]),
        ("multi-weight-the-heavier-node-free", "", false, &["on a node named yj1 now (1 job queued ahead waits for resources there, but is expected on another node)"]),
        ("multi-weight-the-heavier-node-free-planned", "", false, &["on a node named yj1 now (1 job queued ahead waits for resources there, but is expected on another node)"]),
        // Two jobs queued ahead of one shape, before backfill has planned them: the second is
        // expected on the node the first leaves it. Regression: both were expected on yj1,
        // and a long job on yj2 was told it started now.
        ("multi-two-ahead-one-shape-held-up", "Priority", false, &["job 23 (nobody), queued ahead of this one, waits for 1 CPU and 2 GPUs", "ask for at most 9:00", "on yj1, when job 22, queued ahead"]),
        ("multi-two-ahead-one-shape-backfilled", "", false, &["(2 jobs queued ahead wait for resources there; this one ends before they are expected to start, "]),
        ("multi-two-ahead-one-shape-planned-held-up", "Priority", false, &["job 33 (nobody), queued ahead of this one, waits for 1 CPU and 2 GPUs", "ask for at most 9:00", "on yj1, when job 32, queued ahead"]),
        // Behind a job of the partition with a constraint that waits for resources, no room
        // is Priority too: on its node, and on neither node.
        ("multi-constraint-ahead-same-node-held-up", "Priority", false, &["partition gpu's nodes with features ampere have 0 of 2 GPUs", "waits for resources there too, so Slurm gives Priority as the reason"]),
        ("multi-constraint-ahead-no-room-anywhere", "Priority", false, &["partition gpu has 0 of 4 GPUs", "waits for resources there too, so Slurm gives Priority as the reason", "expected to start by 13:29 (in 9 min) on yj2, when job 2932 reaches its time limit"]),
        // A job ahead that asks for yj1's GPU type (a30) waits for yj1 alone. Behind it, a job
        // that finds no room gets Priority from Slurm, not Resources.
        ("multi-typed-ahead-needs-the-other-node", "", false, &["partition gpu has room for 1 GPU and 1 CPU now"]),
        ("multi-typed-ahead-needs-the-other-node-typed", "", false, &["partition gpu has room for 1 h100 GPU and 1 CPU now"]),
        ("multi-typed-ahead-same-type-held-up", "Priority", false, &["partition gpu has 0 of 2 a30 GPUs and 3 of 4 CPUs free", "queued ahead of this one, waits for resources there too, so Slurm gives Priority as the reason"]),
        ("multi-constraint-array-on-one-node", "", false, &["1 of 3 tasks start now; the other 2 wait (Resources)", "partition normal's nodes with features ampere have 0 of 2 GPUs"]),
        // Nodes named with nodelist (one node) or kept off with exclude. sbatch checks the
        // names first: before the partition, after only the array's indices.
        ("multi-nodelist-starts", "", false, &["partition gpu has room for 1 GPU and 1 CPU on a node named yj2 now"]),
        ("multi-nodelist-other-node-free", "", false, &["on a node named yj2 now"]),
        ("multi-nodelist-unknown-node", "InvalidNodeName", false, &["this cluster has no node named yj9 (`nodelist`); partition gpu's nodes are yj[1-2]"]),
        ("multi-nodelist-unknown-node-unknown-partition", "InvalidNodeName", false, &["this cluster has no node named yj9 (`nodelist`); its nodes are yj1, yj2"]),
        ("multi-nodelist-unknown-node-array-too-large", "InvalidArray", false, &["MaxArraySize is 1001"]),
        ("multi-exclude-unknown-node", "InvalidNodeName", false, &["this cluster has no node named yj3 (`exclude`); partition gpu's nodes are yj[1-2]"]),
        ("multi-nodelist-excluded-too", "InvalidNodeName", false, &["node yj1 is both the job's nodelist and in its exclude (yj1)"]),
        ("multi-exclude-every-node", "NodeConfigurationUnavailable", false, &["exclude (yj[1-2]) leaves no node of partition gpu, whose nodes are yj[1-2]"]),
        // Under EnforcePartLimits=NO a partition limit comes before the node shape.
        ("multi-exclude-every-node-over-partition-time", "PartitionTimeLimit", true, &["MaxTime"]),
        ("multi-nodelist-not-in-partition", "NodeConfigurationUnavailable", false, &["node yj2, the job's nodelist, is not in partition gpu, whose nodes are yj1"]),
        ("multi-nodelist-other-gpu-type", "NodeConfigurationUnavailable", false, &["no node in partition gpu named yj1 has h100 GPUs (GPU types here: a30)"]),
        ("multi-nodelist-without-the-feature", "NodeConfigurationUnavailable", false, &["no node in partition gpu named yj1 has the features constraint hopper asks for (its nodes have: ampere,ib (1 node))"]),
        ("multi-exclude-leaves-no-node-with-the-feature", "NodeConfigurationUnavailable", false, &["no node in partition gpu other than yj2 has the features constraint hopper asks for (its nodes have: ampere,ib (1 node))"]),
        ("multi-nodelist-more-gpus-than-its-node", "NodeConfigurationUnavailable", false, &["no node in partition gpu named yj1 has 3 GPUs (the largest has 2)"]),
        ("multi-nodelist-node-busy", "Resources", false, &["node yj1 of partition gpu has 0 of 2 GPUs and 1 of 2 CPUs free"]),
        ("multi-exclude-leaves-the-busy-node", "Resources", false, &["partition gpu's nodes other than yj2 have 0 of 2 GPUs and 1 of 2 CPUs free"]),
        ("multi-exclude-leaves-the-free-node", "", false, &["partition gpu has room for 1 GPU and 1 CPU on a node other than yj1 now"]),
        ("multi-nodelist-node-drained", "ReqNodeNotAvail", false, &["every node of partition gpu named yj1 is down, drained or reserved (yj1 drained)"]),
        ("multi-exclude-leaves-the-drained-node", "ReqNodeNotAvail", false, &["every node of partition gpu other than yj2 is down, drained or reserved (yj1 drained)"]),
        ("multi-nodelist-array-on-one-node", "", false, &["1 of 3 tasks start now; the other 2 wait (Resources): node yj1 of partition normal has 0 of 2 GPUs"]),
        // A job ahead that named yj1 waits for yj1 alone, and Slurm does not hold up the
        // partition behind it: it keeps yj1 from the jobs behind (ReqNodeNotAvail where yj1 is
        // all they may use), and a job with no room elsewhere waits for Resources, not Priority.
        ("multi-nodelist-ahead-needs-the-other-node", "", false, &["partition gpu has room for 1 GPU and 1 CPU now"]),
        ("multi-nodelist-ahead-needs-the-other-node-planned", "", false, &["partition gpu has room for 1 GPU and 1 CPU now"]),
        ("multi-nodelist-ahead-same-node-held-up", "ReqNodeNotAvail", false, &["node yj1, the only one of partition gpu this job may use now, is kept for job 2941 (nobody)"]),
        ("multi-nodelist-ahead-constraint-behind", "ReqNodeNotAvail", false, &["node yj1, the only one of partition gpu this job may use now, is kept for job 2945 (nobody), queued ahead of this one, which named yj1", "expected to start by 13:41 (in 19 min) on yj1, when job 2944 reaches its time limit and job 2945, queued ahead and expected to start at 13:31, reaches its time limit"]),
        ("multi-nodelist-ahead-no-room-anywhere", "Resources", false, &["partition gpu has 0 of 4 GPUs and 2 of 4 CPUs free"]),
        ("multi-nodelist-ahead-no-room-on-the-named-node", "Resources", false, &["node yj2 of partition gpu has 0 of 2 GPUs and 1 of 2 CPUs free"]),
        ("multi-nodelist-ahead-room-beside-held-up", "ReqNodeNotAvail", false, &["waits for 1 CPU and 2 GPUs on yj1 and is expected to start at 13:32", "expected to start by 13:42 (in 19 min) on yj1, when job 2949, queued ahead", "ask for at most 9:00", "(Slurm keeps the nodes a job queued ahead names (`--nodelist`) from the jobs queued behind it)"]),
        ("multi-nodelist-ahead-room-beside-backfilled", "", false, &["on a node named yj1 now (1 job queued ahead waits for resources there; this one ends before it is expected to start"]),
        ("multi-nodelist-ahead-room-beside-unnamed-held-up", "Resources", false, &["waits for 1 CPU and 2 GPUs on yj1 and is expected to start at 10:39", "would hold that one up", "expected to start by 10:39 (in 9 min) on yj2, when job 2435 reaches its time limit"]),
        // A node of its own (`--exclusive`): a node without jobs, and every CPU and GPU of
        // it, which limits count (one more GPU fits under the QOS; a node of its own does not).
        ("plain-exclusive-node-free", "", false, &["partition gpu has room for 1 GPU and 1 CPU on a node of its own (`exclusive`) now"]),
        ("plain-exclusive-node-busy", "Resources", false, &["it asks for a node of its own (`exclusive`), and jobs run on 1 of the 1 node it may use"]),
        ("typed-exclusive-starts", "", false, &["partition normal has room for 1 GPU and 1 CPU on a node of its own (`exclusive`) now"]),
        ("typed-exclusive-cpus-per-user", "NodeConfigurationUnavailable", false, &["partition gpu allows 6 CPUs per node (MaxCPUsPerNode), and its nodes have 8 or more"]),
        ("typed-exclusive-cpus-per-user-held", "NodeConfigurationUnavailable", false, &["MaxCPUsPerNode"]),
        ("typed-exclusive-cpus-per-node", "QOSMaxGRESPerJob", true, &["QOS perjob allows 1 GPU per job; this job alone asks for 4", "Slurm gives it every CPU and GPU of the node, which the limits count"]),
        ("multi-exclusive-other-node-free", "", false, &["on a node of its own (`exclusive`) now"]),
        ("multi-exclusive-both-nodes-busy", "Resources", false, &["jobs run on 2 of the 2 nodes it may use"]),
        ("multi-exclusive-gpus-per-user", "QOSMaxGRESPerUser", false, &["you hold 2 of the 3 GPUs QOS yj-fresh allows per user; this job asks for 2 (it asks for a node of its own"]),
        ("multi-not-exclusive-gpus-per-user", "", false, &["partition normal has room for 1 GPU and 1 CPU now"]),
        ("plain-queue-ahead-room-beside", "Priority", false, &["job 2907 (root)", "time limit of 30:00 would hold that one up"]),
        // Preemption by partition PriorityTier: a job of gpu (tier 2) takes what jobs of
        // normal (tier 1) hold; the other way round, and within a tier, it waits.
        ("preempt-preempts-lower-tier", "", false, &["room for 1 GPU and 1 CPU now, by preempting job 4094 (nobody, partition normal, PriorityTier 1 below gpu's 2; PreemptMode REQUEUE)"]),
        ("preempt-preempts-lower-tier-gpus", "", false, &["by preempting job 4096"]),
        ("preempt-same-tier-busy", "Resources", false, &["0 of 2 CPUs free"]),
        ("preempt-lower-tier-waits", "Resources", false, &["0 of 2 CPUs free"]),
        ("preempt-preempts-part-of-what-it-needs", "Resources", false, &["1 GPU and 2 CPUs"]),
        ("preempt-preempts-but-gpus-per-user", "QOSMaxGRESPerUser", false, &["you hold 3 of the 4 GPUs"]),
        // A task that preempts takes the node's freed CPUs: the next finds none left.
        ("preempt-array-preempts", "", false, &["2 of 3 tasks start now, preempting job 4109 (nobody, partition normal, QOS normal); the other 1 wait"]),
        ("preempt-array-preempts-one-of-two", "", false, &["1 of 3 tasks start now, preempting job 2391 (nobody, partition normal, QOS normal); the other 2 wait", "0 of 2 CPUs free"]),
        // Preemption by QOS: a job of QOS lab, whose Preempt list names normal, takes what
        // jobs of normal hold; without the list, or against another QOS, it waits.
        ("preempt-qos-preempts-named-qos", "", false, &["room for 1 GPU and 1 CPU now, by preempting job 4117 (nobody, QOS normal, which QOS lab's Preempt list names)"]),
        ("preempt-qos-preempts-nothing-unnamed", "Resources", false, &["0 of 2 CPUs free"]),
        ("preempt-qos-preempts-not-other-qos", "Resources", false, &["0 of 2 CPUs free"]),
        ("preempt-qos-preemptable-starts", "", false, &["room for 0 GPUs and 1 CPU"]),
        ("preempt-preemptable-starts", "", false, &["room for 0 GPUs and 1 CPU"]),
        ("plain-node-drained", "ReqNodeNotAvail", false, &["localhost drained"]),
        ("plain-node-down", "ReqNodeNotAvail", false, &["localhost down"]),
        // Nodes out of service are known before the limits checked on the nodes picked.
        ("plain-node-drained-and-gpus-per-user", "ReqNodeNotAvail", false, &["localhost draining"]),
        ("plain-node-busy-and-gpus-per-user", "QOSMaxGRESPerUser", false, &["you hold 3 of the 4 GPUs"]),
        // Reservations (not read before: said to start now).
        ("plain-maint-ahead-job-ends-before", "", false, &["room for 1 GPU"]),
        ("plain-maint-ahead-job-runs-into-it", "ReqNodeNotAvail", false, &["kept for maintenance (reservation yj-maint) from", "(in 59 min)", "time limit of 2:00:00 would run into it: ask for at most 59:00 (`--time`) to start now, or it waits until", "(in 1 h 59 min)"]),
        ("plain-maint-now", "ReqNodeNotAvail", false, &["kept for maintenance (reservation yj-maint), and it waits until", "(in 59 min)"]),
        ("plain-maint-ahead-and-jobs-per-user", "QOSMaxJobsPerUserLimit", false, &["you already run 2 jobs"]),
        // Some of the node's cores reserved: the rest stays open to everyone, and a job in
        // the reservation has those cores alone.
        ("plain-cores-reserved-job-fits", "", false, &["room for 1 GPU and 1 CPU"]),
        ("plain-cores-reserved-job-too-big", "Resources", false, &["1 of 2 CPUs free (1 more kept for reservation yj-cores until", "waits for running jobs or the reservation to end", "expected to start by 11:16 (in 1 h) on localhost, when reservation yj-cores ends"]),
        ("plain-cores-reserved-and-held", "Resources", false, &["0 of 2 CPUs free (1 more kept for reservation yj-cores until", "expected to start by 10:26 (in 10 min) on localhost, when job 2363 reaches its time limit"]),
        ("plain-cores-reserved-ahead-job-ends-before", "", false, &["room for 1 GPU and 2 CPUs"]),
        ("plain-cores-reserved-ahead-job-runs-into-it", "Resources", false, &["1 of 2 CPUs free (1 more kept for reservation yj-cores from", "in 59 min, which this job's time limit of 2:00:00 would run into; ask for at most 59:00 (`--time`)"]),
        ("plain-in-core-reservation", "", false, &["room for 1 GPU and 1 CPU"]),
        // sinfo says `reserved` of an idle node with a reservation of some of its cores.
        ("plain-cores-reserved-shown-job-fits", "", false, &["room for 1 GPU and 1 CPU"]),
        ("plain-cores-reserved-shown-job-too-big", "Resources", false, &["1 of 2 CPUs free (1 more kept for reservation yj-cores until"]),
        ("plain-in-core-reservation-shown", "", false, &["room for 1 GPU and 1 CPU"]),
        ("plain-in-core-reservation-too-big", "Resources", true, &["reservation yj-cores keeps 1 CPU of a node", "asks for 2 CPUs", "never start"]),
        ("plain-in-core-reservation-used", "Resources", false, &["reservation yj-cores, which this job runs in, has 0 of its 1 free", "the jobs running in its reservation", "expected to start by 10:30 (in 10 min) on localhost, when job 2372 reaches its time limit"]),
        ("plain-beside-core-reservation-used", "", false, &["room for 1 GPU and 1 CPU"]),
        ("plain-maint-ahead-and-gpus-per-user", "ReqNodeNotAvail", false, &["maintenance"]),
        ("plain-maint-ahead-node-busy", "ReqNodeNotAvail", false, &["maintenance", "expected to start by 15:13 (in 1 h 59 min) on localhost, when job 2912 reaches its time limit and reservation yj-maint ends"]),
        // An array's tasks around the window: the second of 40 minutes after it, and tasks of
        // 90 minutes all wait for it (`an_arrays_task_that_would_run_into_a_reservation_...`).
        ("plain-maint-ahead-array-next-task-after-it", "", false, &["1 of 2 tasks start now; the other 1 wait (Resources)", "the waiting task is expected to start by 16:49 (in 1 h 59 min), and all 2 have ended by 17:29 (in 2 h 39 min)"]),
        ("plain-maint-soon-array-next-task-runs-after-it", "", false, &["1 of 2 tasks start now; the other 1 wait (Resources)", "the waiting task is expected to start by 15:10 (in 5 min), and all 2 have ended by 15:12 (in 7 min)"]),
        ("plain-maint-ahead-array-waits-for-it", "ReqNodeNotAvail", false, &["none of the 2 tasks starts now: the nodes of partition gpu that are up are kept for maintenance (reservation yj-maint) from 15:50 (in 59 min)", "the first task is expected to start by 16:50 (in 1 h 59 min), the last by 18:20 (in 3 h 29 min), and all 2 have ended by 19:50 (in 4 h 59 min)"]),
        ("plain-reserved-ahead-job-runs-into-it", "ReqNodeNotAvail", false, &["kept for reservation yj-other from"]),
        // A job that asks for a reservation (`reservation` in [job]).
        ("plain-in-reservation-now", "", false, &["room for 1 GPU"]),
        ("plain-in-reservation-ahead", "Reservation", false, &["reservation yj-lab begins at", "(in 59 min); the job waits for it"]),
        ("plain-in-reservation-longer-than-it", "", false, &["room for 1 GPU"]),
        ("plain-in-reservation-others-kept-out", "", false, &["room for 1 GPU"]),
        ("plain-in-reservation-jobs-per-user", "QOSMaxJobsPerUserLimit", false, &["you already run 2 jobs"]),
        ("plain-in-reservation-not-mine", "ReservationAccessDenied", false, &["reservation yj-lab is for users root; this job runs as nobody under account yenlab"]),
        ("plain-in-unknown-reservation", "InvalidReservation", false, &["reservation \"nosuch\" does not exist (or has ended); there are none now"]),
        ("plain-in-unknown-reservation-qos-not-allowed", "InvalidQOS", false, &["restricted"]),
        ("plain-in-unknown-reservation-more-gpus-than-a-node", "InvalidReservation", false, &["nosuch"]),
        ("plain-in-unknown-reservation-drained-partition", "PartitionNotAvailable", false, &["DRAIN"]),
        ("plain-reserved-now", "ReqNodeNotAvail", false, &["kept for reservation yj-other, and it waits until", "expected to start by 14:15 (in 1 h) on localhost, when reservation yj-other ends"]),
        // A partition an administrator set DOWN, DRAIN or INACTIVE (said to start, before).
        ("plain-partition-down", "PartitionDown", false, &["partition gpu is DOWN", "until an administrator brings the partition up"]),
        ("plain-partition-down-gpus-per-user", "PartitionDown", false, &["partition gpu is DOWN"]),
        ("plain-partition-down-jobs-per-user", "QOSMaxJobsPerUserLimit", false, &["you already run 2 jobs under QOS gpu"]),
        ("plain-partition-down-more-cpus-than-a-node", "NodeConfigurationUnavailable", false, &["no node in partition gpu has 10 CPUs (the largest has 2)"]),
        ("plain-partition-down-more-gpus-than-a-node", "NodeConfigurationUnavailable", false, &["5 GPUs (the largest has 4)"]),
        ("plain-partition-down-more-memory-than-a-node", "NodeConfigurationUnavailable", false, &["30000 MiB"]),
        ("plain-partition-down-node-busy", "PartitionDown", false, &["partition gpu is DOWN"]),
        ("plain-partition-down-node-drained", "ReqNodeNotAvail", false, &["localhost drained"]),
        ("plain-partition-down-over-partition-time", "QOSMaxWallDurationPerJobLimit", true, &["2-00:00:00", "MaxWall 1-00:00:00"]),
        ("plain-partition-drain", "PartitionNotAvailable", false, &["partition gpu is DRAIN", "takes no new jobs", "sinfo -p gpu"]),
        ("plain-partition-drain-array-over-max-array-size", "InvalidArray", false, &["1002 tasks"]),
        ("plain-partition-drain-more-gpus-than-a-node", "PartitionNotAvailable", false, &["partition gpu is DRAIN"]),
        ("plain-partition-drain-qos-not-allowed", "PartitionNotAvailable", false, &["partition gpu is DRAIN"]),
        ("plain-partition-inactive", "PartitionNotAvailable", false, &["partition gpu is INACTIVE", "starts none"]),
        // The account's own limits, shared by all its users (not read before: said to start).
        ("plain-account-gpus", "AssocGrpGRES", false, &["the users of account yenlab hold 2 of its 2 GPUs together (GrpTRES); this job asks for 1"]),
        ("plain-account-gpus-alone", "AssocGrpGRES", true, &["account yenlab allows 1 GPU to all its users together (GrpTRES); this job alone asks for 2"]),
        ("plain-account-gpus-fits", "", false, &["room for 1 GPU"]),
        ("plain-account-jobs", "AssocGrpJobsLimit", false, &["the users of account yenlab run 1 job together, and it allows 1 at once (GrpJobs)"]),
        ("plain-account-submit", "AssocGrpSubmitJobsLimit", false, &["account yenlab allows 1 job queued or running for all its users together (GrpSubmit), and they have 1"]),
        ("plain-qos-account-gpus", "MaxGRESPerAccount", false, &["the users of account yenlab hold 2 of the 2 GPUs QOS gpu allows per account (MaxTRESPA); this job asks for 1"]),
        ("plain-qos-account-gpus-alone", "MaxGRESPerAccount", true, &["QOS gpu allows 2 GPUs per account (MaxTRESPA); this job alone asks for 3, so it will never start"]),
        ("plain-qos-account-gpus-and-gpus-per-user", "MaxGRESPerAccount", false, &["hold 3 of the 4 GPUs QOS gpu allows per account"]),
        ("plain-qos-account-gpus-array", "", false, &["1 of 4 tasks start now; the other 3 wait (MaxGRESPerAccount): the users of account yenlab hold 2 of the 2 GPUs QOS sweep allows per account"]),
        ("plain-qos-account-gpus-fits", "", false, &["room for 1 GPU"]),
        ("plain-qos-account-jobs", "MaxJobsPerAccount", false, &["the users of account yenlab run 1 job together under QOS gpu, which allows 1 at once per account (MaxJobsPA)"]),
        ("plain-qos-account-jobs-and-jobs-per-user", "MaxJobsPerAccount", false, &["run 2 jobs together under QOS gpu, which allows 2 at once per account"]),
        ("plain-qos-account-jobs-array", "", false, &["1 of 4 tasks start now; the other 3 wait (MaxJobsPerAccount)"]),
        ("plain-qos-account-submit", "MaxSubmitJobsPerAccount", false, &["QOS gpu allows 1 job queued or running per account (MaxSubmitPA), and the users of account yenlab have 1"]),
        ("plain-qos-account-submit-and-submit-per-user", "MaxSubmitJobsPerAccount", false, &["allows 4 jobs queued or running per account (MaxSubmitPA), and the users of account yenlab have 4"]),
        ("plain-qos-account-submit-array", "MaxSubmitJobsPerAccount", false, &["QOS sweep allows 3 jobs queued or running per account (MaxSubmitPA), and the users of account yenlab have 0; this array's 4 tasks count one each"]),
        ("plain-qos-cpu-minutes", "QOSMaxCpuMinutesPerJobLimit", true, &["QOS gpu allows 60 CPU-minutes per job (MaxTRESMins): CPUs times the time limit; this job asks for 2 × 60 min = 120, so it will never start; with 2 CPUs a time limit of at most 30:00 fits"]),
        ("plain-qos-deny-account-gpus", "MaxGRESPerAccount", false, &["the users of account yenlab hold 2 of the 2 GPUs QOS gpu allows per account (MaxTRESPA); this job asks for 1"]),
        ("plain-qos-deny-account-gpus-alone", "MaxGRESPerAccount", false, &["QOS gpu has DenyOnLimit, so sbatch refuses it", "QOS gpu allows 2 GPUs per account (MaxTRESPA); this job alone asks for 3"]),
        ("plain-qos-deny-gpu-minutes", "QOSMaxGRESMinutesPerJob", false, &["QOS gpu has DenyOnLimit", "QOS gpu allows 120 GPU-minutes per job (MaxTRESMins): GPUs times the time limit; this job asks for 2 × 120 min = 240; with 2 GPUs a time limit of at most 1:00:00 fits"]),
        ("plain-qos-deny-min-gpus", "QOSMinGRES", false, &["QOS gpu has DenyOnLimit", "QOS gpu requires at least 1 GPU per job (MinTRES); this job asks for 0"]),
        ("plain-qos-deny-run-minutes-alone", "QOSGrpGRESRunMinutes", false, &["QOS gpu has DenyOnLimit", "QOS gpu allows 100 GPU-minutes to its running jobs together (GrpTRESRunMins: GPUs times the time limit, until the job ends); this job alone asks for 2 × 60 min = 120"]),
        ("plain-qos-gpu-minutes", "QOSMaxGRESMinutesPerJob", true, &["this job asks for 2 × 120 min = 240, so it will never start"]),
        ("plain-qos-gpu-minutes-fits", "", false, &["room for 1 GPU"]),
        ("plain-qos-group-submit", "QOSGrpSubmitJobsLimit", false, &["QOS gpu allows 1 job queued or running for all users together (GrpSubmit), and they have 1"]),
        ("plain-qos-group-submit-and-submit-per-user", "QOSGrpSubmitJobsLimit", false, &["QOS gpu allows 4 jobs queued or running for all users together (GrpSubmit), and they have 4"]),
        // GrpTRESMins counts what was used so far, not this job: captured, a job alone over
        // it starts while nothing is used.
        ("plain-qos-grp-minutes-alone", "", false, &["room for 2 GPUs"]),
        ("plain-qos-grp-minutes-spent", "QOSGrpGRESMinutes", false, &["QOS gpu has used 0 of the 0 GPU-minutes it may use (GrpTRESMins, a budget that decays with time); jobs asking for GPUs wait"]),
        ("plain-qos-grp-minutes-spent-cpu-only", "", false, &["room for 0 GPUs"]),
        ("plain-qos-deny-grp-minutes-alone", "QOSGrpGRESMinutes", false, &["QOS gpu has DenyOnLimit", "QOS gpu allows 100 GPU-minutes in all (GrpTRESMins): GPUs times the time limit; this job asks for 2 × 60 min = 120; with 2 GPUs a time limit of at most 50:00 fits"]),
        // The running jobs' GPU-minutes left, as the controller counts them.
        ("plain-qos-run-minutes", "QOSGrpGRESRunMinutes", false, &["QOS yj-fresh allows 100 GPU-minutes to its running jobs together", "the running jobs hold 60 and this job asks for 1 × 60 min = 60, so it waits for enough of them to end; a time limit of at most 40:00 would start it now"]),
        ("plain-qos-run-minutes-fits", "", false, &["room for 1 GPU"]),
        ("plain-qos-min-gpus", "QOSMinGRES", true, &["QOS gpu requires at least 1 GPU per job (MinTRES); this job asks for 0, so it will never start"]),
        ("plain-qos-min-gpus-met", "", false, &["room for 1 GPU"]),
        ("plain-qos-min-gpus-partition-down", "PartitionDown", true, &["partition gpu is DOWN"]),
        ("plain-qos-run-minutes-run-out", "QOSGrpGRESRunMinutes", false, &["QOS yj-fresh allows 3 GPU-minutes to its running jobs together (GrpTRESRunMins: GPUs times the time limit, until the job ends); the running jobs hold 2 and this job asks for 1 × 2 min = 2, so it waits for enough of them to end", "when job 701 reaches its time limit"]),
        ("plain-qos-run-minutes-alone", "QOSGrpGRESRunMinutes", true, &["QOS gpu allows 100 GPU-minutes to its running jobs together (GrpTRESRunMins: GPUs times the time limit, until the job ends); this job alone asks for 2 × 60 min = 120, so it will never start"]),
        // An association's limits count its own jobs: not those under another account, nor
        // those in a partition with an association of its own.
        ("plain-association-jobs-other-account", "", false, &["room for 0 GPUs"]),
        ("plain-association-jobs-same-account", "AssocMaxJobsLimit", false, &["you already run 1 job under your association (account yenlab), which allows 1 at once"]),
        ("plain-partition-association-gpus", "AssocGrpGRES", false, &["your association (account yenlab, partition gpu) holds 1 of its 1 GPU; this job asks for 1"]),
        ("plain-partition-association-gpus-elsewhere", "", false, &["room for 1 GPU"]),
        ("plain-partition-association-jobs", "AssocMaxJobsLimit", false, &["you already run 1 job under your association (account yenlab, partition normal), which allows 1 at once"]),
        ("plain-partition-association-jobs-elsewhere", "", false, &["room for 0 GPUs"]),
        ("plain-partition-association-other-partition", "", false, &["room for 1 GPU"]),
        // QOS gpu's MaxJobsPU takes the place of the association's MaxJobs.
        ("plain-partition-association-qos-limits-first", "", false, &["room for 1 GPU"]),
        ("plain-partition-association-submit", "AssocMaxSubmitJobLimit", false, &["you already have 1 job queued or running under your association (account yenlab, partition normal), which allows 1"]),
        ("plain-partition-association-submit-elsewhere", "", false, &["room for 0 GPUs"]),
        // The TRES-minutes limits of the association and of the account.
        ("plain-association-run-minutes-alone", "AssocGrpGRESRunMinutes", true, &["your association (account yenlab) allows 100 GPU-minutes to its running jobs together (GrpTRESRunMins: GPUs times the time limit, until the job ends); this job alone asks for 2 × 60 min = 120, so it will never start"]),
        ("plain-association-gpu-minutes", "AssocMaxGRESMinutesPerJob", true, &["your association (account yenlab) allows 120 GPU-minutes per job (MaxTRESMins): GPUs times the time limit; this job asks for 2 × 120 min = 240, so it will never start; with 2 GPUs a time limit of at most 1:00:00 fits"]),
        ("plain-association-grp-minutes-spent", "AssocGrpGRESMinutes", false, &["your association (account yenlab) has used 0 of the 0 GPU-minutes it may use (GrpTRESMins"]),
        ("plain-account-run-minutes-alone", "AssocGrpGRESRunMinutes", true, &["account yenlab allows 100 GPU-minutes to its running jobs together"]),
        ("plain-account-grp-minutes-spent", "AssocGrpGRESMinutes", false, &["account yenlab has used 0 of the 0 GPU-minutes it may use"]),
        ("plain-partition-association-run-minutes", "AssocGrpGRESRunMinutes", false, &["your association (account yenlab, partition gpu) allows 100 GPU-minutes to its running jobs together", "the running jobs hold 60 and this job asks for 1 × 60 min = 60, so it waits for enough of them to end; a time limit of at most 40:00 would start it now"]),
        ("plain-partition-association-run-minutes-fits", "", false, &["room for 1 GPU"]),
        // GrpWall: a budget of wall time, as the controller counts it.
        ("plain-qos-grp-wall-spent", "QOSGrpWallLimit", false, &["QOS gpu's jobs have run 0 of the 0 minutes of wall time it allows (GrpWall"]),
        ("plain-qos-deny-grp-wall", "QOSGrpWallLimit", false, &["QOS gpu has DenyOnLimit", "QOS gpu allows 30:00 of wall time in all (GrpWall); this job's time limit is 1:00:00"]),
        ("plain-association-grp-wall-spent", "AssocGrpWallLimit", false, &["your association (account yenlab)'s jobs have run 0 of the 0 minutes"]),
        ("plain-account-grp-wall-spent", "AssocGrpWallLimit", false, &["account yenlab's jobs have run 0 of the 0 minutes"]),
        ("plain-array-fits", "", false, &["all 2 tasks start now: partition normal has room"]),
        ("plain-array-throttled", "", false, &["2 of 6 tasks start now; the other 4 wait (JobArrayTaskLimit): the array's throttle %2 lets 2 of its tasks run at once"]),
        ("plain-array-unthrottled-jobs-per-user", "", false, &["2 of 6 tasks start now; the other 4 wait (QOSMaxJobsPerUserLimit): you already run 2 jobs under QOS sweep", "the next task is expected to start by 17:52 (in 10 min), the last by 18:02 (in 20 min), and all 6 have ended by 18:12 (in 30 min)"]),
        ("plain-array-waits-on-jobs-per-user", "", false, &["1 of 6 tasks start now; the other 5 wait (QOSMaxJobsPerUserLimit)", "the next task is expected to start by 17:52 (in 10 min), the last by 18:12 (in 30 min), and all 6 have ended by 18:22 (in 40 min)"]),
        ("plain-array-waits-on-association-jobs-run-out", "", false, &["1 of 4 tasks start now; the other 3 wait (AssocMaxJobsLimit)", "if each task runs to its time limit (1 min), the next task is expected to start by 18:17 (in 1 min), the last by 18:18 (in 2 min), and all 4 have ended by 18:19 (in 3 min)"]),
        ("plain-array-waits-on-jobs-per-user-run-out", "", false, &["1 of 4 tasks start now; the other 3 wait (QOSMaxJobsPerUserLimit)", "if each task runs to its time limit (1 min), the next task is expected to start by 17:43 (in 1 min), the last by 17:44 (in 2 min), and all 4 have ended by 17:45 (in 3 min)"]),
        // A job a limit holds, run out: it starts once enough of the jobs under the limit end
        // (`a_job_a_limit_holds_starts_when_expected`).
        ("plain-jobs-per-user-run-out", "QOSMaxJobsPerUserLimit", false, &["you already run 2 jobs under QOS gpu", "expected to start by 20:05 (in less than a minute) on localhost, when job 4035 reaches its time limit"]),
        // Job 4153, queued first and held by MaxJobsPU too, takes job 4151's place and ends
        // before job 4152 does.
        ("plain-jobs-per-user-behind-queued-run-out", "QOSMaxJobsPerUserLimit", false, &["you already run 2 jobs under QOS gpu", "expected to start by 20:51 (in 1 min) on localhost, when jobs 4151 and 4153 reach their time limits"]),
        ("plain-gpus-per-user-queued-first-no-room-run-out", "Priority", false, &["job 10 (root), queued ahead of this one, has no room on the nodes of partition normal now, so Slurm's scheduler starts no job of the partition behind it", "expected to start by 00:23 (in 2 min) on localhost, when jobs 9 and 10 reach their time limits"]),
        ("plain-jobs-per-user-let-in-takes-the-node-run-out", "QOSMaxJobsPerUserLimit", false, &["you already run 2 jobs under QOS gpu", "expected to start by 00:00 (in 3 min) on localhost, when jobs 4, 5 and 6 reach their time limits"]),
        ("plain-gpus-per-user-run-out", "QOSGrpGRES", false, &["all users together hold 2 of the 3 GPUs of QOS lab; this job asks for 2", "expected to start by 20:07 (in 2 min) on localhost, when jobs 4039 and 4040 reach their time limits"]),
        ("plain-gpus-per-user-queued-first-no-room-array", "QOSMaxGRESPerUser", false, &["none of the 2 tasks starts now: you hold 2 of the 2 GPUs QOS lab allows per user", "the first task is expected to start by 03:17 (in 2 min), the last by 03:18 (in 3 min)"]),
        ("plain-jobs-per-user-behind-a-failed-partition-run-out", "QOSMaxJobsPerUserLimit", false, &["you already run 2 jobs under QOS lab, which allows 2 at once per user", "when jobs 450 and 451 reach their time limits and job 452, queued ahead and expected to start at 03:40, reaches its time limit"]),
        ("plain-qos-group-jobs-run-out", "QOSGrpJobsLimit", false, &["all users together run 1 job under QOS gpu, which allows 1 at once", "expected to start by 20:09 (in less than a minute) on localhost, when job 4043 reaches its time limit"]),
        ("plain-array-waits-for-cpus", "", false, &["1 of 3 tasks start now; the other 2 wait (Resources): partition normal has 3 of 4 GPUs and 0 of 2 CPUs free", "if each task runs to its time limit (10 min), the next task is expected to start by 16:52 (in 10 min), the last by 17:02 (in 20 min), and all 3 have ended by 17:12 (in 30 min)"]),
        ("plain-array-side-by-side", "Priority", false, &["none of the 3 tasks starts now", "if each task runs to its time limit (2 min), the first task is expected to start by 16:56 (in 1 min), the last by 16:58 (in 3 min), and all 3 have ended by 17:00 (in 5 min)"]),
        ("plain-array-behind-queued", "Priority", false, &["none of the 3 tasks starts now", "job 3473 (nobody), queued ahead of this one", "the first task is expected to start by 17:02 (in 18 min), the last by 17:32 (in 48 min), and all 3 have ended by 18:02 (in 1 h 18 min)"]),
        ("plain-array-over-submit-limit", "QOSMaxSubmitJobPerUserLimit", false, &["this array has 11 tasks", "you already have 0 jobs queued or running under QOS sweep, which allows 10 per user: 10 tasks would fit"]),
        ("plain-array-over-partition-submit-limit", "QOSMaxSubmitJobPerUserLimit", false, &["this array has 6 tasks", "under QOS gpu, which allows 4 per user: 4 tasks would fit"]),
        ("plain-array-over-max-array-size", "InvalidArray", false, &["1002 tasks (indices 0-1001)", "MaxArraySize is 1001, so indices stop at 1000"]),
        ("typed-starts-typed", "", false, &["room for 1 a30 GPU"]),
        ("typed-unknown-gpu-type", "NodeConfigurationUnavailable", false, &["v100 GPUs (GPU types here: a30)"]),
        ("typed-more-typed-gpus-than-a-node", "NodeConfigurationUnavailable", false, &["5 a30 GPUs (the largest has 4)"]),
        ("typed-over-max-cpus-per-node", "TooManyRequestedCpus", false, &["EnforcePartLimits is ALL, so sbatch refuses it (\"More processors requested than permitted\")", "allows 6 CPUs per node (MaxCPUsPerNode)"]),
        ("typed-over-partition-time", "InvalidTimeLimit", false, &["EnforcePartLimits is ALL", "MaxTime 1-00:00:00"]),
        // The partition's groups are checked before its AllowQos.
        ("typed-group-not-allowed", "GroupNotPermitted", false, &["partition gpu takes jobs from members of daemon only"]),
        ("typed-group-not-allowed-qos-not-allowed-in-partition", "GroupNotPermitted", false, &["partition short takes jobs from members of daemon only"]),
        ("typed-max-mem-per-cpu-raised-over-cpus-per-user", "QOSMaxCpuPerUserLimit", false, &["you hold 1 of the 4 CPUs QOS lab allows per user; this job asks for 4"]),
        ("typed-max-mem-per-cpu-raised-over-max-cpus-per-node", "QOSMaxCpuPerUserLimit", true, &["QOS lab allows 4 CPUs per user; this job alone asks for 7"]),
        ("typed-over-max-mem-per-node", "InvalidTaskMemory", false, &["EnforcePartLimits is ALL, so sbatch refuses it (\"Memory required by task is not available\")", "6000 MiB of memory, and partition gpu allows 4000 MiB a node"]),
        ("typed-over-max-mem-per-node-and-time", "InvalidTimeLimit", false, &["MaxTime 1-00:00:00"]),
        ("typed-over-short-time", "InvalidTimeLimit", false, &["1:00:00", "partition short's MaxTime 30:00"]),
        ("typed-partition-down-cpus-per-user", "PartitionDown", false, &["partition gpu is DOWN"]),
        ("typed-partition-down-deny-on-limit-gpus", "QOSMaxGRESPerUser", false, &["QOS deny has DenyOnLimit"]),
        ("typed-partition-down-gpus-busy", "PartitionDown", false, &["partition gpu is DOWN"]),
        // Waits for the partition now, and for ever once it is up: over MaxTRESPerJob.
        ("typed-partition-down-gpus-per-job", "PartitionDown", true, &["partition normal is DOWN"]),
        ("typed-partition-down-over-max-cpus-per-node", "NodeConfigurationUnavailable", false, &["allows 6 CPUs per node (MaxCPUsPerNode)"]),
        ("typed-partition-down-over-partition-time", "InvalidTimeLimit", false, &["EnforcePartLimits is ALL", "MaxTime 1-00:00:00"]),
        ("typed-partition-inactive-over-partition-time", "PartitionNotAvailable", false, &["partition gpu is INACTIVE"]),
        ("typed-more-memory-than-a-node", "NodeConfigurationUnavailable", false, &["20000 MiB", "the largest has 16000 MiB"]),
        ("typed-typed-gpus-counted-once", "QOSMaxGRESPerUser", false, &["you hold 2 of the 2 GPUs QOS lab allows per user; this job asks for 1"]),
        ("typed-cpus-per-user", "QOSMaxCpuPerUserLimit", false, &["you hold 3 of the 4 CPUs QOS lab allows per user; this job asks for 2"]),
        ("typed-memory-per-user", "QOSMaxMemoryPerUser", false, &["you hold 3000 of the 4000 MiB of memory QOS lab allows per user; this job asks for 2000"]),
        ("typed-cpus-and-gpus-per-user", "QOSMaxCpuPerUserLimit", false, &["you hold 3 of the 4 CPUs"]),
        ("typed-alone-over-gpus-per-user", "QOSMaxGRESPerUser", true, &["QOS lab allows 2 GPUs per user; this job alone asks for 3"]),
        ("typed-group-gpus", "QOSGrpGRES", false, &["all users together hold 2 of the 3 GPUs of QOS lab; this job asks for 2"]),
        ("typed-group-and-user-gpus", "QOSGrpGRES", false, &["all users together hold 3 of the 3 GPUs"]),
        ("typed-jobs-per-user", "QOSMaxJobsPerUserLimit", false, &["you already run 3 jobs under QOS lab, which allows 3"]),
        ("typed-deny-on-limit-gpus", "QOSMaxGRESPerUser", false, &["QOS deny has DenyOnLimit, so sbatch refuses it", "QOS deny allows 1 GPU per user; this job alone asks for 2"]),
        ("typed-deny-on-limit-wall", "QOSMaxWallDurationPerJobLimit", false, &["QOS deny has DenyOnLimit", "3:00:00", "MaxWall 2:00:00"]),
        ("typed-deny-on-limit-in-use", "QOSMaxGRESPerUser", false, &["you hold 1 of the 1 GPU QOS deny allows per user; this job asks for 1"]),
        ("typed-qos-not-allowed-in-partition", "InvalidQOS", false, &["partition short allows QOS normal, deny only (AllowQos)", "QOS lab"]),
        ("typed-gpus-busy", "Resources", false, &["0 of 4 GPUs and 7 of 8 CPUs free"]),
        ("typed-gpus-per-job", "QOSMaxGRESPerJob", true, &["QOS perjob allows 1 GPU per job; this job alone asks for 2"]),
        ("typed-cpus-per-node", "QOSMaxCpuPerNode", true, &["QOS perjob allows 2 CPUs per node; this job alone asks for 3"]),
        ("typed-association-cpus-per-job", "AssocMaxCpuPerJobLimit", true, &["your association (account yenlab) allows 2 CPUs per job; this job alone asks for 3"]),
        // Under a DenyOnLimit QOS the association's limits refuse a job alone over them too,
        // and the QOS's MaxWall (2:00:00) takes the place of the association's (1:00:00).
        ("typed-association-cpus-per-job-deny-on-limit", "AssocMaxCpuPerJobLimit", false, &["QOS deny has DenyOnLimit, so sbatch refuses it (\"AssocMaxCpuPerJobLimit\")", "your association (account yenlab) allows 2 CPUs per job; this job alone asks for 3"]),
        ("typed-association-gpus-deny-on-limit", "AssocGrpGRES", false, &["QOS deny has DenyOnLimit", "your association (account yenlab) allows 0 GPUs in all; this job alone asks for 1"]),
        ("typed-association-wall-deny-on-limit", "", false, &["room for 0 GPUs"]),
        ("typed-group-jobs", "QOSGrpJobsLimit", false, &["all users together run 2 jobs under QOS perjob, which allows 2"]),
        ("typed-unknown-account", "InvalidAccount", false, &["\"nosuch\"", "yenlab"]),
        ("typed-association-jobs", "AssocMaxJobsLimit", false, &["you already run 1 job", "account yenlab", "allows 1"]),
        ("typed-association-submit", "AssocMaxSubmitJobLimit", false, &["2 jobs queued or running", "allows 2"]),
        ("typed-association-gpus", "AssocGrpGRES", false, &["holds 1 of its 1 GPU; this job asks for 1"]),
        ("typed-association-wall", "AssocMaxWallDurationPerJobLimit", true, &["2:00:00", "MaxWall 1:00:00"]),
        // When a job that waits for running jobs to end is expected to start (checked against
        // Slurm's own answers in `expected_starts_are_when_slurm_plans_them`).
        ("plain-when-the-later-job-ends", "Resources", false, &["expected to start by 10:50 (in 20 min) on localhost, when jobs 2439 and 2440 reach their time limits, or sooner if they end early"]),
        ("plain-when-the-first-job-ends", "Resources", false, &["2 GPUs and 1 CPU", "expected to start by 10:35 (in 4 min) on localhost, when job 2443 reaches its time limit"]),
        ("plain-when-a-cpu-frees", "Resources", false, &["0 of 2 CPUs free", "expected to start by 10:36 (in 4 min) on localhost, when job 2447 reaches its time limit"]),
        ("plain-when-exclusive-needs-every-job-to-end", "Resources", false, &["a node of its own", "expected to start by 10:56 (in 25 min) on localhost, when jobs 2451 and 2452 reach their time limits"]),
        ("plain-when-memory-frees", "Resources", false, &["4096 MiB of memory (the most free on a node is 3625 MiB)", "expected to start by 10:47 (in 14 min) on localhost, when job 2455 reaches its time limit"]),
        ("plain-when-no-time-limit", "Resources", false, &["when it starts is not known: job 2458 runs there without a time limit"]),
        ("typed-when-typed-gpus-free", "Resources", false, &["0 of 4 a30 GPUs", "expected to start by 10:48 (in 15 min) on localhost, when job 2461 reaches its time limit"]),
        ("multi-when-the-first-node-frees", "Resources", false, &["expected to start by 10:44 (in 10 min) on yj2, when job 2465 reaches its time limit"]),
        // PrivateData=jobs: GPUs in use, and no job the user can see using them.
        ("plain-private-jobs-hidden-holder", "Resources", false, &["1 of 4 GPUs", "when it starts is not known: jobs not shown to you (the cluster's PrivateData) hold what it needs on localhost, and until then there is no room for it"]),
        ("plain-private-jobs-own-job-ends-first", "Resources", false, &["0 of 4 GPUs", "on localhost, when job 5 reaches its time limit, or sooner if it ends early"]),
        ("plain-private-group-gpus-hidden", "QOSGrpGRES", false, &["all users together hold 2 (2 not shown to you) of the 3 GPUs of QOS gpu; this job asks for 2"]),
        ("plain-private-account-jobs-hidden", "AssocGrpJobsLimit", false, &["the users of account yenlab run 1 job (1 not shown to you) together, and it allows 1 at once"]),
        // Root's job queued ahead is hidden: the verdict is what the user can see (Slurm
        // said Priority of the first), and names it (`hidden_jobs_queued_ahead_...`).
        ("plain-private-queue-ahead-held-up", "", false, &["partition gpu has room for 1 GPU and 1 CPU now"]),
        ("plain-private-queue-ahead-backfilled", "", false, &["partition gpu has room for 1 GPU and 1 CPU now"]),
        // PrivateData=reservations: the maintenance window is not shown (Slurm said
        // ReqNodeNotAvail), and the verdict says so (`hidden_reservations_are_named`).
        ("plain-private-reservations-maint-ahead", "", false, &["partition gpu has room for 1 GPU and 1 CPU now"]),
        ("plain-private-reservations-maint-array-next-task", "", false, &["1 of 2 tasks start now; the other 1 wait (Resources)"]),
        ("plain-private-reservations-maint-array-waits", "", false, &["1 of 2 tasks start now; the other 1 wait (Resources)"]),
        // PrivateData=usage too: the account's own count is not shown, its jobs' under each
        // QOS are (`account_counts_...`).
        ("plain-private-usage-account-jobs-hidden", "AssocGrpJobsLimit", false, &["the users of account yenlab run 1 job (1 not shown to you) together, and it allows 1 at once"]),
        ("plain-private-qos-account-gpus-hidden", "MaxGRESPerAccount", false, &["the users of account yenlab hold 2 (2 not shown to you) of the 3 GPUs QOS gpu allows per account (MaxTRESPA); this job asks for 2"]),
        ("plain-private-qos-account-jobs-hidden", "MaxJobsPerAccount", false, &["the users of account yenlab run 1 job (1 not shown to you) together under QOS gpu, which allows 1 at once per account (MaxJobsPA)"]),
        ("plain-private-qos-account-submit-hidden", "MaxSubmitJobsPerAccount", false, &["QOS gpu allows 1 job queued or running per account (MaxSubmitPA), and the users of account yenlab have 1 (1 not shown to you)"]),
        ("multi-when-the-named-node-frees", "Resources", false, &["node yj1 of partition gpu", "expected to start by 10:54 (in 19 min) on yj1, when job 2468 reaches its time limit"]),
        // GPUs of two types on one node: a typed job counts its own type alone, and what each
        // job holds of it (its TRES names the type, asked for by type or not).
        ("mixed-typed-starts", "", false, &["room for 1 a30 GPU and 1 CPU now"]),
        ("mixed-typed-other-type-busy", "", false, &["room for 2 a30 GPUs and 1 CPU now"]),
        ("mixed-typed-more-than-its-type", "NodeConfigurationUnavailable", false, &["3 a30 GPUs (the largest has 2)"]),
        ("mixed-when-typed-gpus-free", "Resources", false, &["0 of 2 a30 GPUs", "expected to start by 10:56 (in 14 min) on localhost, when job 8 reaches its time limit"]),
        // The h100 holder ends first and frees a CPU, not an a30.
        ("mixed-when-its-type-frees", "Resources", false, &["0 of 2 a30 GPUs and 0 of 2 CPUs free", "expected to start by 11:01 (in 19 min) on localhost, when jobs 12 and 11 reach their time limits"]),
        ("mixed-when-untyped-gpus-free", "Resources", false, &["1 of 4 GPUs and 0 of 2 CPUs free", "expected to start by 10:47 (in 4 min) on localhost, when job 16 reaches its time limit"]),
        ("mixed-when-an-untyped-holder-ends", "Resources", false, &["0 of 2 a30 GPUs", "expected to start by 10:57 (in 14 min) on localhost, when job 19 reaches its time limit"]),
        // The job queued ahead for an a30 waits for the a30 holder, not for any GPU.
        ("mixed-typed-ahead-backfilled", "", false, &["room for 1 h100 GPU and 1 CPU now", "ends before it is expected to start"]),
        ("mixed-typed-ahead-held-up", "Priority", false, &["waits for 1 CPU and 1 a30 GPU and is expected to start at 11:15", "ask for at most 14:00", "expected to start by 11:25 (in 24 min) on localhost"]),
        ("mixed-private-other-type-hidden", "", false, &["room for 1 h100 GPU and 1 CPU now"]),
        ("mixed-private-same-type-hidden", "Resources", false, &["0 of 2 a30 GPUs", "jobs not shown to you (the cluster's PrivateData) hold what it needs on localhost"]),
    ];
    let all = scenarios();
    for s in &all {
        let row = table.iter().find(|r| r.0 == s.name);
        let Some((_, code, forever, fragments)) = row else {
            panic!("{}: captured but not in this table", s.name);
        };
        let v = s.verdict();
        let got = v.reason.map(|r| r.code()).unwrap_or("");
        assert_eq!(got, *code, "{}: {}", s.name, v.message);
        assert_eq!(v.never_starts, *forever, "{}: {}", s.name, v.message);
        // The sentence, and on their own lines when it is expected to start and an array's
        // timeline.
        let timeline = v.array.as_ref().and_then(|a| a.timeline.as_ref());
        let said = [
            Some(v.message.clone()),
            v.expected_start.as_ref().map(|e| e.sentence()),
            timeline.map(|t| t.sentence()),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join("\n");
        for f in *fragments {
            assert!(said.contains(f), "{}: {said:?} lacks {f:?}", s.name);
        }
    }
    assert_eq!(
        all.len(),
        table.len(),
        "a table row has no captured scenario"
    );
    // Captured again on another Slurm version that did the same, a scenario gets the same
    // code (the numbers, job ids and times among them, are that capture's own). Where that
    // Slurm did otherwise, `every_captured_scenario_gets_slurms_verdict` holds it to that.
    for s in every_versions_scenarios()
        .iter()
        .filter(|s| s.version != "22.05")
    {
        let row = table.iter().find(|r| r.0 == s.name);
        let Some((_, code, forever, _)) = row else {
            panic!("{}: captured but not in this table", s.label());
        };
        let on_22_05 = load(&Path::new(FIXTURES).join(&s.name)).slurm;
        if !same_decision(&on_22_05, &s.slurm) {
            continue;
        }
        let v = s.verdict();
        let got = v.reason.map(|r| r.code()).unwrap_or("");
        assert_eq!(got, *code, "{}: {}", s.label(), v.message);
        assert_eq!(v.never_starts, *forever, "{}: {}", s.label(), v.message);
    }
}

/// The table reaches every rule: each fixed reason, and each kind of TRES limit (which TRES
/// names which code is pinned in `reason.rs`).
#[test]
fn table_covers_every_reason() {
    let codes: Vec<&str> = scenarios()
        .iter()
        .filter_map(|s| s.verdict().reason.map(|r| r.code()))
        .collect();
    let fixed = [
        Reason::InvalidArray,
        Reason::InvalidPartition,
        Reason::InvalidQos,
        Reason::InvalidAccount,
        Reason::GroupNotPermitted,
        Reason::InvalidReservation,
        Reason::ReservationAccessDenied,
        Reason::Reservation,
        Reason::NodeConfigurationUnavailable,
        Reason::TooManyRequestedCpus,
        Reason::InvalidTimeLimit,
        Reason::InvalidTaskMemory,
        Reason::MaxMemPerLimit,
        Reason::AccessDenied,
        Reason::RootJobsDisabled,
        Reason::PartitionConfigurationUnavailable,
        Reason::PartitionNodeLimit,
        Reason::PartitionNotAvailable,
        Reason::PartitionDown,
        Reason::PartitionConfig,
        Reason::PartitionTimeLimit,
        Reason::ReqNodeNotAvail,
        Reason::Resources,
        Reason::Limit(LimitCode::QOS_MAX_JOBS_PER_USER),
        Reason::Limit(LimitCode::QOS_GRP_JOBS),
        Reason::Limit(LimitCode::QOS_MAX_SUBMIT_PER_USER),
        Reason::Limit(LimitCode::QOS_MAX_WALL),
        Reason::Limit(LimitCode::ASSOC_MAX_JOBS),
        Reason::Limit(LimitCode::ASSOC_MAX_SUBMIT),
        Reason::Limit(LimitCode::ASSOC_MAX_WALL),
        Reason::Limit(LimitCode::ASSOC_GRP_JOBS),
        Reason::Limit(LimitCode::ASSOC_GRP_SUBMIT),
        Reason::Limit(LimitCode::QOS_GRP_SUBMIT),
        Reason::Limit(LimitCode::QOS_GRP_WALL),
        Reason::Limit(LimitCode::ASSOC_GRP_WALL),
        Reason::Limit(LimitCode::QOS_MAX_JOBS_PER_ACCOUNT),
        Reason::Limit(LimitCode::QOS_MAX_SUBMIT_PER_ACCOUNT),
    ];
    let tres = [
        (Holder::Qos, Scope::Group, "gres/gpu"),
        (Holder::Qos, Scope::PerJob, "gres/gpu"),
        (Holder::Qos, Scope::PerNode, "cpu"),
        (Holder::Assoc, Scope::PerJob, "cpu"),
        (Holder::Qos, Scope::PerUser, "gres/gpu"),
        (Holder::Qos, Scope::PerAccount, "gres/gpu"),
        (Holder::Qos, Scope::MinPerJob, "gres/gpu"),
        (Holder::Qos, Scope::MinutesPerJob, "gres/gpu"),
        (Holder::Qos, Scope::MinutesPerJob, "cpu"),
        (Holder::Qos, Scope::GroupRunMinutes, "gres/gpu"),
        (Holder::Qos, Scope::GroupMinutes, "gres/gpu"),
        (Holder::Assoc, Scope::GroupMinutes, "gres/gpu"),
        (Holder::Assoc, Scope::GroupRunMinutes, "gres/gpu"),
        (Holder::Assoc, Scope::MinutesPerJob, "gres/gpu"),
        (Holder::Qos, Scope::PerUser, "cpu"),
        (Holder::Qos, Scope::PerUser, "mem"),
        (Holder::Assoc, Scope::Group, "gres/gpu"),
    ];
    let expected = fixed.iter().map(|r| r.code()).chain(
        tres.iter()
            .map(|(h, s, t)| LimitCode::for_tres(*h, *s, t).as_str()),
    );
    for code in expected {
        assert!(codes.contains(&code), "no captured scenario ends in {code}");
    }
}

/// When several limits are hit, the first (Slurm's) decides and the others are listed: the
/// holder's 3 CPUs came with 3 × 1024 MiB by default, so memory is over too.
#[test]
fn other_limits_exceeded_are_listed() {
    let s = scenarios()
        .into_iter()
        .find(|s| s.name == "typed-cpus-and-gpus-per-user")
        .unwrap();
    let v = s.verdict();
    assert_eq!(v.reason.map(|r| r.code()), Some("QOSMaxCpuPerUserLimit"));
    assert_eq!(
        v.also,
        [
            "you hold 3072 of the 4000 MiB of memory QOS lab allows per user; this job asks for 2048 (QOSMaxMemoryPerUser)",
            "you hold 2 of the 2 GPUs QOS lab allows per user; this job asks for 1 (QOSMaxGRESPerUser)"
        ]
    );
}

/// Slurm checks a QOS's per-account limits before its per-user ones: both are reported.
#[test]
fn per_account_limits_come_before_per_user_ones() {
    for (name, first, then) in [
        (
            "plain-qos-account-gpus-and-gpus-per-user",
            "MaxGRESPerAccount",
            "you hold 3 of the 4 GPUs QOS gpu allows per user; this job asks for 2 (QOSMaxGRESPerUser)",
        ),
        (
            "plain-qos-account-jobs-and-jobs-per-user",
            "MaxJobsPerAccount",
            "you already run 2 jobs under QOS gpu, which allows 2 at once per user; this one starts when one of them ends (QOSMaxJobsPerUserLimit)",
        ),
        (
            "plain-qos-account-submit-and-submit-per-user",
            "MaxSubmitJobsPerAccount",
            "you already have 4 jobs queued or running under QOS gpu, which allows 4 per user; wait for one to end or cancel one (QOSMaxSubmitJobPerUserLimit)",
        ),
    ] {
        let s = scenarios().into_iter().find(|s| s.name == name).unwrap();
        let v = s.verdict();
        assert_eq!(v.reason.map(|r| r.code()), Some(first), "{name}");
        assert!(v.also.iter().any(|a| a == then), "{name}: {:?}", v.also);
    }
}

/// Where `scontrol show assoc_mgr` could not be read, GrpTRESRunMins counts each running
/// job as the controller does: under this cluster's priority/basic its GPUs times its whole
/// time limit, whatever it has run (1 × 60 of a job 10 minutes in), until it ends; where the
/// priority decays, what is left (50).
#[test]
fn run_minutes_count_what_the_controller_counts_of_running_jobs() {
    let s = scenarios()
        .into_iter()
        .find(|s| s.name == "plain-qos-run-minutes-alone")
        .unwrap();
    let mut state = s.state.clone();
    state.limit_use.clear();
    let mut running = squeue::parse(
        "7|gpu|nobody|RUNNING|10:00|1:00:00|1|cpu=1,mem=1G,node=1,billing=1,gres/gpu=1|normal|None|2026-11-29T15:00:00|localhost|yj-holder",
    );
    running[0].account = Some("yenlab".into());
    state.queue.extend(running);
    let one_hour = Request {
        gpus: 1,
        ..s.request.clone()
    };
    let v = assess(&one_hour, &state);
    assert_eq!(v.reason.map(|r| r.code()), Some("QOSGrpGRESRunMinutes"));
    assert!(!v.never_starts);
    assert!(
        v.message.contains("the running jobs hold 60 and this job asks for 1 × 60 min = 60, so it waits for enough of them to end; a time limit of at most 40:00 would start it now"),
        "{}",
        v.message
    );
    // Let in when job 7 reaches its time limit, 50 minutes on.
    let Some(ExpectedStart::By {
        in_seconds,
        limit_jobs_ending,
        ..
    }) = &v.expected_start
    else {
        panic!("{:?}", v.expected_start);
    };
    assert_eq!(
        (*in_seconds, limit_jobs_ending.as_slice()),
        (3000, ["7".to_string()].as_slice())
    );
    state.config.multifactor_priority = true;
    let v = assess(&one_hour, &state);
    assert!(
        v.message.ends_with("the running jobs hold 50 and this job asks for 1 × 60 min = 60, so it waits for them to run down; a time limit of at most 50:00 would start it now"),
        "{}",
        v.message
    );
    let shorter = Request {
        time_seconds: 50 * 60,
        ..one_hour
    };
    assert_eq!(assess(&shorter, &state).outcome, super::Outcome::StartsNow);
}

/// The throttle comes from the smallest limit a task cannot pass, and says which.
#[test]
fn an_array_is_throttled_by_the_smallest_limit() {
    let s = scenarios()
        .into_iter()
        .find(|s| s.name == "plain-array-unthrottled-jobs-per-user")
        .unwrap();
    let t = throttle(&s.request, None, &s.state).unwrap();
    assert_eq!(t.limit, 2);
    assert_eq!(
        t.because,
        "QOS sweep allows 2 running jobs per user (MaxJobsPU)"
    );
    let t = throttle(&s.request, Some(1), &s.state).unwrap();
    assert_eq!(
        (t.limit, t.because.as_str()),
        (1, "max_parallel = 1 in [sweep]")
    );
    // GPUs: MaxTRESPU gres/gpu=4 at 3 GPUs a task lets one run at a time.
    let three = Request {
        gpus: 3,
        ..s.request.clone()
    };
    let t = throttle(&three, None, &s.state).unwrap();
    assert_eq!(t.limit, 1, "{}", t.because);
    assert!(t.because.contains("MaxTRESPU"), "{}", t.because);
    // Two tasks under MaxJobsPU 2: nothing to throttle.
    let two = Request {
        tasks: 2,
        ..s.request.clone()
    };
    assert_eq!(throttle(&two, None, &s.state), None);
    // An account's GrpTRES gres/gpu=1, shared by its users, at 1 GPU a task.
    let s = scenarios()
        .into_iter()
        .find(|s| s.name == "plain-account-gpus-alone")
        .unwrap();
    let six = Request {
        tasks: 6,
        gpus: 1,
        ..s.request.clone()
    };
    let t = throttle(&six, None, &s.state).unwrap();
    assert_eq!(
        (t.limit, t.because.as_str()),
        (
            1,
            "account yenlab allows 1 gres/gpu for all its users together (GrpTRES) and each task asks for 1"
        )
    );
    // A QOS's MaxJobsPA 1 and MaxTRESPA gres/gpu=2, shared by the account's users.
    for (name, limit, says) in [
        ("plain-qos-account-jobs-array", 1, "MaxJobsPA"),
        ("plain-qos-account-gpus-array", 1, "MaxTRESPA"),
    ] {
        let s = scenarios().into_iter().find(|s| s.name == name).unwrap();
        // Two GPUs a task: MaxTRESPA gres/gpu=2 lets one run, below MaxJobsPU 2.
        let req = Request {
            gpus: if says == "MaxTRESPA" { 2 } else { 1 },
            ..s.request.clone()
        };
        let t = throttle(&req, None, &s.state).unwrap();
        assert_eq!(t.limit, limit, "{name}: {}", t.because);
        assert!(t.because.contains(says), "{name}: {}", t.because);
    }
    // A QOS's GrpJobs 2 (QOS perjob), shared by all users.
    let s = scenarios()
        .into_iter()
        .find(|s| s.name == "typed-group-jobs")
        .unwrap();
    let four = Request {
        tasks: 4,
        ..s.request.clone()
    };
    let t = throttle(&four, None, &s.state).unwrap();
    assert_eq!(
        (t.limit, t.because.as_str()),
        (
            2,
            "QOS perjob allows 2 running jobs for all users together (GrpJobs), shared with others"
        )
    );
}

/// The capture script must ask Slurm for exactly what yenjob asks for.
#[test]
fn capture_script_uses_our_formats() {
    let script = include_str!("../../scripts/capture-preflight.sh");
    for format in [
        sinfo::NODE_FORMAT,
        squeue::FORMAT,
        sacctmgr::QOS_FORMAT,
        sacctmgr::ASSOC_FORMAT,
        sacctmgr::USER_FORMAT,
        sacctmgr::ACCOUNT_FORMAT,
        squeue::EXTRA_FORMAT,
        squeue::EXCLUDED_FORMAT,
    ] {
        assert!(
            script.contains(format),
            "scripts/capture-preflight.sh lacks {format}"
        );
    }
}

/// The README's table: `cargo test --release --lib print_table -- --ignored --nocapture`.
#[test]
#[ignore = "prints the README's table of verdicts; run by hand"]
fn print_table() {
    for s in scenarios() {
        let v = s.verdict();
        let slurm = slurms_cell(&s.slurm);
        // A `|` in a cell, code spans too, ends the cell unless escaped (GitHub's tables).
        println!(
            "| {} | `{}` | {} | {} |",
            s.name,
            s.words.replace('|', "\\|"),
            v.headline(),
            slurm
        );
    }
}

/// Slurm's outcome as the README's tables say it.
fn slurms_cell(slurm: &str) -> String {
    let (what, detail) = slurm.split_once('|').unwrap_or((slurm, ""));
    match what {
        "rejected" => {
            let last = detail.rsplit("sbatch: error: ").next().unwrap_or(detail);
            let code = detail
                .split("sbatch: error: ")
                .map(str::trim)
                .find(|p| !p.is_empty() && !p.contains(' '));
            let last = last
                .trim()
                .trim_start_matches("Batch job submission failed: ");
            format!("refused: {}", code.unwrap_or(last))
        }
        "pending" => format!("pending, {detail}"),
        "array" => match detail.split_once('|') {
            Some((running, "-")) => format!("{running} running"),
            Some((running, reason)) => {
                format!("{running} running, the others pending, {reason}")
            }
            None => detail.to_string(),
        },
        other => other.to_string(),
    }
}

/// The README's table of where Slurm 24.11 decided otherwise than 22.05:
/// `cargo test --release --lib print_version_differences -- --ignored --nocapture`.
#[test]
#[ignore = "prints the README's table of version differences; run by hand"]
fn print_version_differences() {
    for s in every_versions_scenarios()
        .iter()
        .filter(|s| s.version != "22.05")
    {
        let on_22_05 = load(&Path::new(FIXTURES).join(&s.name)).slurm;
        if same_decision(&on_22_05, &s.slurm) {
            continue;
        }
        println!(
            "| {} | `{}` | {} | {} | {} |",
            s.name,
            s.words.replace('|', "\\|"),
            slurms_cell(&on_22_05),
            slurms_cell(&s.slurm),
            s.verdict().headline(),
        );
    }
}

/// Under priority/multifactor a new job may rank above queued ones: the verdict stays
/// `Priority` (every queued job counts as ahead) and says that it may start sooner.
#[test]
fn queued_ahead_under_multifactor_priority_says_so() {
    let mut s = load(&Path::new(FIXTURES).join("plain-queue-ahead-held-up"));
    s.state.config.multifactor_priority = true;
    let v = s.verdict();
    assert_eq!(v.reason, Some(Reason::Priority), "{}", v.message);
    assert!(
        v.message
            .contains("PriorityType is priority/multifactor: Slurm may rank this job above"),
        "{}",
        v.message
    );
}

/// A job in a partition whose jobs may be preempted is told so, with what happens to it.
#[test]
fn a_preemptable_partition_is_named_in_the_facts() {
    let s = load(&Path::new(FIXTURES).join("preempt-preemptable-starts"));
    let v = s.verdict();
    assert!(
        v.facts.iter().any(|f| f
            == "jobs of partition normal (PriorityTier 1, PreemptMode REQUEUE) may be preempted by jobs of partition gpu (PriorityTier 2); a requeued yenjob run resumes from its last checkpoint"),
        "{:?}",
        v.facts
    );
    let gpu = load(&Path::new(FIXTURES).join("preempt-preempts-lower-tier"));
    assert!(
        !gpu.verdict()
            .facts
            .iter()
            .any(|f| f.contains("may be preempted"))
    );
    let by_qos = load(&Path::new(FIXTURES).join("preempt-qos-preemptable-starts"));
    assert!(
        by_qos.verdict().facts.iter().any(|f| f
            == "jobs under QOS normal may be preempted by jobs under QOS lab (their Preempt list names it); a requeued yenjob run resumes from its last checkpoint"),
        "{:?}",
        by_qos.verdict().facts
    );
}

/// A job with a constraint, a nodelist or an exclude is told which of the partition's nodes
/// it may use.
#[test]
fn the_nodes_a_job_may_use_are_named_in_the_facts() {
    let s = load(&Path::new(FIXTURES).join("multi-constraint-starts"));
    let v = s.verdict();
    assert!(
        v.facts
            .iter()
            .any(|f| f == "constraint ampere: 1 of partition gpu's 2 nodes match it: yj1"),
        "{:?}",
        v.facts
    );
    let none = load(&Path::new(FIXTURES).join("multi-no-constraint-other-node-up"));
    assert!(
        !none
            .verdict()
            .facts
            .iter()
            .any(|f| f.starts_with("constraint"))
    );
    let both = load(&Path::new(FIXTURES).join("multi-exclude-leaves-no-node-with-the-feature"));
    let facts = both.verdict().facts;
    assert!(
        facts
            .iter()
            .any(|f| f
                == "constraint hopper, exclude yj2: 0 of partition gpu's 2 nodes match them"),
        "{facts:?}"
    );
}

/// PrivateData=jobs, captured as `nobody` while root's job ran: squeue showed none of it, and
/// the verdict counts the limits root's job shares from the controller's counts (without
/// them it said the job starts now). When root's job ends is not known, so no start is given.
#[test]
fn limits_shared_with_hidden_jobs_count_what_the_controller_counts() {
    for (name, outcome) in [
        ("plain-private-group-gpus-hidden", Outcome::Pends),
        ("plain-private-account-jobs-hidden", Outcome::Pends),
        ("plain-private-qos-account-gpus-hidden", Outcome::Pends),
        ("plain-private-qos-account-jobs-hidden", Outcome::Pends),
        ("plain-private-qos-account-submit-hidden", Outcome::Rejected),
    ] {
        let mut s = load(&Path::new(FIXTURES).join(name));
        assert!(s.state.queue.is_empty(), "{name}: squeue showed a job");
        let v = s.verdict();
        assert_eq!(v.outcome, outcome, "{name}: {}", v.message);
        assert_eq!(v.expected_start, None, "{name}");
        // Read as root, who sees every job, the same counts would not be trusted over squeue.
        s.state.config.private_jobs = false;
        assert_eq!(s.verdict().outcome, Outcome::StartsNow, "{name}");
    }
}

/// Under PrivateData=jobs, root's job waiting for the node queued ahead is not shown to
/// `nobody`: Slurm held up nobody's job behind it (Priority) where it would have delayed it,
/// and started a shorter one (captured). The verdict, from what nobody sees, says it starts
/// now, and names the hidden pending job from the controller's counts; read as root, who sees
/// the job, nothing is left unchecked.
#[test]
fn hidden_jobs_queued_ahead_are_named_where_they_may_decide() {
    for (name, slurm) in [
        ("plain-private-queue-ahead-held-up", "pending|Priority"),
        ("plain-private-queue-ahead-backfilled", "running"),
    ] {
        let mut s = load(&Path::new(FIXTURES).join(name));
        assert_eq!(s.slurm, slurm, "{name}");
        assert!(s.state.queue.is_empty(), "{name}: squeue showed a job");
        let v = s.verdict();
        assert_eq!(v.outcome, Outcome::StartsNow, "{name}: {}", v.message);
        assert_eq!(
            v.not_checked,
            [
                "1 job not shown to you (the cluster's PrivateData) is pending under QOS gpu: where queued ahead of this one and waiting for the room it would take, this one waits behind it (Priority)"
            ],
            "{name}"
        );
        s.state.config.private_jobs = false;
        assert_eq!(s.verdict().not_checked, Vec::<String>::new(), "{name}");
    }
    // A refusal waits behind nothing.
    let mut s = load(&Path::new(FIXTURES).join("plain-private-queue-ahead-held-up"));
    s.request.gpus = 5;
    let v = s.verdict();
    assert_eq!(v.outcome, Outcome::Rejected, "{}", v.message);
    assert!(v.not_checked.is_empty(), "{:?}", v.not_checked);
}

/// Under PrivateData=usage the controller shows `nobody` their own association's counts and
/// no account's: root's job filling account yenlab's GrpJobs, hidden by PrivateData=jobs too,
/// held nobody's job (AssocGrpJobsLimit, captured). Each QOS's counts per account are shown:
/// the account holds at least what its jobs hold under one QOS, enough here; the verdict says
/// the count may be short. A budget no QOS counts per account (GrpTRESMins) is not checked.
/// Where jobs are shown, squeue's count is whole and nothing is left unchecked.
#[test]
fn account_counts_private_data_hides_are_named() {
    let mut s = load(&Path::new(FIXTURES).join("plain-private-usage-account-jobs-hidden"));
    assert_eq!(s.slurm, "pending|AssocGrpJobsLimit");
    assert!(!s.state.limit_use.is_empty());
    let v = s.verdict();
    assert_eq!(
        v.reason.map(|r| r.code()),
        Some("AssocGrpJobsLimit"),
        "{}",
        v.message
    );
    assert_eq!(
        v.not_checked,
        [
            "account yenlab's GrpJobs weighed from what its jobs hold under the one QOS where they hold most, which may be short of its count: the controller does not show you the account's counts (the cluster's PrivateData=usage)"
        ]
    );
    let lab = s
        .state
        .accounts
        .iter_mut()
        .find(|a| a.account == "yenlab")
        .unwrap();
    lab.minutes.grp_tres_mins = crate::slurm::tres::Tres::parse("gres/gpu=600");
    let v = s.verdict();
    assert_eq!(
        v.not_checked.last().map(String::as_str),
        Some(
            "account yenlab's GrpTRESMins not checked: the controller does not show you the account's counts (the cluster's PrivateData=usage)"
        )
    );
    assert!(
        v.facts.iter().any(|f| f.contains(
            "GrpTRESMins gres/gpu=600 (use so far unknown: the controller does not show it to you)"
        )),
        "{:?}",
        v.facts
    );
    s.state.config.private_jobs = false;
    s.state
        .accounts
        .iter_mut()
        .for_each(|a| a.minutes.grp_tres_mins = Default::default());
    assert_eq!(s.verdict().not_checked, Vec::<String>::new());
}

/// Under PrivateData=reservations a maintenance window an hour ahead was not shown to
/// `nobody`, and Slurm kept a job of 2 hours pending for it (captured). The verdict, from what
/// nobody sees, says it starts now, and says what it could not see; read as root, nothing.
/// (What `sbatch --test-only` then says is weighed in by `preflight::test_only`.)
#[test]
fn hidden_reservations_are_named() {
    let mut s = load(&Path::new(FIXTURES).join("plain-private-reservations-maint-ahead"));
    assert_eq!(s.slurm, "pending|ReqNodeNotAvail, Reserved for maintenance");
    assert!(s.state.reservations.is_empty());
    let v = s.verdict();
    assert_eq!(v.outcome, Outcome::StartsNow, "{}", v.message);
    assert_eq!(v.not_checked.len(), 1, "{:?}", v.not_checked);
    assert!(
        v.not_checked[0].starts_with("reservations you may not use are not shown to you (the cluster's PrivateData=reservations)"),
        "{:?}",
        v.not_checked
    );
    s.state.user = "root".into();
    assert_eq!(s.verdict().not_checked, Vec::<String>::new());
}
