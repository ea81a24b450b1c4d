//! `yenjob report JOB`: what a researcher reads after a run: test accuracy and macro-F1 before
//! and after, per-class figures, the confusion matrix, speed, device, GPU use, and Slurm's
//! efficiency numbers; plus SVG plots (loss, validation accuracy, confusion matrix). A sweep's
//! report compares its configurations (`sweep.rs`).

mod charts;
mod sweep;

use std::fmt::Write as _;

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
        anyhow::anyhow!(
            "job {} has no results yet ({} is missing): `yenjob status {}` says where it is",
            record.job_id,
            dir.summary().display(),
            record.job_id
        )
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

/// Writes training.svg (loss by step, validation accuracy by epoch) and confusion.svg.
fn write_plots(
    dir: &RunDir,
    events: &[MetricEvent],
    summary: &Summary,
) -> anyhow::Result<Vec<String>> {
    let mut loss = Vec::new();
    let mut steps_per_epoch = None;
    let mut epochs = Vec::new();
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
            _ => {}
        }
    }
    let per_epoch = steps_per_epoch.unwrap_or(1.0);
    let val: Vec<(f64, f64)> = epochs.iter().map(|(e, a)| (e * per_epoch, *a)).collect();
    let training = dir.training_plot();
    std::fs::write(
        &training,
        line_chart(
            "Training loss (per logged step) and validation accuracy (per epoch)",
            &loss,
            &val,
        ),
    )?;
    let confusion = dir.confusion_plot();
    std::fs::write(&confusion, confusion_svg(&summary.after.confusion))?;
    Ok(vec![
        training.display().to_string(),
        confusion.display().to_string(),
    ])
}

fn line_chart(title: &str, left: &[(f64, f64)], right: &[(f64, f64)]) -> String {
    let (w, h, pad) = (720.0, 360.0, 50.0);
    let max_x = left.iter().chain(right).map(|p| p.0).fold(1.0, f64::max);
    let max_loss = left.iter().map(|p| p.1).fold(0.1, f64::max);
    let x = |v: f64| pad + v / max_x * (w - 2.0 * pad);
    let y = |v: f64, top: f64| h - pad - v / top * (h - 2.0 * pad);
    let path = |pts: &[(f64, f64)], top: f64| {
        pts.iter()
            .map(|p| format!("{:.1},{:.1}", x(p.0), y(p.1, top)))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="{pad}" y="20" font-size="14">{title}</text>
<line x1="{pad}" y1="{b}" x2="{r}" y2="{b}" stroke="black"/><line x1="{pad}" y1="{pad}" x2="{pad}" y2="{b}" stroke="black"/><line x1="{r}" y1="{pad}" x2="{r}" y2="{b}" stroke="black"/>
<text x="{cx}" y="{lb}">step (of {max_x:.0})</text>
<text x="5" y="{pad}" fill="#1f77b4">loss {max_loss:.2}</text><text x="5" y="{b}" fill="#1f77b4">0</text>
<text x="{r2}" y="{pad}" fill="#d62728">acc 1.0</text><text x="{r2}" y="{b}" fill="#d62728">0</text>
<polyline fill="none" stroke="#1f77b4" stroke-width="1.5" points="{lp}"/>
<polyline fill="none" stroke="#d62728" stroke-width="2" points="{rp}"/>
"##,
        b = h - pad,
        r = w - pad,
        r2 = w - pad + 4.0,
        cx = w / 2.0 - 40.0,
        lb = h - 15.0,
        lp = path(left, max_loss),
        rp = path(right, 1.0),
    );
    for p in right {
        let _ = writeln!(
            s,
            r##"<circle cx="{:.1}" cy="{:.1}" r="3" fill="#d62728"/>"##,
            x(p.0),
            y(p.1, 1.0)
        );
    }
    s.push_str("</svg>\n");
    s
}

fn confusion_svg(rows: &[Vec<usize>]) -> String {
    let labels = LABELS;
    let max = rows.iter().flatten().copied().max().unwrap_or(1).max(1) as f64;
    let cell: f64 = 90.0;
    let (ox, oy): (f64, f64) = (110.0, 60.0);
    let mut s = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" font-family="sans-serif" font-size="13">
<rect width="100%" height="100%" fill="white"/>
<text x="10" y="20" font-size="14">Confusion matrix (test set): rows true, columns predicted</text>
"##,
        (ox + 3.0 * cell + 20.0).max(470.0),
        oy + 3.0 * cell + 20.0
    );
    for (i, l) in labels.iter().enumerate() {
        let _ = writeln!(
            s,
            r#"<text x="{:.0}" y="{:.0}" text-anchor="middle">{l}</text>"#,
            ox + (i as f64 + 0.5) * cell,
            oy - 8.0
        );
        let _ = writeln!(
            s,
            r#"<text x="{:.0}" y="{:.0}" text-anchor="end">{l}</text>"#,
            ox - 8.0,
            oy + (i as f64 + 0.55) * cell
        );
    }
    for (r, row) in rows.iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            let shade = 255.0 - 200.0 * (*v as f64 / max);
            let _ = writeln!(
                s,
                r#"<rect x="{:.0}" y="{:.0}" width="{cell}" height="{cell}" fill="rgb({shade:.0},{shade:.0},255)" stroke="white"/><text x="{:.0}" y="{:.0}" text-anchor="middle" font-size="16">{v}</text>"#,
                ox + c as f64 * cell,
                oy + r as f64 * cell,
                ox + (c as f64 + 0.5) * cell,
                oy + (r as f64 + 0.55) * cell
            );
        }
    }
    s.push_str("</svg>\n");
    s
}
