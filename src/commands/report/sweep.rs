//! `yenjob report SWEEP`: one row per configuration (the swept values other than `seed`),
//! mean ± standard deviation over its seeds of validation accuracy, test accuracy, macro-F1
//! and training time; the best configuration by validation accuracy, never by test; every
//! task that did not complete listed with its state and exit code. `aggregate` is pure: the
//! tasks' results in, the report out.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use crate::backend;
use crate::run_dir::Summary;
use crate::runs::failure::Failure;
use crate::runs::{self, RunRecord, SweepRecord, value_text};
use crate::slurm::Slurm;
use crate::slurm::state::JobState;

/// What one task left.
#[derive(Debug, Clone)]
pub struct TaskResult {
    pub index: usize,
    pub job_id: String,
    pub state: JobState,
    pub exit_code: Option<String>,
    /// A failed task: why.
    pub failure: Option<Failure>,
    pub summary: Option<Summary>,
}

/// Mean and sample standard deviation (`None` below two values) of `n` values.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Spread {
    pub mean: f64,
    pub sd: Option<f64>,
    pub n: usize,
}

impl Spread {
    fn of(values: &[f64]) -> Option<Spread> {
        let n = values.len();
        if n == 0 {
            return None;
        }
        let mean = values.iter().sum::<f64>() / n as f64;
        let sd = (n > 1).then(|| {
            let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
            var.sqrt()
        });
        Some(Spread { mean, sd, n })
    }

    fn text(&self, digits: usize) -> String {
        match self.sd {
            Some(sd) => format!("{:.digits$} ± {sd:.digits$}", self.mean),
            None => format!("{:.digits$}", self.mean),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Configuration {
    /// The swept values other than `seed`.
    pub params: BTreeMap<String, serde_json::Value>,
    /// `learning_rate=2e-5` (`all tasks` when only seeds are swept).
    pub label: String,
    pub tasks: Vec<usize>,
    pub finished: usize,
    /// Ended without results: failed, cancelled, timed out, ...
    pub failed: usize,
    /// Still queued or running.
    pub unfinished: usize,
    /// The last epoch's validation accuracy.
    pub validation_accuracy: Option<Spread>,
    pub test_accuracy: Option<Spread>,
    pub test_macro_f1: Option<Spread>,
    pub train_seconds: Option<Spread>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TaskRow {
    pub task: usize,
    pub job_id: String,
    pub params: BTreeMap<String, serde_json::Value>,
    pub state: JobState,
    pub exit_code: Option<String>,
    /// A failed task: why, by kind (as `status --json` gives it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    pub validation_accuracy: Option<f64>,
    pub test_accuracy: Option<f64>,
    pub test_macro_f1: Option<f64>,
    pub train_seconds: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SweepReport {
    pub sweep: String,
    pub run_dir: String,
    pub keys: Vec<String>,
    pub configurations: Vec<Configuration>,
    /// The label of the configuration with the highest mean validation accuracy.
    pub best: Option<String>,
    pub tasks: Vec<TaskRow>,
    pub plot: Option<String>,
}

/// The report of a sweep from its tasks' results, configurations in grid order.
pub fn aggregate(record: &RunRecord, grid: &SweepRecord, results: &[TaskResult]) -> SweepReport {
    let params_of = |index: usize, skip_seed: bool| -> BTreeMap<String, serde_json::Value> {
        grid.keys
            .iter()
            .cloned()
            .zip(grid.tasks.get(index).cloned().unwrap_or_default())
            .filter(|(k, _)| !(skip_seed && k == "seed"))
            .collect()
    };
    let label_of = |index: usize| -> String {
        let values: Vec<String> = grid
            .keys
            .iter()
            .zip(grid.tasks.get(index).into_iter().flatten())
            .filter(|(k, _)| *k != "seed")
            .map(|(k, v)| format!("{k}={}", value_text(v)))
            .collect();
        if values.is_empty() {
            "all tasks".to_string()
        } else {
            values.join(" ")
        }
    };
    let mut configurations: Vec<Configuration> = Vec::new();
    let mut tasks = Vec::new();
    for r in results {
        let label = label_of(r.index);
        let position = match configurations.iter().position(|c| c.label == label) {
            Some(p) => p,
            None => {
                configurations.push(Configuration {
                    params: params_of(r.index, true),
                    label,
                    tasks: Vec::new(),
                    finished: 0,
                    failed: 0,
                    unfinished: 0,
                    validation_accuracy: None,
                    test_accuracy: None,
                    test_macro_f1: None,
                    train_seconds: None,
                });
                configurations.len() - 1
            }
        };
        let c = &mut configurations[position];
        c.tasks.push(r.index);
        match (
            &r.summary,
            r.state.is_finished() || r.state == JobState::Unknown,
        ) {
            (Some(_), _) => c.finished += 1,
            (None, true) => c.failed += 1,
            (None, false) => c.unfinished += 1,
        }
        let s = r.summary.as_ref();
        tasks.push(TaskRow {
            task: r.index,
            job_id: r.job_id.clone(),
            params: params_of(r.index, false),
            state: r.state.clone(),
            exit_code: r.exit_code.clone(),
            failure: r.failure.clone(),
            validation_accuracy: s.and_then(|s| s.validation.last()).map(|m| m.accuracy),
            test_accuracy: s.map(|s| s.after.accuracy),
            test_macro_f1: s.map(|s| s.after.macro_f1),
            train_seconds: s.map(|s| s.train_seconds),
        });
    }
    for c in &mut configurations {
        let rows: Vec<&TaskRow> = tasks.iter().filter(|t| c.tasks.contains(&t.task)).collect();
        let column = |f: fn(&TaskRow) -> Option<f64>| -> Option<Spread> {
            Spread::of(&rows.iter().filter_map(|t| f(t)).collect::<Vec<_>>())
        };
        c.validation_accuracy = column(|t| t.validation_accuracy);
        c.test_accuracy = column(|t| t.test_accuracy);
        c.test_macro_f1 = column(|t| t.test_macro_f1);
        c.train_seconds = column(|t| t.train_seconds);
    }
    let best = configurations
        .iter()
        .filter_map(|c| c.validation_accuracy.map(|v| (c, v.mean)))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(c, _)| c.label.clone());
    SweepReport {
        sweep: record.job_id.clone(),
        run_dir: record.run_dir.display().to_string(),
        keys: grid.keys.clone(),
        configurations,
        best,
        tasks,
        plot: None,
    }
}

pub async fn run(record: &RunRecord, json: bool, csv: bool) -> anyhow::Result<i32> {
    let Some(grid) = &record.sweep else {
        return Ok(0);
    };
    let tasks = record.tasks();
    let statuses = backend::statuses(&Slurm::default(), &tasks, false).await?;
    let mut results = Vec::new();
    for (task, status) in tasks.iter().zip(statuses) {
        results.push(TaskResult {
            index: task.task.unwrap_or(0),
            job_id: task.job_id.clone(),
            failure: runs::advice::failure_of(task, &status.state, status.exit_code.as_deref()),
            state: status.state,
            exit_code: status.exit_code,
            summary: task.dir().read_summary()?,
        });
    }
    let mut report = aggregate(record, grid, &results);
    let plot = record.run_dir.join("sweep.svg");
    match super::charts::sweep_chart(&plot, &report).and_then(|()| super::charts::png_of(&plot)) {
        Ok(_) => report.plot = Some(plot.display().to_string()),
        Err(e) => eprintln!("yenjob: warning: no plot ({e})"),
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else if csv {
        print!("{}", to_csv(&report));
    } else {
        print_table(&report, Path::new(&record.run_dir));
    }
    Ok(0)
}

fn print_table(report: &SweepReport, folder: &Path) {
    let finished: usize = report.configurations.iter().map(|c| c.finished).sum();
    println!(
        "sweep {}: {} tasks, {finished} with results; folder {}",
        report.sweep,
        report.tasks.len(),
        folder.display()
    );
    let width = report
        .configurations
        .iter()
        .map(|c| c.label.chars().count())
        .max()
        .unwrap_or(0)
        .max("configuration".len());
    println!(
        "\n  {:<width$}  {:>15}  {:>15}  {:>15}  {:>13}  {:>4}  {:>6}",
        "configuration",
        "val accuracy",
        "test accuracy",
        "test macro-F1",
        "train s",
        "done",
        "failed"
    );
    let cell = |s: Option<Spread>, digits: usize| s.map_or("-".into(), |s| s.text(digits));
    for c in &report.configurations {
        let mark = if report.best.as_deref() == Some(c.label.as_str()) {
            "*"
        } else {
            " "
        };
        println!(
            "{mark} {:<width$}  {:>15}  {:>15}  {:>15}  {:>13}  {:>4}  {:>6}",
            c.label,
            cell(c.validation_accuracy, 4),
            cell(c.test_accuracy, 4),
            cell(c.test_macro_f1, 4),
            cell(c.train_seconds, 1),
            format!("{}/{}", c.finished, c.tasks.len()),
            c.failed
        );
    }
    match &report.best {
        Some(best) => println!(
            "\n* best by validation accuracy (mean over seeds): {best}; its test accuracy is the one to quote"
        ),
        None => println!("\nno configuration has a validation result yet"),
    }
    let unfinished: Vec<&TaskRow> = report
        .tasks
        .iter()
        .filter(|t| t.test_accuracy.is_none())
        .collect();
    if !unfinished.is_empty() {
        println!("\ntasks without results:");
        for t in &unfinished {
            let params: Vec<String> = t
                .params
                .iter()
                .map(|(k, v)| format!("{k}={}", value_text(v)))
                .collect();
            println!(
                "  task {} ({}) {}: {}{}{}",
                t.task,
                t.job_id,
                params.join(" "),
                t.state,
                t.exit_code
                    .as_deref()
                    .map_or(String::new(), |c| format!(", exit code {c}")),
                t.failure.as_ref().map_or(String::new(), |f| format!(
                    "; {}",
                    runs::advice::describe(f, &t.job_id)
                ))
            );
        }
        if unfinished
            .iter()
            .any(|t| t.state.is_finished() || t.state == JobState::Unknown)
        {
            println!(
                "  `yenjob submit --rerun-failed {}` runs those that ended again, each from its last checkpoint",
                report.sweep
            );
        }
    }
    if let Some(plot) = &report.plot {
        println!("\nplot: {plot}");
    }
}

/// One row per configuration.
fn to_csv(report: &SweepReport) -> String {
    let keys: Vec<&String> = report.keys.iter().filter(|k| *k != "seed").collect();
    let mut out = String::new();
    let mut header: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    for m in [
        "validation_accuracy",
        "test_accuracy",
        "test_macro_f1",
        "train_seconds",
    ] {
        header.push(format!("{m}_mean"));
        header.push(format!("{m}_sd"));
    }
    header.extend(["tasks", "finished", "failed", "best"].map(String::from));
    out.push_str(&header.join(","));
    out.push('\n');
    let num = |v: Option<f64>| v.map_or(String::new(), |x| x.to_string());
    for c in &report.configurations {
        let mut row: Vec<String> = keys
            .iter()
            .map(|k| csv_field(&c.params.get(*k).map(value_text).unwrap_or_default()))
            .collect();
        for s in [
            c.validation_accuracy,
            c.test_accuracy,
            c.test_macro_f1,
            c.train_seconds,
        ] {
            row.push(num(s.map(|s| s.mean)));
            row.push(num(s.and_then(|s| s.sd)));
        }
        row.push(c.tasks.len().to_string());
        row.push(c.finished.to_string());
        row.push(c.failed.to_string());
        row.push((report.best.as_deref() == Some(c.label.as_str())).to_string());
        out.push_str(&row.join(","));
        out.push('\n');
    }
    out
}

/// A CSV field, quoted when it holds a comma, a quote or a line break.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_is_the_sample_standard_deviation() {
        let s = Spread::of(&[0.9, 0.95, 1.0]).unwrap();
        assert!((s.mean - 0.95).abs() < 1e-12);
        assert!((s.sd.unwrap() - 0.05).abs() < 1e-12);
        assert_eq!(Spread::of(&[0.5]).unwrap().sd, None);
        assert_eq!(Spread::of(&[]), None);
    }

    #[test]
    fn csv_quotes_what_needs_it() {
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("2e-5"), "2e-5");
    }
}
