//! The fine-tune: evaluate the test set, train with AdamW for the spec's epochs (validating
//! after each), evaluate the test set again. Checkpoints every N steps and when Slurm signals,
//! and resumes from the newest good checkpoint, drawing the same data order and dropout masks
//! as an uninterrupted run (every random draw is keyed by seed and step).

mod batches;
pub mod checkpoint;
mod evaluate;
pub mod optim;
mod report;
mod window;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use candle_core::Device;

use crate::run_dir::{MetricEvent, RunDir, atomic_write};
use crate::spec::{LrSchedule, TrainTable};
use crate::worker::io::metrics::Metrics;
use crate::worker::model::{self, Batch, Bert, BertConfig, Dropout, ParamSet};
use checkpoint::Progress;
use optim::AdamW;
use window::Window;

pub use batches::epoch_batches;
use batches::padding_counts;
pub use evaluate::{argmax, evaluate};
pub use report::Reporter;
use report::{progress_bar, test_event};

/// Everything the loop trains on, already tokenized.
pub struct Task<'a> {
    pub cfg: &'a BertConfig,
    pub params: &'a ParamSet,
    pub tokens: &'a [Vec<u32>],
    pub labels: &'a [usize],
    pub train: &'a [usize],
    pub validation: &'a [usize],
    pub test: &'a [usize],
    pub pad_id: u32,
    pub device: &'a Device,
}

/// Hooks from outside: a signal flag, and (tests) a step after which to stop as if signalled.
#[derive(Clone, Default)]
pub struct Control {
    pub interrupt: Arc<AtomicBool>,
    pub stop_after_step: Option<u64>,
    pub quiet: bool,
}

pub enum Outcome {
    Finished(Box<Finished>),
    Interrupted { step: u64 },
}

pub struct Finished {
    pub before: Metrics,
    pub after: Metrics,
    pub validation: Vec<Metrics>,
    pub train_seconds: f64,
    pub sentences_trained: u64,
    pub steps: u64,
    pub padded_tokens_per_epoch: u64,
    pub real_tokens_per_epoch: u64,
    pub inference_sentences_per_second: f64,
    pub resumed_from: Option<u64>,
}

pub fn train(
    task: &Task,
    t: &TrainTable,
    run_dir: &Path,
    control: &Control,
    report: &mut Reporter,
) -> anyhow::Result<Outcome> {
    let lengths: Vec<usize> = task.tokens.iter().map(Vec::len).collect();
    let per_epoch: Vec<Vec<Vec<usize>>> = (0..t.epochs.get())
        .map(|e| epoch_batches(task.train, &lengths, t, e))
        .collect();
    let steps_per_epoch = per_epoch.first().map(Vec::len).unwrap_or(0) as u64;
    let total_steps = steps_per_epoch * t.epochs.get() as u64;
    let warmup = (total_steps as f64 * t.warmup_ratio.0).round() as u64;
    let (padded, real) = per_epoch
        .first()
        .map(|bs| padding_counts(bs, &lengths))
        .unwrap_or((0, 0));
    // The exact batches, so another stack can be run on the same ones (bench/reference.py).
    atomic_write(
        &RunDir::new(run_dir).batches(),
        &serde_json::to_vec(&per_epoch)?,
    )?;

    let mut opt = AdamW::new(
        &task.params.vars,
        task.params
            .names
            .iter()
            .map(|n| model::params::decays(n))
            .collect(),
        t.weight_decay.0,
    )?;
    let mut progress = Progress {
        step: 0,
        epoch: 0,
        batch_in_epoch: 0,
        adam_t: 0,
        before: None,
        validation: Vec::new(),
        train_seconds: 0.0,
        sentences_trained: 0,
    };
    let mut resumed_from = None;
    let restored = checkpoint::restore_newest(run_dir, task.params, &mut opt, |w| {
        report.line(&format!("[yenjob worker] warning: {w}"))
    });
    if let Some((dir, p)) = restored {
        report.line(&format!(
            "[yenjob worker] resuming from checkpoint {} (step {}/{total_steps}, epoch {}, batch {})",
            dir.display(), p.step, p.epoch + 1, p.batch_in_epoch
        ));
        report.event(&MetricEvent::Resume { step: p.step });
        resumed_from = Some(p.step);
        progress = p;
    }

    let before = match &progress.before {
        Some(m) => m.clone(),
        None => {
            let (m, _, _) = evaluate(task, task.test)?;
            report.line(&format!(
                "[eval] test before training: accuracy {:.4}, macro-F1 {:.4}, loss {:.4}",
                m.accuracy, m.macro_f1, m.loss
            ));
            report.event(&test_event("before", &m));
            progress.before = Some(m.clone());
            m
        }
    };
    report.line(&format!(
        "[train] {} sentences, {} epochs x {steps_per_epoch} steps of {} ({} tokens per epoch, {} of them padding)",
        task.train.len(), t.epochs.get(), t.batch_size.get(), padded, padded - real
    ));
    let bar = progress_bar(total_steps, progress.step, control.quiet);

    let mut window = Window::new(progress.step);
    let hidden_p = t.dropout.0 as f32;
    let max_grad_norm = t.max_grad_norm.as_ref().map(|m| m.0);
    // Loaded once: the optimizer updates the parameters in place, which the model shares.
    let model = Bert::load(task.params, task.cfg, false)?;
    while progress.epoch < t.epochs.get() {
        let batches = &per_epoch[progress.epoch];
        while progress.batch_in_epoch < batches.len() {
            let step_start = Instant::now();
            let logs = (progress.step + 1).is_multiple_of(u64::from(t.log_every.0))
                || progress.step + 1 == total_steps;
            // The step before a progress line is timed phase by phase, and the last of an
            // epoch ends with the GPU's work done, so evaluation time is not training time.
            let timed = logs || progress.batch_in_epoch + 1 == batches.len();
            let sync = |on: bool| {
                if on {
                    task.device.synchronize()
                } else {
                    Ok(())
                }
            };
            sync(timed)?;
            let phase_start = Instant::now();
            let idx = &batches[progress.batch_in_epoch];
            let seqs: Vec<&[u32]> = idx.iter().map(|&i| task.tokens[i].as_slice()).collect();
            let labels: Vec<usize> = idx.iter().map(|&i| task.labels[i]).collect();
            let batch = Batch::new(&seqs, task.pad_id, task.device)?;
            let dropout = Dropout::new(hidden_p, hidden_p, t.seed, progress.step);
            let (loss, pass) = model.forward_train(&batch, &labels, &dropout)?;
            sync(timed)?;
            let t_forward = phase_start.elapsed().as_secs_f64();
            let grads = model.backward(pass)?;
            sync(timed)?;
            let t_backward = phase_start.elapsed().as_secs_f64();
            let lr = optim::learning_rate(
                progress.step,
                total_steps,
                warmup,
                t.learning_rate.0,
                t.lr_schedule == LrSchedule::Constant,
            );
            let grad_norm = opt.step(&task.params.vars, &grads, lr, max_grad_norm)?;
            drop(grads); // the step is queued: free the gradients now
            sync(timed)?;
            if timed {
                let t_step = phase_start.elapsed().as_secs_f64();
                window.time([t_forward, t_backward - t_forward, t_step - t_backward]);
            }
            window.push(loss, grad_norm, idx.len() as u64);
            progress.step += 1;
            progress.batch_in_epoch += 1;
            progress.adam_t = opt.t;
            progress.sentences_trained += idx.len() as u64;
            progress.train_seconds += step_start.elapsed().as_secs_f64();
            if let Some(b) = &bar {
                b.set_position(progress.step);
            }
            let signalled = control.interrupt.load(Ordering::SeqCst)
                || control.stop_after_step == Some(progress.step);
            let periodic = u64::from(t.checkpoint_every) > 0
                && progress.step.is_multiple_of(u64::from(t.checkpoint_every));
            if logs || ((signalled || periodic) && !window.is_empty()) {
                // Nothing is logged or saved before the steps since the last line are known
                // to be numbers.
                let w = match window.read()? {
                    Ok(w) => w,
                    Err(bad) => {
                        return Err(diverged(run_dir, bad.step, bad.loss, bad.grad_norm, t));
                    }
                };
                if logs {
                    still_there(run_dir)?;
                    let text = format!(
                        "[train] epoch {}/{} step {}/{total_steps} loss {:.4} lr {lr:.2e} grad-norm {:.2} {:.1} sentences/s (a step: forward {:.1} ms, backward {:.1} ms, optimizer {:.1} ms)",
                        progress.epoch + 1,
                        t.epochs.get(),
                        progress.step,
                        w.mean_loss,
                        w.grad_norm,
                        w.sentences_per_second,
                        w.phases[0] * 1e3,
                        w.phases[1] * 1e3,
                        w.phases[2] * 1e3
                    );
                    match &bar {
                        Some(b) => {
                            b.set_message(format!("loss {:.4}", w.mean_loss));
                            b.println(text)
                        }
                        None => report.line(&text),
                    }
                    report.event(&MetricEvent::Step {
                        epoch: progress.epoch as u64 + 1,
                        epochs: t.epochs.get() as u64,
                        step: progress.step,
                        total_steps,
                        loss: w.mean_loss,
                        lr,
                        grad_norm: w.grad_norm,
                        sentences_per_second: w.sentences_per_second,
                        forward_seconds: w.phases[0],
                        backward_seconds: w.phases[1],
                        optimizer_seconds: w.phases[2],
                    });
                }
            }
            if signalled || periodic {
                if progress.batch_in_epoch == batches.len() {
                    // Validate before saving an epoch end, so the checkpoint holds it.
                    end_epoch(task, t, &mut progress, report)?;
                }
                still_there(run_dir)?;
                let dir = checkpoint::save(run_dir, task.params, &opt, &progress)?;
                report.event(&MetricEvent::Checkpoint {
                    step: progress.step,
                });
                if signalled {
                    report.line(&format!(
                        "[yenjob worker] stopping: checkpoint at step {} written to {}",
                        progress.step,
                        dir.display()
                    ));
                    return Ok(Outcome::Interrupted {
                        step: progress.step,
                    });
                }
            }
        }
        if progress.batch_in_epoch == batches.len() && progress.validation.len() <= progress.epoch {
            end_epoch(task, t, &mut progress, report)?;
        }
        progress.epoch += 1;
        progress.batch_in_epoch = 0;
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let (after, _, eval_seconds) = evaluate(task, task.test)?;
    report.line(&format!(
        "[eval] test after training: accuracy {:.4}, macro-F1 {:.4}, loss {:.4}",
        after.accuracy, after.macro_f1, after.loss
    ));
    report.event(&test_event("after", &after));
    Ok(Outcome::Finished(Box::new(Finished {
        before,
        inference_sentences_per_second: task.test.len() as f64 / eval_seconds.max(1e-9),
        after,
        validation: progress.validation,
        train_seconds: progress.train_seconds,
        sentences_trained: progress.sentences_trained,
        steps: progress.step,
        padded_tokens_per_epoch: padded,
        real_tokens_per_epoch: real,
        resumed_from,
    })))
}

fn end_epoch(
    task: &Task,
    t: &TrainTable,
    progress: &mut Progress,
    report: &mut Reporter,
) -> anyhow::Result<()> {
    if progress.validation.len() > progress.epoch || task.validation.is_empty() {
        return Ok(());
    }
    let (m, _, _) = evaluate(task, task.validation)?;
    report.line(&format!(
        "[eval] epoch {}/{} validation: accuracy {:.4}, macro-F1 {:.4}, loss {:.4}",
        progress.epoch + 1,
        t.epochs.get(),
        m.accuracy,
        m.macro_f1,
        m.loss
    ));
    report.event(&MetricEvent::Epoch {
        epoch: progress.epoch as u64 + 1,
        epochs: t.epochs.get() as u64,
        split: "validation".into(),
        accuracy: m.accuracy,
        macro_f1: m.macro_f1,
        loss: m.loss,
    });
    progress.validation.push(m);
    Ok(())
}

/// Stops a worker whose run folder was deleted under it, instead of recreating the folder with
/// a checkpoint, a model or a summary nobody will find.
pub fn still_there(run_dir: &Path) -> anyhow::Result<()> {
    if run_dir.is_dir() {
        return Ok(());
    }
    anyhow::bail!(
        "the run folder {} was deleted while the job ran; stopping without writing anything more",
        run_dir.display()
    )
}

/// A run whose loss or gradient stopped being a number: say where, keep the last good
/// checkpoint, export nothing (the caller returns before it does).
fn diverged(run_dir: &Path, step: u64, loss: f64, grad_norm: f64, t: &TrainTable) -> anyhow::Error {
    let kept = match checkpoint::newest(run_dir) {
        Some((dir, p)) => format!(
            "; the last good checkpoint (step {}) is kept in {}",
            p.step,
            dir.display()
        ),
        None => "; there is no checkpoint to go back to".to_string(),
    };
    let clip = match t.max_grad_norm {
        Some(_) => String::new(),
        None => " or set train.max_grad_norm (e.g. 1.0)".to_string(),
    };
    anyhow::anyhow!(
        "training diverged at step {step}: loss {loss}, gradient norm {grad_norm}; no model was exported{kept}. Lower train.learning_rate (now {}){clip}",
        t.learning_rate.0
    )
}
