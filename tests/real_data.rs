//! A real fine-tune smoke test: the MiniLM model (scripts/fetch-model.sh) on the real Financial
//! PhraseBank file (scripts/link-data.sh), one epoch. It needs both, so it is `#[ignore]`d;
//! `.ci/run` fetches them and runs it with `--include-ignored`.

mod common;

use std::io::Write;
use std::path::Path;

#[test]
#[ignore = "needs the real data and MiniLM: scripts/fetch-model.sh, scripts/link-data.sh"]
fn minilm_on_the_real_data_beats_the_majority_class() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let data = root.join("data/Sentences_AllAgree.txt");
    let model = root.join("models/all-MiniLM-L6-v2");
    assert!(
        data.is_file() && model.join("model.safetensors").is_file(),
        "run scripts/fetch-model.sh and scripts/link-data.sh first"
    );
    let tmp = tempfile::tempdir().unwrap();
    let spec = tmp.path().join("smoke.toml");
    std::fs::write(
        &spec,
        format!(
            "[job]\nname = \"smoke\"\npartition = \"gpu\"\ntime = \"30:00\"\n[train]\ndata = {:?}\nmodel = {:?}\nepochs = 1\nlearning_rate = 5e-5\nlog_every = 20\n",
            data.display().to_string(),
            model.display().to_string()
        ),
    )
    .unwrap();
    let run = tmp.path().join("run");
    let out = assert_cmd::Command::cargo_bin("yenjob")
        .unwrap()
        .args(["worker", "--spec"])
        .arg(&spec)
        .arg("--run-dir")
        .arg(&run)
        .output()
        .unwrap();
    let log = common::stdout_of_success(&out);
    assert!(
        log.contains("2264 sentences (negative/neutral/positive [303, 1391, 570])"),
        "{log}"
    );
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("summary.json")).unwrap()).unwrap();
    let after = summary["after"]["accuracy"].as_f64().unwrap();
    let _ = writeln!(
        std::io::stderr(),
        "real-data smoke: test accuracy {} -> {after}",
        summary["before"]["accuracy"]
    );
    // The majority class (neutral) is 61% of the data: training must beat it clearly.
    assert!(
        after > 0.75,
        "test accuracy after one epoch: {after}\n{log}"
    );
}

/// A sweep of the real data on the local backend (2 learning rates × 2 seeds, a few sentences,
/// one epoch): its report's numbers are the tasks' own summary.json.
#[test]
#[ignore = "needs the real data and MiniLM: scripts/fetch-model.sh, scripts/link-data.sh"]
fn a_local_sweep_of_the_real_data_reports_its_tasks_own_numbers() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tmp = tempfile::tempdir().unwrap();
    let spec = tmp.path().join("sweep.toml");
    std::fs::write(
        &spec,
        format!(
            "[job]\nname = \"real sweep\"\npartition = \"gpu\"\ntime = \"30:00\"\nbackend = \"local\"\n\
             [train]\ndata = {:?}\nmodel = {:?}\nepochs = 1\nmax_train_sentences = 64\nlog_every = 2\n\
             [sweep]\nlearning_rate = [2e-5, 1e-4]\nseed = [1, 2]\nmax_parallel = 2\n",
            root.join("data/Sentences_AllAgree.txt").display().to_string(),
            root.join("models/all-MiniLM-L6-v2").display().to_string()
        ),
    )
    .unwrap();
    let yenjob = || {
        let mut c = assert_cmd::Command::cargo_bin("yenjob").unwrap();
        c.env("YENJOB_HOME", tmp.path().join("home"))
            .timeout(std::time::Duration::from_secs(900));
        c
    };
    let out = yenjob()
        .args(["submit", "--follow"])
        .arg(&spec)
        .output()
        .unwrap();
    let text = common::stdout_of_success(&out);
    assert!(
        text.contains("sweep local-") && text.contains("4 COMPLETED"),
        "{text}"
    );
    let out = yenjob().args(["report", "--json"]).output().unwrap();
    let report: serde_json::Value = serde_json::from_str(&common::stdout_of_success(&out)).unwrap();
    let run_dir = Path::new(report["run_dir"].as_str().unwrap());
    let tasks = report["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 4);
    for task in tasks {
        let i = task["task"].as_u64().unwrap();
        let summary: serde_json::Value = serde_json::from_slice(
            &std::fs::read(run_dir.join(format!("task-{i}/summary.json"))).unwrap(),
        )
        .unwrap();
        assert_eq!(
            task["test_accuracy"], summary["after"]["accuracy"],
            "task {i}"
        );
        assert_eq!(
            task["test_macro_f1"], summary["after"]["macro_f1"],
            "task {i}"
        );
        let validation = summary["validation"].as_array().unwrap();
        assert_eq!(
            task["validation_accuracy"],
            validation.last().unwrap()["accuracy"]
        );
        assert_eq!(summary["hyperparameters"]["seed"], task["params"]["seed"]);
        assert_eq!(
            summary["hyperparameters"]["learning_rate"],
            task["params"]["learning_rate"]
        );
    }
    let _ = writeln!(
        std::io::stderr(),
        "real-data sweep: best {} of {}",
        report["best"],
        serde_json::to_string(&report["configurations"]).unwrap()
    );
}
