//! The model: BERT for sequence classification as layers that resolve their tensors once at
//! load (`bert.rs`), the fused operations they run (`ops.rs`), and batched inference shared by
//! evaluation and `predict` (`infer.rs`).

pub mod bert;
pub mod infer;
pub mod ops;
