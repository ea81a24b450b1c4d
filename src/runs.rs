//! Run folders: one per submit, holding the spec copy, the rendered script, the log, `run.json`
//! and the worker's outputs; and an index of them, so `status`, `tail` and `cancel` find a job
//! by id or take the newest. Every file is written whole (temp file + rename): two submits at
//! once, or a crash mid-write, never leave a torn file.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::run_dir::{RunDir, WriteError, atomic_write};

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot write {path}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is damaged")]
    Corrupt {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("no run matches {0:?}; `yenjob status --all` lists the runs yenjob knows")]
    NotFound(String),
    #[error("no runs yet: submit one with `yenjob submit`")]
    NoRuns,
}

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
    /// Slurm's job id; for local runs, the run id.
    pub job_id: String,
    pub cluster: Option<String>,
    pub job_name: String,
    pub partition: String,
    pub gpus: u32,
    pub time_limit_seconds: u64,
    pub submitted_at: String,
    pub spec_source: String,
    pub git_commit: Option<String>,
    pub log_path: PathBuf,
    pub sbatch_arguments: Vec<String>,
    /// Local backend: the process group leader running the script.
    pub local_pid: Option<u32>,
}

impl RunRecord {
    /// The run's folder and the files in it.
    pub fn dir(&self) -> RunDir {
        RunDir::new(&self.run_dir)
    }
}

impl From<WriteError> for RunError {
    fn from(e: WriteError) -> RunError {
        RunError::Write {
            path: e.path,
            source: e.source,
        }
    }
}

/// `$YENJOB_HOME`, else `$XDG_STATE_HOME/yenjob`, else `~/.local/state/yenjob`.
pub fn state_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("YENJOB_HOME") {
        return PathBuf::from(p);
    }
    if let Some(p) = std::env::var_os("XDG_STATE_HOME") {
        return PathBuf::from(p).join("yenjob");
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    home.join(".local/state/yenjob")
}

fn index_dir() -> PathBuf {
    state_dir().join("index")
}

/// Makes a new, unique run folder under `runs_dir`.
pub fn create_run_dir(runs_dir: &Path, job_name: &str) -> Result<(String, PathBuf), RunError> {
    std::fs::create_dir_all(runs_dir).map_err(|source| RunError::Write {
        path: runs_dir.to_path_buf(),
        source,
    })?;
    let stamp = humantime::format_rfc3339_seconds(std::time::SystemTime::now())
        .to_string()
        .replace([':', '-'], "")
        .trim_end_matches('Z')
        .replace('T', "-");
    let slug: String = job_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    for attempt in 0..100u32 {
        let suffix = format!(
            "{:04x}",
            (std::process::id() ^ nanos() ^ attempt.wrapping_mul(7919)) & 0xffff
        );
        let run_id = format!("{stamp}-{slug}-{suffix}");
        let dir = runs_dir.join(&run_id);
        // create_dir (not _all) fails if it exists: the folder is ours alone.
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok((run_id, std::path::absolute(&dir).unwrap_or(dir))),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(source) => return Err(RunError::Write { path: dir, source }),
        }
    }
    Err(RunError::Write {
        path: runs_dir.to_path_buf(),
        source: std::io::Error::other("could not find a free run folder name"),
    })
}

fn nanos() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0)
}

/// Saves `run.json` and the index entry: a copy of the record, so that a job whose run folder
/// was deleted can still be followed and cancelled.
pub fn save(record: &RunRecord) -> Result<(), RunError> {
    let json = serde_json::to_vec_pretty(record).map_err(|e| RunError::Write {
        path: record.dir().record(),
        source: std::io::Error::other(e),
    })?;
    atomic_write(&record.dir().record(), &json)?;
    atomic_write(&index_entry(&record.run_id), &json)?;
    Ok(())
}

fn index_entry(run_id: &str) -> PathBuf {
    index_dir().join(format!("{run_id}.json"))
}

pub fn load(run_dir: &Path) -> Result<RunRecord, RunError> {
    let path = RunDir::new(run_dir).record();
    let text = std::fs::read(&path).map_err(|source| RunError::Read {
        path: path.clone(),
        source,
    })?;
    serde_json::from_slice(&text).map_err(|source| RunError::Corrupt { path, source })
}

/// An index entry: where a run's folder is and the ids it answers to; entries written since
/// 0.2 hold the whole record.
#[derive(Debug, Clone, Deserialize)]
struct Pointer {
    run_id: String,
    run_dir: PathBuf,
    job_id: String,
    #[serde(skip)]
    copy: Option<RunRecord>,
}

fn pointers() -> Vec<Pointer> {
    let Ok(entries) = std::fs::read_dir(index_dir()) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .filter_map(|e| {
            let bytes = std::fs::read(e.path()).ok()?;
            let mut p: Pointer = serde_json::from_slice(&bytes).ok()?;
            p.copy = serde_json::from_slice(&bytes).ok();
            Some(p)
        })
        .collect()
}

impl Pointer {
    /// The run's record: from its folder; from the index copy when the folder is gone.
    fn record(&self) -> Option<Result<RunRecord, RunError>> {
        if self.run_dir.is_dir() {
            Some(load(&self.run_dir))
        } else {
            self.copy.clone().map(Ok)
        }
    }
}

/// The runs in the index, oldest first, and those whose `run.json` cannot be read (each an
/// error naming the file). Old entries whose folder is gone are left out.
pub struct Listing {
    pub runs: Vec<RunRecord>,
    pub damaged: Vec<RunError>,
}

pub fn list() -> Listing {
    let mut listing = Listing {
        runs: Vec::new(),
        damaged: Vec::new(),
    };
    for p in pointers() {
        match p.record() {
            Some(Ok(r)) => listing.runs.push(r),
            Some(Err(e)) => listing.damaged.push(e),
            None => {}
        }
    }
    listing.runs.sort_by(|a, b| {
        a.submitted_at
            .cmp(&b.submitted_at)
            .then(a.run_id.cmp(&b.run_id))
    });
    listing
}

/// Every readable run in the index, oldest first.
pub fn all() -> Vec<RunRecord> {
    list().runs
}

/// Finds a run by Slurm job id, run id (or a unique prefix), or run folder; `None`: the newest.
/// A run whose `run.json` is damaged is an error that says so, not "no run matches".
pub fn find(query: Option<&str>) -> Result<RunRecord, RunError> {
    let Some(q) = query else {
        return all().into_iter().last().ok_or(RunError::NoRuns);
    };
    if RunDir::new(q).record().is_file() {
        return load(Path::new(q));
    }
    let pointers = pointers();
    let exact = pointers
        .iter()
        .filter(|p| p.job_id == q || p.run_id == q)
        .max_by(|a, b| a.run_id.cmp(&b.run_id));
    let found = match exact {
        Some(p) => Some(p),
        None => match pointers
            .iter()
            .filter(|p| p.run_id.starts_with(q))
            .collect::<Vec<_>>()
            .as_slice()
        {
            [one] => Some(*one),
            _ => None,
        },
    };
    found
        .and_then(Pointer::record)
        .unwrap_or_else(|| Err(RunError::NotFound(q.to_string())))
}

/// Removes a run's index entry (a submission that did not go through).
pub fn forget(record: &RunRecord) {
    let _ = std::fs::remove_file(index_entry(&record.run_id));
}

/// A short id for a local run (`local-f5cf`, from the run id's random suffix), unless another
/// run already answers to it; then the run id itself.
pub fn local_job_id(run_id: &str) -> String {
    let suffix = &run_id[run_id.len().saturating_sub(4)..];
    let short = format!("local-{suffix}");
    if pointers().iter().any(|p| p.job_id == short) {
        run_id.to_string()
    } else {
        short
    }
}

/// The commit of the git repository holding `dir`, if any.
pub fn git_commit(dir: &Path) -> Option<String> {
    let out = std::process::Command::new("git")
        .args(["-C", &dir.to_string_lossy(), "rev-parse", "HEAD"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrent_run_dirs_are_distinct() {
        let tmp = tempfile::tempdir().unwrap();
        let handles: Vec<_> = (0..16)
            .map(|_| {
                let p = tmp.path().to_path_buf();
                std::thread::spawn(move || create_run_dir(&p, "same name").unwrap().1)
            })
            .collect();
        let mut dirs: Vec<PathBuf> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        dirs.sort();
        dirs.dedup();
        assert_eq!(dirs.len(), 16);
    }
}
