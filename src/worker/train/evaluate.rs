//! Evaluation: a split predicted through the one inference path, scored.

use std::time::Instant;

use super::Task;
use crate::worker::io::metrics::{self, Metrics};
use crate::worker::model::{self, Bert, infer};

/// Predicts `indices` without dropout or a graph; returns metrics and the class probabilities.
pub fn evaluate(task: &Task, indices: &[usize]) -> anyhow::Result<(Metrics, Vec<[f32; 3]>, f64)> {
    let start = Instant::now();
    let model = Bert::load(task.params, task.cfg, false)?;
    let seqs: Vec<&[u32]> = indices.iter().map(|&i| task.tokens[i].as_slice()).collect();
    let mut probs = vec![[0f32; 3]; indices.len()];
    let mut loss_sum = 0.0;
    infer::batched_logits(&model, &seqs, task.pad_id, task.device, |chunk, logits| {
        let labels: Vec<usize> = chunk.iter().map(|&k| task.labels[indices[k]]).collect();
        loss_sum +=
            model::cross_entropy(logits, &labels)?.to_scalar::<f32>()? as f64 * chunk.len() as f64;
        for (p, &k) in infer::probabilities(logits)?.into_iter().zip(chunk) {
            probs[k] = p;
        }
        Ok(())
    })?;
    let predicted: Vec<usize> = probs.iter().map(argmax).collect();
    let truth: Vec<usize> = indices.iter().map(|&i| task.labels[i]).collect();
    let seconds = start.elapsed().as_secs_f64();
    Ok((
        metrics::compute(&truth, &predicted, loss_sum / indices.len().max(1) as f64),
        probs,
        seconds,
    ))
}

pub fn argmax(p: &[f32; 3]) -> usize {
    (0..3).max_by(|&a, &b| p[a].total_cmp(&p[b])).unwrap_or(0)
}
