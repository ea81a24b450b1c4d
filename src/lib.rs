//! yenjob: from "I have a fine-tuning job" to "it ran on the cluster's GPU and here are the
//! results". The launcher side (`spec`, `slurm`, `preflight`, `script`, `runs`, `backend`,
//! `commands`) prepares and follows Slurm jobs; the `worker` side runs on the allocated node.

pub mod backend;
pub mod commands;
pub mod config;
pub mod preflight;
pub mod run_dir;
pub mod runs;
pub mod score;
pub mod script;
pub mod slurm;
pub mod spec;
pub mod worker;

/// An error and its causes on one line: `cannot read X: No such file or directory`.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut cause = e.source();
    while let Some(c) = cause {
        parts.push(c.to_string());
        cause = c.source();
    }
    parts.join(": ")
}
