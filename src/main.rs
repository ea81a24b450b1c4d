use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use clap_complete::engine::ArgValueCompleter;

use yenjob::commands;
use yenjob::spec::BackendChoice;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Fine-tune BERT on a Slurm cluster's GPU: check, submit, follow, and the worker itself.
#[derive(Parser)]
#[command(name = "yenjob", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Colour states and verdicts: auto (on a terminal, unless NO_COLOR is set), always, never.
    #[arg(long, global = true, value_enum, default_value_t = Color::Auto)]
    color: Color,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Color {
    Auto,
    Always,
    Never,
}

/// Completes a JOB argument from the run index.
fn job_ids() -> ArgValueCompleter {
    ArgValueCompleter::new(commands::complete::job_ids)
}

#[derive(Subcommand)]
enum Command {
    /// Say whether a job would start now, pend (and why) or be refused, without submitting.
    Check {
        /// The job spec (TOML). Default: the built-in jobs/finbert.toml.
        spec: Option<PathBuf>,
        /// Print the verdict as JSON.
        #[arg(long)]
        json: bool,
        /// Judge it with this time limit (`2:00:00`) in place of the spec's `job.time`, as
        /// `submit --time` would send it.
        #[arg(long, value_name = "TIME")]
        time: Option<String>,
        /// Judge it with this memory (`16G`) in place of the spec's `job.mem`.
        #[arg(long, value_name = "MEM")]
        mem: Option<String>,
    },
    /// Check, render the sbatch script, submit it and record the run; a spec with a [sweep]
    /// table is submitted as one job array, one run folder per task.
    Submit {
        /// The job spec (TOML). Default: the built-in jobs/finbert.toml.
        #[arg(conflicts_with = "rerun_failed")]
        spec: Option<PathBuf>,
        /// Run again, in its own folder, a run (job id or run id) that ended without
        /// completing: it resumes from its checkpoint, a score job from its progress. For a
        /// sweep: the tasks that did not complete, as a new array.
        #[arg(long, value_name = "RUN", add = job_ids())]
        rerun_failed: Option<String>,
        /// Print the script that would be submitted, and submit nothing.
        #[arg(long, conflicts_with = "rerun_failed")]
        dry_run: bool,
        /// Submit even when the pre-flight says Slurm will refuse the job.
        #[arg(long)]
        force: bool,
        /// Where to run: slurm, local, or auto (Slurm when sbatch is on PATH). A rerun runs
        /// where the run ran.
        #[arg(long, value_enum, conflicts_with = "rerun_failed")]
        backend: Option<BackendChoice>,
        /// After submitting, follow the log until the job ends (like `yenjob tail`).
        #[arg(long, conflicts_with = "json")]
        follow: bool,
        /// One JSON object: the job id, run folder and verdict (with --dry-run: the script,
        /// the sbatch command and the verdict).
        #[arg(long)]
        json: bool,
        /// The time limit (`2:00:00`) in place of the spec's `job.time`; with --rerun-failed,
        /// the limit to run it again with, e.g. after it ended in TIMEOUT (later reruns keep it).
        #[arg(long, value_name = "TIME")]
        time: Option<String>,
        /// The memory (`16G`) in place of the spec's `job.mem`; with --rerun-failed, the
        /// memory to run it again with, e.g. after it ended in OUT_OF_MEMORY (later reruns
        /// keep it).
        #[arg(long, value_name = "MEM")]
        mem: Option<String>,
    },
    /// Show your yenjob jobs: state, time, node, progress, and why a pending job waits.
    Status {
        /// A job id, run id, sweep, or sweep task (`123_4`); default: every run that has not
        /// ended and the 10 newest others.
        #[arg(add = job_ids())]
        job: Option<String>,
        /// Show every run ever recorded.
        #[arg(long, conflicts_with = "job")]
        all: bool,
        /// A JSON array: one object a job or sweep (with `status SWEEP`, a task) with its
        /// state, times, pending reason, progress and what to do next.
        #[arg(long)]
        json: bool,
    },
    /// Print a job's log and follow it until the job ends (default: the newest job).
    Tail {
        /// A job id, run id, or a sweep's task (`123_4`).
        #[arg(add = job_ids())]
        job: Option<String>,
        /// Print what is there and stop.
        #[arg(long)]
        no_follow: bool,
        /// The worker's events (metrics.jsonl) as JSON lines instead of the log, and the
        /// job's state changes as `{"event": "job", ...}` lines.
        #[arg(long)]
        json: bool,
    },
    /// Cancel a job, a whole sweep, or one task of a sweep (`123_4`), and confirm it stopped.
    Cancel {
        /// A job id, run id, sweep, or sweep task (`123_4`); default: the newest run.
        #[arg(add = job_ids())]
        job: Option<String>,
        /// One JSON object: the job, and each job's state before and after.
        #[arg(long)]
        json: bool,
    },
    /// Results of a finished run: accuracy, per-class figures, confusion matrix, speed, GPU and
    /// Slurm efficiency; writes training.svg and confusion.svg (and gpu.svg), each with a PNG
    /// beside it, into the run folder. For a sweep: one row per configuration, mean ± sd over
    /// seeds, the best by validation accuracy, and sweep.svg (and sweep.png).
    Report {
        /// A job id, run id, sweep, or sweep task (`123_4`); default: the newest run.
        #[arg(add = job_ids())]
        job: Option<String>,
        /// The report as one JSON object: the run's summary, or a sweep's rows.
        #[arg(long, conflicts_with = "csv")]
        json: bool,
        /// A sweep's table as CSV.
        #[arg(long)]
        csv: bool,
    },
    /// Label headlines with a fine-tuned run's model: arguments, --file, or stdin (one a line).
    Predict {
        /// Sentences to label.
        texts: Vec<String>,
        /// The run whose model to use (job id or run id; default: the newest run).
        #[arg(long, add = job_ids())]
        job: Option<String>,
        /// A model folder instead of a run (as written by the worker).
        #[arg(long, conflicts_with = "job")]
        model: Option<PathBuf>,
        /// Read sentences from this file, one a line.
        #[arg(long)]
        file: Option<PathBuf>,
        /// One JSON object a line.
        #[arg(long)]
        json: bool,
    },
    /// Score a corpus with a fine-tuned model, as a job: a text file (a sentence a line), a CSV
    /// file with a text column, or JSON lines; CSV in gives CSV out (the input's columns, then
    /// label,negative,neutral,positive), one row per input row, in order.
    Score(commands::score::Options),
    /// The [job] defaults of the site and user config files, each with the file that set it;
    /// with SPEC, that spec's values once the files fill what it leaves out.
    Config {
        /// A job spec (TOML) to show with the config files' defaults filled in.
        spec: Option<PathBuf>,
        /// The same as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Print the shell script that completes yenjob's commands, options and job ids:
    /// `source <(yenjob completions bash)` (zsh alike; fish: `| source`).
    Completions {
        /// The shell to complete for.
        #[arg(value_parser = ["bash", "zsh", "fish", "elvish", "powershell"])]
        shell: String,
    },
    /// Print yenjob's manual page (roff): `yenjob man | man -l -`.
    Man,
    /// Score the job in a run folder here (what a score job's sbatch script calls).
    #[command(hide = true)]
    ScoreWorker {
        #[arg(long)]
        run_dir: PathBuf,
    },
    /// Run the fine-tune of a spec's [train] table here (what the sbatch script calls).
    Worker {
        /// The job spec (TOML) whose [train] table to run.
        #[arg(long)]
        spec: PathBuf,
        /// Folder that the spec's relative paths resolve against (default: the spec's folder).
        #[arg(long)]
        base_dir: Option<PathBuf>,
        /// Where the outputs go (metrics, checkpoints, summary, model).
        #[arg(long)]
        run_dir: PathBuf,
        /// Warn about malformed data lines and skip them instead of stopping.
        #[arg(long)]
        skip_bad_lines: bool,
    },
}

/// mimalloc.h's `mi_option_purge_delay` (the crate names options up to 14 and from 16 on).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn main() -> ExitCode {
    // Training frees and re-allocates the same large buffers every step; returning them to the
    // OS in between costs page faults (measured: 17.3 -> 20.5 sentences/s when kept).
    // SAFETY: sets a process-wide allocator option; no allocation is in flight.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
    // `yenjob status | head`: when the reader goes away, end quietly as other Unix tools do
    // (Rust ignores SIGPIPE, so every println! would panic with "Broken pipe" instead).
    // SAFETY: restores the default action of one signal before any thread is started.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    // `COMPLETE=bash yenjob ...`: the shell asks for candidates; answer and exit.
    clap_complete::CompleteEnv::with_factory(Cli::command).complete();
    let cli = Cli::parse();
    match cli.color {
        Color::Always => anstream::ColorChoice::Always.write_global(),
        Color::Never => anstream::ColorChoice::Never.write_global(),
        Color::Auto => {}
    }
    let result = match cli.command {
        // The worker is CPU/GPU-bound and synchronous: no async runtime around it.
        Command::Worker {
            spec,
            base_dir,
            run_dir,
            skip_bad_lines,
        } => yenjob::worker::run_cli(&spec, base_dir.as_deref(), &run_dir, skip_bad_lines),
        Command::ScoreWorker { run_dir } => yenjob::score::run_cli(&run_dir),
        Command::Config { spec, json } => commands::config::run(spec.as_deref(), json),
        Command::Completions { shell } => commands::complete::registration(&shell).map(|s| {
            print!("{s}");
            0
        }),
        Command::Man => man(),
        Command::Predict {
            texts,
            job,
            model,
            file,
            json,
        } => commands::predict::run(job.as_deref(), model, file, texts, json),
        other => launcher(other),
    };
    match result {
        Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
        Err(e) => {
            eprintln!("yenjob: error: {}", error_text(&e));
            ExitCode::from(1)
        }
    }
}

fn launcher(command: Command) -> anyhow::Result<i32> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match command {
            Command::Check {
                spec,
                json,
                time,
                mem,
            } => {
                let limits = commands::submit::new_limits(time.as_deref(), mem.as_deref())?;
                commands::check::run(spec.as_deref(), &limits, json).await
            }
            Command::Submit {
                spec,
                rerun_failed,
                json,
                dry_run,
                force,
                backend,
                follow,
                time,
                mem,
            } => {
                let limits = commands::submit::new_limits(time.as_deref(), mem.as_deref())?;
                commands::submit::run(commands::submit::Options {
                    spec: spec.as_deref(),
                    dry_run,
                    force,
                    backend,
                    follow,
                    rerun_failed: rerun_failed.as_deref(),
                    json,
                    limits,
                })
                .await
            }
            Command::Status { job, all, json } => {
                commands::status::run(job.as_deref(), all, json).await
            }
            Command::Tail {
                job,
                no_follow,
                json,
            } => commands::tail::run(job.as_deref(), !no_follow, json).await,
            Command::Cancel { job, json } => commands::cancel::run(job.as_deref(), json).await,
            Command::Report { job, json, csv } => {
                commands::report::run(job.as_deref(), json, csv).await
            }
            Command::Score(options) => commands::score::run(options).await,
            Command::Worker { .. }
            | Command::ScoreWorker { .. }
            | Command::Predict { .. }
            | Command::Config { .. }
            | Command::Completions { .. }
            | Command::Man => {
                unreachable!("handled before the runtime starts")
            }
        }
    })
}

/// The manual page, from the same definitions as `--help`.
fn man() -> anyhow::Result<i32> {
    let mut out = std::io::stdout().lock();
    clap_mangen::Man::new(Cli::command()).render(&mut out)?;
    Ok(0)
}

/// The error and its causes, `: `-joined. Each error's message leaves its cause out (the
/// cause is its `source`), so each appears once by construction.
fn error_text(e: &anyhow::Error) -> String {
    yenjob::error_chain(e.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: `score --help` listed `--input` and `--cpus` with no words. Every option
    /// and argument of every command says what it is for.
    #[test]
    fn every_argument_has_help() {
        fn walk(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in command.get_arguments() {
                let id = arg.get_id().as_str();
                if arg.is_hide_set() || matches!(id, "help" | "version") {
                    continue;
                }
                if arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{path} {id}"));
                }
            }
            for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let command = Cli::command();
        command.clone().debug_assert();
        let mut missing = Vec::new();
        walk(&command, "yenjob", &mut missing);
        assert!(missing.is_empty(), "no help for: {missing:?}");
    }
}
