//! A BERT for sequence classification that candle can fine-tune.
//!
//! candle-transformers' `BertModel` cannot be trained: its LayerNorm has no backward pass, so
//! only a head on top would learn. This one has the same tensor names and maths, built from
//! differentiable ops, plus what BertForSequenceClassification adds: dropout where transformers
//! has it, the pooler (dense + tanh over [CLS]) and the classifier. Tensor names are those of
//! transformers' BertForSequenceClassification (`bert.` prefix), so the saved model loads there.

use std::cell::Cell;
use std::collections::HashMap;

use candle_core::{D, DType, Device, Result, Tensor, Var};
use serde::Deserialize;

use crate::worker::rng::SplitMix64;

/// `config.json` of a BERT checkpoint (the fields the model needs; others are kept raw).
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct BertConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    #[serde(default)]
    pub hidden_act: HiddenAct,
    #[serde(default = "default_dropout")]
    pub hidden_dropout_prob: f64,
    #[serde(default = "default_dropout")]
    pub attention_probs_dropout_prob: f64,
    #[serde(default = "default_positions")]
    pub max_position_embeddings: usize,
    #[serde(default = "default_types")]
    pub type_vocab_size: usize,
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
}

/// The feed-forward activation, as transformers names it in `config.json`. A name this worker
/// does not implement is an error that names it, never a silent stand-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
pub enum HiddenAct {
    /// transformers' `gelu`: the exact, erf-based GELU.
    #[default]
    #[serde(rename = "gelu")]
    Gelu,
    /// The tanh approximation (`gelu_new`, `gelu_pytorch_tanh`, `gelu_fast`).
    #[serde(rename = "gelu_new", alias = "gelu_pytorch_tanh", alias = "gelu_fast")]
    GeluTanh,
    #[serde(rename = "relu")]
    Relu,
}
fn default_dropout() -> f64 {
    0.1
}
fn default_positions() -> usize {
    512
}
fn default_types() -> usize {
    2
}
fn default_eps() -> f64 {
    1e-12
}

pub const NUM_LABELS: usize = 3;

/// Every trainable tensor's canonical name and shape, in a fixed order.
pub fn parameter_shapes(cfg: &BertConfig) -> Vec<(String, Vec<usize>)> {
    let (h, i) = (cfg.hidden_size, cfg.intermediate_size);
    let mut p: Vec<(String, Vec<usize>)> = vec![
        (
            "bert.embeddings.word_embeddings.weight".into(),
            vec![cfg.vocab_size, h],
        ),
        (
            "bert.embeddings.position_embeddings.weight".into(),
            vec![cfg.max_position_embeddings, h],
        ),
        (
            "bert.embeddings.token_type_embeddings.weight".into(),
            vec![cfg.type_vocab_size, h],
        ),
        ("bert.embeddings.LayerNorm.weight".into(), vec![h]),
        ("bert.embeddings.LayerNorm.bias".into(), vec![h]),
    ];
    for l in 0..cfg.num_hidden_layers {
        let pre = format!("bert.encoder.layer.{l}");
        for (name, shape) in [
            ("attention.self.query.weight", vec![h, h]),
            ("attention.self.query.bias", vec![h]),
            ("attention.self.key.weight", vec![h, h]),
            ("attention.self.key.bias", vec![h]),
            ("attention.self.value.weight", vec![h, h]),
            ("attention.self.value.bias", vec![h]),
            ("attention.output.dense.weight", vec![h, h]),
            ("attention.output.dense.bias", vec![h]),
            ("attention.output.LayerNorm.weight", vec![h]),
            ("attention.output.LayerNorm.bias", vec![h]),
            ("intermediate.dense.weight", vec![i, h]),
            ("intermediate.dense.bias", vec![i]),
            ("output.dense.weight", vec![h, i]),
            ("output.dense.bias", vec![h]),
            ("output.LayerNorm.weight", vec![h]),
            ("output.LayerNorm.bias", vec![h]),
        ] {
            p.push((format!("{pre}.{name}"), shape));
        }
    }
    p.push(("bert.pooler.dense.weight".into(), vec![h, h]));
    p.push(("bert.pooler.dense.bias".into(), vec![h]));
    p.push(("classifier.weight".into(), vec![NUM_LABELS, h]));
    p.push(("classifier.bias".into(), vec![NUM_LABELS]));
    p
}

/// Names under which a checkpoint may store a canonical tensor: with or without the `bert.`
/// prefix, and old-style LayerNorm `gamma`/`beta`.
pub fn candidate_names(canonical: &str) -> Vec<String> {
    let mut names = vec![canonical.to_string()];
    if let Some(bare) = canonical.strip_prefix("bert.") {
        names.push(bare.to_string());
    }
    for n in names.clone() {
        if n.contains("LayerNorm.weight") {
            names.push(n.replace("LayerNorm.weight", "LayerNorm.gamma"));
        } else if n.contains("LayerNorm.bias") {
            names.push(n.replace("LayerNorm.bias", "LayerNorm.beta"));
        }
    }
    names
}

/// Weight decay does not apply to biases and LayerNorm parameters.
pub fn decays(name: &str) -> bool {
    !(name.ends_with(".bias") || name.contains("LayerNorm"))
}

/// The trainable parameters.
pub struct ParamSet {
    pub names: Vec<String>,
    pub vars: Vec<Var>,
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("the checkpoint has no tensor {0} (tried: {1})")]
    Missing(String, String),
    #[error("tensor {name} has shape {found:?}, the config says {expected:?}")]
    Shape {
        name: String,
        found: Vec<usize>,
        expected: Vec<usize>,
    },
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

/// What loading found: which tensors were new (the head, maybe the pooler).
#[derive(Debug, Default)]
pub struct LoadReport {
    pub initialised: Vec<String>,
}

impl ParamSet {
    /// Random weights (normal, std 0.02; LayerNorm 1/0; biases 0), as BERT initialises.
    pub fn random(cfg: &BertConfig, seed: u64, device: &Device) -> Result<ParamSet> {
        let mut names = Vec::new();
        let mut vars = Vec::new();
        for (k, (name, shape)) in parameter_shapes(cfg).into_iter().enumerate() {
            let t = init_tensor(&name, &shape, seed, k as u64, device)?;
            vars.push(Var::from_tensor(&t)?);
            names.push(name);
        }
        Ok(ParamSet { names, vars })
    }

    /// Pretrained weights from a checkpoint; the classifier (and a missing pooler) start
    /// random. Anything else missing is an error.
    pub fn from_checkpoint(
        cfg: &BertConfig,
        tensors: &HashMap<String, Tensor>,
        seed: u64,
        device: &Device,
    ) -> std::result::Result<(ParamSet, LoadReport), LoadError> {
        let mut report = LoadReport::default();
        let mut names = Vec::new();
        let mut vars = Vec::new();
        for (k, (name, shape)) in parameter_shapes(cfg).into_iter().enumerate() {
            let candidates = candidate_names(&name);
            let found = candidates.iter().find_map(|c| tensors.get(c));
            let t = match found {
                Some(t) => {
                    if t.dims() != shape.as_slice() {
                        return Err(LoadError::Shape {
                            name,
                            found: t.dims().to_vec(),
                            expected: shape,
                        });
                    }
                    t.to_dtype(DType::F32)?.to_device(device)?
                }
                None if name.starts_with("classifier.") || name.starts_with("bert.pooler.") => {
                    report.initialised.push(name.clone());
                    init_tensor(&name, &shape, seed, k as u64, device)?
                }
                None => return Err(LoadError::Missing(name, candidates.join(", "))),
            };
            vars.push(Var::from_tensor(&t)?);
            names.push(name);
        }
        Ok((ParamSet { names, vars }, report))
    }

    /// The tensors to compute with: tracked (training) or detached (evaluation, so no graph
    /// is kept alive).
    pub fn weights(&self, track: bool) -> Weights {
        let map = self
            .names
            .iter()
            .zip(&self.vars)
            .map(|(n, v)| {
                (
                    n.clone(),
                    if track {
                        v.as_tensor().clone()
                    } else {
                        v.as_tensor().detach()
                    },
                )
            })
            .collect();
        Weights { map }
    }

    pub fn count(&self) -> usize {
        self.vars.iter().map(|v| v.elem_count()).sum()
    }

    /// Copies of every tensor by canonical name (for saving).
    pub fn to_map(&self) -> HashMap<String, Tensor> {
        self.names
            .iter()
            .zip(&self.vars)
            .map(|(n, v)| (n.clone(), v.as_tensor().detach()))
            .collect()
    }
}

fn init_tensor(
    name: &str,
    shape: &[usize],
    seed: u64,
    key: u64,
    device: &Device,
) -> Result<Tensor> {
    let n: usize = shape.iter().product();
    let values: Vec<f32> = if name.contains("LayerNorm.weight") {
        vec![1.0; n]
    } else if name.ends_with(".bias") || name.contains("LayerNorm") {
        vec![0.0; n]
    } else {
        // Box-Muller on the counter-based stream: normal(0, 0.02).
        let mut rng = SplitMix64::keyed(seed, &[0x1417, key]);
        (0..n)
            .map(|_| {
                let u1 = rng.next_f32().max(1e-7);
                let u2 = rng.next_f32();
                0.02 * (-2.0 * u1.ln()).sqrt() * (2.0 * std::f32::consts::PI * u2).cos()
            })
            .collect()
    };
    Tensor::from_vec(values, shape, device)
}

/// Tensors by canonical name, for one forward pass.
pub struct Weights {
    map: HashMap<String, Tensor>,
}

impl Weights {
    fn get(&self, name: &str) -> Result<&Tensor> {
        self.map
            .get(name)
            .ok_or_else(|| candle_core::Error::Msg(format!("no weight {name}")))
    }
}

/// Dropout with masks drawn from (seed, step, call site): a resumed run draws the same masks.
pub struct Dropout {
    pub hidden: f32,
    pub attention: f32,
    pub seed: u64,
    pub step: u64,
    site: Cell<u64>,
}

impl Dropout {
    pub fn new(hidden: f32, attention: f32, seed: u64, step: u64) -> Dropout {
        Dropout {
            hidden,
            attention,
            seed,
            step,
            site: Cell::new(0),
        }
    }
    pub fn off() -> Dropout {
        Dropout::new(0.0, 0.0, 0, 0)
    }

    fn apply(&self, x: &Tensor, p: f32) -> Result<Tensor> {
        if p <= 0.0 {
            return Ok(x.clone());
        }
        let site = self.site.get() + 1;
        self.site.set(site);
        let rng = SplitMix64::keyed(self.seed, &[0xD409, self.step, site]);
        x.contiguous()?.apply_op1(super::ops::Dropout {
            state: rng.state(),
            p,
        })
    }
}

/// One padded batch: token ids and the 1/0 attention mask, both (batch, length).
pub struct Batch {
    pub ids: Tensor,
    pub mask: Tensor,
}

impl Batch {
    pub fn new(sequences: &[&[u32]], pad_id: u32, device: &Device) -> Result<Batch> {
        let len = sequences.iter().map(|s| s.len()).max().unwrap_or(1).max(1);
        let mut ids = Vec::with_capacity(sequences.len() * len);
        let mut mask = Vec::with_capacity(sequences.len() * len);
        for s in sequences {
            ids.extend_from_slice(s);
            ids.extend(std::iter::repeat_n(pad_id, len - s.len()));
            mask.extend(std::iter::repeat_n(1f32, s.len()));
            mask.extend(std::iter::repeat_n(0f32, len - s.len()));
        }
        let b = sequences.len();
        Ok(Batch {
            ids: Tensor::from_vec(ids, (b, len), device)?,
            mask: Tensor::from_vec(mask, (b, len), device)?,
        })
    }
}

pub struct Bert<'a> {
    pub cfg: &'a BertConfig,
    pub w: &'a Weights,
}

impl Bert<'_> {
    /// The classifier's logits, (batch, NUM_LABELS).
    pub fn logits(&self, batch: &Batch, drop: &Dropout) -> Result<Tensor> {
        let (b, t) = batch.ids.dims2()?;
        let hidden = self.encode(batch, drop)?;
        let h = self.cfg.hidden_size;
        let cls = hidden
            .reshape((b, t, h))?
            .narrow(1, 0, 1)?
            .reshape((b, h))?;
        let pooled = linear(
            &cls,
            self.w.get("bert.pooler.dense.weight")?,
            self.w.get("bert.pooler.dense.bias")?,
        )?
        .tanh()?;
        let pooled = drop.apply(&pooled, drop.hidden)?;
        linear(
            &pooled,
            self.w.get("classifier.weight")?,
            self.w.get("classifier.bias")?,
        )
    }

    /// The last hidden states, flattened to (batch * length, hidden).
    pub fn encode(&self, batch: &Batch, drop: &Dropout) -> Result<Tensor> {
        let cfg = self.cfg;
        let (b, t) = batch.ids.dims2()?;
        let h = cfg.hidden_size;
        let dev = batch.ids.device();
        let words = self
            .w
            .get("bert.embeddings.word_embeddings.weight")?
            .index_select(&batch.ids.flatten_all()?, 0)?;
        let positions = self
            .w
            .get("bert.embeddings.position_embeddings.weight")?
            .narrow(0, 0, t)?;
        let token_type = self
            .w
            .get("bert.embeddings.token_type_embeddings.weight")?
            .narrow(0, 0, 1)?;
        let x = words
            .reshape((b, t, h))?
            .broadcast_add(&positions)?
            .broadcast_add(&token_type)?
            .reshape((b * t, h))?;
        let mut x = self.layer_norm(&x, "bert.embeddings.LayerNorm")?;
        x = drop.apply(&x, drop.hidden)?;
        // 0 where attended, a large negative number on padding: added to the scores.
        let mask_bias = ((batch.mask.to_dtype(DType::F32)? - 1.0)? * 10_000.0)?
            .reshape((b, 1, 1, t))?
            .to_device(dev)?;
        for l in 0..cfg.num_hidden_layers {
            x = self.layer(&x, l, b, t, &mask_bias, drop)?;
        }
        Ok(x)
    }

    fn layer(
        &self,
        x: &Tensor,
        l: usize,
        b: usize,
        t: usize,
        mask_bias: &Tensor,
        drop: &Dropout,
    ) -> Result<Tensor> {
        let cfg = self.cfg;
        let (h, nh) = (cfg.hidden_size, cfg.num_attention_heads);
        let dh = h / nh;
        let p = |s: &str| format!("bert.encoder.layer.{l}.{s}");
        let heads = |name: &str| -> Result<Tensor> {
            let y = linear(
                x,
                self.w.get(&p(&format!("attention.self.{name}.weight")))?,
                self.w.get(&p(&format!("attention.self.{name}.bias")))?,
            )?;
            y.reshape((b, t, nh, dh))?.transpose(1, 2)?.contiguous()
        };
        let (q, k, v) = (heads("query")?, heads("key")?, heads("value")?);
        let scores = (q.matmul(&k.t()?)? * (1.0 / (dh as f64).sqrt()))?.broadcast_add(mask_bias)?;
        let probs = drop.apply(&softmax_last(&scores)?, drop.attention)?;
        let context = probs
            .matmul(&v)?
            .transpose(1, 2)?
            .contiguous()?
            .reshape((b * t, h))?;
        let attn = linear(
            &context,
            self.w.get(&p("attention.output.dense.weight"))?,
            self.w.get(&p("attention.output.dense.bias"))?,
        )?;
        let attn = drop.apply(&attn, drop.hidden)?;
        let x1 = self.layer_norm(&(attn + x)?, &p("attention.output.LayerNorm"))?;
        let inter = linear(
            &x1,
            self.w.get(&p("intermediate.dense.weight"))?,
            self.w.get(&p("intermediate.dense.bias"))?,
        )?;
        let inter = match cfg.hidden_act {
            HiddenAct::Gelu => inter.gelu_erf()?,
            HiddenAct::GeluTanh => inter.gelu()?,
            HiddenAct::Relu => inter.relu()?,
        };
        let out = linear(
            &inter,
            self.w.get(&p("output.dense.weight"))?,
            self.w.get(&p("output.dense.bias"))?,
        )?;
        let out = drop.apply(&out, drop.hidden)?;
        self.layer_norm(&(out + x1)?, &p("output.LayerNorm"))
    }

    /// LayerNorm over the last dimension: the fused normalisation, then gamma and beta.
    fn layer_norm(&self, x: &Tensor, prefix: &str) -> Result<Tensor> {
        let gamma = self.w.get(&format!("{prefix}.weight"))?;
        let beta = self.w.get(&format!("{prefix}.bias"))?;
        let normed = x.contiguous()?.apply_op1(super::ops::Normalize {
            eps: self.cfg.layer_norm_eps as f32,
        })?;
        normed.broadcast_mul(gamma)?.broadcast_add(beta)
    }
}

/// `x @ w.T + b` for a 2-D `x`.
fn linear(x: &Tensor, w: &Tensor, b: &Tensor) -> Result<Tensor> {
    x.matmul(&w.t()?)?.broadcast_add(b)
}

/// Softmax over the last dimension (the fused kernel).
pub fn softmax_last(x: &Tensor) -> Result<Tensor> {
    x.contiguous()?.apply_op1(super::ops::Softmax)
}

/// Mean cross-entropy of `logits` (batch, classes) against `labels`.
pub fn cross_entropy(logits: &Tensor, labels: &[usize]) -> Result<Tensor> {
    let (b, c) = logits.dims2()?;
    let max = logits.max_keepdim(D::Minus1)?.detach();
    let shifted = logits.broadcast_sub(&max)?;
    let log_sum = shifted.exp()?.sum_keepdim(D::Minus1)?.log()?;
    let log_probs = shifted.broadcast_sub(&log_sum)?;
    let mut onehot = vec![0f32; b * c];
    for (i, &l) in labels.iter().enumerate() {
        onehot[i * c + l] = 1.0;
    }
    let onehot = Tensor::from_vec(onehot, (b, c), logits.device())?;
    (log_probs * onehot)?
        .sum_all()?
        .affine(-1.0 / b as f64, 0.0)
}
