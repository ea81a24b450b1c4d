//! `yenjob tail [JOB]`: print the log and follow it until the job ends. While the job pends it
//! says why; it follows a log that is truncated or recreated (requeue); at the end it prints the
//! final state and exit code. `--json` follows the worker's events (`metrics.jsonl`) instead,
//! one JSON object a line, with the job's own changes as `{"event": "job", ...}` lines.

use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::backend::{self, BackendError};
use crate::runs::failure::Failure;
use crate::runs::{self, BackendKind, RunRecord};
use crate::slurm::state::{JobState, explain_reason};
use crate::slurm::{Slurm, SlurmError};

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

    /// The job's end: as [`Feed::say`], and as JSON with why it failed, when it did.
    fn say_end(self, text: &str, (state, exit_code): (&JobState, &str), failure: Option<&Failure>) {
        match self {
            Feed::Log => self.say(text, Some((state, Some(exit_code)))),
            Feed::Events => {
                let mut event = serde_json::json!({
                    "event": "job", "note": text, "state": state, "exit_code": exit_code,
                });
                if let Some(failure) = failure {
                    event["failure"] = serde_json::json!(failure);
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
    /// Print whole lines only: a JSON-lines file's last line may be half written.
    whole_lines: bool,
}

impl LogCursor {
    fn new(whole_lines: bool) -> LogCursor {
        LogCursor {
            offset: 0,
            inode: None,
            whole_lines,
        }
    }
}

/// Lines that say a job's end is seconds away: the job script's last line, and slurmstepd's
/// when it stops the job (`*** JOB 17 ON node CANCELLED AT ... DUE TO TIME LIMIT ***`).
const ENDING_LINES: [&str; 2] = ["[yenjob] worker exited with status ", "*** JOB "];

/// Whether `text` holds one of [`ENDING_LINES`].
fn says_ending(text: &[u8]) -> bool {
    ENDING_LINES
        .iter()
        .any(|line| text.windows(line.len()).any(|w| w == line.as_bytes()))
}

impl LogCursor {
    /// Prints what was added to `path` since the last call; notices truncation and
    /// replacement (`notes`: say so, as the log's readers expect). Returns whether what was
    /// added says the job is ending.
    fn pump(&mut self, path: &Path, out: &mut impl Write, notes: bool) -> std::io::Result<bool> {
        let Ok(mut file) = std::fs::File::open(path) else {
            return Ok(false);
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
        if meta.len() <= self.offset {
            return Ok(false);
        }
        file.seek(SeekFrom::Start(self.offset))?;
        let mut buf = Vec::new();
        file.take(meta.len() - self.offset).read_to_end(&mut buf)?;
        if self.whole_lines {
            // The rest is printed once its line is complete.
            let whole = buf.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
            buf.truncate(whole);
        }
        self.offset += buf.len() as u64;
        out.write_all(&buf)?;
        out.flush()?;
        Ok(says_ending(&buf))
    }
}

/// How often a Slurm job's state is asked for: every 2 s at first, after a change, and while
/// the log says the job is ending; otherwise less and less often, up to every 30 s, since a
/// job may pend or run for hours and each question is a call to the controller. A local
/// job's state costs no call: it is asked every 2 s.
const POLL_FAST: Duration = Duration::from_secs(2);
const POLL_SLOW: Duration = Duration::from_secs(30);
/// How long after an ending line the state is asked for every 2 s (an old run's line, read
/// at the start or after a requeue, must not keep it fast for ever).
const ENDING_WINDOW: Duration = Duration::from_secs(60);

/// The wait before the next question, after `previous`: `changed` when the state differs from
/// the last answer, `ending` while the log says the job is ending.
fn next_poll(previous: Duration, changed: bool, ending: bool, backend: BackendKind) -> Duration {
    if backend == BackendKind::Local || changed || ending {
        POLL_FAST
    } else {
        (previous * 2).clamp(POLL_FAST, POLL_SLOW)
    }
}

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
    let mut cursor = LogCursor::new(feed == Feed::Events);
    // The events feed prints metrics.jsonl; the log is still read, unprinted, for its ending
    // lines.
    let mut log_watch = LogCursor::new(false);
    let mut stdout = std::io::stdout();
    let mut last_said: Option<(JobState, Option<String>)> = None;
    let mut last_poll = Instant::now() - Duration::from_secs(60);
    let mut poll_every = POLL_FAST;
    let mut ending_seen: Option<Instant> = None;
    // The controller did not answer the last question.
    let mut controller_away = false;
    loop {
        let mut ending = cursor.pump(&path, &mut stdout, notes)?;
        if !follow_log {
            return Ok(0);
        }
        if feed == Feed::Events {
            ending |= log_watch.pump(&record.log_path, &mut std::io::sink(), false)?;
        }
        if ending {
            ending_seen = Some(Instant::now());
            // Ask now: the end is seconds away, or already there.
            poll_every = poll_every.min(POLL_FAST);
        }
        if last_poll.elapsed() >= poll_every {
            last_poll = Instant::now();
            // A controller that restarts (maintenance, fail-over) is away for a while: follow
            // the log meanwhile, and ask again less often.
            let status = match backend::status(slurm, record).await {
                Ok(status) => {
                    if std::mem::take(&mut controller_away) {
                        feed.say("the Slurm controller answers again", None);
                    }
                    status
                }
                Err(BackendError::Slurm(
                    e @ (SlurmError::ControllerUnreachable { .. } | SlurmError::TimedOut { .. }),
                )) => {
                    if !controller_away {
                        feed.say(
                            &format!(
                                "{}; following the log meanwhile, and asking again every {} s",
                                crate::error_chain(&e),
                                POLL_SLOW.as_secs()
                            ),
                            None,
                        );
                    }
                    controller_away = true;
                    poll_every = POLL_SLOW;
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            let now = (status.state.clone(), status.reason.clone());
            poll_every = next_poll(
                poll_every,
                last_said.as_ref() != Some(&now),
                ending_seen.is_some_and(|t| t.elapsed() < ENDING_WINDOW),
                record.backend,
            );
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
                let failure =
                    runs::advice::failure_of(record, &status.state, status.exit_code.as_deref());
                feed.say_end(
                    &format!(
                        "job {} ended: {} (exit code {code})",
                        record.job_id, status.state
                    ),
                    (&status.state, &code),
                    failure.as_ref(),
                );
                if let Some(advice) =
                    runs::advice::after_end(record, &status.state, failure.as_ref())
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

    /// Regression: `tail` asked the controller every 2 s for as long as the job ran (a
    /// 10-hour job: 18,000 calls). It backs off to every 30 s, and asks every 2 s again once
    /// the log says the job is ending.
    #[test]
    fn asks_slurm_less_often_until_the_log_says_the_job_ends() {
        let mut wait = POLL_FAST;
        let mut waits = Vec::new();
        for _ in 0..6 {
            wait = next_poll(wait, false, false, BackendKind::Slurm);
            waits.push(wait.as_secs());
        }
        assert_eq!(waits, [4, 8, 16, 30, 30, 30]);
        assert_eq!(next_poll(wait, true, false, BackendKind::Slurm), POLL_FAST);
        assert_eq!(next_poll(wait, false, true, BackendKind::Slurm), POLL_FAST);
        assert_eq!(next_poll(wait, false, false, BackendKind::Local), POLL_FAST);
        for ending in [
            "[yenjob] worker exited with status 0 at 2026-11-29T06:12:17+00:00\n",
            "slurmstepd-localhost: error: *** JOB 17 ON localhost CANCELLED AT 2026-11-27T10:56:44 DUE TO TIME LIMIT ***\n",
        ] {
            assert!(says_ending(format!("[train] step 3\n{ending}").as_bytes()));
        }
        assert!(!says_ending(b"[train] epoch 1/2 step 20/200 loss 1.0041\n"));
    }

    /// Regression: `tail --json` printed a half-written last line of metrics.jsonl, which
    /// no JSON reader can take. A line is printed once it is whole.
    #[test]
    fn events_are_printed_a_whole_line_at_a_time() {
        let tmp = tempfile::tempdir().unwrap();
        let events = tmp.path().join("metrics.jsonl");
        std::fs::write(&events, "{\"event\":\"epoch\"}\n{\"event\":\"st").unwrap();
        let mut c = LogCursor::new(true);
        let mut out = Vec::new();
        c.pump(&events, &mut out, false).unwrap();
        assert_eq!(out, b"{\"event\":\"epoch\"}\n");
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&events)
            .unwrap();
        file.write_all(b"ep\"}\n").unwrap();
        c.pump(&events, &mut out, false).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"event\":\"epoch\"}\n{\"event\":\"step\"}\n"
        );
    }

    #[test]
    fn follows_truncation_and_recreation() {
        let tmp = tempfile::tempdir().unwrap();
        let log = tmp.path().join("job.log");
        let r = record(&log);
        let mut c = LogCursor::new(false);
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
