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
