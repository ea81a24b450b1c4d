//! A BERT for sequence classification that candle can fine-tune.
//!
//! candle-transformers' `BertModel` cannot be trained: its LayerNorm has no backward pass, so
//! only a head on top would learn. This one has the same tensor names and maths, built from
//! differentiable ops, plus what BertForSequenceClassification adds: dropout where transformers
//! has it, the pooler (dense + tanh over [CLS]) and the classifier. As in candle-transformers,
//! each part is a struct that resolves its tensors once in `load` and computes in `forward`;
//! the backward pass is written out (layers.rs says why), and the small ops that dominate a
//! step on a GPU run fused (ops.rs).

use std::cell::Cell;

use candle_core::{D, DType, Device, Result, Tensor};

use super::config::BertConfig;
use super::layers::{GradParts, Layer, LayerNorm, LayerSaved, Linear, Masks, Shape};
use super::ops::{self, DropMask};
use super::params::{Grad, Grads, Param, ParamSet, Source};
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
    fn next_mask(&self, p: f32) -> Option<DropMask> {
        if p <= 0.0 {
            return None;
        }
        let site = self.site.get() + 1;
        self.site.set(site);
        let rng = SplitMix64::keyed(self.seed, &[0xD409, self.step, site]);
        Some(DropMask {
            state: rng.state(),
            p,
        })
    }
}

impl Masks for Dropout {
    fn hidden(&self) -> Option<DropMask> {
        self.next_mask(self.hidden)
    }
    fn attention(&self) -> Option<DropMask> {
        self.next_mask(self.attention)
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

/// The embeddings: word + position + token type 0, normalised, with dropout.
struct Embeddings {
    words: Param,
    positions: Param,
    token_types: Param,
    norm: LayerNorm,
}

struct EmbeddingsSaved {
    ids: Tensor,
    sum: Tensor,
    drop: Option<DropMask>,
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

    /// (batch * length, hidden).
    fn forward(
        &self,
        ids: &Tensor,
        drop: &Dropout,
        keep: bool,
    ) -> Result<(Tensor, Option<EmbeddingsSaved>)> {
        let (b, t) = ids.dims2()?;
        let h = self.words.tensor.dim(1)?;
        let ids = ids.flatten_all()?;
        let sum = self
            .words
            .tensor
            .index_select(&ids, 0)?
            .reshape((b, t, h))?
            .broadcast_add(&self.positions.tensor.narrow(0, 0, t)?)?
            .broadcast_add(&self.token_types.tensor.narrow(0, 0, 1)?)?
            .reshape((b * t, h))?;
        let mask = drop.hidden();
        let y = ops::dropout(&self.norm.forward(&sum)?, mask)?;
        Ok((
            y,
            keep.then_some(EmbeddingsSaved {
                ids,
                sum,
                drop: mask,
            }),
        ))
    }

    fn backward(
        &self,
        e: &EmbeddingsSaved,
        s: Shape,
        dy: &Tensor,
        grads: &mut Grads,
    ) -> Result<()> {
        let dsum = self
            .norm
            .backward(&e.sum, &ops::dropout(dy, e.drop)?, grads)?;
        // Every row of the table gets a gradient (zero for unseen tokens), as in PyTorch, so
        // AdamW moves every row the same way. On the CPU only the used rows are kept.
        let words = &self.words.tensor;
        if words.device().is_cpu() {
            grads.set_rows(&self.words, used_rows(&e.ids, &dsum, words.dims2()?)?);
        } else {
            grads.set(
                &self.words,
                words.zeros_like()?.index_add(&e.ids, &dsum, 0)?,
            );
        }
        let h = dsum.dim(1)?;
        let dpositions =
            ops::column_sum(&dsum.reshape((s.batch, s.len * h))?)?.reshape((s.len, h))?;
        grads.set(
            &self.positions,
            pad_rows(&dpositions, &self.positions.tensor)?,
        );
        let dtype = ops::column_sum(&dsum)?.reshape((1, h))?;
        grads.set(
            &self.token_types,
            pad_rows(&dtype, &self.token_types.tensor)?,
        );
        Ok(())
    }
}

/// The table gradient of `dy` (one row per entry of `ids`) as the rows used, each summed over
/// its occurrences.
fn used_rows(ids: &Tensor, dy: &Tensor, shape: (usize, usize)) -> Result<Grad> {
    let ids = ids.to_vec1::<u32>()?;
    let mut distinct = ids.clone();
    distinct.sort_unstable();
    distinct.dedup();
    // Each entry's place among the distinct rows (found, since `distinct` holds every id).
    let slots: Vec<u32> = ids
        .iter()
        .map(|id| distinct.partition_point(|d| d < id) as u32)
        .collect();
    let slots = Tensor::new(slots.as_slice(), dy.device())?;
    let rows = Tensor::zeros((distinct.len(), shape.1), dy.dtype(), dy.device())?
        .index_add(&slots, dy, 0)?;
    Ok(Grad::Rows {
        ids: distinct,
        rows,
        shape,
    })
}

/// `rows` followed by zero rows up to `like`'s row count.
fn pad_rows(rows: &Tensor, like: &Tensor) -> Result<Tensor> {
    let (n, total) = (rows.dim(0)?, like.dim(0)?);
    if n == total {
        return Ok(rows.clone());
    }
    let zeros = Tensor::zeros((total - n, like.dim(1)?), like.dtype(), like.device())?;
    Tensor::cat(&[rows, &zeros], 0)
}

/// BertForSequenceClassification's head: the pooler (dense + tanh over [CLS]), dropout, the
/// classifier.
struct Head {
    pooler: Linear,
    classifier: Linear,
}

struct HeadSaved {
    cls: Tensor,
    pooled: Tensor,
    dropped: Tensor,
    drop: Option<DropMask>,
}

impl Head {
    fn forward(&self, hidden: &Tensor, s: Shape, drop: &Dropout) -> Result<(Tensor, HeadSaved)> {
        let h = hidden.dim(1)?;
        let cls = hidden
            .reshape((s.batch, s.len, h))?
            .narrow(1, 0, 1)?
            .reshape((s.batch, h))?;
        let pooled = self.pooler.forward(&cls)?.tanh()?;
        let mask = drop.hidden();
        let dropped = ops::dropout(&pooled, mask)?;
        let logits = self.classifier.forward(&dropped)?;
        Ok((
            logits,
            HeadSaved {
                cls,
                pooled,
                dropped,
                drop: mask,
            },
        ))
    }

    /// The gradient of the hidden states, (batch * length, hidden): nonzero at [CLS] only.
    fn backward(
        &self,
        p: &HeadSaved,
        s: Shape,
        dlogits: &Tensor,
        grads: &mut Grads,
    ) -> Result<Tensor> {
        let ddropped = self.classifier.backward(&p.dropped, dlogits, grads)?;
        let dpooled = ops::dropout(&ddropped, p.drop)?;
        let dpre = (dpooled * (1.0 - p.pooled.sqr()?)?)?;
        let dcls = self.pooler.backward(&p.cls, &dpre, grads)?;
        let h = dcls.dim(1)?;
        let dcls = dcls.reshape((s.batch, 1, h))?;
        let dhidden = if s.len > 1 {
            let rest = Tensor::zeros((s.batch, s.len - 1, h), dcls.dtype(), dcls.device())?;
            Tensor::cat(&[&dcls, &rest], 1)?
        } else {
            dcls
        };
        dhidden.reshape((s.batch * s.len, h))
    }
}

/// BERT with the pooler and the 3-class head, its tensors resolved once.
pub struct Bert {
    embeddings: Embeddings,
    layers: Vec<Layer>,
    head: Head,
    parameters: usize,
}

/// What the forward pass kept for the backward pass.
struct Saved {
    embeddings: EmbeddingsSaved,
    layers: Vec<LayerSaved>,
}

impl Bert {
    /// The model over `params`: `track` lets candle's autograd follow it (tests compare the
    /// hand-written backward pass against that); training and evaluation load it untracked.
    /// Loading is cheap (no copies), and the optimizer updates the parameters in place, which
    /// the model shares: load once per training run or evaluation.
    pub fn load(params: &ParamSet, cfg: &BertConfig, track: bool) -> Result<Bert> {
        let root = params.source(track);
        let bert = root.pp("bert");
        let layers = bert.pp("encoder").pp("layer");
        Ok(Bert {
            embeddings: Embeddings::load(&bert.pp("embeddings"), cfg)?,
            layers: (0..cfg.num_hidden_layers)
                .map(|l| Layer::load(&layers.pp(&l.to_string()), cfg))
                .collect::<Result<_>>()?,
            head: Head {
                pooler: Linear::load(&bert.pp("pooler").pp("dense"))?,
                classifier: Linear::load(&root.pp("classifier"))?,
            },
            parameters: params.vars.len(),
        })
    }

    fn encode_keeping(
        &self,
        batch: &Batch,
        drop: &Dropout,
        keep: bool,
    ) -> Result<(Tensor, Shape, Tensor, Option<Saved>)> {
        let (b, t) = batch.ids.dims2()?;
        let s = Shape { batch: b, len: t };
        let (mut x, embeddings) = self.embeddings.forward(&batch.ids, drop, keep)?;
        // 0 where attended, a large negative number on padding: added to the scores.
        let mask = ((batch.mask.to_dtype(DType::F32)? - 1.0)? * 10_000.0)?.contiguous()?;
        let mut layers = Vec::new();
        for layer in &self.layers {
            let (y, saved) = layer.forward(&x, s, &mask, drop, keep)?;
            layers.extend(saved);
            x = y;
        }
        let saved = embeddings.map(|embeddings| Saved { embeddings, layers });
        Ok((x, s, mask, saved))
    }

    /// The last hidden states, flattened to (batch * length, hidden).
    pub fn encode(&self, batch: &Batch, drop: &Dropout) -> Result<Tensor> {
        Ok(self.encode_keeping(batch, drop, false)?.0)
    }

    /// The classifier's logits, (batch, NUM_LABELS).
    pub fn logits(&self, batch: &Batch, drop: &Dropout) -> Result<Tensor> {
        let (hidden, s, _, _) = self.encode_keeping(batch, drop, false)?;
        Ok(self.head.forward(&hidden, s, drop)?.0)
    }

    /// A training step's forward pass: the mean cross-entropy against `labels`, and what the
    /// backward pass needs.
    pub fn forward_train(
        &self,
        batch: &Batch,
        labels: &[usize],
        drop: &Dropout,
    ) -> Result<(Tensor, Pass)> {
        let (hidden, shape, mask, saved) = self.encode_keeping(batch, drop, true)?;
        let Some(saved) = saved else {
            candle_core::bail!("the forward pass kept nothing for the backward pass")
        };
        let (logits, head) = self.head.forward(&hidden, shape, drop)?;
        let loss = cross_entropy(&logits, labels)?;
        // d(mean cross-entropy)/d logits = (softmax - one-hot) / batch.
        let onehot = one_hot(labels, logits.dims2()?.1, logits.device())?;
        let dlogits = ((softmax_last(&logits)? - onehot)? / shape.batch as f64)?;
        let pass = Pass {
            saved,
            head,
            shape,
            mask,
            dlogits,
        };
        Ok((loss, pass))
    }

    /// Every parameter's gradient of the loss `forward_train` returned with `pass`.
    pub fn backward(&self, pass: Pass) -> Result<Grads> {
        let s = pass.shape;
        let mut grads = Grads::with_len(self.parameters);
        let mut dx =
            GradParts::whole(
                self.head
                    .backward(&pass.head, s, &pass.dlogits, &mut grads)?,
            );
        for (layer, l) in self.layers.iter().zip(&pass.saved.layers).rev() {
            dx = layer.backward(l, s, &pass.mask, &dx, &mut grads)?;
        }
        self.embeddings
            .backward(&pass.saved.embeddings, s, &dx.sum()?, &mut grads)?;
        Ok(grads)
    }
}

/// A training step between its forward and backward passes.
pub struct Pass {
    saved: Saved,
    head: HeadSaved,
    shape: Shape,
    mask: Tensor,
    dlogits: Tensor,
}

fn one_hot(labels: &[usize], classes: usize, device: &Device) -> Result<Tensor> {
    let mut onehot = vec![0f32; labels.len() * classes];
    for (i, &l) in labels.iter().enumerate() {
        onehot[i * classes + l] = 1.0;
    }
    Tensor::from_vec(onehot, (labels.len(), classes), device)
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
    (log_probs * one_hot(labels, c, logits.device())?)?
        .sum_all()?
        .affine(-1.0 / b as f64, 0.0)
}
