//! `yenjob submit SPEC`: pre-flight, render the script, submit it (Slurm or local), record it.
//! A spec with `[sweep]` goes to `sweep.rs`: one job array, one folder per task.

mod rerun;
mod sweep;

pub use rerun::{RerunError, new_limits};

use std::path::{Path, PathBuf};

use crate::backend::{self, BackendError};
use crate::preflight::{ClusterState, Outcome, Verdict};
use crate::run_dir::{RunDir, atomic_write};
use crate::runs::{self, BackendKind, RunRecord};
use crate::script::{self, Layout};
use crate::slurm::duration::SlurmDuration;
use crate::slurm::sbatch::rejection_reason;
use crate::slurm::{Slurm, SlurmError};
use crate::spec::{BackendChoice, JobSpec};

pub struct Options<'a> {
    pub spec: Option<&'a Path>,
    pub dry_run: bool,
    pub force: bool,
    pub backend: Option<BackendChoice>,
    pub follow: bool,
    /// A sweep whose tasks that did not complete are to run again.
    pub rerun_failed: Option<&'a str>,
    /// One JSON object on stdout instead of text (the verdict is in it).
    pub json: bool,
    /// `--time` and `--mem`: over the spec's `[job]` table, or with `rerun_failed` the
    /// limits to run it again with.
    pub limits: runs::ChangedLimits,
}

/// Where a job with this `[job]` table runs, `over` (the `--backend` flag) first.
pub fn choose_backend(job: &crate::spec::JobTable, over: Option<BackendChoice>) -> BackendKind {
    match over.unwrap_or(job.backend) {
        BackendChoice::Slurm => BackendKind::Slurm,
        BackendChoice::Local => BackendKind::Local,
        BackendChoice::Auto if Slurm::is_installed() => BackendKind::Slurm,
        BackendChoice::Auto => BackendKind::Local,
    }
}

pub async fn run(opts: Options<'_>) -> anyhow::Result<i32> {
    if let Some(query) = opts.rerun_failed {
        let record = runs::find(Some(query))?;
        if let Some(index) = record.task {
            let sweep = record.job_id.rsplit_once('_').map_or("", |(s, _)| s);
            anyhow::bail!(
                "{} is task {index} of sweep {sweep}: `yenjob submit --rerun-failed {sweep}` runs again the sweep's tasks that did not complete",
                record.job_id
            );
        }
        return match record.sweep {
            Some(_) => sweep::rerun_failed(record, &opts).await,
            None => rerun::rerun(record, &opts).await,
        };
    }
    let mut spec = super::load_spec(opts.spec)?;
    spec.set_limits(
        opts.limits.time_seconds.map(SlurmDuration),
        opts.limits.mem.clone(),
    );
    if spec.sweep.is_some() {
        return sweep::submit(&spec, &opts).await;
    }
    let backend = choose_backend(&spec.job, opts.backend);
    let slurm = Slurm::default();
    let binary = std::env::current_exe()?;

    if opts.dry_run {
        let run_dir = super::spec_runs_dir(&spec).join("<run-id>");
        let layout = Layout::Job { run_dir: &run_dir };
        if opts.json {
            let script = script::render(&spec, &binary, layout)?;
            let argv = sbatch_argv(&script::sbatch_arguments(&spec, layout), &run_dir);
            let json = dry_run_json(&slurm, backend, script, argv, async |state| {
                super::verdict_asking_slurm(&slurm, &spec, state).await
            });
            print_json(&json.await)?;
            return Ok(0);
        }
        print!("{}", script::render(&spec, &binary, layout)?);
        match backend {
            BackendKind::Slurm => eprintln!(
                "# would run: sbatch --parsable {} <run-dir>/job.sbatch",
                script::sbatch_arguments(&spec, layout).join(" ")
            ),
            BackendKind::Local => {
                eprintln!("# would run locally (no Slurm): bash <run-dir>/job.sbatch")
            }
        }
        return Ok(0);
    }

    super::check_inputs(&spec)?;
    let mut verdict = None;
    let mut no_pre_flight = None;
    if backend == BackendKind::Slurm {
        match super::state_for_submission(&slurm).await? {
            Err(why) => no_pre_flight = Some(why),
            Ok(state) => {
                let v = super::verdict_asking_slurm(&slurm, &spec, &state).await;
                let Some(v) = allowed(v, opts.json, opts.force)? else {
                    return Ok(2);
                };
                verdict = Some(v);
            }
        }
    }

    let (run_id, run_dir) = runs::create_run_dir(&super::spec_runs_dir(&spec), &spec.job.name.0)?;
    let dir = RunDir::new(&run_dir);
    let layout = Layout::Job { run_dir: &run_dir };
    let prepared = atomic_write(&dir.spec_copy(), spec.source_text.as_bytes()).and_then(|()| {
        atomic_write(
            &dir.script(),
            script::render(&spec, &binary, layout)
                .map_err(|e| crate::run_dir::WriteError {
                    path: dir.script(),
                    source: std::io::Error::other(e),
                })?
                .as_bytes(),
        )
    });
    if let Err(e) = prepared {
        let _ = std::fs::remove_dir_all(&run_dir);
        return Err(anyhow::Error::new(e).context("nothing was submitted"));
    }
    let record = new_record(
        &Origin::of(&spec),
        backend,
        run_id,
        run_dir.clone(),
        dir.log(),
        script::sbatch_arguments(&spec, layout),
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
        print_json(&submitted_json(
            &record,
            verdict.as_ref(),
            no_pre_flight.as_ref(),
        ))?;
        return Ok(0);
    }
    println!("{}: {}", launched(&record), spec.job.name);
    println!("  run folder: {}", record.run_dir.display());
    println!("  follow it:  yenjob tail {}", record.job_id);
    if opts.follow {
        return super::tail::follow(&slurm, &record, true).await;
    }
    Ok(0)
}

/// `Submitted Slurm job 123`, or `Started local job local-f5cf (...)`.
pub(crate) fn launched(record: &RunRecord) -> String {
    match record.backend {
        BackendKind::Slurm => format!("Submitted Slurm job {}", record.job_id),
        BackendKind::Local => format!(
            "Started local job {} (in the background here, not through Slurm)",
            record.job_id
        ),
    }
}

pub(crate) fn print_json(value: &serde_json::Value) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// `submit --json`: what was submitted, where, and the verdict it was submitted on, or why it
/// had none where Slurm refused to show what the pre-flight reads.
pub(crate) fn submitted_json(
    record: &RunRecord,
    verdict: Option<&Verdict>,
    no_pre_flight: Option<&super::NoPreFlight>,
) -> serde_json::Value {
    serde_json::json!({
        "submitted": true,
        "job_id": record.job_id,
        "run_id": record.run_id,
        "run_dir": record.run_dir,
        "backend": record.backend,
        "tasks": record.sweep.as_ref().map(|s| s.tasks.len()),
        "verdict": verdict,
        "verdict_unavailable": no_pre_flight.map(|why| &why.0),
    })
}

/// The whole sbatch command line a submission runs.
pub(crate) fn sbatch_argv(options: &[String], run_dir: &Path) -> Vec<String> {
    let mut argv = vec!["sbatch".to_string(), "--parsable".to_string()];
    argv.extend(options.iter().cloned());
    argv.push(RunDir::new(run_dir).script().display().to_string());
    argv
}

/// `--dry-run --json`: the script, the sbatch command, and the verdict Slurm's state gives now
/// (null, with the reason, when Slurm cannot be asked or the backend is local).
pub(crate) async fn dry_run_json(
    slurm: &Slurm,
    backend: BackendKind,
    script: String,
    argv: Vec<String>,
    verdict_of: impl AsyncFnOnce(&ClusterState) -> Verdict,
) -> serde_json::Value {
    let (verdict, why) = match backend {
        BackendKind::Local => (
            None,
            Some("the local backend has no pre-flight".to_string()),
        ),
        BackendKind::Slurm => match super::gather_state(slurm).await {
            Ok(state) => (Some(verdict_of(&state).await), None),
            Err(e) => (None, Some(crate::error_chain(&e))),
        },
    };
    serde_json::json!({
        "script": script,
        "sbatch_argv": argv,
        "backend": backend,
        "verdict": verdict,
        "verdict_unavailable": why,
    })
}

/// The verdict, printed (unless `--json`), where it lets the submission go on; `None` where it
/// stops it, having said why (with `--json`, as `{"submitted": false, "verdict": ...}`).
pub(crate) fn allowed(
    verdict: Verdict,
    json: bool,
    force: bool,
) -> anyhow::Result<Option<Verdict>> {
    if !json {
        super::check::print_verdict(&verdict);
    }
    if refuse(&verdict, force) {
        if json {
            print_json(&serde_json::json!({"submitted": false, "verdict": verdict}))?;
        }
        return Ok(None);
    }
    Ok(Some(verdict))
}

/// Whether the verdict stops the submission (it says why); `--force` sends it anyway.
pub(crate) fn refuse(verdict: &Verdict, force: bool) -> bool {
    if !verdict.never_runs() || force {
        return false;
    }
    let why = match verdict.outcome {
        Outcome::Rejected => "Slurm would refuse this job",
        _ => "Slurm would accept this job but never start it",
    };
    eprintln!("not submitted: {why} (use --force to submit anyway)");
    true
}

/// Where a submission comes from: its `[job]` table, the spec's path, and the folder the
/// spec's relative paths resolve against.
pub(crate) struct Origin<'a> {
    pub job: &'a crate::spec::JobTable,
    pub spec_source: &'a Path,
    pub base_dir: &'a Path,
}

impl<'a> Origin<'a> {
    pub fn of(spec: &'a JobSpec) -> Origin<'a> {
        Origin {
            job: &spec.job,
            spec_source: &spec.source_path,
            base_dir: &spec.base_dir,
        }
    }
}

/// The record of a submission about to be made.
pub(crate) fn new_record(
    origin: &Origin,
    backend: BackendKind,
    run_id: String,
    run_dir: PathBuf,
    log_path: PathBuf,
    sbatch_arguments: Vec<String>,
) -> RunRecord {
    RunRecord {
        job_id: match backend {
            // Until sbatch answers with the real id.
            BackendKind::Slurm => run_id.clone(),
            BackendKind::Local => runs::local_job_id(&run_id),
        },
        earlier_job_ids: Vec::new(),
        changed_limits: Default::default(),
        run_id,
        run_dir,
        backend,
        cluster: None,
        job_name: origin.job.name.0.clone(),
        partition: origin.job.partition.0.clone(),
        gpus: origin.job.gpus.count,
        time_limit_seconds: origin.job.time.seconds(),
        submitted_at: now(),
        // Absolute, so that a later command run elsewhere (`score --job`, `--rerun-failed`)
        // finds the folder the spec's relative paths resolve against.
        spec_source: if origin.spec_source.exists() {
            std::path::absolute(origin.spec_source)
                .unwrap_or_else(|_| origin.spec_source.to_path_buf())
        } else {
            origin.spec_source.to_path_buf()
        }
        .to_string_lossy()
        .into_owned(),
        base_dir: Some(origin.base_dir.to_path_buf()),
        git_commit: runs::git_commit(origin.base_dir),
        log_path,
        sbatch_arguments,
        request: Some(crate::commands::request_for(origin.job, 1)),
        local_pid: None,
        sweep: None,
        task: None,
        ended: None,
    }
}

fn now() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

/// Records the run, then submits the script (Slurm) or starts it (`spawn_local`), and records
/// the job id. `None` when sbatch refused it (it says why); the run folder is then removed.
pub(crate) async fn launch(
    slurm: &Slurm,
    mut record: RunRecord,
    script_path: &Path,
    spawn_local: impl FnOnce(&RunRecord) -> Result<u32, BackendError>,
) -> anyhow::Result<Option<RunRecord>> {
    // Record first: a job that started while its record could not be written would be a job
    // nobody tracks. If the record cannot be written, nothing is submitted.
    let abandon = |record: &RunRecord| {
        runs::forget(record);
        let _ = std::fs::remove_dir_all(&record.run_dir);
    };
    if let Err(e) = runs::save(&record) {
        abandon(&record);
        return Err(anyhow::Error::new(e).context("nothing was submitted"));
    }
    match record.backend {
        BackendKind::Slurm => match slurm.submit(&record.sbatch_arguments, script_path).await {
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
                return Ok(None);
            }
            Err(e) => {
                abandon(&record);
                return Err(e.into());
            }
        },
        BackendKind::Local => match spawn_local(&record) {
            Ok(pid) => record.local_pid = Some(pid),
            Err(e) => {
                abandon(&record);
                return Err(e.into());
            }
        },
    }
    if let Some(sweep) = record.sweep.as_mut()
        && let Some(first) = sweep.submissions.last_mut()
    {
        first.job_id = record.job_id.clone();
        first.local_pid = record.local_pid;
    }
    if let Err(e) = runs::save(&record) {
        // The job runs: say its id whatever happens to the record.
        anyhow::bail!(
            "job {} started, but its record could not be updated ({}); follow it with squeue or its log in {}",
            record.job_id,
            crate::error_chain(&e),
            record.run_dir.display()
        );
    }
    Ok(Some(record))
}
