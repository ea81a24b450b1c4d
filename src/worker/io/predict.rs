//! Scoring sentences with a fine-tuned model folder (what the worker exports).

use std::path::Path;

use candle_core::Device;

use super::data::LABELS;
use super::model_files;
use crate::worker::model::{self, Bert, ParamSet, infer};

pub struct Classifier {
    cfg: model::BertConfig,
    params: ParamSet,
    tokenizer: tokenizers::Tokenizer,
    pad_id: u32,
    device: Device,
}

/// A sentence's class probabilities and the label they pick.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scored {
    /// Index into `LABELS`.
    pub label: usize,
    pub probabilities: [f32; 3],
    /// Longer than the model's window: scored on its first `max_length` tokens.
    pub truncated: bool,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Prediction {
    pub text: String,
    pub label: &'static str,
    pub probabilities: [f32; 3],
}

impl Classifier {
    /// Loads a fine-tuned model folder; refuses one without a trained classifier head.
    pub fn load(dir: &Path) -> anyhow::Result<Classifier> {
        if !dir.join("config.json").is_file() {
            anyhow::bail!(
                "{} holds no model (has the run finished? `yenjob status` tells)",
                dir.display()
            );
        }
        let files = model_files::resolve(&dir.to_string_lossy(), Path::new("."))?;
        let (cfg, _) = files.read_config()?;
        // The length the model was trained with (the worker exports its tokenizer with it).
        let max_length = files
            .saved_max_length()
            .unwrap_or(cfg.max_position_embeddings)
            .min(cfg.max_position_embeddings);
        let tokenizer = files.read_tokenizer(max_length)?;
        let pad_id = tokenizer.token_to_id("[PAD]").unwrap_or(0);
        let device = inference_device();
        let (params, report) = ParamSet::from_checkpoint(&cfg, &files.read_weights()?, 0, &device)?;
        if report
            .initialised
            .iter()
            .any(|n| n.starts_with("classifier."))
        {
            anyhow::bail!(
                "{} has no trained classifier: is it a model written by `yenjob worker`?",
                dir.display()
            );
        }
        Ok(Classifier {
            cfg,
            params,
            tokenizer,
            pad_id,
            device,
        })
    }

    /// Predicts in batches of sentences of similar length (little padding).
    pub fn predict(&self, texts: &[String]) -> anyhow::Result<Vec<Prediction>> {
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        Ok(texts
            .iter()
            .zip(self.classify(&refs)?)
            .map(|(t, s)| Prediction {
                text: t.clone(),
                label: LABELS[s.label],
                probabilities: s.probabilities,
            })
            .collect())
    }

    /// Scores sentences in batches of similar length (little padding); tokenizing runs on
    /// every thread of the pool.
    pub fn classify(&self, texts: &[&str]) -> anyhow::Result<Vec<Scored>> {
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| anyhow::anyhow!("tokenizing failed: {e}"))?;
        let ids: Vec<&[u32]> = encodings.iter().map(|e| e.get_ids()).collect();
        let model = Bert::load(&self.params, &self.cfg, false)?;
        let mut probs = vec![[0f32; 3]; texts.len()];
        infer::batched_logits(&model, &ids, self.pad_id, &self.device, |chunk, logits| {
            for (p, &i) in infer::probabilities(logits)?.into_iter().zip(chunk) {
                probs[i] = p;
            }
            Ok(())
        })?;
        Ok(probs
            .into_iter()
            .zip(&encodings)
            .map(|(p, e)| Scored {
                label: crate::worker::train::argmax(&p),
                probabilities: p,
                truncated: !e.get_overflowing().is_empty(),
            })
            .collect())
    }

    /// `cpu`, `cuda:0`.
    pub fn device_name(&self) -> String {
        match &self.device {
            Device::Cpu => format!("cpu ({} threads)", rayon::current_num_threads()),
            other => format!("{:?}", other.location()),
        }
    }
}

/// A GPU when this yenjob was built with CUDA and one is visible, else the CPU.
fn inference_device() -> Device {
    #[cfg(feature = "cuda")]
    if let Ok(device) = Device::new_cuda(0) {
        crate::worker::prepare_gpu(&device, crate::spec::Precision::default());
        return device;
    }
    Device::Cpu
}
