//! The steps since the last progress line. Their losses and gradient norms stay where they were
//! computed until the line is written: reading a number off a GPU makes the host wait for
//! everything queued before it, and a step that waits cannot queue the next step's kernels while
//! the GPU works. One step a window (the one before the line) is timed phase by phase; timing
//! needs those waits.

use std::time::Instant;

use candle_core::{Result, Tensor};

use super::optim::GradNorm;

pub struct Window {
    losses: Vec<Tensor>,
    norms: Vec<GradNorm>,
    /// The optimizer step the window starts after.
    first_step: u64,
    sentences: u64,
    start: Instant,
    /// Forward, backward and optimizer seconds of the timed steps, and how many were timed.
    phases: [f64; 3],
    timed: u64,
}

/// A window read back.
pub struct Read {
    pub mean_loss: f64,
    /// The last step's gradient norm (before clipping).
    pub grad_norm: f64,
    pub sentences_per_second: f64,
    /// Mean forward, backward and optimizer seconds of a timed step.
    pub phases: [f64; 3],
}

/// The first step in the window whose loss or gradient norm is not a number.
pub struct NotFinite {
    pub step: u64,
    pub loss: f64,
    pub grad_norm: f64,
}

impl Window {
    pub fn new(after_step: u64) -> Window {
        Window {
            losses: Vec::new(),
            norms: Vec::new(),
            first_step: after_step,
            sentences: 0,
            start: Instant::now(),
            phases: [0.0; 3],
            timed: 0,
        }
    }

    pub fn push(&mut self, loss: Tensor, norm: GradNorm, sentences: u64) {
        self.losses.push(loss);
        self.norms.push(norm);
        self.sentences += sentences;
    }

    pub fn time(&mut self, phases: [f64; 3]) {
        for (sum, p) in self.phases.iter_mut().zip(phases) {
            *sum += p;
        }
        self.timed += 1;
    }

    pub fn is_empty(&self) -> bool {
        self.losses.is_empty()
    }

    /// Reads the window back (one wait for the GPU), and starts a new one.
    pub fn read(&mut self) -> Result<std::result::Result<Read, NotFinite>> {
        let losses: Vec<f64> = match self.losses.as_slice() {
            [] => Vec::new(),
            all => Tensor::stack(all, 0)?
                .flatten_all()?
                .to_vec1::<f32>()?
                .into_iter()
                .map(f64::from)
                .collect(),
        };
        let norms = self
            .norms
            .iter()
            .map(GradNorm::value)
            .collect::<Result<Vec<f64>>>()?;
        let seconds = self.start.elapsed().as_secs_f64();
        let timed = self.timed.max(1) as f64;
        let read = Read {
            mean_loss: losses.iter().sum::<f64>() / losses.len().max(1) as f64,
            grad_norm: norms.last().copied().unwrap_or(0.0),
            sentences_per_second: self.sentences as f64 / seconds.max(1e-9),
            phases: self.phases.map(|p| p / timed),
        };
        let first_bad = losses
            .iter()
            .zip(&norms)
            .position(|(l, n)| !l.is_finite() || !n.is_finite());
        let outcome = match first_bad {
            Some(k) => Err(NotFinite {
                step: self.first_step + k as u64 + 1,
                loss: losses[k],
                grad_norm: norms[k],
            }),
            None => Ok(read),
        };
        *self = Window::new(self.first_step + losses.len() as u64);
        Ok(outcome)
    }
}
