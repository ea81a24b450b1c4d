//! The trainable parameters: their canonical names and shapes (those of transformers'
//! BertForSequenceClassification, so a saved model loads there), loading them from a checkpoint
//! (the new head starts random), and BERT's initialisation.

use std::collections::HashMap;

use candle_core::{DType, Device, Result, Tensor, Var};

use super::config::{BertConfig, NUM_LABELS};
use crate::worker::rng::SplitMix64;

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

/// The trainable parameters. They are transformers' tensors, except that each layer's query,
/// key and value projections are one parameter, `attention.self.qkv.weight` (3 * hidden,
/// hidden) and `.bias` (3 * hidden), stacked in that order: attention projects with one matrix
/// product, and no step copies the three into one. [`ParamSet::to_map`] splits them back.
pub struct ParamSet {
    pub names: Vec<String>,
    pub vars: Vec<Var>,
}

/// The three projections stacked into a layer's `qkv` parameter, in order.
const QKV_PARTS: [&str; 3] = ["query", "key", "value"];

/// Where a layer's `load` finds its tensors: a name prefix into a [`ParamSet`], the way
/// candle-nn's `VarBuilder` works, so each name is spelled once, at load.
pub struct Source<'a> {
    params: &'a ParamSet,
    prefix: String,
    track: bool,
}

impl Source<'_> {
    /// The same parameters, one level down (`pp("attention")`).
    pub fn pp(&self, name: &str) -> Self {
        let prefix = if self.prefix.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", self.prefix)
        };
        Source {
            params: self.params,
            prefix,
            track: self.track,
        }
    }

    pub fn get(&self, name: &str) -> Result<Param> {
        let full = format!("{}.{name}", self.prefix);
        let Some(index) = self.params.names.iter().position(|n| *n == full) else {
            candle_core::bail!("the model has no parameter {full}")
        };
        let t = self.params.vars[index].as_tensor();
        Ok(Param {
            tensor: if self.track { t.clone() } else { t.detach() },
            index,
        })
    }
}

/// A parameter as a layer holds it: the tensor, and its place in the [`ParamSet`] (where its
/// gradient goes).
pub struct Param {
    pub tensor: Tensor,
    pub index: usize,
}

/// A parameter's gradient.
#[derive(Clone)]
pub enum Grad {
    Dense(Tensor),
    /// An embedding table's gradient on the CPU: the rows a batch used, each once and summed
    /// over its occurrences, every other row zero. A dense one is the whole table (MiniLM: 47
    /// MB, bert-base: 94 MB) allocated, zeroed, filled and read back each step for a few hundred
    /// rows; the optimizer reads the missing rows as zeros, so the update is the same.
    Rows {
        /// Ascending, distinct row indices.
        ids: Vec<u32>,
        /// (ids.len(), width): row `ids[k]`'s gradient is row `k`.
        rows: Tensor,
        /// The table's (rows, width).
        shape: (usize, usize),
    },
}

impl Grad {
    /// The gradient as one tensor of the parameter's shape.
    pub fn to_dense(&self) -> Result<Tensor> {
        match self {
            Grad::Dense(t) => Ok(t.clone()),
            Grad::Rows { ids, rows, shape } => {
                let index = Tensor::new(ids.as_slice(), rows.device())?;
                Tensor::zeros(*shape, rows.dtype(), rows.device())?.index_add(&index, rows, 0)
            }
        }
    }
}

/// One step's gradients, by the parameters' places in the [`ParamSet`].
pub struct Grads(Vec<Option<Grad>>);

impl Grads {
    /// No gradient yet for any of `n` parameters.
    pub fn with_len(n: usize) -> Grads {
        Grads(vec![None; n])
    }

    /// The gradients candle's autograd found for `vars` (tests compare against it).
    pub fn from_store(vars: &[Var], store: &candle_core::backprop::GradStore) -> Grads {
        Grads(
            vars.iter()
                .map(|v| store.get(v.as_tensor()).cloned().map(Grad::Dense))
                .collect(),
        )
    }

    pub fn set(&mut self, p: &Param, grad: Tensor) {
        self.0[p.index] = Some(Grad::Dense(grad));
    }

    pub fn set_rows(&mut self, p: &Param, grad: Grad) {
        self.0[p.index] = Some(grad);
    }

    pub fn get(&self, index: usize) -> Option<&Grad> {
        self.0.get(index).and_then(Option::as_ref)
    }

    /// Parameter `index`'s gradient as a tensor of its shape.
    pub fn dense(&self, index: usize) -> Result<Option<Tensor>> {
        self.get(index).map(Grad::to_dense).transpose()
    }
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
        let mut tensors = Vec::new();
        for (k, (name, shape)) in parameter_shapes(cfg).into_iter().enumerate() {
            let t = init_tensor(&name, &shape, seed, k as u64, device)?;
            tensors.push((name, t));
        }
        ParamSet::stacking_qkv(tensors)
    }

    /// The parameters from transformers' tensors, in [`parameter_shapes`]' order, each layer's
    /// query, key and value stacked where its query was.
    fn stacking_qkv(tensors: Vec<(String, Tensor)>) -> Result<ParamSet> {
        let mut by_name: HashMap<String, Tensor> = tensors.iter().cloned().collect();
        let mut set = ParamSet {
            names: Vec::new(),
            vars: Vec::new(),
        };
        for (name, t) in tensors {
            let t = match qkv_part(&name) {
                // Stacked where the query was; the key and value are in it.
                Some((prefix, "query", kind)) => {
                    let mut parts = Vec::with_capacity(3);
                    for part in QKV_PARTS {
                        let name = format!("{prefix}.{part}.{kind}");
                        let Some(t) = by_name.remove(&name) else {
                            candle_core::bail!("the model has no parameter {name}")
                        };
                        parts.push(t);
                    }
                    set.names.push(format!("{prefix}.qkv.{kind}"));
                    Tensor::cat(&parts, 0)?
                }
                Some(_) => continue,
                None => {
                    set.names.push(name);
                    t
                }
            };
            set.vars.push(Var::from_tensor(&t)?);
        }
        Ok(set)
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
        let mut loaded = Vec::new();
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
            loaded.push((name, t));
        }
        Ok((ParamSet::stacking_qkv(loaded)?, report))
    }

    /// The tensors under `prefix`, tracked (training: gradients flow to the parameters) or
    /// detached (evaluation: no graph is kept alive). Both share the parameters' storage, so a
    /// model loaded once sees every optimizer step.
    pub fn source(&self, track: bool) -> Source<'_> {
        Source {
            params: self,
            prefix: String::new(),
            track,
        }
    }

    pub fn count(&self) -> usize {
        self.vars.iter().map(|v| v.elem_count()).sum()
    }

    /// Every tensor by transformers' name, the stacked projections split (a saved model).
    pub fn to_map(&self) -> Result<HashMap<String, Tensor>> {
        let mut map = HashMap::new();
        for (name, t) in self.by_name() {
            match stacked_name(&name) {
                Some((prefix, kind)) => {
                    let third = t.dim(0)? / 3;
                    for (i, part) in QKV_PARTS.into_iter().enumerate() {
                        map.insert(
                            format!("{prefix}.{part}.{kind}"),
                            t.narrow(0, i * third, third)?,
                        );
                    }
                }
                None => {
                    map.insert(name, t);
                }
            }
        }
        Ok(map)
    }

    /// Every parameter by its own name, as trained (a checkpoint).
    pub fn by_name(&self) -> HashMap<String, Tensor> {
        self.names
            .iter()
            .zip(&self.vars)
            .map(|(n, v)| (n.clone(), v.as_tensor().detach()))
            .collect()
    }
}

/// `map[name]`; for a stacked projection (`….qkv.weight`, with any prefix such as a moment's
/// `m.`) that `map` holds apart, as checkpoints written before the stacking do, its three parts
/// stacked. `None` when neither is there.
pub fn stored(map: &HashMap<String, Tensor>, name: &str) -> Result<Option<Tensor>> {
    if let Some(t) = map.get(name) {
        return Ok(Some(t.clone()));
    }
    let Some((prefix, kind)) = stacked_name(name) else {
        return Ok(None);
    };
    let parts: Option<Vec<&Tensor>> = QKV_PARTS
        .iter()
        .map(|part| map.get(&format!("{prefix}.{part}.{kind}")))
        .collect();
    parts.map(|p| Tensor::cat(&p, 0)).transpose()
}

/// `(layer prefix, "weight" | "bias")` for a stacked projection's name (`….qkv.weight`).
fn stacked_name(name: &str) -> Option<(&str, &str)> {
    let (rest, kind) = name.rsplit_once('.')?;
    Some((rest.strip_suffix(".qkv")?, kind))
}

/// `(layer prefix, "query" | "key" | "value", "weight" | "bias")` for a projection's name
/// (`bert.encoder.layer.0.attention.self.key.bias`).
fn qkv_part(name: &str) -> Option<(&str, &str, &str)> {
    let (rest, kind) = name.rsplit_once('.')?;
    let (prefix, part) = rest.rsplit_once('.')?;
    (prefix.ends_with("attention.self") && QKV_PARTS.contains(&part))
        .then_some((prefix, part, kind))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> BertConfig {
        serde_json::from_value(serde_json::json!({
            "vocab_size": 20, "hidden_size": 8, "num_hidden_layers": 2,
            "num_attention_heads": 2, "intermediate_size": 16, "max_position_embeddings": 16
        }))
        .unwrap()
    }

    /// Each layer's projections are one stacked parameter in the set; a saved model has
    /// transformers' names again, and loading it stacks the same values back.
    #[test]
    fn projections_are_stacked_in_the_set_and_split_when_saved() {
        let cfg = small();
        let params = ParamSet::random(&cfg, 3, &Device::Cpu).unwrap();
        let canonical = parameter_shapes(&cfg);
        // Six tensors a layer become two.
        assert_eq!(
            params.names.len(),
            canonical.len() - 4 * cfg.num_hidden_layers
        );
        let qkv = params
            .names
            .iter()
            .position(|n| n == "bert.encoder.layer.1.attention.self.qkv.weight")
            .unwrap();
        assert_eq!(params.vars[qkv].dims(), [24, 8]);
        assert!(!params.names.iter().any(|n| n.contains(".query.")));

        let saved = params.to_map().unwrap();
        assert_eq!(saved.len(), canonical.len());
        for (name, shape) in &canonical {
            assert_eq!(saved[name].dims(), shape.as_slice(), "{name}");
        }
        // The key's rows are the stacked weight's middle third.
        let stacked = params.vars[qkv].as_tensor().to_vec2::<f32>().unwrap();
        let key = saved["bert.encoder.layer.1.attention.self.key.weight"]
            .to_vec2::<f32>()
            .unwrap();
        assert_eq!(key, stacked[8..16]);

        // A checkpoint written before the stacking holds the parts apart (a moment's name has
        // an `m.` before it): `stored` stacks them.
        let flat = |t: Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let name = "bert.encoder.layer.1.attention.self.qkv.weight";
        let old: HashMap<String, Tensor> = saved
            .iter()
            .map(|(k, v)| (format!("m.{k}"), v.clone()))
            .collect();
        let restored = stored(&old, &format!("m.{name}")).unwrap().unwrap();
        assert_eq!(flat(restored), flat(params.vars[qkv].as_tensor().clone()));
        assert!(stored(&old, "m.nothing.qkv.bias").unwrap().is_none());

        let (again, _) = ParamSet::from_checkpoint(&cfg, &saved, 0, &Device::Cpu).unwrap();
        assert_eq!(again.names, params.names);
        for (a, b) in again.vars.iter().zip(&params.vars) {
            assert_eq!(flat(a.as_tensor().clone()), flat(b.as_tensor().clone()));
        }
    }
}
