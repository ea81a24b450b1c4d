//! Scoring a corpus as a user runs it without Slurm (the local backend): CSV, text and JSON
//! lines in and out, bad input skipped and counted (or stopping the job with --strict), a job
//! killed mid-write resumed without a torn or doubled row, and what is refused before
//! anything runs. The same job on the real Slurm, requeued in the middle, is in
//! tests/cluster.rs.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use assert_cmd::Command;

fn yenjob(dir: &Path) -> Command {
    let mut c = Command::cargo_bin("yenjob").unwrap();
    c.env("YENJOB_HOME", dir.join("home"))
        .current_dir(dir)
        .timeout(Duration::from_secs(300));
    c
}

/// A fine-tuned tiny model in `dir/model-run/model`.
fn model(dir: &Path) -> PathBuf {
    let base = common::write_tiny_model(&dir.join("base"));
    common::fine_tune(dir, &base)
}

/// `yenjob score --backend local --follow` with these arguments; its stdout.
fn score(dir: &Path, model: &Path, args: &[&str]) -> std::process::Output {
    yenjob(dir)
        .args([
            "score",
            "--backend",
            "local",
            "--follow",
            "--cpus",
            "1",
            "--model",
        ])
        .arg(model)
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn csv_in_gives_csv_out_one_row_per_input_row_in_order() {
    let tmp = tempfile::tempdir().unwrap();
    let m = model(tmp.path());
    common::write_corpus(&tmp.path().join("news.csv"), 3000);
    let out = score(
        tmp.path(),
        &m,
        &[
            "--input",
            "news.csv",
            "--output",
            "scored.csv",
            "--text-column",
            "text",
        ],
    );
    let log = common::stdout_of_success(&out);
    assert!(log.contains("[done] 3000 rows written"), "{log}");
    let input = std::fs::read_to_string(tmp.path().join("news.csv")).unwrap();
    let output = std::fs::read_to_string(tmp.path().join("scored.csv")).unwrap();
    let lines: Vec<&str> = output.lines().collect();
    assert_eq!(lines[0], "id,date,text,label,negative,neutral,positive");
    assert_eq!(lines.len(), 3001);
    for (i, (row, original)) in lines.iter().zip(input.lines()).enumerate().skip(1) {
        assert!(row.starts_with(&format!("{original},")), "row {i}: {row}");
        let fields: Vec<&str> = row.rsplitn(4, ',').collect();
        let p: f64 = fields[..3].iter().map(|x| x.parse::<f64>().unwrap()).sum();
        assert!((p - 1.0).abs() < 1e-4, "row {i}: {row}");
    }
    // The report, and the run in status.
    let report = yenjob(tmp.path()).arg("report").output().unwrap();
    let report = common::stdout_of_success(&report);
    assert!(
        report.contains("output ") && report.contains("(3000 rows)"),
        "{report}"
    );
    assert!(report.contains("skipped 0"), "{report}");
}

#[test]
fn bad_records_are_skipped_and_counted_or_stop_a_strict_job() {
    let tmp = tempfile::tempdir().unwrap();
    let m = model(tmp.path());
    let mut bytes = b"net profit rose\n\nsales fell \xff\xfe\n".to_vec();
    bytes.extend_from_slice(format!("{}\n", "profit ".repeat(400)).as_bytes());
    bytes.extend_from_slice(b"the quarter was flat\n");
    std::fs::write(tmp.path().join("lines.txt"), &bytes).unwrap();
    let out = score(
        tmp.path(),
        &m,
        &["--input", "lines.txt", "--output", "lines.csv"],
    );
    let log = common::stdout_of_success(&out);
    assert!(
        log.contains("lines.txt record 2 has no text; skipped"),
        "{log}"
    );
    assert!(log.contains("lines.txt record 3 is not UTF-8"), "{log}");
    assert!(
        log.contains("3 rows written") && log.contains("2 records skipped, 1 truncated"),
        "{log}"
    );
    let output = std::fs::read_to_string(tmp.path().join("lines.csv")).unwrap();
    let first: Vec<&str> = output
        .lines()
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(first, ["line", "1", "4", "5"], "{output}");

    let strict = score(
        tmp.path(),
        &m,
        &["--input", "lines.txt", "--output", "strict.csv", "--strict"],
    );
    assert!(!strict.status.success());
    let log = String::from_utf8_lossy(&strict.stdout);
    assert!(
        log.contains("lines.txt: record 2 has no text; stopped (--strict)"),
        "{log}"
    );
}

#[test]
fn json_lines_carry_their_fields() {
    let tmp = tempfile::tempdir().unwrap();
    let m = model(tmp.path());
    std::fs::write(
        tmp.path().join("news.jsonl"),
        "{\"id\": 7, \"ticker\": \"NOK\", \"headline\": \"net profit rose\"}\nnot json\n{\"id\": 9, \"headline\": \"loss fell\"}\n",
    )
    .unwrap();
    let out = score(
        tmp.path(),
        &m,
        &[
            "--input",
            "news.jsonl",
            "--output",
            "scored.jsonl",
            "--text-column",
            "headline",
        ],
    );
    common::stdout_of_success(&out);
    let rows: Vec<serde_json::Value> = std::fs::read_to_string(tmp.path().join("scored.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["ticker"], "NOK");
    assert_eq!(rows[1]["id"], 9);
    for r in &rows {
        assert!(["negative", "neutral", "positive"].contains(&r["label"].as_str().unwrap()));
        assert!(r["positive"].as_f64().is_some(), "{r}");
    }
}

#[test]
fn what_cannot_work_is_refused_before_anything_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let m = model(tmp.path());
    common::write_corpus(&tmp.path().join("news.csv"), 10);
    std::fs::write(tmp.path().join("taken.csv"), "x").unwrap();
    // Regression: an output that was the input under another name passed the check, and
    // `--overwrite` truncated the input.
    std::os::unix::fs::symlink("news.csv", tmp.path().join("alias.csv")).unwrap();
    std::fs::hard_link(tmp.path().join("news.csv"), tmp.path().join("hard.csv")).unwrap();
    std::fs::write(
        tmp.path().join("news.jsonl"),
        "{\"id\": 1, \"headline\": \"profit rose\"}\n",
    )
    .unwrap();
    let base = tmp.path().join("base");
    let (m, base) = (m.to_str().unwrap(), base.to_str().unwrap());
    // Each case: the model, then the rest of the command line; what the error says.
    for (model, rest, expected) in [
        (
            m,
            "--input news.csv --output o.csv --text-column headline",
            "news.csv: no column \"headline\"; its header has: id, date, text",
        ),
        (
            m,
            "--input news.csv --output o.csv",
            "a CSV file needs the name of the text column (--text-column NAME); its header has: id, date, text",
        ),
        (
            m,
            "--input news.jsonl --output o.jsonl",
            "a JSON-lines file needs the name of the text field (--text-column NAME); its first line has: headline, id",
        ),
        (
            m,
            "--input news.csv --output alias.csv --overwrite --text-column text",
            "alias.csv is the input (or another name for it)",
        ),
        (
            m,
            "--input news.csv --output hard.csv --overwrite --text-column text",
            "hard.csv is the input (or another name for it)",
        ),
        (
            m,
            "--input news.csv --output taken.csv --text-column text",
            "taken.csv exists; --overwrite replaces it",
        ),
        (
            base,
            "--input news.csv --output o.csv --text-column text",
            "has no trained classifier (no classifier.weight)",
        ),
        (
            m,
            "--input missing.csv --output o.csv --text-column text",
            "cannot read",
        ),
        (
            m,
            "--input news.csv --output no/such/o.csv --text-column text",
            "does not exist",
        ),
    ] {
        let out = yenjob(tmp.path())
            .args(["score", "--backend", "local", "--model", model])
            .args(rest.split(' '))
            .output()
            .unwrap();
        assert!(!out.status.success(), "{rest}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expected), "{rest}: {err}");
    }
    assert!(
        !tmp.path().join("runs").exists(),
        "a refused job made a run folder"
    );
}

/// A job killed in the middle of a chunk (SIGKILL: no chance to finish the row it writes),
/// then run again as a requeued job is: the output equals an uninterrupted run's, byte for
/// byte.
#[test]
fn a_job_killed_mid_write_resumes_without_a_torn_or_doubled_row() {
    let tmp = tempfile::tempdir().unwrap();
    let base = common::write_model(&tmp.path().join("small"), &common::small_config());
    let m = common::fine_tune(tmp.path(), &base);
    common::write_corpus(&tmp.path().join("news.csv"), 12_000);
    let whole = score(
        tmp.path(),
        &m,
        &[
            "--input",
            "news.csv",
            "--output",
            "whole.csv",
            "--text-column",
            "text",
        ],
    );
    common::stdout_of_success(&whole);

    let out = yenjob(tmp.path())
        .args(["score", "--backend", "local", "--cpus", "1", "--model"])
        .arg(&m)
        .args([
            "--input",
            "news.csv",
            "--output",
            "resumed.csv",
            "--text-column",
            "text",
        ])
        .output()
        .unwrap();
    let text = common::stdout_of_success(&out);
    let run_dir = PathBuf::from(
        text.lines()
            .find_map(|l| l.trim().strip_prefix("run folder: "))
            .unwrap(),
    );
    // Kill the job once a chunk is durable and the next is being written.
    common::wait_until_written(&run_dir, 2048, 120);
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run_dir.join("run.json")).unwrap()).unwrap();
    let pgid = record["local_pid"].as_i64().unwrap() as i32;
    // SAFETY: kill(2) of the process group this test's job started.
    unsafe { libc::kill(-pgid, libc::SIGKILL) };
    std::thread::sleep(Duration::from_millis(300));
    let partial = std::fs::read(tmp.path().join("resumed.csv")).unwrap();
    assert!(partial.len() < std::fs::read(tmp.path().join("whole.csv")).unwrap().len());

    // What a requeued job runs.
    let again = yenjob(tmp.path())
        .args(["score-worker", "--run-dir"])
        .arg(&run_dir)
        .output()
        .unwrap();
    let log = common::stdout_of_success(&again);
    assert!(log.contains("[score] resuming after record"), "{log}");
    assert_eq!(
        std::fs::read(tmp.path().join("resumed.csv")).unwrap(),
        std::fs::read(tmp.path().join("whole.csv")).unwrap(),
        "the resumed output differs from the uninterrupted one"
    );
}

/// `score --json` (and `--dry-run --json`) print one JSON object: what was submitted (or would
/// be), the score job and the pre-flight's verdict (none on the local backend).
#[test]
fn score_json_says_what_was_submitted() {
    let tmp = tempfile::tempdir().unwrap();
    let m = model(tmp.path());
    common::write_corpus(&tmp.path().join("news.csv"), 50);
    let args = |extra: &[&str]| {
        let mut c = yenjob(tmp.path());
        c.args(["score", "--backend", "local", "--cpus", "1", "--model"])
            .arg(&m)
            .args([
                "--input",
                "news.csv",
                "--output",
                "scored.csv",
                "--text-column",
                "text",
                "--json",
            ])
            .args(extra);
        c.output().unwrap()
    };
    let dry: serde_json::Value =
        serde_json::from_str(&common::stdout_of_success(&args(&["--dry-run"]))).unwrap();
    assert!(
        dry["script"].as_str().unwrap().contains("score-worker"),
        "{dry}"
    );
    assert_eq!(dry["score"]["text_column"], "text", "{dry}");
    assert!(dry["verdict"].is_null(), "{dry}");
    assert!(!tmp.path().join("scored.csv").exists());

    let sent: serde_json::Value =
        serde_json::from_str(&common::stdout_of_success(&args(&[]))).unwrap();
    assert_eq!(sent["submitted"], true, "{sent}");
    assert_eq!(sent["backend"], "local", "{sent}");
    assert!(
        sent["score"]["output"]
            .as_str()
            .unwrap()
            .ends_with("scored.csv"),
        "{sent}"
    );
    let job = sent["job_id"].as_str().unwrap();
    let tail = yenjob(tmp.path()).args(["tail", job]).output().unwrap();
    common::stdout_of_success(&tail);
    let rows = std::fs::read_to_string(tmp.path().join("scored.csv")).unwrap();
    assert_eq!(rows.lines().count(), 51);
}

/// A score job cancelled in the middle runs again with `submit --rerun-failed JOB`: in its own
/// folder, from its progress file, to the output an uninterrupted run writes. A job that
/// completed has nothing to run again.
#[test]
fn a_cancelled_job_runs_again_from_where_it_stopped() {
    let tmp = tempfile::tempdir().unwrap();
    let base = common::write_model(&tmp.path().join("small"), &common::small_config());
    let m = common::fine_tune(tmp.path(), &base);
    common::write_corpus(&tmp.path().join("news.csv"), 12_000);
    let args = |output: &'static str| {
        [
            "--input",
            "news.csv",
            "--output",
            output,
            "--text-column",
            "text",
        ]
    };
    common::stdout_of_success(&score(tmp.path(), &m, &args("whole.csv")));

    let out = yenjob(tmp.path())
        .args([
            "score",
            "--backend",
            "local",
            "--cpus",
            "1",
            "--json",
            "--model",
        ])
        .arg(&m)
        .args(args("again.csv"))
        .output()
        .unwrap();
    let sent: serde_json::Value = serde_json::from_str(&common::stdout_of_success(&out)).unwrap();
    let (job, run_dir) = (
        sent["job_id"].as_str().unwrap().to_string(),
        PathBuf::from(sent["run_dir"].as_str().unwrap()),
    );
    common::wait_until_written(&run_dir, 2048, 120);
    let cancel = yenjob(tmp.path()).args(["cancel", &job]).output().unwrap();
    let said = common::stdout_of_success(&cancel);
    assert!(said.contains("CANCELLED"), "{said}");
    // A local run has no time or memory limit to change.
    let limits = yenjob(tmp.path())
        .args(["submit", "--rerun-failed", &job, "--mem", "4G"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&limits.stderr);
    assert!(
        !limits.status.success() && said.contains("sets no time or memory limit"),
        "{said}"
    );
    let partial = std::fs::read(tmp.path().join("again.csv")).unwrap();
    assert!(partial.len() < std::fs::read(tmp.path().join("whole.csv")).unwrap().len());

    let rerun = yenjob(tmp.path())
        .args(["submit", "--rerun-failed", &job, "--follow"])
        .output()
        .unwrap();
    let log = common::stdout_of_success(&rerun);
    assert!(
        log.contains("again") && log.contains("CANCELLED before"),
        "{log}"
    );
    assert!(log.contains("[score] resuming after record"), "{log}");
    assert_eq!(
        std::fs::read(tmp.path().join("again.csv")).unwrap(),
        std::fs::read(tmp.path().join("whole.csv")).unwrap(),
        "the output of the job run again differs from the uninterrupted one"
    );

    let nothing = yenjob(tmp.path())
        .args(["submit", "--rerun-failed", &job])
        .output()
        .unwrap();
    let said = common::stdout_of_success(&nothing);
    assert!(said.contains("COMPLETED: nothing to run again"), "{said}");
}
