//! `yenjob report JOB`: what a researcher reads after a run: test accuracy and macro-F1 before
//! and after, per-class figures, the confusion matrix, speed, device, GPU use, and Slurm's
//! efficiency numbers; plus SVG plots (loss, validation accuracy, confusion matrix). A sweep's
//! report compares its configurations (`sweep.rs`).

mod charts;
mod sweep;

use crate::run_dir::{MetricEvent, RunDir, Summary};
use crate::runs::{self, BackendKind};
use crate::slurm::Slurm;
use crate::slurm::duration::SlurmTime;
use crate::worker::io::data::LABELS;

pub async fn run(job: Option<&str>, json: bool, csv: bool) -> anyhow::Result<i32> {
    let record = runs::find(job)?;
    if record.sweep.is_some() {
        return sweep::run(&record, json, csv).await;
    }
    if record.dir().score_job().is_file() {
        return score_report(&record, json);
    }
    if csv {
        anyhow::bail!(
            "--csv is for a sweep's table; job {} is a single run (use --json)",
            record.job_id
        );
    }
    let dir = record.dir();
    let summary = dir.read_summary()?.ok_or_else(|| {
        // A run seen ending without results: how it ended, and what to do.
        let advice = record.ended.as_ref().and_then(|e| {
            Some((
                &e.state,
                runs::advice::for_run(&record, &e.state, e.exit_code.as_deref())?,
            ))
        });
        match advice {
            Some((state, advice)) => anyhow::anyhow!(
                "job {} ended {state} without results: {advice}",
                record.job_id
            ),
            None => anyhow::anyhow!(
                "job {} has no results yet ({} is missing): `yenjob status {}` says where it is",
                record.job_id,
                dir.summary().display(),
                record.job_id
            ),
        }
    })?;
    let efficiency = match record.backend {
        BackendKind::Slurm => Slurm::default()
            .accounting(&record.job_id)
            .await
            .ok()
            .and_then(|rows| rows.into_iter().find(|r| r.id == record.job_id)),
        BackendKind::Local => None,
    };
    let events = dir.read_events();
    let plots = write_plots(&dir, &events.events, &summary)?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({"job_id": record.job_id, "summary": summary, "slurm": efficiency, "plots": plots})
            )?
        );
        return Ok(0);
    }
    println!(
        "job {} ({}), run folder {}",
        record.job_id,
        record.job_name,
        record.run_dir.display()
    );
    let (before, after) = (&summary.before, &summary.after);
    println!(
        "test accuracy  {:.4} -> {:.4}",
        before.accuracy, after.accuracy
    );
    println!(
        "test macro-F1  {:.4} -> {:.4}",
        before.macro_f1, after.macro_f1
    );
    println!(
        "\n{:<10} {:>9} {:>9} {:>9} {:>8}",
        "class", "precision", "recall", "F1", "support"
    );
    for c in &after.per_class {
        println!(
            "{:<10} {:>9.4} {:>9.4} {:>9.4} {:>8}",
            c.label, c.precision, c.recall, c.f1, c.support
        );
    }
    println!("\nconfusion matrix (rows: true, columns: predicted)");
    println!("{:<10} {}", "", LABELS.map(|l| format!("{l:>9}")).join(" "));
    for (label, row) in LABELS.iter().zip(&after.confusion) {
        let cells: Vec<String> = row.iter().map(|v| format!("{v:>9}")).collect();
        println!("{label:<10} {}", cells.join(" "));
    }
    println!(
        "\ntraining: {:.1} s, {:.1} sentences/s; inference {:.1} sentences/s; device {}; peak memory {}",
        summary.train_seconds,
        summary.train_sentences_per_second,
        summary.inference_sentences_per_second,
        summary.device,
        summary
            .peak_rss_mib
            .map_or("n/a".to_string(), |m| format!("{m} MiB"))
    );
    match &summary.gpu {
        Some(g) => println!(
            "GPU {}: mean utilisation {:.0}%, peak memory {} of {} MiB ({} before training){}",
            g.name,
            g.mean_utilization_percent,
            g.peak_memory_mib,
            g.total_memory_mib,
            g.baseline_memory_mib,
            summary
                .suggested_batch_size
                .map_or(String::new(), |b| format!(
                    "; a batch size of about {b} would fit"
                ))
        ),
        None => println!("GPU: not used or not monitored (no NVML)"),
    }
    if let Some(a) = efficiency {
        let elapsed = a.elapsed.seconds().unwrap_or(0) as f64;
        let limit = match a.time_limit {
            SlurmTime::Seconds(s) => format!(
                "{:.0}% of the {} limit",
                100.0 * elapsed / s.max(1) as f64,
                a.time_limit
            ),
            other => format!("limit {other}"),
        };
        let cpu = a
            .total_cpu_seconds
            .map(|c| {
                format!(
                    "{:.0}% of {} allocated CPUs",
                    100.0 * c / (elapsed * a.alloc_cpus.max(1) as f64).max(1.0),
                    a.alloc_cpus
                )
            })
            .unwrap_or_else(|| "n/a".into());
        println!(
            "Slurm: {} exit {}, elapsed {} ({limit}); CPU use {cpu}; MaxRSS {}",
            a.state,
            a.exit_code,
            a.elapsed,
            a.max_rss_mib
                .map(|m| format!("{m} MiB"))
                .unwrap_or_else(|| "n/a".into())
        );
    }
    println!("plots: {}", plots.join(", "));
    if events.skipped > 0 {
        println!(
            "note: {} line(s) of {} were not the worker's events and were left out of the plots",
            events.skipped,
            dir.metrics().display()
        );
    }
    Ok(0)
}

/// A score job: what it read, wrote, skipped and truncated, and how fast.
fn score_report(record: &crate::runs::RunRecord, json: bool) -> anyhow::Result<i32> {
    let dir = record.dir();
    let Some(summary) = crate::score::read_summary(&dir)? else {
        anyhow::bail!(
            "score job {} has not finished ({} is missing): `yenjob status {}` says where it is",
            record.job_id,
            dir.score_summary().display(),
            record.job_id
        );
    };
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({"job_id": record.job_id, "score": summary})
            )?
        );
        return Ok(0);
    }
    let skipped: u64 = summary.skipped.values().sum();
    println!(
        "score job {} ({}), run folder {}",
        record.job_id,
        record.job_name,
        record.run_dir.display()
    );
    println!(
        "input  {} ({} records)",
        summary.input.display(),
        summary.records
    );
    println!(
        "output {} ({} rows)",
        summary.output.display(),
        summary.written
    );
    println!("model  {}", summary.model.display());
    let labels: Vec<String> = summary
        .labels
        .iter()
        .map(|(l, n)| {
            format!(
                "{l} {n} ({:.1}%)",
                100.0 * *n as f64 / summary.written.max(1) as f64
            )
        })
        .collect();
    println!("labels {}", labels.join(", "));
    println!(
        "skipped {skipped}{}; {} truncated to the model's window",
        if skipped == 0 {
            String::new()
        } else {
            format!(
                " ({})",
                summary
                    .skipped
                    .iter()
                    .map(|(p, n)| format!("{n} {}", p.describe()))
                    .collect::<Vec<_>>()
                    .join("; ")
            )
        },
        summary.truncated
    );
    for (number, problem) in &summary.examples {
        println!("  record {number} {}", problem.describe());
    }
    println!(
        "{:.1} s, {:.0} records/s on {}, peak memory {}{}",
        summary.seconds,
        summary.records_per_second,
        summary.device,
        summary
            .peak_rss_mib
            .map_or("n/a".to_string(), |m| format!("{m} MiB")),
        summary
            .resumed_at
            .map_or(String::new(), |r| format!("; resumed after record {r}"))
    );
    Ok(0)
}

/// Writes training.svg (loss by step, validation accuracy by epoch), confusion.svg, and
/// gpu.svg when NVML sampled the GPU.
fn write_plots(
    dir: &RunDir,
    events: &[MetricEvent],
    summary: &Summary,
) -> anyhow::Result<Vec<String>> {
    let mut loss = Vec::new();
    let mut steps_per_epoch = None;
    let mut epochs = Vec::new();
    let mut gpu = Vec::new();
    for e in events {
        match e {
            MetricEvent::Step {
                step,
                loss: l,
                total_steps,
                epochs: n,
                ..
            } => {
                loss.push((*step as f64, *l));
                steps_per_epoch.get_or_insert(*total_steps as f64 / (*n).max(1) as f64);
            }
            MetricEvent::Epoch {
                epoch, accuracy, ..
            } => epochs.push((*epoch as f64, *accuracy)),
            MetricEvent::Gpu {
                utilization_percent,
                memory_used_mib,
                memory_total_mib,
            } => gpu.push((*utilization_percent, *memory_used_mib, *memory_total_mib)),
            _ => {}
        }
    }
    let per_epoch = steps_per_epoch.unwrap_or(1.0);
    let val: Vec<(f64, f64)> = epochs.iter().map(|(e, a)| (e * per_epoch, *a)).collect();
    let chart_error = |e: Box<dyn std::error::Error>| anyhow::anyhow!("cannot draw a chart: {e}");
    let training = dir.training_plot();
    charts::training_chart(&training, &loss, &val).map_err(chart_error)?;
    let confusion = dir.confusion_plot();
    charts::confusion_chart(&confusion, &LABELS, &summary.after.confusion).map_err(chart_error)?;
    let mut written = vec![
        training.display().to_string(),
        confusion.display().to_string(),
    ];
    if !gpu.is_empty() {
        let path = dir.gpu_plot();
        charts::gpu_chart(&path, &gpu).map_err(chart_error)?;
        written.push(path.display().to_string());
    }
    // A PNG of each, for slides and mail.
    let pngs: Vec<String> = written
        .iter()
        .map(|svg| charts::png_of(std::path::Path::new(svg)).map(|p| p.display().to_string()))
        .collect::<Result<_, _>>()
        .map_err(chart_error)?;
    written.extend(pngs);
    Ok(written)
}
