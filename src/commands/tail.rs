//! `yenjob tail [JOB]`: print the log and follow it until the job ends. While the job pends it
//! says why; it follows a log that is truncated or recreated (requeue); at the end it prints the
//! final state and exit code.

use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::time::{Duration, Instant};

use crate::backend;
use crate::runs::{self, RunRecord};
use crate::slurm::Slurm;
use crate::slurm::state::{JobState, explain_reason};

pub async fn run(job: Option<&str>, follow_log: bool) -> anyhow::Result<i32> {
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
    follow(&slurm, &record, follow_log).await
}

/// Where we are in the log file.
struct LogCursor {
    offset: u64,
    inode: Option<u64>,
}

impl LogCursor {
    /// Prints what was added since the last call; notices truncation and replacement.
    fn pump(&mut self, record: &RunRecord, out: &mut impl Write) -> std::io::Result<()> {
        let Ok(mut file) = std::fs::File::open(&record.log_path) else {
            return Ok(());
        };
        let meta = file.metadata()?;
        if self.inode.is_some_and(|i| i != meta.ino()) {
            writeln!(
                out,
                "[yenjob tail] the log was recreated; reading it from the start"
            )?;
            self.offset = 0;
        } else if meta.len() < self.offset {
            writeln!(
                out,
                "[yenjob tail] the log was truncated (job requeued?); reading it from the start"
            )?;
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
    let mut cursor = LogCursor {
        offset: 0,
        inode: None,
    };
    let mut stdout = std::io::stdout();
    let mut last_said: Option<(JobState, Option<String>)> = None;
    let mut last_poll = Instant::now() - Duration::from_secs(60);
    let mut poll_every = POLL_RUNNING;
    loop {
        cursor.pump(record, &mut stdout)?;
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
                    println!(
                        "[yenjob tail] job {} is {} ({}): {why}; waiting for it to start",
                        record.job_id,
                        status.state,
                        status.reason.as_deref().unwrap_or("")
                    );
                } else if status.state == JobState::Running && last_said.is_some() {
                    println!(
                        "[yenjob tail] job {} is running on {}",
                        record.job_id, status.nodes
                    );
                }
                last_said = Some(now);
            }
            if status.state == JobState::Unknown {
                println!(
                    "[yenjob tail] {}; stopping",
                    status
                        .note
                        .as_deref()
                        .unwrap_or("nothing knows this job any more")
                );
                return Ok(1);
            }
            if status.state.is_finished() {
                tokio::time::sleep(Duration::from_millis(300)).await;
                cursor.pump(record, &mut stdout)?;
                let code = status.exit_code.clone().unwrap_or_else(|| "unknown".into());
                println!(
                    "[yenjob tail] job {} ended: {} (exit code {code})",
                    record.job_id, status.state
                );
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
            cluster: None,
            job_name: "n".into(),
            partition: "p".into(),
            gpus: 0,
            time_limit_seconds: 60,
            submitted_at: String::new(),
            spec_source: String::new(),
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
        c.pump(&r, &mut out).unwrap(); // no log yet: nothing, no error
        std::fs::write(&log, "one\ntwo\n").unwrap();
        c.pump(&r, &mut out).unwrap();
        std::fs::write(&log, "3\n").unwrap(); // truncated in place
        c.pump(&r, &mut out).unwrap();
        std::fs::write(tmp.path().join("new"), "fresh\n").unwrap();
        std::fs::rename(tmp.path().join("new"), &log).unwrap(); // replaced by a new file
        c.pump(&r, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("one\ntwo\n"), "{text}");
        assert!(text.contains("truncated"), "{text}");
        assert!(text.contains("3\n"), "{text}");
        assert!(text.contains("recreated"), "{text}");
        assert!(text.ends_with("fresh\n"), "{text}");
    }
}
