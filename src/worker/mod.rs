//! `yenjob worker`: runs on the allocated node. Reads the spec's `[train]` table, fine-tunes a
//! BERT checkpoint for 3-class sentiment and writes metrics, checkpoints, a summary and the
//! model into the run folder.

#[cfg(feature = "cuda")]
pub mod cuda;
pub mod gpu;
pub mod io;
pub mod model;
pub mod rng;
pub mod train;

use crate::run_dir::{MetricEvent, RunDir, Summary, atomic_write};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use candle_core::Device;

use crate::spec::{DeviceChoice, JobSpec, Precision};
use io::{data, export, model_files};
use model::ParamSet;
use train::{Control, Outcome, Reporter, Task};

/// Exit status after a checkpoint on a signal: "not finished, run me again".
pub const EXIT_CHECKPOINTED: i32 = 75;

/// Options that do not come from the spec.
#[derive(Clone, Default)]
pub struct WorkerOptions {
    pub skip_bad_lines: bool,
    pub control: Control,
}

pub fn run_cli(
    spec_path: &Path,
    base_dir: Option<&Path>,
    run_dir: &Path,
    skip_bad_lines: bool,
) -> anyhow::Result<i32> {
    let mut spec = JobSpec::load(spec_path)?;
    if let Some(b) = base_dir {
        spec.base_dir = std::path::absolute(b)?;
    }
    set_threads();
    let control = Control::default();
    for signal in [signal_hook::consts::SIGUSR1, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, control.interrupt.clone())
            .context("cannot install signal handlers")?;
    }
    run(
        &spec,
        run_dir,
        &WorkerOptions {
            skip_bad_lines,
            control,
        },
    )
}

/// Threads: what Slurm gave the task (SLURM_CPUS_PER_TASK), never more than the machine has.
pub fn set_threads() {
    let available = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let wanted = std::env::var("SLURM_CPUS_PER_TASK")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(available);
    let threads = wanted.clamp(1, available);
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        // SAFETY: called at start-up, before any other thread exists.
        unsafe { std::env::set_var("RAYON_NUM_THREADS", threads.to_string()) };
    }
}

/// Sets up a GPU for the worker: TF32 matrix products if the spec asks for them, and no
/// per-buffer CUDA events. cudarc records two events on every allocation to order buffers
/// shared between streams; the worker uses one stream, so they would only cost driver calls
/// (thousands a step). Call before anything is allocated on the device.
pub fn prepare_gpu(device: &Device, precision: Precision) {
    candle_core::cuda::set_gemm_reduced_precision_f32(precision == Precision::Tf32);
    #[cfg(feature = "cuda")]
    if let Device::Cuda(gpu) = device {
        // SAFETY: every kernel, copy and free of the worker is queued on the device's one
        // stream, so stream order alone keeps buffers alive and ordered.
        unsafe { gpu.disable_event_tracking() };
    }
    #[cfg(not(feature = "cuda"))]
    let _ = device;
}

/// The device to train on, and a note for the log when `auto` had to fall back to the CPU.
fn choose_device(choice: DeviceChoice) -> anyhow::Result<(Device, Option<String>)> {
    let visible = || match std::env::var("CUDA_VISIBLE_DEVICES") {
        Ok(v) => format!("CUDA_VISIBLE_DEVICES={v:?}"),
        Err(_) => "CUDA_VISIBLE_DEVICES unset".to_string(),
    };
    match choice {
        DeviceChoice::Cpu => Ok((Device::Cpu, None)),
        DeviceChoice::Cuda if cfg!(feature = "cuda") => {
            let device = Device::new_cuda(0).with_context(|| {
                format!(
                    "train.device = \"cuda\", but GPU 0 cannot be opened ({})",
                    visible()
                )
            })?;
            Ok((device, None))
        }
        DeviceChoice::Cuda => anyhow::bail!(
            "train.device = \"cuda\", but this yenjob was built without CUDA: rebuild with `cargo build --release --features cuda` (scripts/cuda-toolkit.sh provides nvcc)"
        ),
        DeviceChoice::Auto if cfg!(feature = "cuda") => match Device::new_cuda(0) {
            Ok(device) => Ok((device, None)),
            Err(e) => Ok((
                Device::Cpu,
                Some(format!(
                    "no usable GPU ({e}; {}): training on the CPU",
                    visible()
                )),
            )),
        },
        DeviceChoice::Auto => Ok((Device::Cpu, None)),
    }
}

/// Runs the whole fine-tune; returns the exit status (0 done, 75 checkpointed on a signal).
pub fn run(spec: &JobSpec, run_dir: &Path, options: &WorkerOptions) -> anyhow::Result<i32> {
    let t = &spec.train;
    let started = Instant::now();
    std::fs::create_dir_all(run_dir)
        .with_context(|| format!("cannot create run folder {}", run_dir.display()))?;
    let dir = RunDir::new(run_dir);
    let mut report = Reporter::open(run_dir, options.control.quiet)?;
    let (device, fallback) = choose_device(t.device)?;
    prepare_gpu(&device, t.precision);
    if let Some(note) = fallback {
        report.line(&format!("[device] {note}"));
    }
    let device_name = match &device {
        Device::Cpu => format!("cpu ({} threads)", candle_core::utils::get_num_threads()),
        _ => {
            let visible = match std::env::var("CUDA_VISIBLE_DEVICES") {
                Ok(v) => format!("cuda:0 (CUDA_VISIBLE_DEVICES={v})"),
                Err(_) => "cuda:0".to_string(),
            };
            match t.precision {
                Precision::F32 => visible,
                Precision::Tf32 => format!("{visible}, TF32 matrix products"),
            }
        }
    };

    // Data
    let data_path = spec.resolve(&t.data);
    let dataset = data::read_file(&data_path, t.skip_bad_lines || options.skip_bad_lines)?;
    for (line, why) in &dataset.skipped {
        report.line(&format!(
            "[data] warning: {}:{line}: skipped: {why}",
            data_path.display()
        ));
    }
    let examples = &dataset.examples;
    let fractions = [t.split.train, t.split.validation, t.split.test];
    let split = data::stratified_split(examples, fractions, t.seed);
    data::check_split(examples, &split, fractions, &data_path)?;
    atomic_write(&dir.split(), &serde_json::to_vec(&split)?)?;
    let mut train_idx = split.train.clone();
    if let Some(cap) = t.max_train_sentences {
        let mut shuffled = train_idx.clone();
        rng::SplitMix64::keyed(t.seed, &[0x5B5E]).shuffle(&mut shuffled);
        shuffled.truncate(cap.get());
        shuffled.sort_unstable();
        train_idx = shuffled;
    }
    let counts = |idx: &[usize]| -> [usize; 3] {
        let mut c = [0; 3];
        for &i in idx {
            c[examples[i].label] += 1;
        }
        c
    };
    report.line(&format!(
        "[data] {}: {} sentences (negative/neutral/positive {:?}), {} skipped; train {} / validation {} / test {} (seed {})",
        data_path.display(), examples.len(), counts(&(0..examples.len()).collect::<Vec<_>>()), dataset.skipped.len(),
        train_idx.len(), split.validation.len(), split.test.len(), t.seed
    ));

    // Model
    let files = model_files::resolve(&t.model, &spec.base_dir)?;
    let (cfg, raw_config) = files.read_config()?;
    files.check_max_length(&cfg, t.max_length.get())?;
    let tokenizer = files.read_tokenizer(t.max_length.get())?;
    let pad_id = tokenizer.token_to_id("[PAD]").unwrap_or(0);
    let checkpoint = files.read_weights()?;
    let (params, load) = ParamSet::from_checkpoint(&cfg, &checkpoint, t.seed, &device)?;
    drop(checkpoint);
    report.line(&format!(
        "[model] {} ({} layers, hidden {}, {:.1}M parameters) on {device_name}; new: {}",
        files.dir.display(),
        cfg.num_hidden_layers,
        cfg.hidden_size,
        params.count() as f64 / 1e6,
        if load.initialised.is_empty() {
            "none".to_string()
        } else {
            load.initialised.join(", ")
        }
    ));
    let texts: Vec<&str> = examples.iter().map(|e| e.text.as_str()).collect();
    let encodings = tokenizer
        .encode_batch(texts, true)
        .map_err(|e| anyhow::anyhow!("tokenizing failed: {e}"))?;
    let tokens: Vec<Vec<u32>> = encodings.iter().map(|e| e.get_ids().to_vec()).collect();
    let labels: Vec<usize> = examples.iter().map(|e| e.label).collect();

    // GPU monitor (NVML) for GPU runs; a note when there is none.
    let gpu_log = {
        let path = dir.metrics();
        move |event: MetricEvent| {
            use std::io::Write;
            let Ok(line) = serde_json::to_string(&event) else {
                return;
            };
            println!("[gpu] {line}");
            if let Ok(mut f) = std::fs::OpenOptions::new().append(true).open(&path) {
                let _ = writeln!(f, "{line}");
            }
        }
    };
    let monitor = if device.is_cpu() {
        report.line("[gpu] training on the CPU: GPU use is not monitored");
        None
    } else {
        match gpu::GpuMonitor::start(Duration::from_secs(5), gpu_log) {
            Ok(m) => {
                report.line(&format!(
                    "[gpu] {}: utilisation and memory sampled through NVML every 5 s",
                    m.name()
                ));
                Some(m)
            }
            Err(note) => {
                report.line(&format!("[gpu] {note}"));
                None
            }
        }
    };

    let task = Task {
        cfg: &cfg,
        params: &params,
        tokens: &tokens,
        labels: &labels,
        train: &train_idx,
        validation: &split.validation,
        test: &split.test,
        pad_id,
        device: &device,
    };
    let outcome = train::train(&task, t, run_dir, &options.control, &mut report).map_err(|e| {
        if gpu::is_out_of_memory(&e) {
            e.context(gpu::OutOfGpuMemory {
                batch_size: t.batch_size.get(),
                max_length: t.max_length.get(),
                eval_batch: crate::worker::model::infer::BATCH,
            })
        } else {
            e
        }
    })?;
    let gpu_summary = monitor.map(|m| m.finish());
    let finished = match outcome {
        Outcome::Interrupted { .. } => return Ok(EXIT_CHECKPOINTED),
        Outcome::Finished(f) => f,
    };

    train::still_there(run_dir)?;
    let model_dir = dir.model();
    export::save_model(&model_dir, &params, &raw_config, &tokenizer, &files)?;
    let suggested = gpu_summary
        .as_ref()
        .and_then(|g| gpu::suggest_batch_size(t.batch_size.get(), g));
    let summary = Summary {
        before: finished.before.clone(),
        after: finished.after.clone(),
        validation: finished.validation.clone(),
        train_seconds: finished.train_seconds,
        train_sentences_per_second: finished.sentences_trained as f64
            / finished.train_seconds.max(1e-9),
        inference_sentences_per_second: finished.inference_sentences_per_second,
        wall_seconds: started.elapsed().as_secs_f64(),
        device: device_name,
        model: files.dir.clone(),
        parameters: params.count() as u64,
        hyperparameters: t.into(),
        train_sentences: train_idx.len() as u64,
        steps: finished.steps,
        padded_tokens_per_epoch: finished.padded_tokens_per_epoch,
        real_tokens_per_epoch: finished.real_tokens_per_epoch,
        peak_rss_mib: peak_rss_mib(),
        gpu: gpu_summary.clone(),
        suggested_batch_size: suggested.map(|b| b as u64),
        resumed_from_step: finished.resumed_from,
        model_dir: model_dir.clone(),
    };
    atomic_write(&dir.summary(), &serde_json::to_vec_pretty(&summary)?)?;
    report.line(&format!(
        "[done] test accuracy {:.4} -> {:.4}, macro-F1 {:.4} -> {:.4}; {:.1} s training, {:.1} sentences/s; model in {}",
        finished.before.accuracy, finished.after.accuracy, finished.before.macro_f1, finished.after.macro_f1,
        finished.train_seconds, finished.sentences_trained as f64 / finished.train_seconds.max(1e-9), model_dir.display()
    ));
    if let Some(g) = &gpu_summary {
        report.line(&format!(
            "[gpu] {}: peak memory {} of {} MiB ({} MiB before training), mean utilisation {:.0}%{}",
            g.name,
            g.peak_memory_mib,
            g.total_memory_mib,
            g.baseline_memory_mib,
            g.mean_utilization_percent,
            suggested.map_or(String::new(), |b| format!(
                "; a batch of about {b} would fit (batch_size = {})",
                t.batch_size.get()
            ))
        ));
    }
    Ok(0)
}

/// The process's peak resident memory (VmHWM), in MiB.
pub fn peak_rss_mib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024)
}
