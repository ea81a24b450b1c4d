//! Run folders: one per submit, holding the spec copy, the rendered script, the log, `run.json`
//! and the worker's outputs; and an index of them, so `status`, `tail` and `cancel` find a job
//! by id or take the newest. Every file is written whole (temp file + rename): two submits at
//! once, or a crash mid-write, never leave a torn file.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::run_dir::{RunDir, WriteError, atomic_write};

pub mod advice;
pub mod failure;
mod record;
pub use record::{
    BackendKind, ChangedLimits, Ended, RunRecord, Submission, SweepRecord, value_text,
};
#[cfg(test)]
pub(crate) use record::{test_record, test_request};

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
    #[error("sweep {sweep} has tasks 0 to {last}; there is no task {index}")]
    NoSuchTask {
        sweep: String,
        index: usize,
        last: usize,
    },
    #[error("{0} is a single job, not a sweep: it has no task numbers")]
    NotASweep(String),
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
    /// A run answers to the job ids it had before it ran again, and a sweep to each of its
    /// arrays' (`--rerun-failed` adds one).
    fn answers_to(&self, job_id: &str) -> bool {
        self.copy.as_ref().is_some_and(|r| {
            r.earlier_job_ids.iter().any(|id| id == job_id)
                || r.sweep
                    .as_ref()
                    .is_some_and(|s| s.submissions.iter().any(|sub| sub.job_id == job_id))
        })
    }

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

/// Finds a run by Slurm job id, run id (or a unique prefix), or run folder; a sweep's task by
/// `JOB_N`, `RUN_ID_N` or `RUN_ID/task-N`, or its folder; `None`: the newest run. A run whose
/// `run.json` is damaged is an error that says so, not "no run matches".
pub fn find(query: Option<&str>) -> Result<RunRecord, RunError> {
    let Some(q) = query else {
        return all().into_iter().last().ok_or(RunError::NoRuns);
    };
    if RunDir::new(q).record().is_file() {
        return load(Path::new(q));
    }
    if let Some((folder, index)) = task_folder(Path::new(q)) {
        return task_of(load(&folder)?, index);
    }
    let pointers = pointers();
    if let Some(found) = find_run(&pointers, q) {
        return found;
    }
    // `123_4`, `RUN_ID_4`, `RUN_ID/task-4`: task 4 of a sweep.
    let split = q
        .rsplit_once("/task-")
        .or_else(|| q.rsplit_once('_'))
        .and_then(|(run, n)| Some((run, n.parse::<usize>().ok()?)));
    if let Some((run, index)) = split
        && let Some(found) = find_run(&pointers, run)
    {
        return task_of(found?, index);
    }
    Err(RunError::NotFound(q.to_string()))
}

/// Whether `q` is exactly a run's job id (any it ran as) or run id.
pub fn names_a_run(q: &str) -> bool {
    pointers()
        .iter()
        .any(|p| p.job_id == q || p.run_id == q || p.answers_to(q))
}

/// A run by exact job id (any of a sweep's arrays), run id, or unique run id prefix.
fn find_run(pointers: &[Pointer], q: &str) -> Option<Result<RunRecord, RunError>> {
    let exact = pointers
        .iter()
        .filter(|p| p.job_id == q || p.run_id == q || p.answers_to(q))
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
    found.and_then(Pointer::record)
}

/// `runs/ID/task-3` → (`runs/ID`, 3) when `runs/ID` is a run folder.
fn task_folder(path: &Path) -> Option<(PathBuf, usize)> {
    let name = path.file_name()?.to_str()?;
    let index = name.strip_prefix("task-")?.parse().ok()?;
    let parent = path.parent()?;
    RunDir::new(parent)
        .record()
        .is_file()
        .then(|| (parent.to_path_buf(), index))
}

fn task_of(run: RunRecord, index: usize) -> Result<RunRecord, RunError> {
    let Some(sweep) = &run.sweep else {
        return Err(RunError::NotASweep(run.job_id));
    };
    let last = sweep.tasks.len().saturating_sub(1);
    run.task(index).ok_or(RunError::NoSuchTask {
        sweep: run.job_id.clone(),
        index,
        last,
    })
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
