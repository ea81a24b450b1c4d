//! The worker on a tiny random BERT the tests write themselves: gradients reach every
//! parameter, the loss falls, a resumed run ends where an uninterrupted one does, and the
//! forward pass matches candle-transformers' BertModel.

mod common;

use std::collections::HashMap;

use candle_core::{Device, Tensor};
use yenjob::spec::JobSpec;
use yenjob::worker::model::{self, Batch, Bert, Dropout, ParamSet};
use yenjob::worker::train::Control;
use yenjob::worker::{self, WorkerOptions};

fn quiet() -> WorkerOptions {
    WorkerOptions {
        skip_bad_lines: false,
        control: Control {
            quiet: true,
            ..Default::default()
        },
    }
}

#[test]
fn every_parameter_receives_a_gradient() {
    let cfg = common::tiny_config();
    let params = ParamSet::random(&cfg, 1, &Device::Cpu).unwrap();
    let model = Bert::load(&params, &cfg, false).unwrap();
    let seqs: Vec<Vec<u32>> = vec![vec![2, 5, 6, 7, 3], vec![2, 8, 9, 3]];
    let refs: Vec<&[u32]> = seqs.iter().map(|s| s.as_slice()).collect();
    let batch = Batch::new(&refs, 0, &Device::Cpu).unwrap();
    let (_, pass) = model
        .forward_train(&batch, &[0, 2], &Dropout::new(0.1, 0.1, 1, 0))
        .unwrap();
    let grads = model.backward(pass).unwrap();
    let mut missing = Vec::new();
    for (i, name) in params.names.iter().enumerate() {
        let ok = grads
            .dense(i)
            .unwrap()
            .map(|g| {
                g.abs()
                    .unwrap()
                    .sum_all()
                    .unwrap()
                    .to_scalar::<f32>()
                    .unwrap()
                    > 0.0
            })
            .unwrap_or(false);
        if !ok {
            missing.push(name.clone());
        }
    }
    assert!(missing.is_empty(), "no gradient for {missing:?}");
    // Each layer: 16 tensors in transformers' layout, the projections' six stacked into two.
    assert_eq!(params.names.len(), 5 + 12 * cfg.num_hidden_layers + 4);
}

#[test]
fn matches_candle_transformers_bert_forward() {
    use candle_transformers::models::bert::{BertModel, Config, HiddenAct, PositionEmbeddingType};
    let cfg = common::tiny_config();
    let params = ParamSet::random(&cfg, 2, &Device::Cpu).unwrap();
    let stock_cfg = Config {
        vocab_size: cfg.vocab_size,
        hidden_size: cfg.hidden_size,
        num_hidden_layers: cfg.num_hidden_layers,
        num_attention_heads: cfg.num_attention_heads,
        intermediate_size: cfg.intermediate_size,
        hidden_act: HiddenAct::Gelu,
        hidden_dropout_prob: 0.1,
        max_position_embeddings: cfg.max_position_embeddings,
        type_vocab_size: cfg.type_vocab_size,
        initializer_range: 0.02,
        layer_norm_eps: cfg.layer_norm_eps,
        pad_token_id: 0,
        position_embedding_type: PositionEmbeddingType::Absolute,
        use_cache: false,
        classifier_dropout: None,
        model_type: Some("bert".into()),
    };
    let bare: HashMap<String, Tensor> = params
        .to_map()
        .unwrap()
        .into_iter()
        .map(|(k, v)| (k.strip_prefix("bert.").unwrap_or(&k).to_string(), v))
        .collect();
    let vb = candle_nn::VarBuilder::from_tensors(bare, candle_core::DType::F32, &Device::Cpu);
    let stock = BertModel::load(vb, &stock_cfg).unwrap();
    let seqs: Vec<Vec<u32>> = vec![vec![2, 5, 6, 7, 3], vec![2, 8, 3]];
    let refs: Vec<&[u32]> = seqs.iter().map(|s| s.as_slice()).collect();
    let batch = Batch::new(&refs, 0, &Device::Cpu).unwrap();
    let types = batch.ids.zeros_like().unwrap();
    let theirs = stock
        .forward(&batch.ids, &types, Some(&batch.mask))
        .unwrap();
    let ours = Bert::load(&params, &cfg, false)
        .unwrap()
        .encode(&batch, &Dropout::off())
        .unwrap()
        .reshape(theirs.shape())
        .unwrap();
    // Compare only real (non-padding) positions.
    let mask = batch
        .mask
        .unsqueeze(2)
        .unwrap()
        .broadcast_as(theirs.shape())
        .unwrap();
    let diff = ((ours - theirs).unwrap() * mask)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert!(diff < 1e-4, "max difference {diff}");
}

#[test]
fn loss_falls_when_overfitting_and_outputs_are_written() {
    let tmp = tempfile::tempdir().unwrap();
    let spec_path = common::write_tiny_spec(
        tmp.path(),
        "overfit",
        15,
        "",
        "dropout = 0.0\nlearning_rate = 3e-3\nweight_decay = 0.0",
    );
    let spec = JobSpec::load(&spec_path).unwrap();
    let run = tmp.path().join("run");
    assert_eq!(worker::run(&spec, &run, &quiet()).unwrap(), 0);
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("summary.json")).unwrap()).unwrap();
    for key in [
        "before",
        "after",
        "train_seconds",
        "train_sentences_per_second",
        "device",
    ] {
        assert!(summary.get(key).is_some(), "summary lacks {key}");
    }
    let after = summary["after"]["accuracy"].as_f64().unwrap();
    assert!(
        after >= 0.99,
        "tiny separable data should be learnt: accuracy {after}"
    );
    let steps: Vec<f64> = std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["event"] == "step")
        .map(|v| v["loss"].as_f64().unwrap())
        .collect();
    let mean = |s: &[f64]| s.iter().sum::<f64>() / s.len() as f64;
    let (first, last) = (mean(&steps[..10]), mean(&steps[steps.len() - 10..]));
    assert!(
        last < first * 0.6,
        "loss did not fall: first steps {first:.3}, last steps {last:.3}"
    );
    for f in [
        "model/config.json",
        "model/model.safetensors",
        "model/tokenizer.json",
        "split.json",
    ] {
        assert!(run.join(f).is_file(), "missing {f}");
    }
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("model/config.json")).unwrap()).unwrap();
    assert_eq!(config["id2label"]["2"], "positive");
    let saved =
        candle_core::safetensors::load(run.join("model/model.safetensors"), &Device::Cpu).unwrap();
    assert!(
        saved.contains_key("bert.pooler.dense.weight") && saved.contains_key("classifier.weight")
    );
}

#[test]
fn resumed_training_ends_where_uninterrupted_training_does() {
    let tmp = tempfile::tempdir().unwrap();
    let spec_path = common::write_tiny_spec(tmp.path(), "resume", 2, "", "checkpoint_every = 0");
    let spec = JobSpec::load(&spec_path).unwrap();

    let straight = tmp.path().join("straight");
    assert_eq!(worker::run(&spec, &straight, &quiet()).unwrap(), 0);

    let resumed = tmp.path().join("resumed");
    let mut stop = quiet();
    stop.control.stop_after_step = Some(5); // mid-epoch (6 steps an epoch)
    assert_eq!(
        worker::run(&spec, &resumed, &stop).unwrap(),
        worker::EXIT_CHECKPOINTED
    );
    assert!(!resumed.join("summary.json").exists());
    assert_eq!(worker::run(&spec, &resumed, &quiet()).unwrap(), 0);

    let a = candle_core::safetensors::load(straight.join("model/model.safetensors"), &Device::Cpu)
        .unwrap();
    let b = candle_core::safetensors::load(resumed.join("model/model.safetensors"), &Device::Cpu)
        .unwrap();
    for (name, ta) in &a {
        let d = (ta - &b[name])
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(d < 1e-5, "{name} differs by {d}");
    }
    let s: serde_json::Value =
        serde_json::from_slice(&std::fs::read(resumed.join("summary.json")).unwrap()).unwrap();
    assert_eq!(s["resumed_from_step"], 5);
}

#[test]
fn bad_data_line_names_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let spec_path = common::write_tiny_spec(tmp.path(), "bad", 1, "", "");
    let mut text = std::fs::read(tmp.path().join("data.txt")).unwrap();
    text.extend_from_slice(b"this line has no label\n");
    std::fs::write(tmp.path().join("data.txt"), text).unwrap();
    let spec = JobSpec::load(&spec_path).unwrap();
    let err = worker::run(&spec, &tmp.path().join("run"), &quiet())
        .unwrap_err()
        .to_string();
    assert!(err.contains("data.txt:61: no '@'"), "{err}");
    let mut skip = quiet();
    skip.skip_bad_lines = true;
    assert_eq!(
        worker::run(&spec, &tmp.path().join("run2"), &skip).unwrap(),
        0
    );
}

#[test]
fn missing_model_says_where_it_looked() {
    let err = yenjob::worker::io::model_files::resolve(
        "no-such-org/no-such-model",
        std::path::Path::new("/tmp"),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("models--no-such-org--no-such-model"), "{err}");
    assert!(err.contains("/tmp/no-such-org/no-such-model"), "{err}");
}

#[test]
fn hub_cache_layout_is_found() {
    let tmp = tempfile::tempdir().unwrap();
    let snap = tmp.path().join("hub/models--org--tiny/snapshots/abc123");
    common::write_tiny_model(&snap);
    std::fs::create_dir_all(tmp.path().join("hub/models--org--tiny/refs")).unwrap();
    std::fs::write(tmp.path().join("hub/models--org--tiny/refs/main"), "abc123").unwrap();
    let files = yenjob::worker::io::model_files::resolve_in(
        "org/tiny",
        std::path::Path::new("/nonexistent"),
        &[tmp.path().join("hub")],
    )
    .unwrap();
    assert_eq!(files.dir, snap);
}

/// The hand-written backward pass gives every parameter the gradient candle's autograd finds
/// for the same forward pass (dropout on, padding in the batch).
#[test]
fn hand_written_backward_equals_autograd() {
    let cfg = common::tiny_config();
    let params = ParamSet::random(&cfg, 9, &Device::Cpu).unwrap();
    let seqs: Vec<Vec<u32>> = vec![vec![2, 5, 6, 7, 3], vec![2, 8, 9, 3], vec![2, 10, 3]];
    let refs: Vec<&[u32]> = seqs.iter().map(|s| s.as_slice()).collect();
    let batch = Batch::new(&refs, 0, &Device::Cpu).unwrap();
    let model = Bert::load(&params, &cfg, true).unwrap();
    let (loss, pass) = model
        .forward_train(&batch, &[0, 2, 1], &Dropout::new(0.1, 0.1, 3, 7))
        .unwrap();
    let autograd = model::Grads::from_store(&params.vars, &loss.backward().unwrap());
    let written = model.backward(pass).unwrap();
    for (i, name) in params.names.iter().enumerate() {
        let (a, w) = (
            autograd.dense(i).unwrap().unwrap(),
            written.dense(i).unwrap().unwrap(),
        );
        assert_eq!(a.dims(), w.dims(), "{name}: shapes");
        let scale = a
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
            .max(1e-3);
        let diff = (a - w)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(
            diff <= 1e-4 * scale,
            "{name}: differs by {diff} (largest {scale})"
        );
    }
}

/// Backprop agrees with finite differences, so training follows the true gradient.
#[test]
fn gradients_match_finite_differences() {
    let cfg = common::tiny_config();
    let params = ParamSet::random(&cfg, 5, &Device::Cpu).unwrap();
    let seqs: Vec<Vec<u32>> = vec![vec![2, 5, 6, 7, 3], vec![2, 8, 9, 3], vec![2, 10, 3]];
    let refs: Vec<&[u32]> = seqs.iter().map(|s| s.as_slice()).collect();
    let batch = Batch::new(&refs, 0, &Device::Cpu).unwrap();
    let labels = [0, 2, 1];
    let loss_of = |p: &ParamSet| -> f64 {
        let logits = Bert::load(p, &cfg, false)
            .unwrap()
            .logits(&batch, &Dropout::off())
            .unwrap();
        model::cross_entropy(&logits, &labels)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap() as f64
    };
    let model = Bert::load(&params, &cfg, false).unwrap();
    let (_, pass) = model
        .forward_train(&batch, &labels, &Dropout::off())
        .unwrap();
    let grads = model.backward(pass).unwrap();
    for name in [
        "bert.embeddings.word_embeddings.weight",
        "bert.embeddings.LayerNorm.weight",
        "bert.encoder.layer.0.attention.self.qkv.weight",
        "bert.encoder.layer.0.attention.self.qkv.bias",
        "bert.encoder.layer.1.attention.output.LayerNorm.bias",
        "bert.encoder.layer.1.intermediate.dense.weight",
        "bert.pooler.dense.weight",
        "classifier.weight",
    ] {
        let i = params.names.iter().position(|n| n == name).unwrap();
        let var = &params.vars[i];
        let g = grads
            .dense(i)
            .unwrap()
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        // The derivative along the gradient's own direction is its norm: compare that with
        // central differences (f32 loss: steps along the whole tensor keep the signal large).
        let norm = g.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
        let original = var
            .as_tensor()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let eps = 1e-2f64;
        let moved = |sign: f64| -> Vec<f32> {
            original
                .iter()
                .zip(&g)
                .map(|(p, d)| (*p as f64 + sign * eps * *d as f64 / norm) as f32)
                .collect()
        };
        var.set(&Tensor::from_vec(moved(1.0), var.shape(), &Device::Cpu).unwrap())
            .unwrap();
        let up = loss_of(&params);
        var.set(&Tensor::from_vec(moved(-1.0), var.shape(), &Device::Cpu).unwrap())
            .unwrap();
        let down = loss_of(&params);
        var.set(&Tensor::from_vec(original, var.shape(), &Device::Cpu).unwrap())
            .unwrap();
        let numeric = (up - down) / (2.0 * eps);
        let analytic = norm;
        let k = "direction of the gradient";
        let rel = (numeric - analytic).abs() / analytic.abs().max(1e-4);
        assert!(
            rel < 0.05,
            "{name}[{k}]: backprop {analytic:.6}, finite differences {numeric:.6}"
        );
    }
}

/// `learning_rate = 1e6` ended COMPLETED with a NaN model that `predict` then used. Now the
/// run stops at the first non-finite loss or gradient, says so, and exports nothing.
#[test]
fn a_diverging_run_fails_and_exports_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let spec_path = common::write_tiny_spec(
        tmp.path(),
        "diverge",
        20,
        "",
        "learning_rate = 1e6\ncheckpoint_every = 3",
    );
    let spec = JobSpec::load(&spec_path).unwrap();
    let run = tmp.path().join("run");
    let err = worker::run(&spec, &run, &quiet()).unwrap_err().to_string();
    assert!(err.contains("training diverged at step"), "{err}");
    assert!(
        err.contains("Lower train.learning_rate (now 1000000)"),
        "{err}"
    );
    assert!(
        !run.join("model").exists(),
        "a diverged run must not export"
    );
    assert!(!run.join("summary.json").exists());
}

/// A 3-line file trained on nothing and reported "0.0000 -> 0.0000" with exit 0.
#[test]
fn a_split_that_leaves_a_set_empty_is_refused_before_training() {
    let tmp = tempfile::tempdir().unwrap();
    let spec_path = common::write_tiny_spec(tmp.path(), "tiny", 1, "", "");
    std::fs::write(
        tmp.path().join("data.txt"),
        "profit rose@positive\nloss fell@negative\nsales flat@neutral\n",
    )
    .unwrap();
    let spec = JobSpec::load(&spec_path).unwrap();
    let err = worker::run(&spec, &tmp.path().join("run"), &quiet())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("data.txt: the validation set is empty"),
        "{err}"
    );
    assert!(err.contains("[1, 1, 1]"), "{err}");
    assert!(err.contains("train 3, validation 0, test 0"), "{err}");
}

/// One-class data reported accuracy 1.0 with no word that two classes were never seen.
#[test]
fn a_class_missing_from_training_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let spec_path = common::write_tiny_spec(tmp.path(), "one class", 1, "", "");
    let lines: String = (0..40)
        .map(|i| format!("sales flat {i}@neutral\n"))
        .collect();
    std::fs::write(tmp.path().join("data.txt"), lines).unwrap();
    let spec = JobSpec::load(&spec_path).unwrap();
    let err = worker::run(&spec, &tmp.path().join("run"), &quiet())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no training example is negative or positive"),
        "{err}"
    );
    assert!(err.contains("[0, 40, 0]"), "{err}");
}

/// `--file` read ISO-8859-1 but standard input failed with "stream did not contain valid
/// UTF-8": both read the same way now.
#[test]
fn predict_reads_latin1_on_stdin() {
    let tmp = tempfile::tempdir().unwrap();
    let spec_path = common::write_tiny_spec(tmp.path(), "predict", 1, "", "");
    let spec = JobSpec::load(&spec_path).unwrap();
    let run = tmp.path().join("run");
    assert_eq!(worker::run(&spec, &run, &quiet()).unwrap(), 0);
    let out = assert_cmd::Command::cargo_bin("yenjob")
        .unwrap()
        .env("YENJOB_HOME", tmp.path().join("home"))
        .args(["predict", "--json", "--model"])
        .arg(run.join("model"))
        .write_stdin(b"profit rose caf\xe9\nloss fell \xa35m\n".to_vec())
        .output()
        .unwrap();
    let text = common::stdout_of_success(&out);
    assert!(text.contains("\"text\":\"profit rose café\""), "{text}");
    assert!(text.contains("\"text\":\"loss fell £5m\""), "{text}");
}

/// A truncated newest checkpoint failed the worker without naming it, and every requeue failed
/// the same way. Now it is named and the one before it is used.
#[test]
fn a_damaged_checkpoint_falls_back_to_the_one_before() {
    let tmp = tempfile::tempdir().unwrap();
    let spec_path = common::write_tiny_spec(tmp.path(), "damaged", 2, "", "checkpoint_every = 2");
    let spec = JobSpec::load(&spec_path).unwrap();
    let run = tmp.path().join("run");
    let mut stop = quiet();
    stop.control.stop_after_step = Some(5); // checkpoints at steps 2, 4 and 5 (two are kept)
    assert_eq!(
        worker::run(&spec, &run, &stop).unwrap(),
        worker::EXIT_CHECKPOINTED
    );
    let newest = run.join("checkpoints/step-00000005/params.safetensors");
    let bytes = std::fs::read(&newest).unwrap();
    std::fs::write(&newest, &bytes[..bytes.len() / 3]).unwrap();
    assert_eq!(worker::run(&spec, &run, &quiet()).unwrap(), 0);
    let s: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("summary.json")).unwrap()).unwrap();
    assert_eq!(s["resumed_from_step"], 4);
}

/// `predict --file` with 100,000 lines printed nothing until the end (and held every
/// prediction in memory): it prints a chunk at a time now.
#[test]
fn predict_streams_a_large_file() {
    use std::io::BufRead;
    let tmp = tempfile::tempdir().unwrap();
    let spec_path = common::write_tiny_spec(tmp.path(), "stream", 1, "", "");
    let spec = JobSpec::load(&spec_path).unwrap();
    let run = tmp.path().join("run");
    assert_eq!(worker::run(&spec, &run, &quiet()).unwrap(), 0);
    let lines: String = (0..100_000)
        .map(|i| format!("net profit rose {i} strong growth in the quarter\n"))
        .collect();
    let input = tmp.path().join("news.txt");
    std::fs::write(&input, lines).unwrap();
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("yenjob"))
        .env("YENJOB_HOME", tmp.path().join("home"))
        .args(["predict", "--model"])
        .arg(run.join("model"))
        .arg("--file")
        .arg(&input)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    assert!(first.contains("net profit rose 0 "), "{first}");
    let still_running = child.try_wait().unwrap().is_none();
    let rest = out.lines().count();
    assert!(child.wait().unwrap().success());
    assert_eq!(rest, 99_999);
    assert!(
        still_running,
        "the first line came only when everything was scored"
    );
}

/// `predict` cut sentences at 512 tokens where training used `max_length`; it cuts where
/// training did now: a 60-word sentence scores as its first 30 words (30 + [CLS] + [SEP] = 32).
#[test]
fn predict_truncates_where_training_did() {
    let tmp = tempfile::tempdir().unwrap();
    let spec_path = common::write_tiny_spec(tmp.path(), "truncate", 1, "", "");
    let spec = JobSpec::load(&spec_path).unwrap();
    assert_eq!(spec.train.max_length.get(), 32);
    let run = tmp.path().join("run");
    assert_eq!(worker::run(&spec, &run, &quiet()).unwrap(), 0);
    let words: Vec<&str> = (0..60)
        .map(|i| common::WORDS[i % common::WORDS.len()])
        .collect();
    let (long, short) = (words.join(" "), words[..30].join(" "));
    let out = assert_cmd::Command::cargo_bin("yenjob")
        .unwrap()
        .env("YENJOB_HOME", tmp.path().join("home"))
        .args(["predict", "--json", "--model"])
        .arg(run.join("model"))
        .args([&long, &short])
        .output()
        .unwrap();
    let rows: Vec<serde_json::Value> = common::stdout_of_success(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for class in ["negative", "neutral", "positive"] {
        assert_eq!(rows[0][class], rows[1][class], "{rows:?}");
    }
}
