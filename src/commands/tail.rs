//! `yenjob tail [JOB]`: print the log and follow it until the job ends. While the job pends it
//! says why; it follows a log that is truncated or recreated (requeue); at the end it prints the
//! final state and exit code. `--json` follows the worker's events (`metrics.jsonl`) instead,
//! one JSON object a line, with the job's own changes as `{"event": "job", ...}` lines.

use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::backend;
use crate::runs::{self, RunRecord};
use crate::slurm::Slurm;
use crate::slurm::state::{JobState, explain_reason};

pub async fn run(job: Option<&str>, follow_log: bool, json: bool) -> anyhow::Result<i32> {
    let record = runs::find(job)?;
    if let Some(sweep) = &record.sweep {
        anyhow::bail!(
            "{} is a sweep of {} tasks, each with its own log: follow one with `yenjob tail {}_0`, or all with `yenjob status {}`",
            record.job_id,
            sweep.tasks.len(),
            record.job_id,
            record.job_id
        );
    }
    let slurm = Slurm::default();
    let feed = if json { Feed::Events } else { Feed::Log };
    follow_feed(&slurm, &record, follow_log, feed).await
}

/// What `tail` prints: the job's log, or the worker's events as JSON lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feed {
    Log,
    Events,
}

impl Feed {
    /// A note of tail's own: a `[yenjob tail]` line, or a JSON `job` event.
    fn say(self, text: &str, state: Option<(&JobState, Option<&str>)>) {
        match self {
            Feed::Log => println!("[yenjob tail] {text}"),
            Feed::Events => {
                let mut event = serde_json::json!({"event": "job", "note": text});
                if let Some((state, exit_code)) = state {
                    event["state"] = serde_json::json!(state);
                    event["exit_code"] = serde_json::json!(exit_code);
                }
                println!("{event}");
            }
        }
    }
}

/// Where we are in the log file.
struct LogCursor {
    offset: u64,
    inode: Option<u64>,
}

impl LogCursor {
    /// Prints what was added to `path` since the last call; notices truncation and
    /// replacement (`notes`: say so, as the log's readers expect).
    fn pump(&mut self, path: &Path, out: &mut impl Write, notes: bool) -> std::io::Result<()> {
        let Ok(mut file) = std::fs::File::open(path) else {
            return Ok(());
        };
        let meta = file.metadata()?;
        if self.inode.is_some_and(|i| i != meta.ino()) {
            if notes {
                writeln!(
                    out,
                    "[yenjob tail] the log was recreated; reading it from the start"
                )?;
            }
            self.offset = 0;
        } else if meta.len() < self.offset {
            if notes {
                writeln!(
                    out,
                    "[yenjob tail] the log was truncated (job requeued?); reading it from the start"
                )?;
            }
            self.offset = 0;
        }
        self.inode = Some(meta.ino());
        if meta.len() > self.offset {
            file.seek(SeekFrom::Start(self.offset))?;
            let mut buf = Vec::new();
            file.take(meta.len() - self.offset).read_to_end(&mut buf)?;
            self.offset += buf.len() as u64;
            out.write_all(&buf)?;
            out.flush()?;
        }
        Ok(())
    }
}

/// How often the job's state is asked for while it runs, and at most while it pends.
const POLL_RUNNING: Duration = Duration::from_secs(2);
const POLL_PENDING_MAX: Duration = Duration::from_secs(30);

pub async fn follow(slurm: &Slurm, record: &RunRecord, follow_log: bool) -> anyhow::Result<i32> {
    follow_feed(slurm, record, follow_log, Feed::Log).await
}

pub async fn follow_feed(
    slurm: &Slurm,
    record: &RunRecord,
    follow_log: bool,
    feed: Feed,
) -> anyhow::Result<i32> {
    let path = match feed {
        Feed::Log => record.log_path.clone(),
        Feed::Events => record.dir().metrics(),
    };
    let notes = feed == Feed::Log;
    let mut cursor = LogCursor {
        offset: 0,
        inode: None,
    };
    let mut stdout = std::io::stdout();
    let mut last_said: Option<(JobState, Option<String>)> = None;
    let mut last_poll = Instant::now() - Duration::from_secs(60);
    let mut poll_every = POLL_RUNNING;
    loop {
        cursor.pump(&path, &mut stdout, notes)?;
        if !follow_log {
            return Ok(0);
        }
        if last_poll.elapsed() >= poll_every {
            last_poll = Instant::now();
            let status = backend::status(slurm, record).await?;
            // A pending job may wait hours: ask the controller less and less often.
            poll_every = if status.state.is_waiting() {
                (poll_every * 2).clamp(POLL_RUNNING, POLL_PENDING_MAX)
            } else {
                POLL_RUNNING
            };
            let now = (status.state.clone(), status.reason.clone());
            if last_said.as_ref() != Some(&now) {
                if status.state.is_waiting() {
                    let why = status
                        .reason
                        .as_deref()
                        .map(explain_reason)
                        .unwrap_or_default();
                    feed.say(
                        &format!(
                            "job {} is {} ({}): {why}; waiting for it to start",
                            record.job_id,
                            status.state,
                            status.reason.as_deref().unwrap_or("")
                        ),
                        Some((&status.state, None)),
                    );
                } else if status.state == JobState::Running && last_said.is_some() {
                    feed.say(
                        &format!("job {} is running on {}", record.job_id, status.nodes),
                        Some((&status.state, None)),
                    );
                }
                last_said = Some(now);
            }
            if status.state == JobState::Unknown {
                feed.say(
                    &format!(
                        "{}; stopping",
                        status
                            .note
                            .as_deref()
                            .unwrap_or("nothing knows this job any more")
                    ),
                    Some((&status.state, None)),
                );
                return Ok(1);
            }
            if status.state.is_finished() {
                tokio::time::sleep(Duration::from_millis(300)).await;
                cursor.pump(&path, &mut stdout, notes)?;
                let code = status.exit_code.clone().unwrap_or_else(|| "unknown".into());
                feed.say(
                    &format!(
                        "job {} ended: {} (exit code {code})",
                        record.job_id, status.state
                    ),
                    Some((&status.state, Some(code.as_str()))),
                );
                if let Some(advice) =
                    runs::advice::for_run(record, &status.state, status.exit_code.as_deref())
                {
                    feed.say(&advice, None);
                }
                return Ok(if status.state == JobState::Completed {
                    0
                } else {
                    1
                });
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(log: &std::path::Path) -> RunRecord {
        RunRecord {
            run_id: "r".into(),
            run_dir: log.parent().unwrap().to_path_buf(),
            backend: runs::BackendKind::Local,
            job_id: "r".into(),
            request: None,
            earlier_job_ids: Vec::new(),
            changed_limits: Default::default(),
            cluster: None,
            job_name: "n".into(),
            partition: "p".into(),
            gpus: 0,
            time_limit_seconds: 60,
            submitted_at: String::new(),
            spec_source: String::new(),
            base_dir: None,
            git_commit: None,
            log_path: log.to_path_buf(),
            sbatch_arguments: vec![],
            local_pid: None,
            sweep: None,
            task: None,
            ended: None,
        }
    }

    #[test]
    fn follows_truncation_and_recreation() {
        let tmp = tempfile::tempdir().unwrap();
        let log = tmp.path().join("job.log");
        let r = record(&log);
        let mut c = LogCursor {
            offset: 0,
            inode: None,
        };
        let mut out = Vec::new();
        c.pump(&r.log_path, &mut out, true).unwrap(); // no log yet: nothing, no error
        std::fs::write(&log, "one\ntwo\n").unwrap();
        c.pump(&r.log_path, &mut out, true).unwrap();
        std::fs::write(&log, "3\n").unwrap(); // truncated in place
        c.pump(&r.log_path, &mut out, true).unwrap();
        std::fs::write(tmp.path().join("new"), "fresh\n").unwrap();
        std::fs::rename(tmp.path().join("new"), &log).unwrap(); // replaced by a new file
        c.pump(&r.log_path, &mut out, true).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("one\ntwo\n"), "{text}");
        assert!(text.contains("truncated"), "{text}");
        assert!(text.contains("3\n"), "{text}");
        assert!(text.contains("recreated"), "{text}");
        assert!(text.ends_with("fresh\n"), "{text}");
    }
}
