//! `yenjob score`: a corpus scored with a fine-tuned model, as a job (Slurm, or a local
//! background job) with a run folder, pre-flight, status, tail, cancel and report like a
//! fine-tune. Everything the job needs is checked before it is queued: the model is a trained
//! classifier, the input is there with its text column, the output will not overwrite a file
//! by surprise.

use std::path::{Path, PathBuf};

use crate::backend;
use crate::run_dir::{RunDir, atomic_write};
use crate::runs::{self, BackendKind};
use crate::score::input::{Encoding, InputFormat, Reader};
use crate::score::output::OutputFormat;
use crate::score::{self, ScoreJob};
use crate::script::{self, Layout, Work};
use crate::slurm::Slurm;
use crate::spec::{BackendChoice, JobSpec, JobTable, ScoreSpec, ScoreTable};

use super::submit::{
    Origin, allowed, choose_backend, dry_run_json, launch, launched, new_record, print_json,
    sbatch_argv, submitted_json,
};

/// What `yenjob score` is given on the command line.
#[derive(Debug, Default, clap::Args)]
pub struct Options {
    /// A model folder written by `yenjob worker`.
    #[arg(long, conflicts_with = "run")]
    pub model: Option<PathBuf>,
    /// The run whose model to use (job id or run id).
    #[arg(long = "job", value_name = "JOB", add = clap_complete::engine::ArgValueCompleter::new(super::complete::job_ids))]
    pub run: Option<String>,
    /// The corpus to score: a text file, a CSV file or JSON lines (see --format).
    #[arg(long)]
    pub input: Option<PathBuf>,
    /// Where the rows go: .csv, or .jsonl for JSON lines.
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// The CSV column or JSON field with the text.
    #[arg(long)]
    pub text_column: Option<String>,
    /// The input's layout (default: from its extension).
    #[arg(long, value_enum)]
    pub format: Option<InputFormat>,
    /// How the input's bytes become text (default utf-8).
    #[arg(long, value_enum)]
    pub encoding: Option<Encoding>,
    /// Stop at the first record that cannot be scored (default: skip and count it).
    #[arg(long)]
    pub strict: bool,
    /// Replace the output file if it exists.
    #[arg(long)]
    pub overwrite: bool,
    /// A spec with [job] (resources) and [score] (what to score); flags override it.
    #[arg(long)]
    pub spec: Option<PathBuf>,
    /// Where to run: slurm, local, or auto (Slurm when sbatch is on PATH).
    #[arg(long, value_enum)]
    pub backend: Option<BackendChoice>,
    /// Follow the job's log until it ends.
    #[arg(long)]
    pub follow: bool,
    /// Print the script and the job's score.json, and submit nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// One JSON object on stdout instead of text: what was submitted (or, with --dry-run,
    /// would be), the score job, and the pre-flight's verdict.
    #[arg(long, conflicts_with = "follow")]
    pub json: bool,
    /// Submit even when the pre-flight says Slurm will refuse the job.
    #[arg(long)]
    pub force: bool,
    /// The job's partition (default: the spec's, or the training run's).
    #[arg(long)]
    pub partition: Option<String>,
    /// GPUs: a count, or TYPE:COUNT.
    #[arg(long)]
    pub gpus: Option<String>,
    /// CPUs for the job (default: the spec's, or the training run's).
    #[arg(long)]
    pub cpus: Option<u32>,
    /// The job's time limit (`2:00:00`).
    #[arg(long)]
    pub time: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ScoreCommandError {
    #[error("name the model: --model DIR (a model folder written by `yenjob worker`) or --job JOB")]
    NoModel,
    #[error("name the {0}: --{0} FILE")]
    Missing(&'static str),
    #[error("{0} exists; --overwrite replaces it")]
    OutputExists(PathBuf),
    #[error("the output's folder {0} does not exist")]
    NoOutputFolder(PathBuf),
    #[error("{0} is the input (or another name for it): the output must be another file")]
    OutputIsInput(PathBuf),
    #[error(
        "{run} is a sweep: score with one task's model (`{run}_N`); `yenjob report {run}` says which did best"
    )]
    Sweep { run: String },
    #[error(transparent)]
    Flag(#[from] super::FlagError),
    #[error("{path} line 1 has no field {field:?}: its fields are {fields}")]
    NoField {
        path: PathBuf,
        field: String,
        fields: String,
    },
}

pub async fn run(opts: Options) -> anyhow::Result<i32> {
    let cwd = std::env::current_dir()?;
    let spec = opts.spec.as_deref().map(ScoreSpec::load).transpose()?;
    let table = spec.as_ref().map(|s| s.score.clone()).unwrap_or_default();
    let paths = Paths {
        cwd: cwd.clone(),
        spec_dir: spec.as_ref().map_or(cwd.clone(), |s| s.base_dir.clone()),
    };
    let (model, trained) = resolve_model(&opts, &table, &paths)?;
    score::check_model(&model)?;
    let input = paths
        .pick(&opts.input, &table.input)
        .ok_or(ScoreCommandError::Missing("input"))?;
    let output = paths
        .pick(&opts.output, &table.output)
        .ok_or(ScoreCommandError::Missing("output"))?;
    let format = opts
        .format
        .or(table.format)
        .unwrap_or_else(|| InputFormat::of(&input));
    let text_column = opts.text_column.clone().or(table.text_column.clone());
    let encoding = opts.encoding.or(table.encoding).unwrap_or_default();
    check_input(&input, format, text_column.as_deref(), encoding)?;
    check_output(&output, &input, opts.overwrite)?;
    let job = ScoreJob {
        model,
        input: input.clone(),
        format,
        text_column,
        encoding,
        output: output.clone(),
        output_format: OutputFormat::of(&output),
        strict: opts.strict || table.strict,
    };

    let (mut table_job, source, base_dir) = job_table(spec.as_ref(), trained.as_ref(), &cwd)?;
    if spec.is_none() {
        let stem = input
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "corpus".into());
        table_job.name = super::flag_value("name", toml::Value::String(format!("score-{stem}")))?;
    }
    override_resources(&mut table_job, &opts)?;
    let backend = choose_backend(&table_job, opts.backend);
    let binary = std::env::current_exe()?;
    let slurm = Slurm::default();

    if opts.dry_run {
        let run_dir = base_dir.join(&table_job.runs_dir).join("<run-id>");
        let layout = Layout::Job { run_dir: &run_dir };
        if opts.json {
            let text = script::render_job(&table_job, &source, Work::Score, &binary, layout)?;
            let argv = sbatch_argv(&script::job_arguments(&table_job, layout), &run_dir);
            let request = super::request_for(&table_job, 1);
            let mut json = dry_run_json(&slurm, backend, text, argv, async |state| {
                let mut v = crate::preflight::assess(&request, state);
                let render = |layout: Layout| {
                    script::render_job(&table_job, &source, Work::Score, &binary, layout)
                };
                super::weigh_hidden_reservations(
                    &slurm, state, &request, &table_job, render, &mut v,
                )
                .await;
                v
            })
            .await;
            json["score"] = serde_json::to_value(&job)?;
            print_json(&json)?;
            return Ok(0);
        }
        print!(
            "{}",
            script::render_job(&table_job, &source, Work::Score, &binary, layout)?
        );
        eprintln!("# score.json: {}", serde_json::to_string(&job)?);
        if backend == BackendKind::Slurm {
            eprintln!(
                "# would run: sbatch --parsable {} <run-dir>/job.sbatch",
                script::job_arguments(&table_job, layout).join(" ")
            );
        }
        return Ok(0);
    }
    let mut verdict = None;
    let mut no_pre_flight = None;
    if backend == BackendKind::Slurm {
        match super::state_for_submission(&slurm).await? {
            Err(why) => no_pre_flight = Some(why),
            Ok(state) => {
                let request = super::request_for(&table_job, 1);
                let mut v = crate::preflight::assess(&request, &state);
                let render = |layout: Layout| {
                    script::render_job(&table_job, &source, Work::Score, &binary, layout)
                };
                super::weigh_hidden_reservations(
                    &slurm, &state, &request, &table_job, render, &mut v,
                )
                .await;
                let Some(v) = allowed(v, opts.json, opts.force)? else {
                    return Ok(2);
                };
                verdict = Some(v);
            }
        }
    }
    let runs_dir = crate::spec::normalize(&base_dir.join(&table_job.runs_dir));
    let (run_id, run_dir) = runs::create_run_dir(&runs_dir, &table_job.name.0)?;
    let dir = RunDir::new(&run_dir);
    let layout = Layout::Job { run_dir: &run_dir };
    let prepared = (|| -> anyhow::Result<()> {
        atomic_write(&dir.score_job(), &serde_json::to_vec_pretty(&job)?)?;
        let text = script::render_job(&table_job, &source, Work::Score, &binary, layout)?;
        atomic_write(&dir.script(), text.as_bytes())?;
        Ok(())
    })();
    if let Err(e) = prepared {
        let _ = std::fs::remove_dir_all(&run_dir);
        return Err(e.context("nothing was submitted"));
    }
    let origin = Origin {
        job: &table_job,
        spec_source: &source,
        base_dir: &base_dir,
    };
    let record = new_record(
        &origin,
        backend,
        run_id,
        run_dir.clone(),
        dir.log(),
        script::job_arguments(&table_job, layout),
    );
    let script_path = dir.script();
    let Some(record) = launch(&slurm, record, &script_path, |r| {
        backend::local::spawn_job(&script_path, r)
    })
    .await?
    else {
        return Ok(1);
    };
    if opts.json {
        let mut json = submitted_json(&record, verdict.as_ref(), no_pre_flight.as_ref());
        json["score"] = serde_json::to_value(&job)?;
        print_json(&json)?;
        return Ok(0);
    }
    println!("{}: {}", launched(&record), table_job.name);
    println!("  scores:     {} -> {}", input.display(), output.display());
    println!("  run folder: {}", record.run_dir.display());
    println!("  follow it:  yenjob tail {}", record.job_id);
    if opts.follow {
        return super::tail::follow(&slurm, &record, true).await;
    }
    Ok(0)
}

/// Flags are relative to where the command runs, the spec's paths to its folder.
struct Paths {
    cwd: PathBuf,
    spec_dir: PathBuf,
}

impl Paths {
    /// The flag's path, else the spec's, made absolute.
    fn pick(&self, flag: &Option<PathBuf>, key: &Option<PathBuf>) -> Option<PathBuf> {
        flag.as_ref()
            .map(|p| crate::spec::normalize(&self.cwd.join(p)))
            .or_else(|| {
                key.as_ref()
                    .map(|p| crate::spec::normalize(&self.spec_dir.join(p)))
            })
    }
}

/// The model folder, and the training run it came from (whose `[job]` table a score job
/// borrows when no spec gives one).
fn resolve_model(
    opts: &Options,
    table: &ScoreTable,
    paths: &Paths,
) -> anyhow::Result<(PathBuf, Option<runs::RunRecord>)> {
    if let Some(dir) = paths.pick(&opts.model, &None) {
        return Ok((dir, None));
    }
    if let Some(q) = opts.run.as_ref().or(table.run.as_ref()) {
        let record = runs::find(Some(q))?;
        if record.sweep.is_some() {
            return Err(ScoreCommandError::Sweep { run: record.job_id }.into());
        }
        return Ok((record.dir().model(), Some(record)));
    }
    paths
        .pick(&None, &table.model)
        .map(|dir| (dir, None))
        .ok_or_else(|| ScoreCommandError::NoModel.into())
}

/// The input opens, has its text column or field, and (JSON lines) its first line has it.
fn check_input(
    input: &Path,
    format: InputFormat,
    text_column: Option<&str>,
    encoding: Encoding,
) -> anyhow::Result<()> {
    let mut reader = Reader::open(input, format, text_column, encoding)?;
    if let (InputFormat::Jsonl, Some(field)) = (format, text_column) {
        let mut line = String::new();
        let first = std::fs::File::open(input)
            .ok()
            .and_then(|f| {
                std::io::BufRead::read_line(&mut std::io::BufReader::new(f), &mut line).ok()
            })
            .and_then(|_| serde_json::from_str::<serde_json::Value>(&line).ok());
        if let Some(serde_json::Value::Object(o)) = first
            && !o.contains_key(field)
        {
            return Err(ScoreCommandError::NoField {
                path: input.to_path_buf(),
                field: field.to_string(),
                fields: o.keys().cloned().collect::<Vec<_>>().join(", "),
            }
            .into());
        }
    }
    reader.next_item()?;
    Ok(())
}

fn check_output(output: &Path, input: &Path, overwrite: bool) -> Result<(), ScoreCommandError> {
    if output == input || crate::score::output::same_file(output, input) {
        return Err(ScoreCommandError::OutputIsInput(output.to_path_buf()));
    }
    if output.exists() && !overwrite {
        return Err(ScoreCommandError::OutputExists(output.to_path_buf()));
    }
    match output.parent() {
        Some(dir) if !dir.is_dir() => Err(ScoreCommandError::NoOutputFolder(dir.to_path_buf())),
        _ => Ok(()),
    }
}

/// The `[job]` table: the spec's; else that of the run the model came from; else the
/// built-in reference job's; the site and user files fill the keys it leaves out. With the
/// spec's path and the folder its paths resolve against.
fn job_table(
    spec: Option<&ScoreSpec>,
    trained: Option<&runs::RunRecord>,
    cwd: &Path,
) -> anyhow::Result<(JobTable, PathBuf, PathBuf)> {
    let (mut job, text, source, base) = match (spec, trained) {
        (Some(s), _) => (
            s.job.clone(),
            std::fs::read_to_string(&s.source_path).unwrap_or_default(),
            s.source_path.clone(),
            s.base_dir.clone(),
        ),
        (None, Some(r)) if r.dir().spec_copy().is_file() => {
            let copy = r.dir().spec_copy();
            let base = r.spec_folder();
            let trained_spec = JobSpec::load_relative_to(&copy, &base)?;
            (trained_spec.job, trained_spec.source_text, copy, base)
        }
        _ => {
            let default = JobSpec::embedded(&cwd.join("jobs"))?;
            (
                default.job,
                crate::spec::EMBEDDED_DEFAULT.to_string(),
                default.source_path,
                default.base_dir,
            )
        }
    };
    let set = crate::spec::job_keys(&text);
    crate::config::apply(&mut job, &set, &source, &crate::config::Config::load()?)?;
    Ok((job, source, base))
}

fn override_resources(job: &mut JobTable, opts: &Options) -> Result<(), ScoreCommandError> {
    if let Some(p) = &opts.partition {
        job.partition = super::flag_value("partition", toml::Value::String(p.clone()))?;
    }
    if let Some(g) = &opts.gpus {
        let v = match g.parse::<i64>() {
            Ok(n) => toml::Value::Integer(n),
            Err(_) => toml::Value::String(g.clone()),
        };
        job.gpus = super::flag_value("gpus", v)?;
    }
    if let Some(c) = opts.cpus {
        job.cpus = super::flag_value("cpus", toml::Value::Integer(i64::from(c)))?;
    }
    if let Some(t) = &opts.time {
        job.time = super::flag_value("time", toml::Value::String(t.clone()))?;
    }
    Ok(())
}
