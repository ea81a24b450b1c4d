//! The binary as a user runs it, without Slurm: spec errors, the rendered script, and the local
//! backend end to end (submit, tail, status, cancel).

mod common;

use assert_cmd::Command;
use predicates::prelude::*;

fn yenjob(home: &std::path::Path) -> Command {
    let mut c = Command::cargo_bin("yenjob").unwrap();
    c.env("YENJOB_HOME", home);
    c
}

fn spec_error(body: &str) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("bad.toml");
    std::fs::write(&path, body).unwrap();
    let out = yenjob(tmp.path())
        .args(["submit", "--dry-run"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    String::from_utf8_lossy(&out.stderr).replace(&tmp.path().display().to_string(), "<tmp>")
}

const GOOD_JOB: &str =
    "[job]\nname = \"x\"\npartition = \"gpu\"\ngpus = 1\ncpus = 2\ntime = \"1:00:00\"\n";
const GOOD_TRAIN: &str = "[train]\ndata = \"d.txt\"\nmodel = \"m\"\n";

#[test]
fn spec_errors_name_file_line_and_key() {
    let e = spec_error(&format!("{GOOD_JOB}gpuz = 2\n{GOOD_TRAIN}"));
    assert!(
        e.contains("<tmp>/bad.toml:7:1: `job.gpuz`: unknown field `gpuz`"),
        "{e}"
    );
    let e = spec_error(&(GOOD_JOB.replace("1:00:00", "25:99") + GOOD_TRAIN));
    assert!(
        e.contains("bad.toml:6:8: `job.time`: \"25:99\" is not a time limit"),
        "{e}"
    );
    let e = spec_error(&(GOOD_JOB.replace("gpus = 1", "gpus = -1") + GOOD_TRAIN));
    assert!(e.contains("bad.toml:4:8: `job.gpus`"), "{e}");
    let e = spec_error(&(GOOD_JOB.replace("name = \"x\"", "name = \"a\\nb\"") + GOOD_TRAIN));
    assert!(
        e.contains("`job.name`: the job name \"a\\nb\" contains a control character"),
        "{e}"
    );
    let e = spec_error(&(GOOD_JOB.to_string() + GOOD_TRAIN + "learning_rate = \"fast\"\n"));
    assert!(
        e.contains(
            "bad.toml:10:17: `train.learning_rate`: invalid type: string \"fast\", expected f64"
        ),
        "{e}"
    );
    let e = spec_error(&(GOOD_JOB.to_string() + GOOD_TRAIN + "split = [0.5, 0.2, 0.1]\n"));
    assert!(
        e.contains("`train.split`: split fractions add up to 0.800, not 1"),
        "{e}"
    );
    // The limit is u32: say so.
    let e = spec_error(&(GOOD_JOB.to_string() + GOOD_TRAIN + "batch_size = 4294967296\n"));
    assert!(
        e.contains("`train.batch_size`: 4294967296 must be a whole number from 1 to 4294967295"),
        "{e}"
    );
    let e = spec_error(&(GOOD_JOB.replace("cpus = 2", "cpus = 0") + GOOD_TRAIN));
    assert!(
        e.contains("`job.cpus`: 0 must be a whole number from 1 to 4294967295"),
        "{e}"
    );
}

/// The sbatch script `submit --dry-run` renders for a spec's text.
fn dry_run_script(spec: &str) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("spec.toml");
    std::fs::write(&path, spec).unwrap();
    let out = yenjob(tmp.path())
        .args(["submit", "--dry-run", "--backend", "slurm"])
        .arg(&path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A typed GPU request, either way of writing it, reaches sbatch as `--gres=gpu:TYPE:N`.
#[test]
fn typed_gpus_render_as_typed_gres() {
    for job in [
        GOOD_JOB.replace("gpus = 1", "gpus = \"a30:2\""),
        GOOD_JOB.replace("gpus = 1", "gpus = 2\ngpu_type = \"a30\""),
    ] {
        let text = dry_run_script(&(job + GOOD_TRAIN));
        assert!(text.contains("#SBATCH --gres=gpu:a30:2\n"), "{text}");
    }
    let e = spec_error(&(GOOD_JOB.replace("gpus = 1", "gpus = \"a30:x\"") + GOOD_TRAIN));
    assert!(
        e.contains("bad.toml:4:8: `job.gpus`: \"a30:x\" is not a GPU request: use a count (1) or TYPE:COUNT (\"a30:1\")"),
        "{e}"
    );
    let e = spec_error(
        &(GOOD_JOB.replace("gpus = 1", "gpus = \"a30:1\"\ngpu_type = \"v100\"") + GOOD_TRAIN),
    );
    assert!(
        e.contains("bad.toml:5:1: `job.gpu_type`: \"v100\" contradicts gpus = \"a30:1\""),
        "{e}"
    );
}

/// `reservation` in [job] reaches sbatch as `--reservation` (the pre-flight judges the job
/// on that reservation's nodes).
#[test]
fn a_reservation_reaches_sbatch() {
    let job = GOOD_JOB.replace("gpus = 1", "gpus = 1\nreservation = \"lab_deadline\"");
    let text = dry_run_script(&(job + GOOD_TRAIN));
    assert!(
        text.contains("#SBATCH --reservation=lab_deadline\n"),
        "{text}"
    );
    let e =
        spec_error(&(GOOD_JOB.replace("gpus = 1", "gpus = 1\nreservation = \"a b\"") + GOOD_TRAIN));
    assert!(e.contains("`job.reservation`"), "{e}");
}

/// `constraint` in [job] reaches sbatch as `--constraint`, as written; one Slurm would refuse
/// for its syntax is an error that names the field and the character.
#[test]
fn a_constraint_reaches_sbatch() {
    let job = GOOD_JOB.replace("gpus = 1", "gpus = 1\nconstraint = \"(a100|h100)&ib\"");
    let text = dry_run_script(&(job + GOOD_TRAIN));
    assert!(
        text.contains("#SBATCH --constraint=(a100|h100)&ib\n"),
        "{text}"
    );
    let e = spec_error(
        &(GOOD_JOB.replace("gpus = 1", "gpus = 1\nconstraint = \"a100||h100\"") + GOOD_TRAIN),
    );
    assert!(
        e.contains(
            "`job.constraint`: constraint \"a100||h100\": a feature is missing at character 6"
        ),
        "{e}"
    );
}

/// `nodelist` and `exclude` in [job] reach sbatch as written, and `exclusive` as
/// `--exclusive`. A nodelist of several nodes is
/// an error (sbatch would give the job all of them), and so is a host list sbatch refuses.
#[test]
fn a_nodelist_and_exclude_reach_sbatch() {
    let job = GOOD_JOB.replace(
        "gpus = 1",
        "gpus = 1\nnodelist = \"gpu07\"\nexclude = \"gpu[03-04],gpu09\"\nexclusive = true",
    );
    let text = dry_run_script(&(job + GOOD_TRAIN));
    assert!(text.contains("#SBATCH --nodelist=gpu07\n"), "{text}");
    assert!(
        text.contains("#SBATCH --exclude=gpu[03-04],gpu09\n"),
        "{text}"
    );
    assert!(text.contains("#SBATCH --exclusive\n"), "{text}");
    let plain = dry_run_script(&(GOOD_JOB.to_string() + GOOD_TRAIN));
    assert!(!plain.contains("--exclusive"), "{plain}");
    let e = spec_error(
        &(GOOD_JOB.replace("gpus = 1", "gpus = 1\nnodelist = \"gpu[01-02]\"") + GOOD_TRAIN),
    );
    assert!(
        e.contains("`job.nodelist`: nodelist \"gpu[01-02]\": it names 2 nodes (gpu01, gpu02)"),
        "{e}"
    );
    let e = spec_error(
        &(GOOD_JOB.replace("gpus = 1", "gpus = 1\nexclude = \"gpu[03-04\"") + GOOD_TRAIN),
    );
    assert!(
        e.contains("`job.exclude`: host list \"gpu[03-04\": the '[' at character 4 is not closed"),
        "{e}"
    );
}

/// `yenjob status | true` exited 101 with "failed printing to stdout: Broken pipe".
#[test]
fn a_closed_pipe_ends_quietly() {
    let tmp = tempfile::tempdir().unwrap();
    for args in [&["status"][..], &["status", "--json"], &["--help"]] {
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("yenjob"))
            .env("YENJOB_HOME", tmp.path())
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // The reader goes away before yenjob has written anything.
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
            "{args:?}: {stderr}"
        );
        assert_ne!(out.status.code(), Some(101), "{args:?}: {stderr}");
    }
}

#[test]
fn hostile_names_cannot_run_commands() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("dir with 'quotes' and $(spaces)");
    std::fs::create_dir_all(&dir).unwrap();
    let name = r#"it's "x"; $(touch /tmp/yenjob-pwned) `id` & more"#;
    let spec = GOOD_JOB.replace("name = \"x\"", &format!("name = {}", toml_string(name)))
        + "env = { NOTE = \"$(touch /tmp/yenjob-pwned2); 'q'\" }\n"
        + GOOD_TRAIN;
    std::fs::write(dir.join("job.toml"), spec).unwrap();
    let out = yenjob(tmp.path())
        .args(["submit", "--dry-run", "--backend", "slurm"])
        .arg(dir.join("job.toml"))
        .output()
        .unwrap();
    let script = common::stdout_of_success(&out);
    // The script parses, and running its variable lines evaluates nothing.
    let check = std::process::Command::new("bash")
        .arg("-n")
        .arg("-c")
        .arg(&script)
        .status()
        .unwrap();
    assert!(check.success());
    let exports: String = script
        .lines()
        .filter(|l| l.starts_with("export "))
        .map(|l| format!("{l}\n"))
        .collect();
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!("{exports}printf %s \"$NOTE\""))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "$(touch /tmp/yenjob-pwned2); 'q'"
    );
    assert!(!std::path::Path::new("/tmp/yenjob-pwned2").exists());
    // The name goes to sbatch as one argument, never through a shell.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !script.contains("touch /tmp/yenjob-pwned)"),
        "name leaked into the script"
    );
    let _ = stderr;
}

fn toml_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

#[test]
fn help_reads_well() {
    let tmp = tempfile::tempdir().unwrap();
    yenjob(tmp.path())
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains("check").and(predicate::str::contains("submit")));
    for sub in ["check", "submit", "status", "tail", "cancel", "worker"] {
        yenjob(tmp.path()).args([sub, "--help"]).assert().success();
    }
}

#[test]
fn dry_run_of_the_reference_spec() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("jobs/finbert.toml");
    yenjob(tmp.path())
        .args(["submit", "--dry-run", "--backend", "slurm"])
        .arg(spec)
        .assert()
        .success()
        .stdout(predicate::str::contains("#SBATCH --partition=gpu"))
        .stdout(predicate::str::contains("#SBATCH --gres=gpu:1"))
        .stdout(predicate::str::contains("#SBATCH --cpus-per-task=10"))
        .stdout(predicate::str::contains("#SBATCH --time=1:00:00"))
        .stdout(predicate::str::contains("#SBATCH --mail-type=ALL"))
        .stdout(predicate::str::contains("#SBATCH --signal=B:USR1@90"))
        .stdout(predicate::str::contains("worker --spec"));
}

#[test]
fn local_backend_submit_tail_status() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = common::write_tiny_spec(tmp.path(), "local run", 2, "backend = \"local\"", "");
    yenjob(tmp.path())
        .arg("submit")
        .arg(&spec)
        .assert()
        .success()
        .stdout(predicate::str::contains("Started local job"));
    let tail = yenjob(tmp.path())
        .arg("tail")
        .timeout(std::time::Duration::from_secs(120))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&tail.stdout);
    assert!(tail.status.success(), "{text}");
    assert!(text.contains("[eval] test after training"), "{text}");
    assert!(text.contains("ended: COMPLETED (exit code 0)"), "{text}");
    let status = yenjob(tmp.path())
        .args(["status", "--json"])
        .output()
        .unwrap();
    let rows: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(rows[0]["state"], "COMPLETED");
    assert_eq!(rows[0]["name"], "local run");
    let run_dir = std::path::PathBuf::from(rows[0]["run_dir"].as_str().unwrap());
    for f in [
        "spec.toml",
        "job.sbatch",
        "run.json",
        "job.log",
        "summary.json",
        "metrics.jsonl",
    ] {
        assert!(run_dir.join(f).is_file(), "missing {f}");
    }
    // `predict JOB` labels the text "JOB" (the newest model), and says how to pick the job.
    let id = rows[0]["job_id"].as_str().unwrap();
    let out = yenjob(tmp.path()).args(["predict", id]).output().unwrap();
    let text = common::stdout_of_success(&out);
    assert!(text.trim_end().ends_with(id), "{text}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&format!(
            "labelling the text \"{id}\"; to use job {id}'s model instead: `yenjob predict --job {id}`"
        )),
        "{out:?}"
    );
    let out = yenjob(tmp.path())
        .args(["predict", "--job", id, "profit rose"])
        .output()
        .unwrap();
    assert!(common::stdout_of_success(&out).contains("profit rose"));
    assert!(out.stderr.is_empty(), "{out:?}");
}

/// A job whose worker fails ends FAILED, and `tail` and `status` quote the worker's error
/// with what to do next.
#[test]
fn a_failed_job_says_why_and_what_next() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = common::write_tiny_spec(tmp.path(), "bad data", 1, "backend = \"local\"", "");
    // The submit checks that the data opens; its lines are the worker's to read.
    let data = tmp.path().join("data.txt");
    let text = std::fs::read_to_string(&data).unwrap();
    std::fs::write(&data, text.replacen("@neutral", "@terrible", 1)).unwrap();
    let out = yenjob(tmp.path())
        .args(["submit", "--follow"])
        .arg(&spec)
        .timeout(std::time::Duration::from_secs(120))
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{said}");
    let id = said
        .lines()
        .find_map(|l| l.strip_prefix("Started local job "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_string();
    let why = "data.txt:3: unknown label \"terrible\"";
    let next = format!("Once that is fixed, `yenjob submit --rerun-failed {id}` runs it again");
    assert!(
        said.contains(&format!("job {id} ended: FAILED (exit code 1)"))
            && said.contains(why)
            && said.contains(&next),
        "{said}"
    );
    let status = yenjob(tmp.path()).arg("status").output().unwrap();
    let status = String::from_utf8_lossy(&status.stdout);
    assert!(
        status.contains("next: it failed: ") && status.contains(why) && status.contains(&next),
        "{status}"
    );
    // That listing kept the reason in run.json: later ones read no log (one gone says so).
    let record = std::fs::read_dir(tmp.path().join("runs"))
        .unwrap()
        .map(|e| e.unwrap().path().join("run.json"))
        .find(|p| p.is_file())
        .unwrap();
    let kept: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&record).unwrap()).unwrap();
    assert!(
        kept["ended"]["failure"]["kind"] == "error"
            && kept["ended"]["failure"]["message"]
                .as_str()
                .is_some_and(|f| f.contains(why)),
        "{kept}"
    );
    let rows = yenjob(tmp.path())
        .args(["status", "--json"])
        .output()
        .unwrap();
    let rows: serde_json::Value = serde_json::from_slice(&rows.stdout).unwrap();
    assert_eq!(rows[0]["failure"], kept["ended"]["failure"], "{rows}");
    std::fs::remove_file(record.with_file_name("job.log")).unwrap();
    let status = yenjob(tmp.path()).arg("status").output().unwrap();
    let status = String::from_utf8_lossy(&status.stdout);
    assert!(status.contains(why) && status.contains(&next), "{status}");
    // `tail --json` ends on the job's end, with the same failure.
    let tail = yenjob(tmp.path())
        .args(["tail", "--json", &id])
        .output()
        .unwrap();
    let tail = String::from_utf8_lossy(&tail.stdout);
    let end: serde_json::Value =
        serde_json::from_str(tail.lines().rev().find(|l| l.contains(" ended: ")).unwrap()).unwrap();
    assert_eq!(end["state"], "FAILED", "{end}");
    assert_eq!(end["failure"]["kind"], "error", "{end}");
    // The report has nothing to show, and says so the same way.
    let report = yenjob(tmp.path()).args(["report", &id]).output().unwrap();
    let report = String::from_utf8_lossy(&report.stderr);
    assert!(
        report.contains(&format!(
            "job {id} ended FAILED without results: it failed: "
        )) && report.contains(why),
        "{report}"
    );
}

#[test]
fn local_backend_cancel() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = common::write_tiny_spec(tmp.path(), "long local", 100000, "backend = \"local\"", "");
    yenjob(tmp.path())
        .arg("submit")
        .arg(&spec)
        .assert()
        .success();
    std::thread::sleep(std::time::Duration::from_secs(2));
    yenjob(tmp.path())
        .arg("cancel")
        .assert()
        .success()
        .stdout(predicate::str::contains("cancelled"));
    let status = yenjob(tmp.path())
        .args(["status", "--json"])
        .output()
        .unwrap();
    let rows: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(rows[0]["state"], "CANCELLED");
}

#[test]
fn unknown_job_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    yenjob(tmp.path())
        .args(["tail", "424242"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("no run matches \"424242\""));
    yenjob(tmp.path())
        .arg("status")
        .assert()
        .success()
        .stdout(predicate::str::contains("no yenjob runs yet"));
    // Regression: `status JOB --all` showed JOB and ignored --all.
    yenjob(tmp.path())
        .args(["status", "424242", "--all"])
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "'[JOB]' cannot be used with '--all'",
        ));
}

/// `submit --rerun-failed`'s new limits are checked as the spec checks them, before any run
/// is looked up; without it, they replace the spec's.
#[test]
fn rerun_limits_are_checked_like_the_spec() {
    let tmp = tempfile::tempdir().unwrap();
    let rerun = |flag: &str, value: &str| {
        yenjob(tmp.path())
            .args(["submit", "--rerun-failed", "424242", flag, value])
            .assert()
            .failure()
    };
    rerun("--time", "25:99").stderr(predicate::str::contains(
        "--time: \"25:99\" is not a time limit",
    ));
    rerun("--mem", "12Q").stderr(predicate::str::contains(
        "--mem: \"12Q\" is not a memory size like \"16G\"",
    ));
    rerun("--mem", "16G").stderr(predicate::str::contains("no run matches \"424242\""));
    // Regression: `--rerun-failed RUN --dry-run` ran it again for real; `--backend` was ignored.
    for flag in [&["--dry-run"][..], &["--backend", "local"]] {
        yenjob(tmp.path())
            .args(["submit", "--rerun-failed", "424242"])
            .args(flag)
            .assert()
            .failure()
            .stderr(predicate::str::contains(format!(
                "'--rerun-failed <RUN>' cannot be used with '{}",
                flag[0]
            )));
    }
    // Without --rerun-failed they replace the spec's limits (they were accepted and ignored).
    let spec = common::write_tiny_spec(tmp.path(), "limits", 1, "", "");
    let out = yenjob(tmp.path())
        .args([
            "submit",
            "--dry-run",
            "--backend",
            "slurm",
            "--time",
            "1:00:00",
        ])
        .args(["--mem", "3G"])
        .arg(&spec)
        .output()
        .unwrap();
    let script = common::stdout_of_success(&out);
    assert!(
        script.contains("#SBATCH --time=1:00:00\n") && script.contains("#SBATCH --mem=3G\n"),
        "{script}"
    );
}

/// `yenjob check` on the tiny spec after `change` has broken something: the error text.
fn inputs_error(change: impl FnOnce(&std::path::Path, &std::path::Path)) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let spec = common::write_tiny_spec(tmp.path(), "inputs", 1, "", "");
    change(tmp.path(), &spec);
    let out = yenjob(&tmp.path().join("home"))
        .arg("check")
        .arg(&spec)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    String::from_utf8_lossy(&out.stderr).replace(&tmp.path().display().to_string(), "<tmp>")
}

fn edit(path: &std::path::Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{from} not in {}", path.display());
    std::fs::write(path, text.replace(from, to)).unwrap();
}

/// A missing data file or model, or a model that cannot take the spec, used to be found only
/// when the worker started: on Slurm, after the job had waited in the queue.
#[test]
fn check_finds_broken_inputs_before_anything_is_queued() {
    let e = inputs_error(|dir, _| std::fs::remove_file(dir.join("data.txt")).unwrap());
    assert!(e.contains("cannot read data file <tmp>/data.txt"), "{e}");

    // An empty model folder: say which file is missing, not where the hub cache is.
    let e = inputs_error(|dir, spec| {
        std::fs::create_dir(dir.join("empty")).unwrap();
        edit(spec, "model = \"model\"", "model = \"empty\"");
    });
    assert!(e.contains("<tmp>/empty has no config.json"), "{e}");

    let e = inputs_error(|_, spec| edit(spec, "max_length = 32", "max_length = 1000"));
    assert!(
        e.contains("<tmp>/model/config.json: `max_position_embeddings`: the model has 64 positions, and train.max_length is 1000"),
        "{e}"
    );

    let e = inputs_error(|dir, _| {
        edit(
            &dir.join("model/config.json"),
            "\"num_attention_heads\": 4",
            "\"num_attention_heads\": 5",
        )
    });
    assert!(
        e.contains("config.json: `num_attention_heads`: 5 heads do not divide hidden_size 32"),
        "{e}"
    );

    // runs_dir naming a file read as if the data file were being written.
    let e = inputs_error(|dir, _| std::fs::write(dir.join("runs"), "").unwrap());
    assert!(
        e.contains("`job.runs_dir`: <tmp>/runs is a file, not a folder"),
        "{e}"
    );
}

/// Submit checks the same, before it makes a run folder.
#[test]
fn submit_with_a_missing_model_submits_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = common::write_tiny_spec(tmp.path(), "no model", 1, "backend = \"local\"", "");
    std::fs::remove_dir_all(tmp.path().join("model")).unwrap();
    let mut submit = yenjob(&tmp.path().join("home"));
    submit.arg("submit").arg(&spec);
    let e = failed_submit(tmp.path(), submit);
    assert!(e.contains("model \"model\" not found"), "{e}");
}

/// A stopped (SIGSTOP) local job: `cancel` said CANCELLED at once while the worker and the
/// script lived on, since only the group leader was checked. Now every member is gone first.
#[test]
fn cancel_of_a_stopped_local_job_ends_every_process() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = common::write_tiny_spec(tmp.path(), "stopped", 100000, "backend = \"local\"", "");
    yenjob(tmp.path())
        .arg("submit")
        .arg(&spec)
        .assert()
        .success();
    let status = yenjob(tmp.path())
        .args(["status", "--json"])
        .output()
        .unwrap();
    let rows: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    let run_dir = std::path::PathBuf::from(rows[0]["run_dir"].as_str().unwrap());
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run_dir.join("run.json")).unwrap()).unwrap();
    let pgid = record["local_pid"].as_i64().unwrap() as i32;
    wait_for_training(&run_dir);
    // Stop the worker alone (the script and the wrapper go on waiting for it).
    let worker = group_pids(pgid)
        .into_iter()
        .find(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains("worker"))
                .unwrap_or(false)
        })
        .expect("the worker process");
    // SAFETY: stops the test's own worker process.
    unsafe { libc::kill(worker, libc::SIGSTOP) };
    yenjob(tmp.path())
        .arg("cancel")
        .assert()
        .success()
        .stdout(predicate::str::contains("now CANCELLED"));
    let left = group_pids(pgid);
    // Leave nothing behind even when the assertion fails.
    for pid in &left {
        // SAFETY: kills the test's own leftover processes.
        unsafe { libc::kill(*pid, libc::SIGKILL) };
    }
    assert!(
        left.is_empty(),
        "processes {left:?} of group {pgid} outlived cancel"
    );
}

/// The live (not zombie) processes in group `pgid`.
fn group_pids(pgid: i32) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let pid: i32 = e.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            let rest = stat.rsplit_once(')').map(|(_, r)| r.to_string())?;
            let f: Vec<&str> = rest.split_whitespace().collect();
            (f.first() != Some(&"Z") && f.get(2) == Some(&pgid.to_string().as_str())).then_some(pid)
        })
        .collect()
}

/// A truncated run.json read as "no run matches", and `status --all` dropped the run silently.
#[test]
fn a_damaged_run_record_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = common::write_tiny_spec(tmp.path(), "damaged", 1, "backend = \"local\"", "");
    let out = yenjob(tmp.path())
        .arg("submit")
        .arg(&spec)
        .output()
        .unwrap();
    common::stdout_of_success(&out);
    let status = yenjob(tmp.path())
        .args(["status", "--json"])
        .output()
        .unwrap();
    let rows: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    let job = rows[0]["job_id"].as_str().unwrap().to_string();
    let record = std::path::Path::new(rows[0]["run_dir"].as_str().unwrap()).join("run.json");
    let text = std::fs::read(&record).unwrap();
    std::fs::write(&record, &text[..text.len() / 2]).unwrap();

    let out = yenjob(tmp.path()).args(["status", &job]).output().unwrap();
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        e.contains(&format!("{} is damaged", record.display())),
        "{e}"
    );
    let out = yenjob(tmp.path())
        .args(["status", "--all"])
        .output()
        .unwrap();
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(
        e.contains(&format!("{} is damaged", record.display())) && e.contains("left out"),
        "{e}"
    );
}

/// Several local runs all showed `20261128-18…` in status's JOB column: no usable id.
#[test]
fn local_runs_get_short_distinct_ids() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = common::write_tiny_spec(tmp.path(), "short id", 1, "backend = \"local\"", "");
    for _ in 0..2 {
        common::stdout_of_success(
            &yenjob(tmp.path())
                .arg("submit")
                .arg(&spec)
                .output()
                .unwrap(),
        );
    }
    let status = yenjob(tmp.path())
        .args(["status", "--json"])
        .output()
        .unwrap();
    let rows: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    let ids: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["job_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2);
    assert_ne!(ids[0], ids[1]);
    for id in &ids {
        assert!(id.starts_with("local-") && id.len() <= 12, "{id}");
        let one = yenjob(tmp.path()).args(["status", id]).output().unwrap();
        assert!(common::stdout_of_success(&one).contains(id));
    }
}

/// With YENJOB_HOME unwritable, submit exited 1 after the job had started, with no id: a
/// user who resubmitted got two jobs. Now nothing starts.
#[test]
fn an_unwritable_index_submits_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = common::write_tiny_spec(tmp.path(), "no index", 1, "backend = \"local\"", "");
    std::fs::write(tmp.path().join("a-file"), "").unwrap();
    let mut submit = yenjob(&tmp.path().join("a-file/home"));
    submit.arg("submit").arg(&spec);
    let e = failed_submit(tmp.path(), submit);
    assert!(
        e.contains("nothing was submitted") && e.contains("a-file/home/index"),
        "{e}"
    );
}

/// Runs a `submit` that must fail: exit 1 and no run folder left in `dir/runs`. Its stderr.
fn failed_submit(dir: &std::path::Path, mut submit: Command) -> String {
    let out = submit.output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let left: Vec<_> = std::fs::read_dir(dir.join("runs"))
        .map(|d| d.collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "a run folder was left: {left:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Without bash on PATH the local backend said "No such file or directory" and left a run
/// folder outside the index.
#[test]
fn local_backend_without_bash_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = common::write_tiny_spec(tmp.path(), "no bash", 1, "backend = \"local\"", "");
    let empty = tmp.path().join("empty-bin");
    std::fs::create_dir(&empty).unwrap();
    let mut submit = yenjob(&tmp.path().join("home"));
    submit.env("PATH", &empty).arg("submit").arg(&spec);
    let e = failed_submit(tmp.path(), submit);
    assert!(e.contains("bash is not on PATH"), "{e}");
}

/// A running job's folder deleted: the job could no longer be cancelled through yenjob, and
/// the worker recreated files in the deleted path.
#[test]
fn a_deleted_run_folder_still_cancels_and_stays_deleted() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = common::write_tiny_spec(tmp.path(), "deleted", 100000, "backend = \"local\"", "");
    let start = |_: ()| {
        let out = yenjob(tmp.path())
            .arg("submit")
            .arg(&spec)
            .output()
            .unwrap();
        // The job this submit started, from what submit printed.
        let said = common::stdout_of_success(&out);
        let field = |prefix: &str| {
            said.lines()
                .find_map(|l| l.trim().strip_prefix(prefix))
                .unwrap()
                .to_string()
        };
        let run_dir = std::path::PathBuf::from(field("run folder: "));
        let id = field("follow it:  yenjob tail ");
        wait_for_training(&run_dir);
        (id, run_dir)
    };

    // Cancel after the folder is gone.
    let (id, run_dir) = start(());
    delete_under_a_running_worker(&run_dir);
    let status = yenjob(tmp.path()).args(["status", &id]).output().unwrap();
    assert!(
        common::stdout_of_success(&status).contains("was deleted"),
        "{}",
        String::from_utf8_lossy(&status.stdout)
    );
    yenjob(tmp.path()).args(["cancel", &id]).assert().success();
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(!run_dir.exists(), "the deleted folder came back");

    // Left alone, the worker notices and stops without recreating it.
    let (_, run_dir) = start(());
    delete_under_a_running_worker(&run_dir);
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert!(!run_dir.exists(), "the worker recreated its deleted folder");
}

/// `rm -rf` of a folder a worker is writing into: a pass can meet a file the worker has just
/// created (a checkpoint) and fail with "directory not empty"; a person would run it again.
fn delete_under_a_running_worker(dir: &std::path::Path) {
    for _ in 0..20 {
        match std::fs::remove_dir_all(dir) {
            Ok(()) => return,
            Err(e) if e.kind() == std::io::ErrorKind::DirectoryNotEmpty => {
                std::thread::sleep(std::time::Duration::from_millis(20))
            }
            Err(e) => panic!("cannot delete {}: {e}", dir.display()),
        }
    }
    panic!("{} could not be deleted under its worker", dir.display());
}

/// Waits until the worker of the local run in `run_dir` logs its first training line.
fn wait_for_training(run_dir: &std::path::Path) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !std::fs::read_to_string(run_dir.join("job.log"))
        .unwrap_or_default()
        .contains("[train]")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the worker never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// An activation the worker does not implement fell back to GELU without a word.
#[test]
fn an_unknown_activation_is_named() {
    let e = inputs_error(|dir, _| {
        edit(
            &dir.join("model/config.json"),
            "\"hidden_act\": \"gelu\"",
            "\"hidden_act\": \"swish\"",
        )
    });
    assert!(
        e.contains("<tmp>/model/config.json: hidden_act: unknown variant `swish`"),
        "{e}"
    );
}
