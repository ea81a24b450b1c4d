//! `yenjob submit SPEC`: pre-flight, render the script, submit it (Slurm or local), record it.

use crate::run_dir::{RunDir, atomic_write};
use std::path::Path;

use crate::backend;
use crate::preflight::{self, Outcome};
use crate::runs::{self, BackendKind, RunRecord};
use crate::script;
use crate::slurm::sbatch::rejection_reason;
use crate::slurm::{Slurm, SlurmError};
use crate::spec::{BackendChoice, JobSpec};

pub struct Options<'a> {
    pub spec: Option<&'a Path>,
    pub dry_run: bool,
    pub force: bool,
    pub backend: Option<BackendChoice>,
    pub follow: bool,
}

pub fn choose_backend(spec: &JobSpec, over: Option<BackendChoice>) -> BackendKind {
    match over.unwrap_or(spec.job.backend) {
        BackendChoice::Slurm => BackendKind::Slurm,
        BackendChoice::Local => BackendKind::Local,
        BackendChoice::Auto if Slurm::is_installed() => BackendKind::Slurm,
        BackendChoice::Auto => BackendKind::Local,
    }
}

pub async fn run(opts: Options<'_>) -> anyhow::Result<i32> {
    let spec = super::load_spec(opts.spec)?;
    let backend = choose_backend(&spec, opts.backend);
    let slurm = Slurm::default();
    let binary = std::env::current_exe()?;

    if opts.dry_run {
        let run_dir = super::spec_runs_dir(&spec).join("<run-id>");
        print!("{}", script::render(&spec, &binary, &run_dir)?);
        match backend {
            BackendKind::Slurm => eprintln!(
                "# would run: sbatch --parsable {} <run-dir>/job.sbatch",
                script::sbatch_arguments(&spec, &run_dir).join(" ")
            ),
            BackendKind::Local => {
                eprintln!("# would run locally (no Slurm): bash <run-dir>/job.sbatch")
            }
        }
        return Ok(0);
    }

    super::check_inputs(&spec)?;
    if backend == BackendKind::Slurm {
        let (state, warnings) = super::gather_state(&slurm).await?;
        let verdict = preflight::assess(&super::request_of(&spec), &state);
        super::check::print_verdict(&verdict, &warnings);
        if verdict.never_runs() && !opts.force {
            let why = match verdict.outcome {
                Outcome::Rejected => "Slurm would refuse this job",
                _ => "Slurm would accept this job but never start it",
            };
            eprintln!("not submitted: {why} (use --force to submit anyway)");
            return Ok(2);
        }
    }

    let (run_id, run_dir) = runs::create_run_dir(&super::spec_runs_dir(&spec), &spec.job.name.0)?;
    let dir = RunDir::new(&run_dir);
    atomic_write(&dir.spec_copy(), spec.source_text.as_bytes())?;
    let script_path = dir.script();
    atomic_write(
        &script_path,
        script::render(&spec, &binary, &run_dir)?.as_bytes(),
    )?;
    let log_path = dir.log();
    let sbatch_arguments = script::sbatch_arguments(&spec, &run_dir);

    let mut record = RunRecord {
        run_id: run_id.clone(),
        run_dir: run_dir.clone(),
        backend,
        job_id: match backend {
            // Until sbatch answers with the real id.
            BackendKind::Slurm => run_id.clone(),
            BackendKind::Local => runs::local_job_id(&run_id),
        },
        cluster: None,
        job_name: spec.job.name.0.clone(),
        partition: spec.job.partition.0.clone(),
        gpus: spec.job.gpus.count,
        time_limit_seconds: spec.job.time.seconds(),
        submitted_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        spec_source: spec.source_path.to_string_lossy().into_owned(),
        git_commit: runs::git_commit(&spec.base_dir),
        log_path: log_path.clone(),
        sbatch_arguments: sbatch_arguments.clone(),
        local_pid: None,
    };

    // Record first: a job that started while its record could not be written would be a job
    // nobody tracks. If the record cannot be written, nothing is submitted.
    if let Err(e) = runs::save(&record) {
        runs::forget(&record);
        let _ = std::fs::remove_dir_all(&run_dir);
        return Err(anyhow::Error::new(e).context("nothing was submitted"));
    }
    let abandon = |record: &RunRecord| {
        runs::forget(record);
        let _ = std::fs::remove_dir_all(&run_dir);
    };
    match backend {
        BackendKind::Slurm => match slurm.submit(&sbatch_arguments, &script_path).await {
            Ok(submitted) => {
                record.job_id = submitted.job_id;
                record.cluster = submitted.cluster;
            }
            Err(SlurmError::Failed { stderr, .. }) => {
                abandon(&record);
                eprintln!(
                    "sbatch refused the job ({}): {stderr}",
                    rejection_reason(&stderr)
                );
                return Ok(1);
            }
            Err(e) => {
                abandon(&record);
                return Err(e.into());
            }
        },
        BackendKind::Local => match backend::spawn_local(&script_path, &record) {
            Ok(pid) => record.local_pid = Some(pid),
            Err(e) => {
                abandon(&record);
                return Err(e.into());
            }
        },
    }
    if let Err(e) = runs::save(&record) {
        // The job runs: say its id whatever happens to the record.
        eprintln!(
            "yenjob: error: job {} started, but its record could not be updated: {e}; follow it with squeue or the log {}",
            record.job_id,
            record.log_path.display()
        );
        return Ok(1);
    }
    let what = match backend {
        BackendKind::Slurm => format!("Submitted Slurm job {}", record.job_id),
        BackendKind::Local => format!(
            "Started local job {} (in the background here, not through Slurm)",
            record.job_id
        ),
    };
    println!("{what}: {}", spec.job.name);
    println!("  run folder: {}", run_dir.display());
    println!("  follow it:  yenjob tail {}", record.job_id);
    if opts.follow {
        return super::tail::follow(&slurm, &record, true).await;
    }
    Ok(0)
}
