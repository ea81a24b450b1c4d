//! `run.json`: what was submitted, where and when; for a sweep, the grid and the array jobs
//! that ran it. A sweep's task is addressed as a run of its own (`RunRecord::task`), so
//! `status`, `tail`, `cancel` and `report` follow a task exactly as they follow a job.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::preflight::Request;
use crate::run_dir::RunDir;
use crate::slurm::duration::format_seconds;
use crate::slurm::state::JobState;
use crate::slurm::tres::parse_mem_mib;
use crate::spec::Memory;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    Slurm,
    Local,
}

/// `run.json`: what was submitted, where, when.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunRecord {
    pub run_id: String,
    pub run_dir: PathBuf,
    pub backend: BackendKind,
    /// Slurm's job id (a sweep's: the array's); for local runs, a short local id.
    pub job_id: String,
    /// The Slurm job ids this run had before `submit --rerun-failed` ran it again; the run
    /// still answers to them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub earlier_job_ids: Vec<String>,
    pub cluster: Option<String>,
    pub job_name: String,
    pub partition: String,
    pub gpus: u32,
    pub time_limit_seconds: u64,
    pub submitted_at: String,
    pub spec_source: String,
    /// The folder the spec's relative paths resolve against (recorded since 0.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_dir: Option<PathBuf>,
    pub git_commit: Option<String>,
    pub log_path: PathBuf,
    pub sbatch_arguments: Vec<String>,
    /// What one job (a sweep: one task) asks Slurm for, as the pre-flight read it (recorded
    /// since 0.2): `--rerun-failed` checks it again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<Request>,
    /// Limits changed by `submit --rerun-failed --time/--mem`; every later submission of
    /// this run passes them to sbatch.
    #[serde(default, skip_serializing_if = "ChangedLimits::is_empty")]
    pub changed_limits: ChangedLimits,
    /// Local backend: the process group leader running the script.
    pub local_pid: Option<u32>,
    /// A sweep: its grid and the array jobs that ran it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sweep: Option<SweepRecord>,
    /// A sweep's task, as `RunRecord::task` makes it (never saved on its own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<usize>,
    /// How the job ended, once a status saw it end: later listings need not ask Slurm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended: Option<Ended>,
}

/// Limits a run asks for that differ from its script's `#SBATCH` lines: sbatch's command line
/// overrides those, so the script stays as it was rendered.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChangedLimits {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_seconds: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mem: Option<Memory>,
}

impl ChangedLimits {
    pub fn is_empty(&self) -> bool {
        *self == ChangedLimits::default()
    }

    /// These limits, with `newer`'s where it sets them.
    pub fn updated(&self, newer: &ChangedLimits) -> ChangedLimits {
        ChangedLimits {
            time_seconds: newer.time_seconds.or(self.time_seconds),
            mem: newer.mem.clone().or_else(|| self.mem.clone()),
        }
    }

    /// As sbatch options (`--time=2:00:00`, `--mem=16G`).
    pub fn sbatch_options(&self) -> Vec<String> {
        let time = self
            .time_seconds
            .map(|t| format!("--time={}", format_seconds(t)));
        let mem = self.mem.as_ref().map(|m| format!("--mem={m}"));
        time.into_iter().chain(mem).collect()
    }

    /// What a job asks for once these limits replace the script's.
    pub fn apply_to(&self, request: &mut Request) {
        if let Some(t) = self.time_seconds {
            request.time_seconds = t;
        }
        if let Some(m) = &self.mem {
            request.mem_mib = parse_mem_mib(&m.0);
        }
    }
}

/// A sweep's grid and submissions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepRecord {
    /// The swept `[train]` keys, in grid order.
    pub keys: Vec<String>,
    /// Each task's values, in `keys` order.
    pub tasks: Vec<Vec<serde_json::Value>>,
    /// At most this many tasks at once (`%K`), and why.
    pub throttle: Option<u64>,
    pub throttle_reason: Option<String>,
    /// Each array submitted into this sweep folder: the first runs every task,
    /// `--rerun-failed` the ones that did not complete.
    pub submissions: Vec<Submission>,
    /// How each task ended, once a status saw it end (indexed by task).
    #[serde(default)]
    pub ended: Vec<Option<Ended>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Submission {
    pub job_id: String,
    pub tasks: Vec<usize>,
    pub submitted_at: String,
    /// Local backend: the process group leader running these tasks.
    #[serde(default)]
    pub local_pid: Option<u32>,
}

/// How a job ended, as the source that saw it end said.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ended {
    pub state: JobState,
    pub exit_code: Option<String>,
    pub elapsed_seconds: Option<u64>,
    pub nodes: String,
    /// A failed job: why, read from its log once, so that a listing of many failed runs
    /// reads no logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<super::failure::Failure>,
}

impl Ended {
    /// The same end as `other`, whatever either knows of why it failed.
    pub fn same_end(&self, other: &Ended) -> bool {
        self.state == other.state
            && self.exit_code == other.exit_code
            && self.elapsed_seconds == other.elapsed_seconds
            && self.nodes == other.nodes
    }
}

impl RunRecord {
    /// The run's folder and the files in it.
    pub fn dir(&self) -> RunDir {
        RunDir::new(&self.run_dir)
    }

    /// sbatch's options for the job, or one task of a sweep, with `limits`: as submitted,
    /// without `--array`, the limits after them (a later option wins).
    pub fn one_task_options(&self, limits: &ChangedLimits) -> Vec<String> {
        self.sbatch_arguments
            .iter()
            .filter(|a| !a.starts_with("--array="))
            .cloned()
            .chain(limits.sbatch_options())
            .collect()
    }

    /// Records limits a rerun passes to sbatch; a new time limit is the run's limit from now on.
    pub fn set_changed_limits(&mut self, limits: ChangedLimits) {
        if let Some(t) = limits.time_seconds {
            self.time_limit_seconds = t;
        }
        self.changed_limits = limits;
    }

    /// Task `index` of a sweep as a run of its own: its folder, its log, and the job id of
    /// the latest array that ran it (`123_4`). `None` for a job or an index out of range.
    pub fn task(&self, index: usize) -> Option<RunRecord> {
        let sweep = self.sweep.as_ref()?;
        if index >= sweep.tasks.len() {
            return None;
        }
        let submission = sweep.submission_of(index)?;
        let dir = self.dir().task(index);
        Some(RunRecord {
            run_id: format!("{}/task-{index}", self.run_id),
            job_id: format!("{}_{index}", submission.job_id),
            log_path: RunDir::new(&dir).log(),
            run_dir: dir,
            local_pid: submission.local_pid,
            sweep: None,
            task: Some(index),
            ended: sweep.ended.get(index).cloned().flatten(),
            ..self.clone()
        })
    }

    /// The folder the run's spec resolves relative paths against: as recorded, else the
    /// spec file's folder (records of 0.1).
    pub fn spec_folder(&self) -> PathBuf {
        self.base_dir.clone().unwrap_or_else(|| {
            let folder = Path::new(&self.spec_source)
                .parent()
                .unwrap_or(Path::new("."));
            std::path::absolute(folder).unwrap_or_else(|_| folder.to_path_buf())
        })
    }

    /// Every task of a sweep (none for a job).
    pub fn tasks(&self) -> Vec<RunRecord> {
        let n = self.sweep.as_ref().map_or(0, |s| s.tasks.len());
        (0..n).filter_map(|i| self.task(i)).collect()
    }
}

impl SweepRecord {
    /// The latest submission that ran task `index`.
    pub fn submission_of(&self, index: usize) -> Option<&Submission> {
        self.submissions
            .iter()
            .rev()
            .find(|s| s.tasks.contains(&index))
    }

    /// `learning_rate=2e-5 seed=1`.
    pub fn label(&self, index: usize) -> String {
        let Some(values) = self.tasks.get(index) else {
            return String::new();
        };
        self.keys
            .iter()
            .zip(values)
            .map(|(k, v)| format!("{k}={}", value_text(v)))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// A swept value as a person writes it: strings bare, floats in short scientific form.
pub fn value_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) if n.is_f64() => {
            n.as_f64().map_or(n.to_string(), crate::spec::float_text)
        }
        other => other.to_string(),
    }
}

/// A run of job `job_id` (`finbert`) in `run_dir`, logging to `job.log` there (tests).
#[cfg(test)]
pub(crate) fn test_record(run_dir: &Path, backend: BackendKind, job_id: &str) -> RunRecord {
    RunRecord {
        run_id: "r".into(),
        run_dir: run_dir.to_path_buf(),
        backend,
        job_id: job_id.into(),
        earlier_job_ids: Vec::new(),
        cluster: None,
        job_name: "finbert".into(),
        partition: "gpu".into(),
        gpus: 1,
        time_limit_seconds: 1800,
        submitted_at: String::new(),
        spec_source: String::new(),
        base_dir: None,
        git_commit: None,
        log_path: run_dir.join("job.log"),
        sbatch_arguments: Vec::new(),
        request: Some(test_request(None)),
        changed_limits: Default::default(),
        local_pid: None,
        sweep: None,
        task: None,
        ended: None,
    }
}

/// A one-job request for 1 GPU, 2 CPUs and 30 minutes in partition gpu (tests).
#[cfg(test)]
pub(crate) fn test_request(mem_mib: Option<u64>) -> Request {
    Request {
        reservation: None,
        partition: "gpu".into(),
        qos: None,
        account: None,
        gpus: 1,
        gpu_type: None,
        cpus: 2,
        mem_mib,
        time_seconds: 1800,
        tasks: 1,
        constraint: None,
        nodelist: None,
        exclude: None,
        exclusive: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A second rerun keeps the first one's limits unless it changes them too; sbatch gets
    /// them as options and the pre-flight as the request.
    #[test]
    fn changed_limits_accumulate_and_reach_sbatch_and_the_request() {
        let first = ChangedLimits {
            time_seconds: Some(2700),
            mem: None,
        };
        let second = ChangedLimits {
            time_seconds: None,
            mem: Some(Memory("16G".into())),
        };
        let both = first.updated(&second);
        assert_eq!(both.sbatch_options(), ["--time=45:00", "--mem=16G"]);
        let mut request = test_request(Some(2048));
        both.apply_to(&mut request);
        assert_eq!((request.time_seconds, request.mem_mib), (2700, Some(16384)));
        assert!(ChangedLimits::default().sbatch_options().is_empty());
        // Kept in run.json, and read back.
        let json = serde_json::to_string(&both).unwrap();
        assert_eq!(json, r#"{"time_seconds":2700,"mem":"16G"}"#);
        assert_eq!(serde_json::from_str::<ChangedLimits>(&json).unwrap(), both);
    }
}
