//! The model: the checkpoint's configuration (`config.rs`), the trainable parameters and how
//! they load (`params.rs`), BERT's layers, which resolve their tensors once at load and carry
//! their own backward pass (`layers.rs`), the whole model and its head (`bert.rs`), the fused
//! operations they run (`ops/`, a file an op), and batched inference shared by evaluation and
//! `predict` (`infer.rs`).

pub mod bert;
pub mod config;
pub mod infer;
pub(crate) mod layers;
pub(crate) mod ops;
pub mod params;

pub use bert::{Batch, Bert, Dropout, cross_entropy};
pub use config::{BertConfig, HiddenAct, NUM_LABELS};
pub use params::{Grad, Grads, ParamSet};
