//! Finding a BERT checkpoint on disk: a folder, or a Hugging Face hub name looked up in the
//! local cache. Reads its config, weights and tokenizer.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use tokenizers::Tokenizer;

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("model {name:?} not found; looked in:\n{}\n(scripts/fetch-model.sh puts all-MiniLM-L6-v2 under models/; a hub model must be in the Hugging Face cache already)", .looked.iter().map(|p| format!("  {}", p.display())).collect::<Vec<_>>().join("\n"))]
    NotFound { name: String, looked: Vec<PathBuf> },
    #[error("{dir} has no {what}")]
    Missing { dir: PathBuf, what: &'static str },
    #[error("cannot read {path}: {message}")]
    Read { path: PathBuf, message: String },
    #[error("{path}: `{key}`: {message}")]
    Invalid {
        path: PathBuf,
        key: &'static str,
        message: String,
    },
}

/// The files of one checkpoint.
#[derive(Debug, Clone)]
pub struct ModelFiles {
    pub dir: PathBuf,
    pub config: PathBuf,
    pub weights: PathBuf,
    pub tokenizer_json: Option<PathBuf>,
    pub vocab_txt: Option<PathBuf>,
}

/// Resolves `model`: a folder (relative to `base_dir`), else a hub name in the HF cache.
pub fn resolve(model: &str, base_dir: &Path) -> Result<ModelFiles, ModelError> {
    resolve_in(model, base_dir, &hub_caches())
}

/// `resolve` with the hub caches to look in given (tests pass their own instead of setting
/// environment variables other tests may be reading).
pub fn resolve_in(
    model: &str,
    base_dir: &Path,
    caches: &[PathBuf],
) -> Result<ModelFiles, ModelError> {
    let mut looked = Vec::new();
    let as_path = crate::spec::normalize(&base_dir.join(model));
    looked.push(as_path.clone());
    if as_path.join("config.json").is_file() {
        return files_in(&as_path);
    }
    // A folder that is there but incomplete is that folder's problem, not a hub name.
    if as_path.is_dir() {
        return Err(ModelError::Missing {
            dir: as_path,
            what: "config.json (a model folder holds config.json, the weights and a tokenizer)",
        });
    }
    for hub in caches {
        let repo = hub.join(format!("models--{}", model.replace('/', "--")));
        looked.push(repo.join("snapshots/<revision>"));
        if let Some(snapshot) = newest_snapshot(&repo) {
            return files_in(&snapshot);
        }
    }
    Err(ModelError::NotFound {
        name: model.to_string(),
        looked,
    })
}

/// `$HF_HUB_CACHE`, `$HF_HOME/hub`, `~/.cache/huggingface/hub`, in that order.
fn hub_caches() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(p) = std::env::var_os("HF_HUB_CACHE") {
        dirs.push(PathBuf::from(p));
    }
    if let Some(p) = std::env::var_os("HF_HOME") {
        dirs.push(PathBuf::from(p).join("hub"));
    }
    if let Some(p) = std::env::var_os("XDG_CACHE_HOME") {
        dirs.push(PathBuf::from(p).join("huggingface/hub"));
    }
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(PathBuf::from(home).join(".cache/huggingface/hub"));
    }
    dirs.dedup();
    dirs
}

/// The snapshot `refs/main` names, else the most recently changed one with a config.
fn newest_snapshot(repo: &Path) -> Option<PathBuf> {
    if let Ok(rev) = std::fs::read_to_string(repo.join("refs/main")) {
        let dir = repo.join("snapshots").join(rev.trim());
        if dir.join("config.json").is_file() {
            return Some(dir);
        }
    }
    let entries = std::fs::read_dir(repo.join("snapshots")).ok()?;
    entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.join("config.json").is_file())
        .max_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
}

fn files_in(dir: &Path) -> Result<ModelFiles, ModelError> {
    let existing = |name: &str| Some(dir.join(name)).filter(|p| p.is_file());
    let weights = existing("model.safetensors")
        .or_else(|| existing("pytorch_model.bin"))
        .ok_or(ModelError::Missing {
            dir: dir.to_path_buf(),
            what: "model.safetensors or pytorch_model.bin",
        })?;
    let tokenizer_json = existing("tokenizer.json");
    let vocab_txt = existing("vocab.txt");
    if tokenizer_json.is_none() && vocab_txt.is_none() {
        return Err(ModelError::Missing {
            dir: dir.to_path_buf(),
            what: "tokenizer.json or vocab.txt",
        });
    }
    Ok(ModelFiles {
        dir: dir.to_path_buf(),
        config: dir.join("config.json"),
        weights,
        tokenizer_json,
        vocab_txt,
    })
}

impl ModelFiles {
    pub fn read_config(
        &self,
    ) -> Result<(crate::worker::model::BertConfig, serde_json::Value), ModelError> {
        let err = |message: String| ModelError::Read {
            path: self.config.clone(),
            message,
        };
        let text = std::fs::read_to_string(&self.config).map_err(|e| err(e.to_string()))?;
        let raw: serde_json::Value = serde_json::from_str(&text).map_err(|e| err(e.to_string()))?;
        let config: crate::worker::model::BertConfig = serde_path_to_error::deserialize(&raw)
            .map_err(|e| err(format!("{}: {}", e.path(), e.inner())))?;
        if config.num_attention_heads == 0
            || !config
                .hidden_size
                .is_multiple_of(config.num_attention_heads)
        {
            return Err(ModelError::Invalid {
                path: self.config.clone(),
                key: "num_attention_heads",
                message: format!(
                    "{} heads do not divide hidden_size {}",
                    config.num_attention_heads, config.hidden_size
                ),
            });
        }
        Ok((config, raw))
    }

    /// Refuses a `max_length` the model has no position embeddings for.
    pub fn check_max_length(
        &self,
        config: &crate::worker::model::BertConfig,
        max_length: usize,
    ) -> Result<(), ModelError> {
        if max_length <= config.max_position_embeddings {
            return Ok(());
        }
        Err(ModelError::Invalid {
            path: self.config.clone(),
            key: "max_position_embeddings",
            message: format!(
                "the model has {} positions, and train.max_length is {max_length}: set train.max_length to at most {}",
                config.max_position_embeddings, config.max_position_embeddings
            ),
        })
    }

    /// Every tensor in the checkpoint, by its name in the file.
    pub fn read_weights(&self) -> Result<HashMap<String, Tensor>, ModelError> {
        let err = |e: candle_core::Error| ModelError::Read {
            path: self.weights.clone(),
            message: e.to_string(),
        };
        if self.weights.extension().is_some_and(|x| x == "bin") {
            Ok(candle_core::pickle::read_all(&self.weights)
                .map_err(err)?
                .into_iter()
                .collect())
        } else {
            candle_core::safetensors::load(&self.weights, &Device::Cpu).map_err(err)
        }
    }

    /// The tokenizer, truncating to `max_length` and padding nothing: batches are padded to
    /// their own longest sentence later (MiniLM's tokenizer.json pads everything to 128).
    /// The truncation length saved in `tokenizer.json`: the `max_length` a model exported by
    /// the worker was trained with.
    pub fn saved_max_length(&self) -> Option<usize> {
        let tok = Tokenizer::from_file(self.tokenizer_json.as_ref()?).ok()?;
        tok.get_truncation().map(|t| t.max_length)
    }

    pub fn read_tokenizer(&self, max_length: usize) -> Result<Tokenizer, ModelError> {
        let mut tok = match (&self.tokenizer_json, &self.vocab_txt) {
            (Some(json), _) => Tokenizer::from_file(json).map_err(|e| ModelError::Read {
                path: json.clone(),
                message: e.to_string(),
            })?,
            (None, Some(vocab)) => wordpiece_from_vocab(vocab)?,
            (None, None) => {
                return Err(ModelError::Missing {
                    dir: self.dir.clone(),
                    what: "tokenizer",
                });
            }
        };
        tok.with_padding(None);
        tok.with_truncation(Some(tokenizers::TruncationParams {
            max_length,
            ..Default::default()
        }))
        .map_err(|e| ModelError::Read {
            path: self.dir.clone(),
            message: e.to_string(),
        })?;
        Ok(tok)
    }
}

/// BERT's uncased WordPiece tokenizer built from a bare vocab.txt.
fn wordpiece_from_vocab(vocab: &Path) -> Result<Tokenizer, ModelError> {
    use tokenizers::Model;
    use tokenizers::models::wordpiece::WordPiece;
    use tokenizers::normalizers::BertNormalizer;
    use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
    use tokenizers::processors::bert::BertProcessing;
    let err = |message: String| ModelError::Read {
        path: vocab.to_path_buf(),
        message,
    };
    let wp = WordPiece::from_file(&vocab.to_string_lossy())
        .unk_token("[UNK]".into())
        .build()
        .map_err(|e| err(e.to_string()))?;
    let id = |t: &str| {
        wp.get_vocab()
            .get(t)
            .copied()
            .ok_or_else(|| err(format!("vocab has no {t}")))
    };
    let (cls, sep) = (id("[CLS]")?, id("[SEP]")?);
    let mut tok = Tokenizer::new(wp);
    tok.with_normalizer(Some(BertNormalizer::new(true, true, None, true)))
        .map_err(|e| err(e.to_string()))?;
    tok.with_pre_tokenizer(Some(BertPreTokenizer));
    tok.with_post_processor(Some(BertProcessing::new(
        ("[SEP]".into(), sep),
        ("[CLS]".into(), cls),
    )));
    Ok(tok)
}
