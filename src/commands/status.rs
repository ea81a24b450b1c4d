//! `yenjob status [JOB]`: the user's yenjob jobs and sweeps, with pending reasons in words and
//! progress. By default every run that has not ended and the 10 newest others; `--all` for
//! the whole history. A sweep is one line (its tasks counted by state); `status SWEEP` shows
//! one line per task. Slurm is asked once per refresh whatever the number of runs (see
//! `backend::statuses`), and a run seen ending is recorded, so history costs no calls.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::backend::{self, JobStatus};
use crate::preflight::{self, ExpectedStart};
use crate::run_dir::MetricEvent;
use crate::runs::{self, RunRecord};
use crate::slurm::duration::SlurmTime;
use crate::slurm::state::{JobState, explain_reason};
use crate::slurm::{Slurm, clock};

/// How many ended runs the default listing shows.
const RECENT: usize = 10;

/// One job, or one task of a sweep.
#[derive(Clone, serde::Serialize)]
struct Row {
    kind: &'static str,
    job_id: String,
    name: String,
    run_dir: String,
    backend: runs::BackendKind,
    /// A sweep's task: its index and swept values.
    #[serde(skip_serializing_if = "Option::is_none")]
    task: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    params: Option<BTreeMap<String, serde_json::Value>>,
    #[serde(flatten)]
    status: JobStatus,
    reason_text: Option<String>,
    /// When Slurm expects a pending job to start (squeue's StartTime); none for a sweep's
    /// task, see `waiting_tasks_planned_by`.
    start_estimate: Option<String>,
    /// A sweep's waiting task: squeue's StartTime of the array's waiting tasks, one record to
    /// Slurm. Its backfill scheduler plans them one by one (the first 20 at most) and gives the
    /// record the last one's start on 22.05, the first's on 24.11 (`PlannedTask`).
    #[serde(skip_serializing_if = "Option::is_none")]
    waiting_tasks_planned_by: Option<String>,
    /// A pending job for which Slurm gives no start (one a limit holds, MaxJobsPU,
    /// MaxTRESPU...; one in a partition kept to one user at a time; one the backfill scheduler
    /// has not planned yet): when the pre-flight expects it, as the jobs in its way end.
    #[serde(skip_serializing_if = "Option::is_none")]
    expected_start: Option<ExpectedStart>,
    /// A sweep's waiting task: when yenjob's timeline of the sweep expects it to start, if
    /// the tasks and jobs before it run to their time limits (`2026-11-30T21:34:00`).
    #[serde(skip_serializing_if = "Option::is_none")]
    timeline_start: Option<String>,
    /// The same in words, `21:34 (in 29 min)`.
    #[serde(skip)]
    timeline_start_words: Option<String>,
    /// The worker's latest step, epoch or test event, as in `metrics.jsonl`.
    progress: Option<MetricEvent>,
    /// For a run that ended without completing: what to do, with the command.
    #[serde(skip_serializing_if = "Option::is_none")]
    next: Option<String>,
    /// For a failed run: why, by kind (`memory`, `error`, `killed`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    failure: Option<runs::failure::Failure>,
}

/// A sweep on one line.
#[derive(serde::Serialize)]
struct SweepRow {
    kind: &'static str,
    job_id: String,
    name: String,
    run_dir: String,
    backend: runs::BackendKind,
    tasks: usize,
    /// How many tasks are in each state.
    states: BTreeMap<String, usize>,
    /// Why the first waiting task waits, and in words.
    reason: Option<String>,
    reason_text: Option<String>,
}

#[derive(serde::Serialize)]
#[serde(untagged)]
enum Line {
    Job(Box<Row>),
    Sweep(SweepRow),
}

pub async fn run(job: Option<&str>, all: bool, json: bool) -> anyhow::Result<i32> {
    let slurm = Slurm::default();
    let (records, fresh) = match job {
        Some(q) => {
            let r = runs::find(Some(q))?;
            if r.sweep.is_some() {
                return sweep_tasks(&slurm, &r, json).await;
            }
            (vec![r], true)
        }
        None => (listed(all), false),
    };
    let lines = observe(&slurm, &records, fresh).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&lines)?);
        return Ok(0);
    }
    if lines.is_empty() {
        println!("no yenjob runs yet: `yenjob submit jobs/finbert.toml` starts one");
        return Ok(0);
    }
    print_header("NAME", NAME_WIDTH);
    for line in &lines {
        match line {
            Line::Job(row) => print_row(row, NAME_WIDTH),
            Line::Sweep(row) => print_sweep(row),
        }
    }
    Ok(0)
}

/// The runs of the default listing: every run not known to have ended, and the newest
/// `RECENT` of the others; or all of them.
fn listed(all: bool) -> Vec<RunRecord> {
    let listing = runs::list();
    for damaged in &listing.damaged {
        eprintln!(
            "yenjob: warning: {}; that run is left out",
            crate::error_chain(damaged)
        );
    }
    if all {
        return listing.runs;
    }
    let ended = |r: &RunRecord| match &r.sweep {
        Some(s) => s.ended.len() == s.tasks.len() && s.ended.iter().all(Option::is_some),
        None => r.ended.is_some(),
    };
    let total_ended = listing.runs.iter().filter(|r| ended(r)).count();
    let mut skip = total_ended.saturating_sub(RECENT);
    listing
        .runs
        .into_iter()
        .filter(|r| {
            if ended(r) && skip > 0 {
                skip -= 1;
                false
            } else {
                true
            }
        })
        .collect()
}

/// The lines for these runs, from one pass over Slurm; ends seen are recorded.
async fn observe(slurm: &Slurm, records: &[RunRecord], fresh: bool) -> anyhow::Result<Vec<Line>> {
    // Jobs and every sweep's tasks, asked about together.
    let mut asked: Vec<RunRecord> = Vec::new();
    for r in records {
        match &r.sweep {
            Some(_) => asked.extend(r.tasks()),
            None => asked.push(r.clone()),
        }
    }
    let statuses = backend::statuses(slurm, &asked, fresh).await?;
    let mut by_run = asked.into_iter().zip(statuses);
    let mut lines = Vec::new();
    let mut without_a_start = Vec::new();
    for r in records {
        match &r.sweep {
            Some(s) => {
                let tasks: Vec<(RunRecord, JobStatus)> =
                    by_run.by_ref().take(s.tasks.len()).collect();
                let _ = backend::remember_ends(r, &tasks);
                let statuses: Vec<&JobStatus> = tasks.iter().map(|(_, s)| s).collect();
                lines.push(Line::Sweep(sweep_row(r, &statuses)));
            }
            None => {
                if let Some((job, status)) = by_run.next() {
                    let job = backend::remember_ends(
                        &job,
                        std::slice::from_ref(&(job.clone(), status.clone())),
                    );
                    let row = row(&job, status);
                    if let Some(req) = pending_without_a_start(&job, &row) {
                        without_a_start.push((lines.len(), req));
                    }
                    lines.push(Line::Job(Box::new(row)));
                }
            }
        }
    }
    if !without_a_start.is_empty()
        && let Ok(state) = super::gather_state(slurm).await
    {
        for (at, req) in without_a_start {
            if let Some(Line::Job(row)) = lines.get_mut(at) {
                row.expected_start = preflight::while_pending(&row.job_id, &req, &state);
            }
        }
    }
    Ok(lines)
}

/// The request of a job pending with no start from Slurm, for the pre-flight to tell when it
/// starts.
fn pending_without_a_start(r: &RunRecord, row: &Row) -> Option<preflight::Request> {
    let slurms = r.backend == runs::BackendKind::Slurm && r.task.is_none();
    let told = waits_for_what_the_preflight_plans(&row.status);
    r.request.clone().filter(|_| told && slurms)
}

/// Whether a job waits, with no start from Slurm, for something whose end the pre-flight
/// plans: jobs under a limit on running jobs or TRES (MaxJobsPU, GrpTRES...), which the
/// backfill scheduler does not plan; the nodes (Resources) or jobs queued ahead (Priority,
/// which may hide such a limit too), which it does not plan in a partition kept to one user
/// at a time, nor before its first pass over the job. A job waiting for anything else (a
/// dependency, a wall-time limit, spent TRES-minutes) costs no reading of the cluster: the
/// pre-flight could say no more than Slurm.
fn waits_for_what_the_preflight_plans(status: &JobStatus) -> bool {
    let reason = status.reason.as_deref().unwrap_or_default();
    status.state.is_waiting()
        && status.expected_start.is_none()
        && (preflight::LimitCode::opens_as_jobs_end(reason)
            || reason == "Resources"
            || reason == "Priority")
}

fn row(r: &RunRecord, mut status: JobStatus) -> Row {
    if status.note.is_none() && !r.run_dir.is_dir() {
        status.note = Some(format!(
            "its run folder {} was deleted",
            r.run_dir.display()
        ));
    }
    let failure = runs::advice::failure_of(r, &status.state, status.exit_code.as_deref());
    Row {
        kind: if r.task.is_some() { "task" } else { "job" },
        reason_text: status.reason.as_deref().map(explain_reason),
        job_id: r.job_id.clone(),
        name: r.job_name.clone(),
        run_dir: r.run_dir.display().to_string(),
        backend: r.backend,
        task: r.task,
        params: None,
        progress: latest_progress(r),
        next: runs::advice::after_end(r, &status.state, failure.as_ref()),
        failure,
        start_estimate: status.expected_start.clone().filter(|_| r.task.is_none()),
        waiting_tasks_planned_by: status.expected_start.clone().filter(|_| r.task.is_some()),
        expected_start: None,
        timeline_start: None,
        timeline_start_words: None,
        status,
    }
}

fn sweep_row(r: &RunRecord, statuses: &[&JobStatus]) -> SweepRow {
    let mut states = BTreeMap::new();
    for s in statuses {
        *states.entry(s.state.to_string()).or_insert(0) += 1;
    }
    let reason = statuses
        .iter()
        .find_map(|s| s.state.is_waiting().then(|| s.reason.clone()).flatten());
    SweepRow {
        kind: "sweep",
        job_id: r.job_id.clone(),
        name: r.job_name.clone(),
        run_dir: r.run_dir.display().to_string(),
        backend: r.backend,
        tasks: statuses.len(),
        reason_text: reason.as_deref().map(explain_reason),
        reason,
        states,
    }
}

/// `status SWEEP`: the sweep's line as the listing has it, what is said under the table, and
/// one row per task. `--json` prints it as is.
#[derive(serde::Serialize)]
struct SweepDetail {
    #[serde(flatten)]
    sweep: SweepRow,
    /// At most this many tasks at once (`%K`), and which limit says so.
    #[serde(skip_serializing_if = "Option::is_none")]
    throttle: Option<preflight::Throttle>,
    /// When yenjob expects the waiting tasks to start and the last to end, if each runs to
    /// its time limit (as in `check --json`); only while a task waits on Slurm.
    #[serde(skip_serializing_if = "Option::is_none")]
    timeline: Option<preflight::Timeline>,
    /// Under PrivateData=reservations, what `sbatch --test-only` (which sees the
    /// reservations hidden from the user) said of the timeline's waiting tasks, or that it
    /// may miss them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    hidden_reservations: Vec<String>,
    /// squeue's StartTime of the array's waiting tasks: the last task its backfill planned
    /// (Slurm 22.05), or the first waiting task's start (24.11), as `waiting_task_planned`
    /// says.
    #[serde(skip_serializing_if = "Option::is_none")]
    waiting_tasks_planned_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    waiting_task_planned: Option<PlannedTask>,
    /// What to do about the tasks that ended without completing, each piece of advice once.
    next: Vec<String>,
    task_rows: Vec<Row>,
}

/// Which waiting task of an array squeue's StartTime of their one record is: backfill plans
/// them one after another and shows the last it planned on 22.05, the first waiting task's
/// start on 24.11 (both captured).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
enum PlannedTask {
    Last,
    First,
}

impl PlannedTask {
    fn of(config: &crate::slurm::config::SiteConfig) -> PlannedTask {
        match config.decides_as_24_11() {
            true => PlannedTask::First,
            false => PlannedTask::Last,
        }
    }

    /// The sentence under a sweep's table.
    fn sentence(self, by: &str) -> String {
        match self {
            PlannedTask::Last => format!(
                "Slurm's backfill scheduler plans the waiting tasks one after another and expects the last it planned to start {by}; the others start before it"
            ),
            PlannedTask::First => {
                format!("Slurm's backfill scheduler expects the first waiting task to start {by}")
            }
        }
    }
}

/// What `status SWEEP` works out from the cluster for the tasks that wait (`sweep_timeline`).
#[derive(Default)]
struct SweepPlan {
    timeline: Option<preflight::Timeline>,
    hidden_reservations: Vec<String>,
    planned_task: Option<PlannedTask>,
}

/// `status SWEEP`: one line per task, with its swept values.
async fn sweep_tasks(slurm: &Slurm, sweep: &RunRecord, json: bool) -> anyhow::Result<i32> {
    let Some(grid) = &sweep.sweep else {
        return Ok(0);
    };
    let tasks = sweep.tasks();
    let statuses = backend::statuses(slurm, &tasks, true).await?;
    let pairs: Vec<(RunRecord, JobStatus)> = tasks.into_iter().zip(statuses).collect();
    let sweep = backend::remember_ends(sweep, &pairs);
    let mut rows: Vec<Row> = pairs
        .into_iter()
        .map(|(task, status)| {
            let index = task.task.unwrap_or(0);
            // With the end (and why it failed) just recorded.
            let task = sweep.task(index).unwrap_or(task);
            let params = grid
                .keys
                .iter()
                .cloned()
                .zip(grid.tasks.get(index).cloned().unwrap_or_default())
                .collect();
            Row {
                params: Some(params),
                ..row(&task, status)
            }
        })
        .collect();
    let SweepPlan {
        timeline,
        hidden_reservations,
        planned_task,
    } = sweep_timeline(slurm, &sweep, &rows)
        .await
        .unwrap_or_default();
    if let Some(t) = &timeline {
        // Slurm starts an array's waiting tasks in the order of their indices.
        let waiting = rows.iter_mut().filter(|r| r.status.state.is_waiting());
        for (row, &at) in waiting.zip(&t.task_starts) {
            row.timeline_start = Some(clock::timestamp(at));
            row.timeline_start_words = Some(clock::when_and_how_soon(at, t.now));
        }
    }
    let mut next: Vec<String> = Vec::new();
    for advice in rows.iter().filter_map(|r| r.next.clone()) {
        if !next.contains(&advice) {
            next.push(advice);
        }
    }
    let statuses: Vec<&JobStatus> = rows.iter().map(|r| &r.status).collect();
    let detail = SweepDetail {
        sweep: sweep_row(&sweep, &statuses),
        throttle: grid.throttle.map(|limit| preflight::Throttle {
            limit,
            because: grid.throttle_reason.clone().unwrap_or_default(),
        }),
        timeline,
        hidden_reservations,
        // Slurm plans the waiting tasks as one record: one start for them all.
        waiting_tasks_planned_by: rows
            .iter()
            .filter_map(|r| r.waiting_tasks_planned_by.clone())
            .max(),
        waiting_task_planned: planned_task,
        next,
        task_rows: rows,
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&detail)?);
    } else {
        print_sweep_detail(&detail, grid);
    }
    Ok(0)
}

fn print_sweep_detail(detail: &SweepDetail, grid: &runs::SweepRecord) {
    let rows = &detail.task_rows;
    let counts: Vec<JobStatus> = rows.iter().map(|r| r.status.clone()).collect();
    println!(
        "sweep {} ({}), {} tasks: {}; folder {}",
        detail.sweep.job_id,
        detail.sweep.name,
        rows.len(),
        state_counts(&counts),
        detail.sweep.run_dir
    );
    if let Some(throttle) = &detail.throttle {
        println!(
            "  at most {} tasks at once: {}",
            throttle.limit, throttle.because
        );
    }
    let labels: Vec<String> = rows
        .iter()
        .map(|r| grid.label(r.task.unwrap_or(0)))
        .collect();
    let width = labels
        .iter()
        .map(|l| l.chars().count())
        .max()
        .unwrap_or(0)
        .max(10);
    print_header("PARAMETERS", width);
    for (row, label) in rows.iter().zip(labels) {
        print_row(
            &Row {
                name: label,
                next: None,
                ..row.clone()
            },
            width,
        );
    }
    if let Some(timeline) = &detail.timeline {
        println!("  {}", timeline.sentence());
    }
    for line in &detail.hidden_reservations {
        println!("  {line}");
    }
    if let Some(by) = &detail.waiting_tasks_planned_by {
        let planned = detail.waiting_task_planned.unwrap_or(PlannedTask::Last);
        println!("  {}", planned.sentence(by));
    }
    // Each piece of advice once, under the table: it names the sweep, not a task.
    for next in &detail.next {
        println!("  next: {next}");
    }
}

/// When the sweep's waiting tasks are expected to start and all to have ended, worked out
/// from the cluster as it is now (`preflight::of_queued_array`), and where the cluster hides
/// the reservations a user may not use, what `sbatch --test-only` says of them
/// (`preflight::test_only::weigh_timeline`); `None` when none waits.
async fn sweep_timeline(slurm: &Slurm, sweep: &RunRecord, rows: &[Row]) -> Option<SweepPlan> {
    let grid = sweep.sweep.as_ref()?;
    let waiting = rows.iter().any(|r| r.status.state.is_waiting());
    if !waiting || sweep.backend != runs::BackendKind::Slurm {
        return None;
    }
    let mut one = sweep.request.clone()?;
    one.tasks = 1;
    sweep.changed_limits.apply_to(&mut one);
    let array = &grid.submissions.last()?.job_id;
    let state = super::gather_state(slurm).await.ok()?;
    let planned_task = Some(PlannedTask::of(&state.config));
    let timeline = preflight::of_queued_array(array, &one, grid.throttle, &state)?;
    let user = &state.user;
    if !state.config.hides_reservations_from(user) {
        return Some(SweepPlan {
            timeline: Some(timeline),
            hidden_reservations: Vec::new(),
            planned_task,
        });
    }
    if state.config.hides_jobs_from(user) {
        // Test-only would wait for the jobs hidden too (`preflight::test_only`).
        let hidden = preflight::RESERVATIONS_HIDDEN.to_string();
        return Some(SweepPlan {
            timeline: Some(timeline),
            hidden_reservations: vec![hidden],
            planned_task,
        });
    }
    // One task, as submitted with the limits changed since.
    let options = sweep.one_task_options(&sweep.changed_limits);
    let script = sweep.dir().script();
    let test_only = super::TestOnlyAt {
        slurm,
        options: &options,
        script: &script,
        now: timeline.now,
    };
    let ask = async |at: i64| test_only.at(at).await;
    let weighed =
        preflight::test_only::weigh_timeline(timeline, array, &one, grid.throttle, &state, ask);
    let (timeline, hidden_reservations) = weighed.await;
    Some(SweepPlan {
        timeline,
        hidden_reservations,
        planned_task,
    })
}

/// `submit --follow` of a sweep: a line each time the counts change, until every task ended.
/// Polls every 5 s, backing off to 30 s while nothing changes.
pub async fn follow_sweep(slurm: &Slurm, sweep: &RunRecord) -> anyhow::Result<i32> {
    let tasks = sweep.tasks();
    let mut said = String::new();
    let mut wait = Duration::from_secs(5);
    loop {
        let statuses = backend::statuses(slurm, &tasks, true).await?;
        let now = state_counts(&statuses);
        if now != said {
            println!("[yenjob] sweep {}: {now}", sweep.job_id);
            said = now;
            wait = Duration::from_secs(5);
        } else {
            wait = (wait * 2).min(Duration::from_secs(30));
        }
        if statuses.iter().all(|s| s.state.is_finished()) {
            let pairs: Vec<(RunRecord, JobStatus)> = tasks
                .iter()
                .cloned()
                .zip(statuses.iter().cloned())
                .collect();
            let _ = backend::remember_ends(sweep, &pairs);
            let all_done = statuses.iter().all(|s| s.state == JobState::Completed);
            println!(
                "[yenjob] sweep {} ended; `yenjob report {}` compares its tasks",
                sweep.job_id, sweep.job_id
            );
            return Ok(if all_done { 0 } else { 1 });
        }
        tokio::time::sleep(wait).await;
    }
}

/// The NAME column's width: a job's name is cut to it; a sweep's task shows its values whole.
const NAME_WIDTH: usize = 24;

fn print_header(name: &str, width: usize) {
    println!(
        "{:<12} {:<width$} {:<11} {:<21} {:<10} PROGRESS",
        "JOB", name, "STATE", "ELAPSED/LIMIT", "NODE"
    );
}

fn print_row(row: &Row, width: usize) {
    let s = &row.status;
    let elapsed = match s.elapsed {
        SlurmTime::NotSet => "-".to_string(),
        t => t.to_string(),
    };
    anstream::println!(
        "{:<12} {:<width$} {} {:<21} {:<10} {}",
        short(&row.job_id, 12),
        short(&row.name, width),
        super::paint::state(&s.state, 11),
        format!("{elapsed}/{}", s.time_limit),
        short(&s.nodes, 10),
        row.progress.as_ref().map(progress_text).unwrap_or_default()
    );
    if let Some(text) = &row.reason_text {
        let when = row
            .start_estimate
            .as_deref()
            .map(|t| format!("; Slurm expects it to start {t}"))
            .unwrap_or_default();
        println!(
            "{:>12} pending ({}): {text}{when}",
            "",
            s.reason.as_deref().unwrap_or("")
        );
    }
    if let Some(start) = &row.expected_start {
        println!("{:>12} {}", "", start.sentence());
    }
    if let Some(by) = &row.timeline_start_words {
        println!(
            "{:>12} expected to start by {by}, if the tasks and jobs before it run to their time limits",
            ""
        );
    }
    if let Some(note) = &s.note {
        println!("{:>12} {note}", "");
    }
    if let Some(code) = &s.exit_code
        && s.state.is_finished()
    {
        println!("{:>12} exit code {code}; run folder {}", "", row.run_dir);
    }
    if let Some(next) = &row.next {
        println!("{:>12} next: {next}", "");
    }
}

fn print_sweep(row: &SweepRow) {
    let mut states: Vec<(&String, &usize)> = row.states.iter().collect();
    states.sort_by_key(|(state, _)| state_rank(state));
    let counts = states
        .iter()
        .map(|(state, n)| format!("{n} {state}"))
        .collect::<Vec<_>>()
        .join(", ");
    println!(
        "{:<12} {:<NAME_WIDTH$} {:<11} {} tasks: {counts}",
        short(&row.job_id, 12),
        short(&row.name, NAME_WIDTH),
        "SWEEP",
        row.tasks
    );
    if let (Some(code), Some(text)) = (&row.reason, &row.reason_text) {
        println!("{:>12} waiting ({code}): {text}", "");
    }
    println!("{:>12} one line per task: yenjob status {}", "", row.job_id);
}

/// Where a state comes in a count: what runs, what waits, what completed, what did not.
fn state_rank(state: &str) -> (u8, String) {
    let rank = match state {
        "RUNNING" | "COMPLETING" | "CONFIGURING" => 0,
        "PENDING" | "REQUEUED" | "SUSPENDED" => 1,
        "COMPLETED" => 2,
        _ => 3,
    };
    (rank, state.to_string())
}

/// `RUNNING` for one job; `2 RUNNING, 4 PENDING` for several: running, waiting, completed,
/// then the rest.
pub(crate) fn state_counts(statuses: &[JobStatus]) -> String {
    if let [one] = statuses {
        return one.state.to_string();
    }
    let mut counts: Vec<(String, usize)> = Vec::new();
    for s in statuses {
        let name = s.state.to_string();
        match counts.iter_mut().find(|(n, _)| *n == name) {
            Some((_, c)) => *c += 1,
            None => counts.push((name, 1)),
        }
    }
    counts.sort_by_key(|(state, _)| state_rank(state));
    counts
        .iter()
        .map(|(n, c)| format!("{c} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn short(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n - 1).collect::<String>() + "…"
    }
}

/// The last step, epoch or test event of the worker's `metrics.jsonl`.
fn latest_progress(r: &RunRecord) -> Option<MetricEvent> {
    r.dir().read_events().events.into_iter().rev().find(|e| {
        matches!(
            e,
            MetricEvent::Step { .. }
                | MetricEvent::Epoch { .. }
                | MetricEvent::Eval { .. }
                | MetricEvent::Score { .. }
        )
    })
}

fn progress_text(e: &MetricEvent) -> String {
    match e {
        MetricEvent::Step {
            epoch,
            epochs,
            step,
            total_steps,
            loss,
            ..
        } => format!("epoch {epoch}/{epochs} step {step}/{total_steps} loss {loss:.3}"),
        MetricEvent::Epoch {
            epoch,
            epochs,
            loss,
            accuracy,
            ..
        } => format!("epoch {epoch}/{epochs} loss {loss:.3} acc {accuracy:.3}"),
        MetricEvent::Eval { loss, accuracy, .. } => format!("loss {loss:.3} acc {accuracy:.3}"),
        MetricEvent::Score {
            done,
            total,
            records_per_second,
            seconds_left,
            ..
        } => format!(
            "{done}/{total} records, {records_per_second:.0}/s, {} left",
            humantime::format_duration(Duration::from_secs(*seconds_left as u64))
        ),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(reason: &str, start: Option<&str>) -> JobStatus {
        JobStatus {
            state: JobState::Pending,
            reason: Some(reason.to_string()),
            elapsed: SlurmTime::NotSet,
            time_limit: SlurmTime::NotSet,
            nodes: String::new(),
            exit_code: None,
            source: "squeue",
            note: None,
            expected_start: start.map(str::to_string),
        }
    }

    /// Regression: `status` read the whole cluster for every pending job without a start,
    /// though only a job held by a count or TRES limit, or waiting for nodes, gets one from
    /// the pre-flight.
    #[test]
    fn only_a_job_whose_start_the_preflight_plans_has_the_cluster_read() {
        for planned in [
            "QOSMaxJobsPerUserLimit",
            "QOSGrpGRES",
            "Priority",
            "Resources",
        ] {
            assert!(waits_for_what_the_preflight_plans(&pending(planned, None)));
        }
        for not_planned in ["Dependency", "None", "QOSMaxWallDurationPerJobLimit"] {
            assert!(!waits_for_what_the_preflight_plans(&pending(
                not_planned,
                None
            )));
        }
        // Slurm's own start stands.
        assert!(!waits_for_what_the_preflight_plans(&pending(
            "Resources",
            Some("2026-11-30T21:34:00")
        )));
    }
}
