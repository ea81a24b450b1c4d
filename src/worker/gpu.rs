//! GPU use through NVML, sampled in the background: what `watch nvidia-smi` told users by hand.
//! NVML is loaded at run time; on a CPU node its absence is a one-line note.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct GpuSummary {
    pub name: String,
    pub samples: u64,
    pub mean_utilization_percent: f64,
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
        log: impl Fn(String) + Send + 'static,
    ) -> Result<GpuMonitor, String> {
        let nvml = nvml_wrapper::Nvml::init()
            .map_err(|e| format!("NVML not available ({e}): GPU use is not monitored"))?;
        let index = visible_index();
        let name = {
            let device = nvml
                .device_by_index(index)
                .map_err(|e| format!("NVML found no GPU {index}: {e}"))?;
            device.name().unwrap_or_else(|_| "GPU".into())
        };
        let stop = Arc::new(AtomicBool::new(false));
        let summary = Arc::new(Mutex::new(GpuSummary {
            name,
            ..Default::default()
        }));
        let (stop2, summary2) = (stop.clone(), summary.clone());
        let handle = std::thread::spawn(move || {
            let Ok(device) = nvml.device_by_index(index) else {
                return;
            };
            let mut util_sum = 0.0;
            while !stop2.load(Ordering::Relaxed) {
                let util = device.utilization_rates().map(|u| u.gpu).unwrap_or(0);
                if let Ok(mem) = device.memory_info() {
                    let used = mem.used / (1024 * 1024);
                    let total = mem.total / (1024 * 1024);
                    util_sum += util as f64;
                    if let Ok(mut s) = summary2.lock() {
                        s.samples += 1;
                        s.mean_utilization_percent = util_sum / s.samples as f64;
                        s.peak_memory_mib = s.peak_memory_mib.max(used);
                        s.total_memory_mib = total;
                    }
                    log(format!(
                        "{{\"event\":\"gpu\",\"utilization_percent\":{util},\"memory_used_mib\":{used},\"memory_total_mib\":{total}}}"
                    ));
                }
                // Sleep in small slices so stop() returns promptly.
                for _ in 0..(every.as_millis() / 100).max(1) {
                    if stop2.load(Ordering::Relaxed) {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        });
        Ok(GpuMonitor {
            stop,
            summary,
            handle: Some(handle),
        })
    }

    pub fn finish(mut self) -> GpuSummary {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
        self.summary.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

/// NVML numbers GPUs physically; CUDA_VISIBLE_DEVICES (set by Slurm) names the one we got.
fn visible_index() -> u32 {
    std::env::var("CUDA_VISIBLE_DEVICES")
        .ok()
        .and_then(|v| v.split(',').next().and_then(|s| s.trim().parse().ok()))
        .unwrap_or(0)
}

/// A batch size that should fit: scale the current one by the memory left, keeping 10% spare.
pub fn suggest_batch_size(batch: usize, peak_mib: u64, total_mib: u64) -> Option<usize> {
    if peak_mib == 0 || total_mib == 0 {
        return None;
    }
    let factor = (total_mib as f64 * 0.9) / peak_mib as f64;
    let suggested = ((batch as f64 * factor) as usize).max(1);
    // Round down to a power of two: what people pick and what kernels like.
    Some(1usize << (usize::BITS - 1 - suggested.leading_zeros()))
}
