//! The encoder's building blocks, each a struct that resolves its tensors once in `load`, with
//! a `forward` that returns what its `backward` needs (when asked to keep it) and a `backward`
//! that writes each parameter's gradient into [`Grads`] and returns the input's.
//!
//! The backward passes are written out, not left to candle's autograd: autograd allocates a
//! zero tensor and launches an add for every edge of the graph before any real work, which on
//! a GPU is most of a step. Here a weight's gradient is one matrix product written straight in
//! the weight's layout. Tests check every gradient against candle's autograd of the same
//! forward pass (`tests/worker.rs`).

use candle_core::{Result, Tensor};

use super::config::{BertConfig, HiddenAct};
use super::ops::{self, DropMask};
use super::params::{Grads, Param, Source};

/// `x @ weight.T + bias`, for a 2-D `x`.
pub struct Linear {
    pub weight: Param,
    pub bias: Param,
}

impl Linear {
    pub fn load(src: &Source) -> Result<Linear> {
        Ok(Linear {
            weight: src.get("weight")?,
            bias: src.get("bias")?,
        })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.matmul(&self.weight.tensor.t()?)?
            .broadcast_add(&self.bias.tensor)
    }

    /// dW = dyᵀ x, db = Σ dy; returns dx = dy W.
    pub fn backward(&self, x: &Tensor, dy: &Tensor, grads: &mut Grads) -> Result<Tensor> {
        self.backward_summed(x, dy, ops::column_sum(dy)?, grads)
    }

    /// [`Linear::backward`] with db = Σ dy already summed.
    pub fn backward_summed(
        &self,
        x: &Tensor,
        dy: &Tensor,
        dbias: Tensor,
        grads: &mut Grads,
    ) -> Result<Tensor> {
        grads.set(&self.weight, dy.t()?.matmul(x)?);
        grads.set(&self.bias, dbias);
        dy.matmul(&self.weight.tensor)
    }
}

/// LayerNorm over the last dimension, normalisation and affine part fused.
pub struct LayerNorm {
    weight: Param,
    bias: Param,
    eps: f32,
}

impl LayerNorm {
    pub fn load(src: &Source, cfg: &BertConfig) -> Result<LayerNorm> {
        Ok(LayerNorm {
            weight: src.get("weight")?,
            bias: src.get("bias")?,
            eps: cfg.layer_norm_eps as f32,
        })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        ops::layer_norm(x, &self.weight.tensor, &self.bias.tensor, self.eps)
    }

    /// The LayerNorm of a sublayer's output joining the residual stream:
    /// `LayerNorm(dropout(x @ W.T + b) + skip)` for the sublayer `dense`. Returns the sum when
    /// asked to `keep` it (the backward pass needs it) and the LayerNorm's output; the bias,
    /// dropout, sum and LayerNorm are one op.
    pub fn forward_residual(
        &self,
        dense: &Linear,
        x: &Tensor,
        skip: &Tensor,
        drop: Option<DropMask>,
        keep: bool,
    ) -> Result<(Option<Tensor>, Tensor)> {
        let product = x.matmul(&dense.weight.tensor.t()?)?;
        let norm = (&self.weight.tensor, &self.bias.tensor, self.eps);
        ops::residual_layer_norm(&product, &dense.bias.tensor, skip, drop, norm, keep)
    }

    /// Returns dx for the input `x` of the forward pass.
    pub fn backward(&self, x: &Tensor, dy: &Tensor, grads: &mut Grads) -> Result<Tensor> {
        let (dx, dw, db) = ops::layer_norm_backward(x, &self.weight.tensor, dy, self.eps)?;
        grads.set(&self.weight, dw);
        grads.set(&self.bias, db);
        Ok(dx)
    }

    /// The backward pass of a LayerNorm whose input `x` is a sublayer's output joining the
    /// residual stream ([`LayerNorm::forward_residual`] with `drop`), for the output's gradient
    /// `dy`: returns x's gradient, the sublayer output's (through the mask) and that one's
    /// column sum.
    pub fn backward_residual(
        &self,
        x: &Tensor,
        dy: &GradParts,
        drop: Option<DropMask>,
        grads: &mut Grads,
    ) -> Result<(Tensor, Tensor, Tensor)> {
        let g = ops::residual_norm_backward(
            x,
            &self.weight.tensor,
            &dy.first,
            dy.second.as_ref(),
            self.eps,
            drop,
        )?;
        grads.set(&self.weight, g.dweight);
        grads.set(&self.bias, g.dbias);
        Ok((g.dx, g.dsublayer, g.dsublayer_bias))
    }
}

/// A gradient held as the two parts it is the sum of. Where the skip's gradient and a
/// sublayer's meet, the LayerNorm backward pass that reads them adds them: an op fewer.
pub struct GradParts {
    pub first: Tensor,
    pub second: Option<Tensor>,
}

impl GradParts {
    pub fn whole(gradient: Tensor) -> GradParts {
        GradParts {
            first: gradient,
            second: None,
        }
    }

    /// The gradient itself.
    pub fn sum(self) -> Result<Tensor> {
        match self.second {
            Some(second) => self.first + second,
            None => Ok(self.first),
        }
    }
}

/// Batch size and sequence length: the rows of a (batch * length, hidden) activation.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub batch: usize,
    pub len: usize,
}

/// Self-attention. The query, key and value projections are one parameter, their weights
/// stacked (3 * hidden, hidden) as the [`ParamSet`](super::params::ParamSet) holds them: one
/// matrix product, split into heads (with the bias) by one op.
pub struct SelfAttention {
    qkv: Linear,
    heads: usize,
}

/// What attention's backward pass needs.
pub struct AttentionSaved {
    x: Tensor,
    /// (3, batch, heads, len, head size): queries, keys, values.
    qkv: Tensor,
    scores: Tensor,
    probs: Tensor,
    drop: Option<DropMask>,
}

impl SelfAttention {
    pub fn load(src: &Source, cfg: &BertConfig) -> Result<SelfAttention> {
        Ok(SelfAttention {
            qkv: Linear::load(&src.pp("qkv"))?,
            heads: cfg.num_attention_heads,
        })
    }

    fn scale(&self, hidden: usize) -> f32 {
        // Rounded as candle's affine rounds it (an f64 scale applied in f32).
        (1.0 / ((hidden / self.heads) as f64).sqrt()) as f32
    }

    /// The context, (batch * length, hidden), for `x` of (batch * length, hidden).
    pub fn forward(
        &self,
        x: &Tensor,
        s: Shape,
        mask: &Tensor,
        drop: Option<DropMask>,
        keep: bool,
    ) -> Result<(Tensor, Option<AttentionSaved>)> {
        let h = x.dim(1)?;
        let projected = x.matmul(&self.qkv.weight.tensor.t()?)?;
        let qkv = ops::split_heads(
            &projected,
            Some(&self.qkv.bias.tensor),
            3,
            s.batch,
            self.heads,
        )?;
        let (q, k, v) = (qkv.get(0)?, qkv.get(1)?, qkv.get(2)?);
        let scores = ops::batched_matmul(&q, &k.t()?)?;
        let probs = ops::attention_probs(&scores, mask, self.scale(h), drop)?;
        let context = ops::merge_heads(&[&ops::batched_matmul(&probs, &v)?])?;
        let saved = keep.then(|| AttentionSaved {
            x: x.clone(),
            qkv,
            scores,
            probs,
            drop,
        });
        Ok((context, saved))
    }

    /// Returns dx from the context's gradient.
    pub fn backward(
        &self,
        a: &AttentionSaved,
        s: Shape,
        mask: &Tensor,
        dcontext: &Tensor,
        grads: &mut Grads,
    ) -> Result<Tensor> {
        let h = a.x.dim(1)?;
        let (q, k, v) = (a.qkv.get(0)?, a.qkv.get(1)?, a.qkv.get(2)?);
        let dc = ops::split_heads(dcontext, None, 1, s.batch, self.heads)?.get(0)?;
        let dprobs = ops::batched_matmul(&dc, &v.t()?)?;
        let dv = ops::batched_matmul(&a.probs.t()?, &dc)?;
        let dscores =
            ops::attention_probs_backward(&a.scores, mask, &dprobs, self.scale(h), a.drop)?;
        let dq = ops::batched_matmul(&dscores, &k)?;
        let dk = ops::batched_matmul(&dscores.t()?, &q)?;
        let dy = ops::merge_heads(&[&dq, &dk, &dv])?;
        self.qkv.backward(&a.x, &dy, grads)
    }
}

/// One encoder layer: self-attention and the feed-forward block, each with dropout, its
/// residual and LayerNorm.
pub struct Layer {
    attention: SelfAttention,
    attention_out: Linear,
    attention_norm: LayerNorm,
    intermediate: Linear,
    act: HiddenAct,
    output: Linear,
    output_norm: LayerNorm,
}

/// What a layer's backward pass needs.
pub struct LayerSaved {
    attention: AttentionSaved,
    context: Tensor,
    attention_drop: Option<DropMask>,
    residual1: Tensor,
    x1: Tensor,
    pre_activation: Tensor,
    activation: Tensor,
    output_drop: Option<DropMask>,
    residual2: Tensor,
}

/// Where a forward pass draws dropout masks: the next call site's mask, `None` for none.
pub trait Masks {
    fn hidden(&self) -> Option<DropMask>;
    fn attention(&self) -> Option<DropMask>;
}

impl Layer {
    pub fn load(src: &Source, cfg: &BertConfig) -> Result<Layer> {
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

    pub fn forward(
        &self,
        x: &Tensor,
        s: Shape,
        mask: &Tensor,
        masks: &dyn Masks,
        keep: bool,
    ) -> Result<(Tensor, Option<LayerSaved>)> {
        let (context, attention) = self
            .attention
            .forward(x, s, mask, masks.attention(), keep)?;
        let attention_drop = masks.hidden();
        let (residual1, x1) = self.attention_norm.forward_residual(
            &self.attention_out,
            &context,
            x,
            attention_drop,
            keep,
        )?;
        let pre_activation = x1.matmul(&self.intermediate.weight.tensor.t()?)?;
        let activation = ops::bias_act(&pre_activation, &self.intermediate.bias.tensor, self.act)?;
        let output_drop = masks.hidden();
        let (residual2, y) =
            self.output_norm
                .forward_residual(&self.output, &activation, &x1, output_drop, keep)?;
        let saved = match (attention, residual1, residual2) {
            (Some(attention), Some(residual1), Some(residual2)) => Some(LayerSaved {
                attention,
                context,
                attention_drop,
                residual1,
                x1,
                pre_activation,
                activation,
                output_drop,
                residual2,
            }),
            _ => None,
        };
        Ok((y, saved))
    }

    /// Returns dx, in two parts, from the output's gradient.
    pub fn backward(
        &self,
        l: &LayerSaved,
        s: Shape,
        mask: &Tensor,
        dy: &GradParts,
        grads: &mut Grads,
    ) -> Result<GradParts> {
        let (dresidual2, dout, dout_bias) =
            self.output_norm
                .backward_residual(&l.residual2, dy, l.output_drop, grads)?;
        let dactivation = self
            .output
            .backward_summed(&l.activation, &dout, dout_bias, grads)?;
        let (dpre, dbias) = ops::bias_act_backward(
            &l.pre_activation,
            &self.intermediate.bias.tensor,
            &dactivation,
            self.act,
        )?;
        grads.set(&self.intermediate.weight, dpre.t()?.matmul(&l.x1)?);
        grads.set(&self.intermediate.bias, dbias);
        let dx1 = GradParts {
            first: dresidual2,
            second: Some(dpre.matmul(&self.intermediate.weight.tensor)?),
        };
        let (dresidual1, dattn, dattn_bias) =
            self.attention_norm
                .backward_residual(&l.residual1, &dx1, l.attention_drop, grads)?;
        let dcontext = self
            .attention_out
            .backward_summed(&l.context, &dattn, dattn_bias, grads)?;
        let dx = self
            .attention
            .backward(&l.attention, s, mask, &dcontext, grads)?;
        Ok(GradParts {
            first: dresidual1,
            second: Some(dx),
        })
    }
}
