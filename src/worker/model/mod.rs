//! The model: the checkpoint's configuration (`config.rs`), the trainable parameters and how
//! they load (`params.rs`), BERT as layers that resolve their tensors once at load (`bert.rs`),
//! the fused operations they run (`ops.rs`), and batched inference shared by evaluation and
//! `predict` (`infer.rs`).

pub mod bert;
pub mod config;
pub mod infer;
pub mod ops;
pub mod params;

pub use bert::{Batch, Bert, Dropout, cross_entropy};
pub use config::{BertConfig, HiddenAct, NUM_LABELS};
pub use params::ParamSet;
