//! Sweeps as a user runs them without Slurm (the local backend): the grid run task by task
//! into one sweep folder, followed, reported, cancelled task by task and run again.
//! The same commands against the real Slurm are in tests/cluster.rs.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use predicates::prelude::*;

fn yenjob(home: &Path) -> Command {
    let mut c = Command::cargo_bin("yenjob").unwrap();
    c.env("YENJOB_HOME", home.join("home"))
        .timeout(Duration::from_secs(300));
    c
}

/// The tiny spec with a `[sweep]` table (and these [train] lines before it).
fn sweep_spec(dir: &Path, name: &str, epochs: u32, train: &str, sweep: &str) -> PathBuf {
    common::write_tiny_spec(
        dir,
        name,
        epochs,
        "backend = \"local\"",
        &format!("{train}\n[sweep]\n{sweep}"),
    )
}

/// Submits and returns the sweep's id (`local-abcd`).
fn submit(dir: &Path, spec: &Path) -> String {
    let out = yenjob(dir).arg("submit").arg(spec).output().unwrap();
    let text = common::stdout_of_success(&out);
    text.lines()
        .find_map(|l| l.strip_prefix("Started local sweep "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("no sweep id in {text}"))
        .to_string()
}

/// `status SWEEP --json`: one row per task.
fn task_rows(dir: &Path, id: &str) -> Vec<serde_json::Value> {
    let out = yenjob(dir).args(["status", "--json", id]).output().unwrap();
    let sweep: serde_json::Value = serde_json::from_str(&common::stdout_of_success(&out)).unwrap();
    assert_eq!(sweep["kind"], "sweep", "{sweep}");
    sweep["task_rows"].as_array().unwrap().clone()
}

fn states(rows: &[serde_json::Value]) -> Vec<String> {
    rows.iter()
        .map(|r| r["state"].as_str().unwrap().to_string())
        .collect()
}

fn wait_until(dir: &Path, id: &str, secs: u64, done: impl Fn(&[String]) -> bool) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let s = states(&task_rows(dir, id));
        if done(&s) || Instant::now() > deadline {
            return s;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn a_local_sweep_runs_each_task_in_its_folder_and_reports_them() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = sweep_spec(
        tmp.path(),
        "grid",
        1,
        "learning_rate = 1e-3",
        "learning_rate = [1e-3, 5e-3]\nseed = [1, 2]\nmax_parallel = 2\n",
    );
    let id = submit(tmp.path(), &spec);
    let done = wait_until(tmp.path(), &id, 240, |s| s.iter().all(|s| s == "COMPLETED"));
    assert_eq!(done, ["COMPLETED"; 4]);

    // The default listing shows the sweep as one line.
    let out = yenjob(tmp.path())
        .args(["status", "--json"])
        .output()
        .unwrap();
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows[0]["kind"], "sweep", "{rows}");
    assert_eq!(rows[0]["tasks"], 4);
    assert_eq!(rows[0]["states"]["COMPLETED"], 4);

    // `status SWEEP --json`: the sweep's line, what is said under its table, and each task.
    let out = yenjob(tmp.path())
        .args(["status", "--json", &id])
        .output()
        .unwrap();
    let sweep: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(sweep["states"]["COMPLETED"], 4, "{sweep}");
    assert_eq!(sweep["throttle"]["limit"], 2, "{sweep}");
    assert_eq!(sweep["next"], serde_json::json!([]), "{sweep}");
    assert!(sweep.get("timeline").is_none(), "{sweep}");

    // Each task has its own folder, resolved spec and results; the order is the documented
    // one (the last key varies fastest).
    let tasks = task_rows(tmp.path(), &id);
    let sweep_dir = PathBuf::from(tasks[0]["run_dir"].as_str().unwrap())
        .parent()
        .unwrap()
        .to_path_buf();
    for (i, task) in tasks.iter().enumerate() {
        assert_eq!(task["job_id"], format!("{id}_{i}"));
        assert_eq!(task["params"]["seed"], [1, 2][i % 2]);
        assert_eq!(task["params"]["learning_rate"], [1e-3, 5e-3][i / 2]);
        let task_dir = sweep_dir.join(format!("task-{i}"));
        for f in ["spec.toml", "job.log", "summary.json", "metrics.jsonl"] {
            assert!(task_dir.join(f).is_file(), "task {i} lacks {f}");
        }
        let spec = std::fs::read_to_string(task_dir.join("spec.toml")).unwrap();
        assert!(
            spec.contains(&format!("seed = {}", [1, 2][i % 2])),
            "{spec}"
        );
        assert!(!spec.contains("[sweep]"), "{spec}");
    }

    // Regression: `status SWEEP_N` wrote the task's end into a run.json of its own in the
    // task folder (and a stray index entry); it goes into the sweep's run.json.
    let record = sweep_dir.join("run.json");
    let mut kept: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&record).unwrap()).unwrap();
    kept["sweep"]["ended"] = serde_json::json!([]);
    std::fs::write(&record, kept.to_string()).unwrap();
    yenjob(tmp.path())
        .args(["status", &format!("{id}_1")])
        .assert()
        .success();
    assert!(!sweep_dir.join("task-1/run.json").exists());
    let kept: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&record).unwrap()).unwrap();
    assert_eq!(kept["sweep"]["ended"][1]["state"], "COMPLETED", "{kept}");

    // The report's numbers are the tasks' own.
    let out = yenjob(tmp.path())
        .args(["report", "--json", &id])
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_str(&common::stdout_of_success(&out)).unwrap();
    let configs = report["configurations"].as_array().unwrap();
    assert_eq!(configs.len(), 2, "{report}");
    for task in report["tasks"].as_array().unwrap() {
        let i = task["task"].as_u64().unwrap();
        let summary: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(sweep_dir.join(format!("task-{i}/summary.json"))).unwrap(),
        )
        .unwrap();
        assert_eq!(task["test_accuracy"], summary["after"]["accuracy"]);
        assert_eq!(task["state"], "COMPLETED");
    }
    let mean_of = |c: &serde_json::Value, tasks: [u64; 2]| {
        let acc = |i: u64| {
            report["tasks"][i as usize]["test_accuracy"]
                .as_f64()
                .unwrap()
        };
        (c["test_accuracy"]["mean"].as_f64().unwrap() - (acc(tasks[0]) + acc(tasks[1])) / 2.0).abs()
    };
    assert!(mean_of(&configs[0], [0, 1]) < 1e-12);
    assert!(mean_of(&configs[1], [2, 3]) < 1e-12);
    assert!(report["best"].is_string(), "{report}");
    let svg = std::fs::read_to_string(sweep_dir.join("sweep.svg")).unwrap();
    assert!(svg.contains("validation (last epoch)") && svg.contains("learning_rate=5e-3"));

    let csv = yenjob(tmp.path())
        .args(["report", "--csv", &id])
        .output()
        .unwrap();
    let csv = common::stdout_of_success(&csv);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 3, "{csv}");
    assert!(
        lines[0].starts_with("learning_rate,validation_accuracy_mean,"),
        "{csv}"
    );
    assert!(lines[1].starts_with("1e-3,"), "{csv}");

    let text = yenjob(tmp.path()).args(["report", &id]).output().unwrap();
    let text = common::stdout_of_success(&text);
    assert!(text.contains("best by validation accuracy"), "{text}");
}

#[test]
fn bad_sweeps_submit_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    for (sweep, expected) in [
        ("lr = [1e-3]\n", "`sweep.lr`: `lr` is not a [train] key"),
        ("seed = []\n", "`sweep.seed`: the list is empty"),
        ("seed = [1, 1]\n", "`sweep.seed[1]`: 1 appears twice"),
        (
            "epochs = [1, -2]\n",
            "`sweep.epochs[1]`: -2 must be a whole number",
        ),
    ] {
        let spec = sweep_spec(tmp.path(), "bad", 1, "", sweep);
        let out = yenjob(tmp.path())
            .arg("submit")
            .arg(&spec)
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expected), "{sweep:?}: {err}");
        assert!(err.contains("job.toml:"), "{err}");
        assert!(
            !tmp.path().join("runs").exists(),
            "{sweep:?} made a run folder"
        );
    }
}

#[test]
fn a_task_can_be_cancelled_alone_and_the_rest_run_again() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = sweep_spec(
        tmp.path(),
        "long",
        100_000,
        "",
        "seed = [1, 2, 3]\nmax_parallel = 2\n",
    );
    let id = submit(tmp.path(), &spec);
    let running = wait_until(tmp.path(), &id, 60, |s| s[..2] == ["RUNNING", "RUNNING"]);
    assert_eq!(running, ["RUNNING", "RUNNING", "PENDING"]);

    // Task 0 alone: the runner goes on with task 2.
    yenjob(tmp.path())
        .args(["cancel", &format!("{id}_0")])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "cancelled (was RUNNING, now CANCELLED)",
        ));
    let after = wait_until(tmp.path(), &id, 60, |s| s[2] == "RUNNING");
    assert_eq!(after, ["CANCELLED", "RUNNING", "RUNNING"]);

    // Tasks that do not exist, and a sweep's log, are clear errors.
    for command in ["tail", "cancel", "status"] {
        yenjob(tmp.path())
            .args([command, &format!("{id}_7")])
            .assert()
            .failure()
            .stderr(predicate::str::contains(format!(
                "sweep {id} has tasks 0 to 2; there is no task 7"
            )));
    }
    yenjob(tmp.path())
        .args(["tail", &id])
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "is a sweep of 3 tasks, each with its own log",
        ));

    // The whole sweep.
    yenjob(tmp.path())
        .args(["cancel", &id])
        .assert()
        .success()
        .stdout(predicate::str::contains("now 3 CANCELLED"));
    let report = yenjob(tmp.path()).args(["report", &id]).output().unwrap();
    let report = common::stdout_of_success(&report);
    for i in 0..3 {
        assert!(
            report.contains(&format!("task {i} ({id}_{i}) seed={}: CANCELLED", i + 1)),
            "{report}"
        );
    }

    // What to do next, said once under the tasks, naming the sweep.
    let status = yenjob(tmp.path()).args(["status", &id]).output().unwrap();
    let status = common::stdout_of_success(&status);
    let next = format!(
        "  next: `yenjob submit --rerun-failed {id}` runs the sweep's tasks that did not complete again"
    );
    assert_eq!(status.matches(&next).count(), 1, "{status}");
    // A local sweep has no time or memory limit to change.
    yenjob(tmp.path())
        .args(["submit", "--rerun-failed", &id, "--time", "2:00:00"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("sets no time or memory limit"));

    // Run the cancelled ones again, into the same folder.
    yenjob(tmp.path())
        .args(["submit", "--rerun-failed", &id])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "running again: task 0 (seed=1), task 1 (seed=2), task 2 (seed=3)",
        ));
    let again = wait_until(tmp.path(), &id, 60, |s| s[..2] == ["RUNNING", "RUNNING"]);
    assert_eq!(again, ["RUNNING", "RUNNING", "PENDING"]);
    yenjob(tmp.path()).args(["cancel", &id]).assert().success();
}

/// The array's script: one sbatch --array with the throttle, a log per task, and a requeue
/// (the worker's own, before the time limit) of this task alone.
#[test]
fn the_dry_run_of_a_sweep_shows_one_array_and_its_tasks() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = sweep_spec(
        tmp.path(),
        "dry",
        1,
        "",
        "learning_rate = [1e-5, 2e-5]\nseed = [1, 2]\nmax_parallel = 2\n",
    );
    let text = std::fs::read_to_string(&spec)
        .unwrap()
        .replace("backend = \"local\"", "backend = \"slurm\"");
    std::fs::write(&spec, text).unwrap();
    let out = yenjob(tmp.path())
        .args(["submit", "--dry-run"])
        .arg(&spec)
        .output()
        .unwrap();
    let script = common::stdout_of_success(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--array=0-3%2"), "{stderr}");
    assert!(stderr.contains("/task-%a/job.log"), "{stderr}");
    assert!(
        stderr.contains("# task 3: learning_rate=2e-5 seed=2"),
        "{stderr}"
    );
    assert!(
        script.contains(r#"job_ref="${SLURM_ARRAY_JOB_ID:+${SLURM_ARRAY_JOB_ID}_$task_id}""#),
        "{script}"
    );
    assert!(
        script.contains(r#"scontrol requeue "$job_ref""#),
        "{script}"
    );
    assert!(
        script.contains(r#"--spec "$run_dir/spec.toml""#),
        "{script}"
    );
    assert!(!tmp.path().join("runs").exists(), "a dry run made a folder");
}

/// A task that failed says why in the sweep's report (it said FAILED, exit code 1, no more),
/// and the report says how to run the failed tasks again.
#[test]
fn a_failed_task_says_why_in_the_report() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = sweep_spec(
        tmp.path(),
        "diverging",
        20,
        "learning_rate = 1e-3",
        "learning_rate = [1e-3, 1e6]\n",
    );
    let id = submit(tmp.path(), &spec);
    let done = wait_until(tmp.path(), &id, 240, |s| {
        s.iter().all(|s| s == "COMPLETED" || s == "FAILED")
    });
    assert_eq!(done, ["COMPLETED", "FAILED"]);
    let out = yenjob(tmp.path()).args(["report", &id]).output().unwrap();
    let text = common::stdout_of_success(&out);
    assert!(
        text.contains(&format!(
            "task 1 ({id}_1) learning_rate=1e6: FAILED, exit code 1; it failed: training diverged at step"
        )) && text.contains(&format!(
            "`yenjob submit --rerun-failed {id}` runs those that ended again"
        )),
        "{text}"
    );
    let out = yenjob(tmp.path())
        .args(["report", "--json", &id])
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_str(&common::stdout_of_success(&out)).unwrap();
    assert_eq!(report["tasks"][1]["failure"]["kind"], "error", "{report}");
}
