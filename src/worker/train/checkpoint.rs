//! Checkpoints: the parameters, AdamW's moments and the loop's position, in one folder written
//! under a temporary name and renamed when complete, so a kill mid-write leaves the previous
//! checkpoint as the newest good one.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use candle_core::{Device, Tensor};

use super::optim::AdamW;
use crate::worker::io::metrics::Metrics;
use crate::worker::model::ParamSet;
use crate::worker::model::params::stored;

/// Where the training loop is: what a checkpoint saves besides the weights and moments.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Progress {
    pub step: u64,
    pub epoch: usize,
    pub batch_in_epoch: usize,
    pub adam_t: u64,
    pub before: Option<Metrics>,
    pub validation: Vec<Metrics>,
    pub train_seconds: f64,
    pub sentences_trained: u64,
}

const KEEP: usize = 2;

fn root(run_dir: &Path) -> PathBuf {
    crate::run_dir::RunDir::new(run_dir).checkpoints()
}

pub fn save(
    run_dir: &Path,
    params: &ParamSet,
    opt: &AdamW,
    progress: &Progress,
) -> anyhow::Result<PathBuf> {
    let root = root(run_dir);
    // One level at a time, never the run folder itself: a folder deleted under the worker
    // makes this fail instead of coming back with a checkpoint in it.
    match std::fs::create_dir(&root) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
            super::still_there(run_dir)?;
            return Err(e).with_context(|| format!("cannot create {}", root.display()));
        }
        _ => {}
    }
    let name = format!("step-{:08}", progress.step);
    let tmp = root.join(format!(".tmp-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    candle_core::safetensors::save(&params.by_name(), tmp.join("params.safetensors"))?;
    let mut moments: HashMap<String, Tensor> = HashMap::new();
    for (i, n) in params.names.iter().enumerate() {
        let shape = params.vars[i].shape().clone();
        let (m, v) = opt.moments(i)?;
        moments.insert(
            format!("m.{n}"),
            Tensor::from_vec(m, shape.clone(), &Device::Cpu)?,
        );
        moments.insert(format!("v.{n}"), Tensor::from_vec(v, shape, &Device::Cpu)?);
    }
    candle_core::safetensors::save(&moments, tmp.join("optimizer.safetensors"))?;
    std::fs::write(tmp.join("state.json"), serde_json::to_vec_pretty(progress)?)?;
    let dest = root.join(&name);
    let _ = std::fs::remove_dir_all(&dest);
    std::fs::rename(&tmp, &dest)
        .with_context(|| format!("cannot move checkpoint into {}", dest.display()))?;
    prune(&root);
    Ok(dest)
}

fn complete(root: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("step-"))
        })
        .collect();
    dirs.sort();
    dirs
}

fn prune(root: &Path) {
    let dirs = complete(root);
    for old in dirs.iter().take(dirs.len().saturating_sub(KEEP)) {
        let _ = std::fs::remove_dir_all(old);
    }
}

/// The newest checkpoint whose state parses, with that state.
pub fn newest(run_dir: &Path) -> Option<(PathBuf, Progress)> {
    candidates(run_dir).into_iter().next()
}

/// Checkpoints whose files are all there, newest first.
fn candidates(run_dir: &Path) -> Vec<(PathBuf, Progress)> {
    complete(&root(run_dir))
        .into_iter()
        .rev()
        .filter_map(|dir| {
            let text = std::fs::read(dir.join("state.json")).ok()?;
            let progress: Progress = serde_json::from_slice(&text).ok()?;
            (dir.join("params.safetensors").is_file()
                && dir.join("optimizer.safetensors").is_file())
            .then_some((dir, progress))
        })
        .collect()
}

/// Restores the newest checkpoint that reads whole. A damaged one (a truncated file, a missing
/// tensor) is reported through `warn` and the one before it is tried, so a requeued job does
/// not fail the same way on every restart. `None`: nothing to resume from.
pub fn restore_newest(
    run_dir: &Path,
    params: &ParamSet,
    opt: &mut AdamW,
    mut warn: impl FnMut(String),
) -> Option<(PathBuf, Progress)> {
    for (dir, progress) in candidates(run_dir) {
        match restore(&dir, params, opt, &progress) {
            Ok(()) => return Some((dir, progress)),
            Err(e) => warn(format!(
                "checkpoint {} is damaged ({e:#}); trying the one before it",
                dir.display()
            )),
        }
    }
    None
}

/// Reads every tensor first and sets nothing until all of them are there, so a damaged
/// checkpoint leaves the parameters as they were.
fn restore(
    dir: &Path,
    params: &ParamSet,
    opt: &mut AdamW,
    progress: &Progress,
) -> anyhow::Result<()> {
    let path = dir.join("params.safetensors");
    let tensors = candle_core::safetensors::load(&path, &Device::Cpu)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let path = dir.join("optimizer.safetensors");
    let moments = candle_core::safetensors::load(&path, &Device::Cpu)
        .with_context(|| format!("cannot read {}", path.display()))?;
    // By the parameters' names; one written before the projections were stacked holds them
    // apart, and `stored` stacks them.
    let moment = |k: String| -> anyhow::Result<Vec<f32>> {
        Ok(stored(&moments, &k)?
            .with_context(|| format!("it lacks {k}"))?
            .flatten_all()?
            .to_vec1::<f32>()?)
    };
    let mut loaded = Vec::with_capacity(params.names.len());
    for n in &params.names {
        let t = stored(&tensors, n)?.with_context(|| format!("it lacks {n}"))?;
        loaded.push((t, moment(format!("m.{n}"))?, moment(format!("v.{n}"))?));
    }
    for (i, (t, m, v)) in loaded.into_iter().enumerate() {
        params.vars[i].set(&t.to_device(params.vars[i].device())?)?;
        opt.set_moments(i, m, v)?;
    }
    opt.t = progress.adam_t;
    Ok(())
}
