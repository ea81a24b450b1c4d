//! The fine-tuned model in Hugging Face layout: config.json (with id2label/label2id),
//! model.safetensors (BertForSequenceClassification names) and the tokenizer, so that
//! `transformers.AutoModelForSequenceClassification.from_pretrained(dir)` loads it.

use std::path::Path;

use anyhow::Context;
use tokenizers::Tokenizer;

use super::data::LABELS;
use super::model_files::ModelFiles;
use crate::worker::model::ParamSet;

pub fn save_model(
    dir: &Path,
    params: &ParamSet,
    raw_config: &serde_json::Value,
    tokenizer: &Tokenizer,
    source: &ModelFiles,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut config = raw_config.clone();
    if let Some(obj) = config.as_object_mut() {
        let id2label: serde_json::Map<String, serde_json::Value> = LABELS
            .iter()
            .enumerate()
            .map(|(i, l)| (i.to_string(), (*l).into()))
            .collect();
        let label2id: serde_json::Map<String, serde_json::Value> = LABELS
            .iter()
            .enumerate()
            .map(|(i, l)| ((*l).to_string(), i.into()))
            .collect();
        obj.insert(
            "architectures".into(),
            serde_json::json!(["BertForSequenceClassification"]),
        );
        obj.insert("model_type".into(), "bert".into());
        obj.insert("id2label".into(), id2label.into());
        obj.insert("label2id".into(), label2id.into());
        obj.insert("problem_type".into(), "single_label_classification".into());
    }
    std::fs::write(dir.join("config.json"), serde_json::to_vec_pretty(&config)?)?;
    candle_core::safetensors::save(&params.to_map()?, dir.join("model.safetensors"))?;
    tokenizer
        .save(dir.join("tokenizer.json"), true)
        .map_err(|e| anyhow::anyhow!("cannot save tokenizer: {e}"))?;
    // The files transformers' AutoTokenizer also reads, when the source has them.
    for extra in [
        "vocab.txt",
        "tokenizer_config.json",
        "special_tokens_map.json",
    ] {
        let from = source.dir.join(extra);
        if from.is_file() {
            std::fs::copy(&from, dir.join(extra))
                .with_context(|| format!("cannot copy {}", from.display()))?;
        }
    }
    Ok(())
}
