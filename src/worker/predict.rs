//! Scoring sentences with a fine-tuned model folder (what the worker exports).

use std::path::Path;

use anyhow::Context;
use candle_core::Device;

use super::bert::{self, Batch, Bert, Dropout, ParamSet};
use super::data::LABELS;
use super::model_files;

pub struct Classifier {
    cfg: bert::BertConfig,
    params: ParamSet,
    tokenizer: tokenizers::Tokenizer,
    pad_id: u32,
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
        let tokenizer = files.read_tokenizer(512.min(cfg.max_position_embeddings))?;
        let pad_id = tokenizer.token_to_id("[PAD]").unwrap_or(0);
        let (params, report) =
            ParamSet::from_checkpoint(&cfg, &files.read_weights()?, 0, &Device::Cpu)?;
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
        })
    }

    /// Predicts in batches of sentences of similar length (little padding).
    pub fn predict(&self, texts: &[String]) -> anyhow::Result<Vec<Prediction>> {
        let encodings = self
            .tokenizer
            .encode_batch(texts.iter().map(String::as_str).collect::<Vec<_>>(), true)
            .map_err(|e| anyhow::anyhow!("tokenizing failed: {e}"))?;
        let ids: Vec<&[u32]> = encodings.iter().map(|e| e.get_ids()).collect();
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| ids[i].len());
        let weights = self.params.weights(false);
        let model = Bert {
            cfg: &self.cfg,
            w: &weights,
        };
        let mut probs = vec![[0f32; 3]; texts.len()];
        for chunk in order.chunks(64) {
            let seqs: Vec<&[u32]> = chunk.iter().map(|&i| ids[i]).collect();
            let batch = Batch::new(&seqs, self.pad_id, &Device::Cpu)?;
            let p = bert::softmax_last(&model.logits(&batch, &Dropout::off())?)?
                .to_vec2::<f32>()
                .context("reading probabilities")?;
            for (row, &i) in p.iter().zip(chunk) {
                probs[i] = [row[0], row[1], row[2]];
            }
        }
        Ok(texts
            .iter()
            .zip(probs)
            .map(|(t, p)| Prediction {
                text: t.clone(),
                label: LABELS[super::train::argmax(&p)],
                probabilities: p,
            })
            .collect())
    }
}
