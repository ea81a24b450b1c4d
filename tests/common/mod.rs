//! Test fixtures written by the tests themselves: a tiny random BERT (config, safetensors
//! without the `bert.` prefix, a vocab.txt tokenizer) and a small sentence@label data file.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use yenjob::worker::model::{BertConfig, ParamSet};

pub const WORDS: &[&str] = &[
    "profit",
    "rose",
    "fell",
    "loss",
    "sales",
    "increased",
    "decreased",
    "company",
    "the",
    "of",
    "in",
    "net",
    "operating",
    "quarter",
    "year",
    "eur",
    "mn",
    "is",
    "was",
    "a",
    "strong",
    "weak",
    "growth",
    "decline",
    "unchanged",
    "stable",
    "report",
    "said",
    "will",
    "to",
    "and",
    "up",
    "down",
    "flat",
    "record",
    "warning",
];

pub fn tiny_config() -> BertConfig {
    serde_json::from_value(serde_json::json!({
        "vocab_size": 5 + WORDS.len(),
        "hidden_size": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "intermediate_size": 64,
        "max_position_embeddings": 64,
        "type_vocab_size": 2,
        "hidden_act": "gelu",
        "layer_norm_eps": 1e-12
    }))
    .unwrap()
}

/// A BERT big enough that scoring 20,000 sentences on one CPU takes tens of seconds (a job
/// can be requeued in the middle), small enough to write in a moment.
pub fn small_config() -> BertConfig {
    serde_json::from_value(serde_json::json!({
        "vocab_size": 5 + WORDS.len(),
        "hidden_size": 256,
        "num_hidden_layers": 4,
        "num_attention_heads": 4,
        "intermediate_size": 1024,
        "max_position_embeddings": 128,
        "type_vocab_size": 2,
        "hidden_act": "gelu",
        "layer_norm_eps": 1e-12
    }))
    .unwrap()
}

/// Writes a tiny random BERT in Hugging Face layout into `dir` and returns it.
pub fn write_tiny_model(dir: &Path) -> PathBuf {
    write_model(dir, &tiny_config())
}

/// Writes a random BERT of `cfg` in Hugging Face layout into `dir` and returns it.
pub fn write_model(dir: &Path, cfg: &BertConfig) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let cfg = cfg.clone();
    std::fs::write(
        dir.join("config.json"),
        serde_json::to_string_pretty(&cfg).unwrap(),
    )
    .unwrap();
    let mut vocab = vec!["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"];
    vocab.extend_from_slice(WORDS);
    std::fs::write(dir.join("vocab.txt"), vocab.join("\n") + "\n").unwrap();
    let params = ParamSet::random(&cfg, 7, &Device::Cpu).unwrap();
    // Store like sentence-transformers does: no `bert.` prefix, no classifier.
    let map: HashMap<String, Tensor> = params
        .to_map()
        .unwrap()
        .into_iter()
        .filter(|(k, _)| !k.starts_with("classifier."))
        .map(|(k, v)| (k.strip_prefix("bert.").unwrap_or(&k).to_string(), v))
        .collect();
    candle_core::safetensors::save(&map, dir.join("model.safetensors")).unwrap();
    dir.to_path_buf()
}

/// Sentences whose label follows from their words, in all three line-end styles.
pub fn write_tiny_data(path: &Path, n: usize) {
    let mut bytes = Vec::new();
    for i in 0..n {
        let (text, label) = match i % 3 {
            0 => ("net profit rose strong growth in the quarter", "positive"),
            1 => ("operating loss fell weak decline warning", "negative"),
            _ => ("sales unchanged stable flat the year", "neutral"),
        };
        let end: &[u8] = match i % 3 {
            0 => b"\r\n",
            1 => b"\r",
            _ => b"\n",
        };
        bytes.extend_from_slice(format!("{text} {}@{label}", WORDS[i % WORDS.len()]).as_bytes());
        bytes.extend_from_slice(end);
    }
    std::fs::write(path, bytes).unwrap();
}

/// A spec for the tiny model and data in `dir`.
pub fn write_tiny_spec(
    dir: &Path,
    name: &str,
    epochs: u32,
    extra_job: &str,
    extra_train: &str,
) -> PathBuf {
    write_tiny_model(&dir.join("model"));
    write_tiny_data(&dir.join("data.txt"), 60);
    let lr = if extra_train.contains("learning_rate") {
        ""
    } else {
        "learning_rate = 1e-3\n"
    };
    let log = if extra_train.contains("log_every") {
        ""
    } else {
        "log_every = 1\n"
    };
    let spec = format!(
        "[job]\nname = {name:?}\npartition = \"gpu\"\ngpus = 1\ncpus = 1\ntime = \"10:00\"\nruns_dir = \"runs\"\n{extra_job}\n\
         [train]\ndata = \"data.txt\"\nmodel = \"model\"\nepochs = {epochs}\nbatch_size = 8\n{lr}\
         max_length = 32\nseed = 3\n{log}{extra_train}\n"
    );
    let path = dir.join("job.toml");
    std::fs::write(&path, spec).unwrap();
    path
}

/// A generated news corpus: `id,date,text`, `n` rows of 3 to 40 words from the tiny model's
/// vocabulary (so lengths, and batches, vary).
pub fn write_corpus(path: &Path, n: usize) {
    let mut text = String::from("id,date,text\n");
    let mut state: u64 = 12345;
    for i in 0..n {
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as usize
        };
        let words = 3 + next() % 38;
        let sentence: Vec<&str> = (0..words).map(|_| WORDS[next() % WORDS.len()]).collect();
        text.push_str(&format!(
            "{},2024-{:02}-{:02},{}\n",
            i + 1,
            1 + i % 12,
            1 + i % 28,
            sentence.join(" ")
        ));
    }
    std::fs::write(path, text).unwrap();
}

/// Fine-tunes `base` (a model folder without a classifier) for one epoch on the tiny data,
/// so it has a trained classifier head; returns the fine-tuned model's folder.
pub fn fine_tune(dir: &Path, base: &Path) -> PathBuf {
    write_tiny_data(&dir.join("data.txt"), 60);
    let spec = dir.join("fine-tune.toml");
    std::fs::write(
        &spec,
        format!(
            "[job]\nname = \"fine-tune\"\npartition = \"gpu\"\ntime = \"10:00\"\n[train]\ndata = \"data.txt\"\nmodel = {:?}\nepochs = 1\nbatch_size = 8\nlearning_rate = 1e-3\nmax_length = 64\nlog_every = 10\n",
            base.display().to_string()
        ),
    )
    .unwrap();
    let run = dir.join("fine-tune-run");
    let out = assert_cmd::Command::cargo_bin("yenjob")
        .unwrap()
        .args(["worker", "--spec"])
        .arg(&spec)
        .arg("--run-dir")
        .arg(&run)
        .output()
        .unwrap();
    stdout_of_success(&out);
    run.join("model")
}

/// The stdout of a command that must have succeeded; if it failed, the assertion shows its
/// stdout and stderr.
pub fn stdout_of_success(out: &std::process::Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Waits (up to `secs`) until the score job in `run_dir` has made `rows` rows durable; the
/// rows its progress file says are written then.
pub fn wait_until_written(run_dir: &Path, rows: u64, secs: u64) -> u64 {
    let progress = run_dir.join("score-progress.json");
    let written = || {
        std::fs::read(&progress)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| v["written"].as_u64())
            .unwrap_or(0)
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while written() < rows && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    written()
}
