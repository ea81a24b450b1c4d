//! Runs Slurm's commands: with a timeout, stdout and stderr captured, a clean environment (a
//! user's `SQUEUE_FORMAT` or `SLURM_TIME_FORMAT` must not change what we parse), and each way
//! of failing as its own error.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::process::Command;

/// Variables that change what Slurm's commands print.
const OUTPUT_CHANGING_VARS: &[&str] = &[
    "SQUEUE_FORMAT",
    "SQUEUE_FORMAT2",
    "SQUEUE_SORT",
    "SQUEUE_ALL",
    "SQUEUE_STATES",
    "SINFO_FORMAT",
    "SINFO_SORT",
    "SINFO_PARTITION",
    "SACCT_FORMAT",
    "SLURM_TIME_FORMAT",
    "SLURM_CLUSTERS",
];

#[derive(Debug, thiserror::Error)]
pub enum SlurmError {
    #[error("`{program}` is not installed (not found on PATH): is this a Slurm login node?")]
    NotInstalled { program: String },
    #[error(
        "the Slurm controller cannot be reached (`{command}` said: {stderr}); is slurmctld running? try `scontrol ping`"
    )]
    ControllerUnreachable { command: String, stderr: String },
    #[error("Slurm's accounting (slurmdbd) cannot be reached (`{command}` said: {stderr})")]
    AccountingUnreachable { command: String, stderr: String },
    #[error(
        "`{command}` said: {stderr}; the cluster's PrivateData (`scontrol show config | grep PrivateData`) keeps this from users like you"
    )]
    NotShownToYou { command: String, stderr: String },
    #[error("`{command}` exited with status {code}: {stderr}")]
    Failed {
        command: String,
        code: i32,
        stderr: String,
    },
    #[error("`{command}` did not answer within {seconds} s (controller overloaded or down?)")]
    TimedOut { command: String, seconds: u64 },
    #[error("could not run `{command}`")]
    Io {
        command: String,
        source: std::io::Error,
    },
    #[error("could not understand the output of `{command}`: {message}")]
    Parse { command: String, message: String },
}

/// What a command printed.
#[derive(Debug, Clone)]
pub struct Output {
    /// The command as a shell would show it, for errors about what it printed.
    pub command: String,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// The records `read` found in stdout. Lines of which none reads as a record are not the
    /// output asked for (another format, a wrapper's banner alone): an error, rather than a
    /// cluster without nodes or jobs. `quiet` is what the command prints for none.
    pub fn records<T>(&self, read: Vec<T>, quiet: &[&str]) -> Result<Vec<T>, SlurmError> {
        let first = self
            .stdout
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !quiet.contains(l));
        match first {
            Some(line) if read.is_empty() => {
                let program = self.command.split_whitespace().next().unwrap_or("");
                Err(SlurmError::Parse {
                    command: self.command.clone(),
                    message: format!(
                        "no line reads as asked, the first being {line:?}; is the `{program}` first on PATH Slurm's own (`which {program}`), not a wrapper that prints something else?"
                    ),
                })
            }
            _ => Ok(read),
        }
    }
}

/// Calls Slurm's command-line tools.
#[derive(Debug, Clone)]
pub struct SlurmCli {
    pub timeout: Duration,
}

impl Default for SlurmCli {
    fn default() -> Self {
        SlurmCli {
            timeout: Duration::from_secs(60),
        }
    }
}

impl SlurmCli {
    /// Runs `program args...`; a non-zero exit is an error carrying stderr.
    pub async fn run(&self, program: &str, args: &[String]) -> Result<Output, SlurmError> {
        let command = display_command(program, args);
        let mut cmd = Command::new(program);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for var in OUTPUT_CHANGING_VARS {
            cmd.env_remove(var);
        }
        let mut child = cmd.spawn().map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => SlurmError::NotInstalled {
                program: program.to_string(),
            },
            _ => SlurmError::Io {
                command: command.clone(),
                source,
            },
        })?;
        // Read both pipes while waiting, so a chatty command never blocks on a full pipe.
        let mut stdout_pipe = child.stdout.take();
        let mut stderr_pipe = child.stderr.take();
        let collect = async {
            let mut out = Vec::new();
            let mut err = Vec::new();
            let read_out = async {
                if let Some(p) = stdout_pipe.as_mut() {
                    p.read_to_end(&mut out).await?;
                }
                Ok::<_, std::io::Error>(())
            };
            let read_err = async {
                if let Some(p) = stderr_pipe.as_mut() {
                    p.read_to_end(&mut err).await?;
                }
                Ok::<_, std::io::Error>(())
            };
            let (a, b) = tokio::join!(read_out, read_err);
            a?;
            b?;
            let status = child.wait().await?;
            Ok::<_, std::io::Error>((status, out, err))
        };
        let (status, out, err) = match tokio::time::timeout(self.timeout, collect).await {
            Ok(result) => result.map_err(|source| SlurmError::Io {
                command: command.clone(),
                source,
            })?,
            Err(_) => {
                return Err(SlurmError::TimedOut {
                    command,
                    seconds: self.timeout.as_secs(),
                });
            }
        };
        let stdout = String::from_utf8_lossy(&out).into_owned();
        let stderr = String::from_utf8_lossy(&err).trim().to_string();
        // squeue under PrivateData=partitions says it was refused and exits 0 with no jobs
        // (captured): no jobs would be a lie.
        if status.success() && !refused_to_read(&stderr) {
            return Ok(Output {
                command,
                stdout,
                stderr,
            });
        }
        Err(classify_failure(
            command,
            status.code().unwrap_or(-1),
            stderr,
        ))
    }
}

/// Tells "controller down" and "accounting down" apart from an ordinary refusal.
pub fn classify_failure(command: String, code: i32, stderr: String) -> SlurmError {
    let lower = stderr.to_ascii_lowercase();
    let controller_down = [
        "unable to contact slurm controller",
        "slurm_load_partitions: unable to contact",
        "socket timed out on send/recv",
        "zero bytes were transmitted or received",
    ];
    let accounting_down = [
        "sending persistinit msg",
        "problem talking to the database",
        "slurmdbd: connection refused",
        "unable to connect to database",
    ];
    // A daemon that shuts down while it answers resets the connection: slurmctld for the
    // commands that ask it, slurmdbd for sacct and sacctmgr.
    let reset = lower.contains("connection reset by peer");
    let asks_accounting = command.starts_with("sacct");
    if controller_down.iter().any(|p| lower.contains(p)) || (reset && !asks_accounting) {
        SlurmError::ControllerUnreachable { command, stderr }
    } else if refused_to_read(&stderr) {
        SlurmError::NotShownToYou {
            command,
            stderr: stderr.trim().to_string(),
        }
    } else if accounting_down.iter().any(|p| lower.contains(p)) || reset {
        SlurmError::AccountingUnreachable { command, stderr }
    } else {
        SlurmError::Failed {
            command,
            code,
            stderr,
        }
    }
}

/// Whether the controller refused to show what a command reads (`slurm_load_node:
/// Access/permission denied`), as PrivateData makes it; not a refusal of a job, where sbatch
/// says the same words of a partition it may not use.
fn refused_to_read(stderr: &str) -> bool {
    let lower = stderr.to_ascii_lowercase();
    lower.contains("slurm_load_") && lower.contains("access/permission denied")
}

fn display_command(program: &str, args: &[String]) -> String {
    let mut s = program.to_string();
    for a in args {
        s.push(' ');
        if a.is_empty() || a.contains(|c: char| c.is_whitespace() || "'\"|$`\\;".contains(c)) {
            s.push_str(&crate::script::ShellWord::new(a.as_str()).to_string());
        } else {
            s.push_str(a);
        }
    }
    s
}

/// Whether `program` is on PATH.
pub fn on_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|dir| {
            let p = dir.join(program);
            p.is_file()
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_controller_down() {
        let e = classify_failure(
            "sinfo".into(),
            1,
            "slurm_load_partitions: Unable to contact slurm controller (connect failure)".into(),
        );
        assert!(matches!(e, SlurmError::ControllerUnreachable { .. }));
        let e = classify_failure(
            "sbatch".into(),
            1,
            "sbatch: error: invalid partition specified: x".into(),
        );
        assert!(matches!(e, SlurmError::Failed { code: 1, .. }));
    }

    /// Regression: squeue asked while slurmctld shut down (tail through a controller restart,
    /// 24.11) said this, and tail stopped with "exited with status 1" instead of following
    /// the log until the controller answers again.
    #[test]
    fn a_connection_reset_is_the_daemon_asked_going_away() {
        let reset = "slurm_load_jobs error: Connection reset by peer\n".to_string();
        let e = classify_failure("squeue -h -r -t all -j 325".into(), 1, reset.clone());
        assert!(matches!(e, SlurmError::ControllerUnreachable { .. }), "{e}");
        let e = classify_failure("sacct -X -n -j 325".into(), 1, reset);
        assert!(matches!(e, SlurmError::AccountingUnreachable { .. }), "{e}");
    }

    /// Captured as `nobody` under PrivateData=jobs,nodes: sinfo is refused, and the error says
    /// why rather than only "exited with status 1".
    #[test]
    fn classifies_what_private_data_hides() {
        let e = classify_failure(
            "sinfo --all -h -N".into(),
            1,
            "slurm_load_node: Access/permission denied\n".into(),
        );
        assert!(matches!(e, SlurmError::NotShownToYou { .. }), "{e}");
        assert_eq!(
            e.to_string(),
            "`sinfo --all -h -N` said: slurm_load_node: Access/permission denied; the cluster's PrivateData (`scontrol show config | grep PrivateData`) keeps this from users like you"
        );
        let e = classify_failure(
            "sbatch".into(),
            1,
            "sbatch: error: Batch job submission failed: Access/permission denied".into(),
        );
        assert!(matches!(e, SlurmError::Failed { .. }), "{e}");
    }

    #[tokio::test]
    async fn missing_program_is_not_installed() {
        let e = SlurmCli::default()
            .run("yenjob-no-such-program", &[])
            .await
            .unwrap_err();
        assert!(matches!(e, SlurmError::NotInstalled { .. }), "{e}");
    }

    #[tokio::test]
    async fn nonzero_exit_carries_stderr() {
        let e = SlurmCli::default()
            .run("sh", &["-c".into(), "echo boom >&2; exit 3".into()])
            .await
            .unwrap_err();
        match e {
            SlurmError::Failed { code, stderr, .. } => {
                assert_eq!(code, 3);
                assert_eq!(stderr, "boom");
            }
            other => panic!("{other}"),
        }
    }

    #[tokio::test]
    async fn slow_command_times_out() {
        let cli = SlurmCli {
            timeout: Duration::from_millis(200),
        };
        let e = cli.run("sleep", &["5".into()]).await.unwrap_err();
        assert!(matches!(e, SlurmError::TimedOut { .. }));
    }
}
