//! GPU use through NVML, sampled in the background: what `watch nvidia-smi` told users by hand.
//! NVML is loaded at run time; on a CPU node its absence is a one-line note.

use crate::run_dir::MetricEvent;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GpuSummary {
    pub name: String,
    pub samples: u64,
    pub mean_utilization_percent: f64,
    /// Memory in use at the first sample, once the model is on the GPU and before training.
    pub baseline_memory_mib: u64,
    pub peak_memory_mib: u64,
    pub total_memory_mib: u64,
}

pub struct GpuMonitor {
    stop: Arc<AtomicBool>,
    summary: Arc<Mutex<GpuSummary>>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl GpuMonitor {
    /// Starts sampling every `every`; `log` receives one line per sample. `None` (with the
    /// reason) when there is no NVML or no GPU.
    pub fn start(
        every: Duration,
        log: impl Fn(MetricEvent) + Send + 'static,
    ) -> Result<GpuMonitor, String> {
        let nvml = nvml_wrapper::Nvml::init()
            .map_err(|e| format!("NVML not available ({e}): GPU use is not monitored"))?;
        let visible = Visible::from_env();
        let name = {
            let device = visible
                .open(&nvml)
                .map_err(|e| format!("NVML found no GPU {visible:?}: {e}"))?;
            device.name().unwrap_or_else(|_| "GPU".into())
        };
        let stop = Arc::new(AtomicBool::new(false));
        let summary = Arc::new(Mutex::new(GpuSummary {
            name,
            ..Default::default()
        }));
        let (stop2, summary2) = (stop.clone(), summary.clone());
        let handle = std::thread::spawn(move || {
            let Ok(device) = visible.open(&nvml) else {
                return;
            };
            let mut util_sum = 0.0;
            let mut sample = || {
                let util = device.utilization_rates().map(|u| u.gpu).unwrap_or(0);
                let Ok(mem) = device.memory_info() else {
                    return;
                };
                let used = mem.used / (1024 * 1024);
                let total = mem.total / (1024 * 1024);
                util_sum += util as f64;
                if let Ok(mut s) = summary2.lock() {
                    if s.samples == 0 {
                        s.baseline_memory_mib = used;
                    }
                    s.samples += 1;
                    s.mean_utilization_percent = util_sum / s.samples as f64;
                    s.peak_memory_mib = s.peak_memory_mib.max(used);
                    s.total_memory_mib = total;
                }
                log(MetricEvent::Gpu {
                    utilization_percent: util as u64,
                    memory_used_mib: used,
                    memory_total_mib: total,
                });
            };
            'sampling: loop {
                sample();
                // Sleep in small slices so stop() returns promptly.
                for _ in 0..(every.as_millis() / 100).max(1) {
                    if stop2.load(Ordering::Relaxed) {
                        break 'sampling;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
            // One last sample at the end, so that a run shorter than the period is seen too.
            sample();
        });
        Ok(GpuMonitor {
            stop,
            summary,
            handle: Some(handle),
        })
    }

    /// The GPU's name, as NVML gives it.
    pub fn name(&self) -> String {
        self.summary
            .lock()
            .map(|s| s.name.clone())
            .unwrap_or_default()
    }

    pub fn finish(mut self) -> GpuSummary {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
        self.summary.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

/// The GPU this job was given. NVML numbers GPUs physically, ignoring CUDA_VISIBLE_DEVICES;
/// Slurm sets that variable to the GPU's index or, on some clusters, its UUID.
#[derive(Debug, Clone, PartialEq)]
enum Visible {
    Index(u32),
    Uuid(String),
}

impl Visible {
    fn from_env() -> Visible {
        Self::parse(&std::env::var("CUDA_VISIBLE_DEVICES").unwrap_or_default())
    }

    fn parse(value: &str) -> Visible {
        let first = value.split(',').next().unwrap_or("").trim();
        if first.starts_with("GPU-") || first.starts_with("MIG-") {
            Visible::Uuid(first.to_string())
        } else {
            Visible::Index(first.parse().unwrap_or(0))
        }
    }

    fn open<'n>(
        &self,
        nvml: &'n nvml_wrapper::Nvml,
    ) -> Result<nvml_wrapper::Device<'n>, nvml_wrapper::error::NvmlError> {
        match self {
            Visible::Index(i) => nvml.device_by_index(*i),
            Visible::Uuid(u) => nvml.device_by_uuid(u.as_str()),
        }
    }
}

/// The largest power-of-two batch that should fit: what is in use before training (weights,
/// CUDA context) stays, what training added grows with the batch, and 10% is kept spare.
pub fn suggest_batch_size(batch: usize, summary: &GpuSummary) -> Option<usize> {
    let per_batch = summary
        .peak_memory_mib
        .checked_sub(summary.baseline_memory_mib)?;
    let room = (summary.total_memory_mib as f64 * 0.9) - summary.baseline_memory_mib as f64;
    if per_batch == 0 || room <= 0.0 {
        return None;
    }
    let suggested = ((batch as f64 * room / per_batch as f64) as usize).max(1);
    // Round down to a power of two: what people pick and what kernels like.
    Some(1usize << (usize::BITS - 1 - suggested.leading_zeros()))
}

/// The GPU ran out of memory while training, said in the spec's terms.
#[derive(Debug, thiserror::Error)]
#[error(
    "the GPU ran out of memory training batches of {batch_size} sentences of up to {max_length} tokens (evaluation takes {eval_batch} at a time): lower train.batch_size or train.max_length, or see with nvidia-smi whether another process holds the GPU's memory"
)]
pub struct OutOfGpuMemory {
    pub batch_size: usize,
    pub max_length: usize,
    pub eval_batch: usize,
}

/// Whether `error` says a CUDA allocation failed: the driver's out-of-memory code (cudarc
/// prints `DriverError(CUDA_ERROR_OUT_OF_MEMORY, "out of memory")`), or cuBLAS unable to
/// allocate its workspace. Candle boxes both without a type to match, so the text decides.
pub fn is_out_of_memory(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        let text = cause.to_string();
        text.contains("CUDA_ERROR_OUT_OF_MEMORY") || text.contains("CUBLAS_STATUS_ALLOC_FAILED")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A CUDA out-of-memory error said cudarc's way, inside candle's and the worker's context.
    #[test]
    fn cuda_allocation_failures_are_recognised() {
        let driver = anyhow::anyhow!("DriverError(CUDA_ERROR_OUT_OF_MEMORY, \"out of memory\")")
            .context("backward pass");
        assert!(is_out_of_memory(&driver));
        let cublas = anyhow::anyhow!("CublasError(CUBLAS_STATUS_ALLOC_FAILED)");
        assert!(is_out_of_memory(&cublas));
        let other = anyhow::anyhow!(
            "DriverError(CUDA_ERROR_ILLEGAL_ADDRESS, \"an illegal memory access was encountered\")"
        );
        assert!(!is_out_of_memory(&other));
        let said = crate::error_chain(
            driver
                .context(OutOfGpuMemory {
                    batch_size: 256,
                    max_length: 512,
                    eval_batch: 64,
                })
                .as_ref(),
        );
        assert!(
            said.starts_with(
                "the GPU ran out of memory training batches of 256 sentences of up to 512 tokens"
            ) && said.ends_with(
                "backward pass: DriverError(CUDA_ERROR_OUT_OF_MEMORY, \"out of memory\")"
            ),
            "{said}"
        );
    }

    fn summary(baseline: u64, peak: u64, total: u64) -> GpuSummary {
        GpuSummary {
            baseline_memory_mib: baseline,
            peak_memory_mib: peak,
            total_memory_mib: total,
            ..Default::default()
        }
    }

    #[test]
    fn suggestion_scales_what_training_added() {
        // Measured on an H200: 974 MiB with the model loaded, 1488 MiB at the peak, batch 16.
        assert_eq!(
            suggest_batch_size(16, &summary(974, 1488, 143771)),
            Some(2048)
        );
        // Nearly full already: stay at what fits.
        assert_eq!(
            suggest_batch_size(16, &summary(1000, 21000, 24000)),
            Some(16)
        );
        // Nothing measured, or nothing added: no suggestion.
        assert_eq!(suggest_batch_size(16, &summary(0, 0, 0)), None);
        assert_eq!(suggest_batch_size(16, &summary(900, 900, 80000)), None);
    }

    #[test]
    fn visible_devices_by_index_or_uuid() {
        assert_eq!(Visible::parse("2,3"), Visible::Index(2));
        assert_eq!(Visible::parse(""), Visible::Index(0));
        assert_eq!(
            Visible::parse("GPU-5d3b2e1c-aaaa"),
            Visible::Uuid("GPU-5d3b2e1c-aaaa".into())
        );
    }
}
