//! The sbatch script, rendered from `templates/job.sbatch`. Every value from the spec reaches
//! the shell single-quoted (`ShellWord`), so no name or path can run a command.

use std::fmt;
use std::path::Path;

use askama::Template;

use crate::run_dir::RunDir;
use crate::spec::{JobSpec, JobTable};

/// A string that prints as one single-quoted shell word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShellWord(pub String);

impl ShellWord {
    pub fn new(s: impl Into<String>) -> ShellWord {
        ShellWord(s.into())
    }
    pub fn path(p: &Path) -> ShellWord {
        ShellWord(p.to_string_lossy().into_owned())
    }
}

impl fmt::Display for ShellWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Inside single quotes nothing is special except the quote itself: end the quoted
        // part, add an escaped quote, start again.
        write!(f, "'{}'", self.0.replace('\'', r"'\''"))
    }
}

#[derive(Template)]
#[template(path = "job.sbatch", escape = "none")]
struct JobScript<'a> {
    version: &'a str,
    spec_name: &'a str,
    partition: &'a str,
    cpus: u32,
    gpus: u32,
    /// What follows `gpu:` in `--gres` (or `=` in `--gpus`): `1` or `a30:1`.
    gres_gpus: String,
    /// `--gpus` (per job) rather than `--gres` (per node), as the site asks.
    gpus_per_job: bool,
    time: String,
    mem: Option<&'a str>,
    qos: Option<&'a str>,
    account: Option<&'a str>,
    reservation: Option<&'a str>,
    /// Feature names and `&|,()[]`, no spaces: one word for sbatch's `#SBATCH` reader.
    constraint: Option<&'a str>,
    nodelist: Option<&'a str>,
    exclude: Option<&'a str>,
    exclusive: bool,
    mail_type: Option<&'a str>,
    signal_seconds: u32,
    requeue: bool,
    run_dir: ShellWord,
    env: Vec<(&'a str, ShellWord)>,
    modules: Vec<ShellWord>,
    yenjob: ShellWord,
    /// The subcommand and its arguments, quoted (`"$run_dir"` is the script's variable).
    worker: String,
    /// A job array's script: `run_dir` is the sweep folder, each task runs in `task-N`.
    array: bool,
}

/// What the job runs in its run folder.
#[derive(Debug, Clone, Copy)]
pub enum Work<'a> {
    /// `yenjob worker`: the fine-tune of the folder's `spec.toml`, whose relative paths
    /// resolve against `base_dir` (where the spec was submitted from).
    Train { base_dir: &'a Path },
    /// `yenjob score-worker`: the folder's `score.json`.
    Score,
}

impl Work<'_> {
    fn arguments(&self) -> String {
        match self {
            Work::Train { base_dir } => format!(
                r#"worker --spec "$run_dir/spec.toml" --base-dir {} --run-dir "$run_dir""#,
                ShellWord::path(base_dir)
            ),
            Work::Score => r#"score-worker --run-dir "$run_dir""#.to_string(),
        }
    }
}

/// What the script runs: one job in its run folder, or each task of an array in its own
/// folder of the sweep folder.
#[derive(Debug, Clone, Copy)]
pub enum Layout<'a> {
    Job { run_dir: &'a Path },
    Array { sweep_dir: &'a Path, array: &'a str },
}

impl Layout<'_> {
    fn folder(&self) -> &Path {
        match self {
            Layout::Job { run_dir } => run_dir,
            Layout::Array { sweep_dir, .. } => sweep_dir,
        }
    }
}

/// The script for `layout`, run by `yenjob_binary` (this very binary): a fine-tune of `spec`.
pub fn render(
    spec: &JobSpec,
    yenjob_binary: &Path,
    layout: Layout,
) -> Result<String, askama::Error> {
    let work = Work::Train {
        base_dir: &spec.base_dir,
    };
    render_job(&spec.job, &spec.source_path, work, yenjob_binary, layout)
}

/// The script for the job `job` (from the spec at `source`) doing `work`.
pub fn render_job(
    job: &JobTable,
    source: &Path,
    work: Work,
    yenjob_binary: &Path,
    layout: Layout,
) -> Result<String, askama::Error> {
    let run_dir = layout.folder();
    let spec_name = source.to_string_lossy();
    let script = JobScript {
        version: env!("CARGO_PKG_VERSION"),
        spec_name: &spec_name,
        partition: &job.partition.0,
        cpus: job.cpus.0,
        gpus: job.gpus.count,
        gres_gpus: job.gpus.to_string(),
        gpus_per_job: job.gpu_request == crate::spec::GpuRequest::Gpus,
        time: job.time.to_string(),
        mem: job.mem.as_ref().map(|m| m.0.as_str()),
        qos: job.qos.as_ref().map(|q| q.0.as_str()),
        account: job.account.as_ref().map(|a| a.0.as_str()),
        reservation: job.reservation.as_ref().map(|r| r.0.as_str()),
        constraint: job.constraint.as_ref().map(|c| c.as_str()),
        nodelist: job.nodelist.as_ref().map(|n| n.as_str()),
        exclude: job.exclude.as_ref().map(|x| x.as_str()),
        exclusive: job.exclusive,
        mail_type: job.mail_type.as_ref().map(|m| m.0.as_str()),
        signal_seconds: job.signal_seconds,
        requeue: job.requeue,
        run_dir: ShellWord::path(run_dir),
        env: job
            .env
            .iter()
            .map(|(k, v)| (k.0.as_str(), ShellWord::new(v.0.clone())))
            .collect(),
        modules: job
            .modules
            .iter()
            .map(|m| ShellWord::new(m.0.clone()))
            .collect(),
        yenjob: ShellWord::path(yenjob_binary),
        worker: work.arguments(),
        array: matches!(layout, Layout::Array { .. }),
    };
    let mut text = script.render()?;
    text.push('\n'); // askama drops the template's final newline
    Ok(text)
}

/// The options given on sbatch's command line: the ones that may hold any character.
pub fn sbatch_arguments(spec: &JobSpec, layout: Layout) -> Vec<String> {
    job_arguments(&spec.job, layout)
}

/// `sbatch_arguments` for a job table.
pub fn job_arguments(job: &JobTable, layout: Layout) -> Vec<String> {
    let folder = layout.folder();
    let log = match layout {
        Layout::Job { run_dir } => RunDir::new(run_dir).log(),
        // sbatch puts each task's index in place of %a.
        Layout::Array { sweep_dir, .. } => RunDir::new(sweep_dir.join("task-%a")).log(),
    };
    let mut args = vec![format!("--job-name={}", job.name.0)];
    if let Layout::Array { array, .. } = layout {
        args.push(format!("--array={array}"));
    }
    args.extend([
        format!("--output={}", log.display()),
        format!("--chdir={}", folder.display()),
    ]);
    if let Some(user) = &job.mail_user {
        args.push(format!("--mail-user={}", user.0));
    }
    args.extend(job.sbatch_options.iter().map(|o| o.0.clone()));
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words_survive_hostile_text() {
        for hostile in [
            "a b",
            "it's",
            "$(touch /tmp/pwned)",
            "`id`",
            "x; rm -rf ~",
            "\"q\"",
            "",
            "'\\''",
        ] {
            let quoted = ShellWord::new(hostile).to_string();
            let out = std::process::Command::new("bash")
                .arg("-c")
                .arg(format!("printf %s {quoted}"))
                .output()
                .unwrap();
            assert_eq!(String::from_utf8_lossy(&out.stdout), hostile, "{quoted}");
        }
    }
}
