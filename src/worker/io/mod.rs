//! What the worker reads and writes: the data file and its split (`data.rs`), model folders
//! (`model_files.rs`), the exported fine-tuned model (`export.rs`), evaluation metrics
//! (`metrics.rs`), and the classifier `yenjob predict` loads (`predict.rs`).

pub mod data;
pub mod export;
pub mod metrics;
pub mod model_files;
pub mod predict;
