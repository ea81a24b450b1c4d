//! A BERT for sequence classification that candle can fine-tune.
//!
//! candle-transformers' `BertModel` cannot be trained: its LayerNorm has no backward pass, so
//! only a head on top would learn. This one has the same tensor names and maths, built from
//! differentiable ops, plus what BertForSequenceClassification adds: dropout where transformers
//! has it, the pooler (dense + tanh over [CLS]) and the classifier. As in candle-transformers,
//! each layer is a struct that resolves its tensors once in `load` and computes in `forward`;
//! the small ops that dominate a step on a GPU run fused (ops.rs).

use std::cell::Cell;

use candle_core::{D, DType, Device, Result, Tensor};

use super::config::{BertConfig, HiddenAct};
use super::ops;
use super::params::{ParamSet, Source};
use crate::worker::rng::SplitMix64;

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

    /// The next call site's mask stream, or `None` when `p` drops nothing (no site is used).
    fn next_mask(&self, p: f32) -> Option<ops::DropMask> {
        if p <= 0.0 {
            return None;
        }
        let site = self.site.get() + 1;
        self.site.set(site);
        let rng = SplitMix64::keyed(self.seed, &[0xD409, self.step, site]);
        Some(ops::DropMask {
            state: rng.state(),
            p,
        })
    }

    fn apply(&self, x: &Tensor, p: f32) -> Result<Tensor> {
        match self.next_mask(p) {
            None => Ok(x.clone()),
            Some(mask) => x.contiguous()?.apply_op1(ops::Dropout(mask)),
        }
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

/// `x @ weight.T + bias`, for a 2-D `x`.
struct Linear {
    weight: Tensor,
    bias: Tensor,
}

impl Linear {
    fn load(src: &Source) -> Result<Linear> {
        Ok(Linear {
            weight: src.get("weight")?,
            bias: src.get("bias")?,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.matmul(&self.weight.t()?)?.broadcast_add(&self.bias)
    }

    /// `act(x @ weight.T + bias)`, the bias and activation as one fused op.
    fn forward_act(&self, x: &Tensor, act: HiddenAct) -> Result<Tensor> {
        x.matmul(&self.weight.t()?)?
            .apply_op2(&self.bias, ops::BiasAct(act))
    }
}

/// LayerNorm over the last dimension, normalisation and affine part fused.
struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f32,
}

impl LayerNorm {
    fn load(src: &Source, cfg: &BertConfig) -> Result<LayerNorm> {
        Ok(LayerNorm {
            weight: src.get("weight")?,
            bias: src.get("bias")?,
            eps: cfg.layer_norm_eps as f32,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.contiguous()?
            .apply_op3(&self.weight, &self.bias, ops::LayerNorm { eps: self.eps })
    }
}

struct Embeddings {
    words: Tensor,
    positions: Tensor,
    token_types: Tensor,
    norm: LayerNorm,
}

impl Embeddings {
    fn load(src: &Source, cfg: &BertConfig) -> Result<Embeddings> {
        Ok(Embeddings {
            words: src.get("word_embeddings.weight")?,
            positions: src.get("position_embeddings.weight")?,
            token_types: src.get("token_type_embeddings.weight")?,
            norm: LayerNorm::load(&src.pp("LayerNorm"), cfg)?,
        })
    }

    /// (batch * length, hidden): word + position + token type 0, normalised.
    fn forward(&self, ids: &Tensor, drop: &Dropout) -> Result<Tensor> {
        let (b, t) = ids.dims2()?;
        let h = self.words.dim(1)?;
        let x = self
            .words
            .index_select(&ids.flatten_all()?, 0)?
            .reshape((b, t, h))?
            .broadcast_add(&self.positions.narrow(0, 0, t)?)?
            .broadcast_add(&self.token_types.narrow(0, 0, 1)?)?
            .reshape((b * t, h))?;
        drop.apply(&self.norm.forward(&x)?, drop.hidden)
    }
}

struct SelfAttention {
    query: Linear,
    key: Linear,
    value: Linear,
    heads: usize,
}

impl SelfAttention {
    fn load(src: &Source, cfg: &BertConfig) -> Result<SelfAttention> {
        Ok(SelfAttention {
            query: Linear::load(&src.pp("query"))?,
            key: Linear::load(&src.pp("key"))?,
            value: Linear::load(&src.pp("value"))?,
            heads: cfg.num_attention_heads,
        })
    }

    /// The attention's context, (batch * length, hidden), for `x` of (batch * length, hidden).
    fn forward(
        &self,
        x: &Tensor,
        (b, t): (usize, usize),
        mask: &Tensor,
        drop: &Dropout,
    ) -> Result<Tensor> {
        let h = x.dim(1)?;
        let (nh, dh) = (self.heads, h / self.heads);
        let split = |proj: &Linear| -> Result<Tensor> {
            proj.forward(x)?
                .reshape((b, t, nh, dh))?
                .transpose(1, 2)?
                .contiguous()
        };
        let (q, k, v) = (split(&self.query)?, split(&self.key)?, split(&self.value)?);
        // Scale, padding mask, softmax and dropout in one op each way.
        let probs = q.matmul(&k.t()?)?.apply_op2(
            mask,
            ops::AttentionProbs {
                // Rounded as candle's affine rounds it, so the CPU result is the unfused one's.
                scale: (1.0 / (dh as f64).sqrt()) as f32,
                drop: drop.next_mask(drop.attention),
            },
        )?;
        probs
            .matmul(&v)?
            .transpose(1, 2)?
            .contiguous()?
            .reshape((b * t, h))
    }
}

/// One encoder layer: self-attention and the feed-forward block, each with its residual and
/// LayerNorm.
struct Layer {
    attention: SelfAttention,
    attention_out: Linear,
    attention_norm: LayerNorm,
    intermediate: Linear,
    act: HiddenAct,
    output: Linear,
    output_norm: LayerNorm,
}

impl Layer {
    fn load(src: &Source, cfg: &BertConfig) -> Result<Layer> {
        let attention = src.pp("attention");
        Ok(Layer {
            attention: SelfAttention::load(&attention.pp("self"), cfg)?,
            attention_out: Linear::load(&attention.pp("output").pp("dense"))?,
            attention_norm: LayerNorm::load(&attention.pp("output").pp("LayerNorm"), cfg)?,
            intermediate: Linear::load(&src.pp("intermediate").pp("dense"))?,
            act: cfg.hidden_act,
            output: Linear::load(&src.pp("output").pp("dense"))?,
            output_norm: LayerNorm::load(&src.pp("output").pp("LayerNorm"), cfg)?,
        })
    }

    fn forward(
        &self,
        x: &Tensor,
        bt: (usize, usize),
        mask: &Tensor,
        drop: &Dropout,
    ) -> Result<Tensor> {
        let context = self.attention.forward(x, bt, mask, drop)?;
        let attn = drop.apply(&self.attention_out.forward(&context)?, drop.hidden)?;
        let x1 = self.attention_norm.forward(&(attn + x)?)?;
        let inter = self.intermediate.forward_act(&x1, self.act)?;
        let out = drop.apply(&self.output.forward(&inter)?, drop.hidden)?;
        self.output_norm.forward(&(out + x1)?)
    }
}

/// BERT with the pooler and the 3-class head, its tensors resolved once.
pub struct Bert {
    embeddings: Embeddings,
    layers: Vec<Layer>,
    pooler: Linear,
    classifier: Linear,
}

impl Bert {
    /// The model over `params`: `track` for training (gradients reach the parameters), not for
    /// evaluation. Loading is cheap (no copies): load once per training run or evaluation.
    pub fn load(params: &ParamSet, cfg: &BertConfig, track: bool) -> Result<Bert> {
        let root = params.source(track);
        let bert = root.pp("bert");
        let layers = bert.pp("encoder").pp("layer");
        Ok(Bert {
            embeddings: Embeddings::load(&bert.pp("embeddings"), cfg)?,
            layers: (0..cfg.num_hidden_layers)
                .map(|l| Layer::load(&layers.pp(&l.to_string()), cfg))
                .collect::<Result<_>>()?,
            pooler: Linear::load(&bert.pp("pooler").pp("dense"))?,
            classifier: Linear::load(&root.pp("classifier"))?,
        })
    }

    /// The classifier's logits, (batch, NUM_LABELS).
    pub fn logits(&self, batch: &Batch, drop: &Dropout) -> Result<Tensor> {
        let (b, t) = batch.ids.dims2()?;
        let hidden = self.encode(batch, drop)?;
        let h = hidden.dim(1)?;
        let cls = hidden
            .reshape((b, t, h))?
            .narrow(1, 0, 1)?
            .reshape((b, h))?;
        let pooled = self.pooler.forward(&cls)?.tanh()?;
        let pooled = drop.apply(&pooled, drop.hidden)?;
        self.classifier.forward(&pooled)
    }

    /// The last hidden states, flattened to (batch * length, hidden).
    pub fn encode(&self, batch: &Batch, drop: &Dropout) -> Result<Tensor> {
        let bt = batch.ids.dims2()?;
        let mut x = self.embeddings.forward(&batch.ids, drop)?;
        // 0 where attended, a large negative number on padding: added to the scores.
        let mask = ((batch.mask.to_dtype(DType::F32)? - 1.0)? * 10_000.0)?.contiguous()?;
        for layer in &self.layers {
            x = layer.forward(&x, bt, &mask, drop)?;
        }
        Ok(x)
    }
}

/// Softmax over the last dimension (the fused kernel).
pub fn softmax_last(x: &Tensor) -> Result<Tensor> {
    x.contiguous()?.apply_op1(ops::Softmax)
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
