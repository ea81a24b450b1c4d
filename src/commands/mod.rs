//! One module per subcommand. Each returns the process exit code.

pub mod cancel;
pub mod check;
pub mod complete;
pub mod config;
pub mod paint;
pub mod predict;
pub mod report;
pub mod score;
pub mod status;
pub mod submit;
pub mod tail;

use std::path::{Path, PathBuf};

use crate::preflight::{ClusterState, Request};
use crate::slurm::{Slurm, SlurmError, tres};
use crate::spec::JobSpec;
use crate::worker::io::model_files;

/// A flag whose value the spec's check for the same key refuses.
#[derive(Debug, thiserror::Error)]
#[error("--{flag}: {message}")]
pub struct FlagError {
    pub flag: &'static str,
    pub message: String,
}

/// A flag's value as the spec's type for the same key, checked as the spec checks it.
pub fn flag_value<T: serde::de::DeserializeOwned>(
    flag: &'static str,
    value: toml::Value,
) -> Result<T, FlagError> {
    T::deserialize(value).map_err(|e| FlagError {
        flag,
        message: e.message().to_string(),
    })
}

/// Loads the spec at `path`, or the embedded copy of jobs/finbert.toml, whose relative paths
/// then resolve as if it sat in `jobs/` under the current folder (the repository root).
/// Site and user configuration fill the `[job]` keys the spec leaves out.
pub fn load_spec(path: Option<&Path>) -> anyhow::Result<JobSpec> {
    let mut spec = match path {
        Some(p) => JobSpec::load(p)?,
        None => JobSpec::embedded(&std::env::current_dir()?.join("jobs"))?,
    };
    spec.apply_config(&crate::config::Config::load()?)?;
    Ok(spec)
}

/// What the worker will need, checked before anything waits in a queue: the data file, the
/// model (its config read and checked against `max_length`), and a runs folder that can be one.
pub fn check_inputs(spec: &JobSpec) -> anyhow::Result<()> {
    let t = &spec.train;
    let data = spec.resolve(&t.data);
    if let Err(source) = std::fs::File::open(&data) {
        return Err(crate::worker::io::data::DataError::Read { path: data, source }.into());
    }
    let files = model_files::resolve(&t.model, &spec.base_dir)?;
    let (config, _) = files.read_config()?;
    files.check_max_length(&config, t.max_length.get())?;
    let runs_dir = spec_runs_dir(spec);
    if runs_dir.exists() && !runs_dir.is_dir() {
        anyhow::bail!(
            "`job.runs_dir`: {} is a file, not a folder for run folders",
            runs_dir.display()
        );
    }
    Ok(())
}

/// `check_inputs` for a job, or for each distinct data file and model of a sweep's tasks
/// (every task's spec is built, so a bad one stops here).
pub fn check_spec_inputs(spec: &JobSpec) -> anyhow::Result<()> {
    let Some(grid) = &spec.sweep else {
        return check_inputs(spec);
    };
    let mut seen = Vec::new();
    for i in 0..grid.len() {
        let task = spec.task(i)?;
        let t = &task.train;
        let key = (t.data.clone(), t.model.clone(), t.max_length);
        if !seen.contains(&key) {
            check_inputs(&task)?;
            seen.push(key);
        }
    }
    Ok(())
}

/// The pre-flight verdict of a job, or of a sweep's job array with its throttle.
pub fn verdict_of(spec: &JobSpec, state: &ClusterState) -> crate::preflight::Verdict {
    let request = request_of(spec);
    match &spec.sweep {
        None => crate::preflight::assess(&request, state),
        Some(grid) => {
            let throttle = crate::preflight::throttle(&request, grid.max_parallel, state);
            crate::preflight::assess_array(&request, throttle, state)
        }
    }
}

pub fn request_of(spec: &JobSpec) -> Request {
    request_for(&spec.job, spec.sweep.as_ref().map_or(1, |s| s.len() as u64))
}

/// What a job table asks Slurm for, `tasks` times.
pub fn request_for(job: &crate::spec::JobTable, tasks: u64) -> Request {
    Request {
        partition: job.partition.0.clone(),
        qos: job.qos.as_ref().map(|q| q.0.clone()),
        account: job.account.as_ref().map(|a| a.0.clone()),
        gpus: job.gpus.count as u64,
        gpu_type: job.gpus.gpu_type.clone(),
        cpus: job.cpus.0 as u64,
        mem_mib: job.mem.as_ref().and_then(|m| tres::parse_mem_mib(&m.0)),
        time_seconds: job.time.seconds(),
        tasks,
    }
}

/// Reads what the verdict needs. Partitions, nodes and the queue are required; QOS limits and
/// associations come from accounting, which a cluster may lack: then a warning, not a failure.
pub async fn gather_state(slurm: &Slurm) -> Result<(ClusterState, Vec<String>), SlurmError> {
    let user = crate::slurm::current_user();
    let (config, partitions, nodes, queue, qos, assoc, account) = tokio::join!(
        slurm.site_config(),
        slurm.partitions(),
        slurm.nodes(),
        slurm.queue(None),
        slurm.qos(),
        slurm.associations(&user),
        slurm.default_account(&user)
    );
    let mut warnings = Vec::new();
    let qos = qos.unwrap_or_else(|e| {
        warnings.push(format!(
            "QOS limits unknown, not checked ({})",
            crate::error_chain(&e)
        ));
        Vec::new()
    });
    let associations = assoc.unwrap_or_else(|e| {
        warnings.push(format!(
            "your associations are unknown ({})",
            crate::error_chain(&e)
        ));
        Vec::new()
    });
    let default_account = account.unwrap_or_else(|e| {
        warnings.push(format!(
            "your default account is unknown ({})",
            crate::error_chain(&e)
        ));
        None
    });
    Ok((
        ClusterState {
            user,
            default_account,
            config: config?,
            partitions: partitions?,
            nodes: nodes?,
            qos,
            associations,
            queue: queue?,
        },
        warnings,
    ))
}

pub fn spec_runs_dir(spec: &JobSpec) -> PathBuf {
    spec.resolve(&spec.job.runs_dir)
}
