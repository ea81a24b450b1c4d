//! Checkpoints: the parameters, AdamW's moments and the loop's position, in one folder written
//! under a temporary name and renamed when complete, so a kill mid-write leaves the previous
//! checkpoint as the newest good one.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use candle_core::{Device, Tensor};

use super::bert::ParamSet;
use super::optim::AdamW;
use super::train::Progress;

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
    std::fs::create_dir_all(&root).with_context(|| format!("cannot create {}", root.display()))?;
    let name = format!("step-{:08}", progress.step);
    let tmp = root.join(format!(".tmp-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp)?;
    candle_core::safetensors::save(&params.to_map(), tmp.join("params.safetensors"))?;
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
    complete(&root(run_dir)).into_iter().rev().find_map(|dir| {
        let text = std::fs::read(dir.join("state.json")).ok()?;
        let progress: Progress = serde_json::from_slice(&text).ok()?;
        (dir.join("params.safetensors").is_file() && dir.join("optimizer.safetensors").is_file())
            .then_some((dir, progress))
    })
}

pub fn restore(dir: &Path, params: &ParamSet, opt: &mut AdamW) -> anyhow::Result<()> {
    let tensors = candle_core::safetensors::load(dir.join("params.safetensors"), &Device::Cpu)?;
    let moments = candle_core::safetensors::load(dir.join("optimizer.safetensors"), &Device::Cpu)?;
    for (i, n) in params.names.iter().enumerate() {
        let t = tensors
            .get(n)
            .with_context(|| format!("checkpoint {} lacks {n}", dir.display()))?;
        params.vars[i].set(&t.to_device(params.vars[i].device())?)?;
        let get = |k: String| -> anyhow::Result<Vec<f32>> {
            Ok(moments
                .get(&k)
                .with_context(|| format!("checkpoint {} lacks {k}", dir.display()))?
                .flatten_all()?
                .to_vec1::<f32>()?)
        };
        opt.set_moments(i, get(format!("m.{n}"))?, get(format!("v.{n}"))?)?;
    }
    let text = std::fs::read(dir.join("state.json"))?;
    let progress: Progress = serde_json::from_slice(&text)?;
    opt.t = progress.adam_t;
    Ok(())
}
