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
use crate::slurm::{Slurm, SlurmError, squeue, tres};
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
    let mut verdict = match &spec.sweep {
        None => crate::preflight::assess(&request, state),
        Some(grid) => {
            let throttle = crate::preflight::throttle(&request, grid.max_parallel, state);
            crate::preflight::assess_array(&request, throttle, state)
        }
    };
    if let Some(note) = unjudged(&spec.job.sbatch_options) {
        verdict.facts.push(note);
    }
    verdict
}

/// `verdict_of`, with what `sbatch --test-only` says of the reservations hidden from the
/// user weighed in (`weigh_hidden_reservations`); a sweep's is asked of one task's script
/// (its tasks differ in `[train]` alone).
pub async fn verdict_asking_slurm(
    slurm: &Slurm,
    spec: &JobSpec,
    state: &ClusterState,
) -> crate::preflight::Verdict {
    let mut verdict = verdict_of(spec, state);
    if !asks_test_only(state, &verdict) {
        return verdict;
    }
    let task = match spec.sweep.as_ref().map(|_| spec.task(0)) {
        None => None,
        Some(Ok(first)) => Some(first),
        Some(Err(e)) => {
            verdict.not_checked.push(format!(
                "`sbatch --test-only` was not asked of the reservations hidden from you: {e}"
            ));
            return verdict;
        }
    };
    let one = task.as_ref().unwrap_or(spec);
    // Test-only reads the script's #SBATCH lines alone: the path it would run is moot.
    let binary = std::env::current_exe().unwrap_or_default();
    let render = |layout: crate::script::Layout| crate::script::render(one, &binary, layout);
    let request = request_of(spec);
    weigh_hidden_reservations(slurm, state, &request, &one.job, render, &mut verdict).await;
    verdict
}

/// Where the cluster hides the reservations a user may not use (PrivateData=reservations)
/// but shows the jobs, asks `sbatch --test-only`, which sees them, of the job's own script
/// (`render`, for a run folder of its own) when the verdict expects it to start
/// (`ask_about_hidden_reservations`).
pub async fn weigh_hidden_reservations(
    slurm: &Slurm,
    state: &ClusterState,
    request: &Request,
    job: &crate::spec::JobTable,
    render: impl FnOnce(crate::script::Layout) -> Result<String, askama::Error>,
    verdict: &mut crate::preflight::Verdict,
) {
    if !asks_test_only(state, verdict) {
        return;
    }
    let dir = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(e) => {
            verdict.not_checked.push(format!(
                "`sbatch --test-only` was not asked of the reservations hidden from you: no folder for its script: {e}"
            ));
            return;
        }
    };
    let path = dir.path().join("job.sbatch");
    let written = render(crate::script::Layout::Job {
        run_dir: dir.path(),
    })
    .map_err(anyhow::Error::from)
    .and_then(|script| Ok(std::fs::write(&path, script)?));
    if let Err(e) = written {
        verdict.not_checked.push(format!(
            "`sbatch --test-only` was not asked of the reservations hidden from you: {e:#}"
        ));
        return;
    }
    let options: Vec<String> = job.sbatch_options.iter().map(|o| o.0.clone()).collect();
    ask_about_hidden_reservations(slurm, state, request, &options, &path, verdict).await;
}

/// Whether `sbatch --test-only` is asked of a verdict: where the cluster hides the
/// reservations a user may not use but shows the jobs, of a job that may run.
fn asks_test_only(state: &ClusterState, verdict: &crate::preflight::Verdict) -> bool {
    let user = &state.user;
    state.config.hides_reservations_from(user)
        && !state.config.hides_jobs_from(user)
        && state.now.is_some()
        && !verdict.never_runs()
}

/// Asks `sbatch --test-only OPTIONS --begin=now+SECONDS SCRIPT` at each start the verdict
/// expects (each wave of an array's tasks, asked of as one task: `options` without
/// `--array`) and weighs the answers into `verdict` (`preflight::test_only`), where
/// `asks_test_only`.
pub async fn ask_about_hidden_reservations(
    slurm: &Slurm,
    state: &ClusterState,
    request: &Request,
    options: &[String],
    script: &Path,
    verdict: &mut crate::preflight::Verdict,
) {
    let Some(now) = state.now.filter(|_| asks_test_only(state, verdict)) else {
        return;
    };
    let test_only = TestOnlyAt {
        slurm,
        options,
        script,
        now,
    };
    let ask = async |at: i64| test_only.at(at).await;
    crate::preflight::test_only::weigh(verdict, request, state, ask).await;
}

/// `sbatch --test-only OPTIONS [--begin=now+SECONDS] SCRIPT`, asked whether the job could
/// start at a given time.
pub struct TestOnlyAt<'a> {
    pub slurm: &'a Slurm,
    pub options: &'a [String],
    pub script: &'a Path,
    /// When the state was read: `at` is asked of as so long after Slurm's own now, which
    /// has no time zone to get wrong.
    pub now: i64,
}

impl TestOnlyAt<'_> {
    pub async fn at(&self, at: i64) -> Result<crate::slurm::sbatch::TestOnly, SlurmError> {
        let mut options = self.options.to_vec();
        if at > self.now {
            options.push(format!("--begin=now+{}", at - self.now));
        }
        self.slurm.test_only(&options, self.script).await
    }
}

/// A spec's `sbatch_options` reach sbatch as written, and the verdict cannot weigh them
/// (`--constraint`, `--exclusive`, `--nodelist`...): say so beside it.
fn unjudged(options: &[crate::spec::NoControlChars]) -> Option<String> {
    (!options.is_empty()).then(|| {
        let words: Vec<&str> = options.iter().map(|o| o.0.as_str()).collect();
        // Options the spec has keys for, which the verdict weighs: long and short forms, and
        // the key as a spec writes it.
        const KEYED: &[(&str, &str, &str)] = &[
            ("--constraint", "-C", "constraint = \"...\""),
            ("--nodelist", "-w", "nodelist = \"...\""),
            ("--exclude", "-x", "exclude = \"...\""),
            ("--exclusive", "--exclusive", "exclusive = true"),
        ];
        let keys: Vec<String> = KEYED
            .iter()
            .filter(|(long, short, _)| {
                words
                    .iter()
                    .any(|w| w.starts_with(long) || w.starts_with(short))
            })
            .map(|(_, _, key)| format!("`{key}`"))
            .collect();
        format!(
            "sbatch_options {} go to sbatch as written; this verdict does not weigh them{}",
            words.join(" "),
            if keys.is_empty() {
                String::new()
            } else {
                format!(
                    " ({} under [job] {} weighed)",
                    keys.join(", "),
                    if keys.len() == 1 { "is" } else { "are" }
                )
            }
        )
    })
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
        reservation: job.reservation.as_ref().map(|r| r.0.clone()),
        gpus: job.gpus.count as u64,
        gpu_type: job.gpus.gpu_type.clone(),
        cpus: job.cpus.0 as u64,
        mem_mib: job.mem.as_ref().and_then(|m| tres::parse_mem_mib(&m.0)),
        time_seconds: job.time.seconds(),
        tasks,
        constraint: job.constraint.clone(),
        nodelist: job.nodelist.as_ref().map(|n| n.to_string()),
        exclude: job.exclude.clone(),
        exclusive: job.exclusive,
    }
}

/// Reads what the verdict needs. Partitions, nodes and the queue are required; QOS limits and
/// associations come from accounting, which a cluster may lack: then the state says what it
/// could not read (`not_read`), and every verdict names it, not a failure.
pub async fn gather_state(slurm: &Slurm) -> Result<ClusterState, SlurmError> {
    let user = crate::slurm::current_user();
    let (config, partitions, nodes, queue, qos, assoc, account, reservations, accounts) = tokio::join!(
        slurm.site_config(),
        slurm.partitions(),
        slurm.nodes(),
        slurm.queue(None),
        slurm.qos(),
        slurm.associations(&user),
        slurm.default_account(&user),
        slurm.reservations(),
        slurm.account_limits()
    );
    let now = crate::slurm::clock::now();
    let mut missing = Vec::new();
    let qos = qos.unwrap_or_else(|e| {
        missing.push(("QOS limits", e));
        Vec::new()
    });
    let associations = assoc.unwrap_or_else(|e| {
        missing.push(("your association's limits", e));
        Vec::new()
    });
    let default_account = account.unwrap_or_else(|e| {
        missing.push(("your default account", e));
        None
    });
    let reservations = reservations.unwrap_or_else(|e| {
        missing.push(("reservations (maintenance windows)", e));
        Vec::new()
    });
    let accounts = accounts.unwrap_or_else(|e| {
        missing.push(("your accounts' shared limits", e));
        Vec::new()
    });
    let queue = queue?;
    // The controller's own counts for TRES-minutes limits: one more call, made only where a
    // QOS, an association or an account has such a limit. Without them GrpTRESRunMins is
    // judged from the queue, and GrpTRESMins not at all.
    // Where squeue hides other users' jobs (PrivateData=jobs), the same call gives what
    // they hold against the limits shared with them (a QOS's or an account's for all users,
    // a QOS's per account), and how many of them pend.
    let mut limit_use = Vec::new();
    let wall =
        |w: &crate::slurm::duration::SlurmTime| *w != crate::slurm::duration::SlurmTime::NotSet;
    let jobs_hidden = config.as_ref().is_ok_and(|c| c.hides_jobs_from(&user));
    if qos
        .iter()
        .any(|q| q.minutes.counts_use() || wall(&q.grp_wall))
        || associations
            .iter()
            .any(|a| a.minutes.counts_use() || wall(&a.grp_wall))
        || accounts
            .iter()
            .any(|a| a.minutes.counts_use() || wall(&a.grp_wall))
        || jobs_hidden
    {
        match slurm.limit_use(&user).await {
            Ok(u) => limit_use = u,
            Err(e) if jobs_hidden => missing.push((
                "TRES-minutes used (GrpTRESMins), and what jobs hidden from you hold under shared limits and how many of them pend",
                e,
            )),
            Err(e) => missing.push(("TRES-minutes used (GrpTRESMins)", e)),
        }
    }
    let mut state = ClusterState {
        user,
        groups: crate::slurm::current_groups(),
        default_account,
        config: config?,
        partitions: partitions?,
        nodes: nodes?,
        qos,
        associations,
        queue,
        accounts,
        limit_use,
        reservations,
        now: Some(now),
        index: Default::default(),
        not_read: Vec::new(),
    };
    // Whose jobs count toward an account's limits (its own, or a QOS's per account), or
    // toward one of several associations of the user, needs their accounts; what is left of
    // a reservation of some cores needs the jobs' reservations; where the jobs queued ahead
    // will start needs the nodes the backfill scheduler planned them on, or the features
    // they ask for: one more call, made only where such a limit, reservation or job is.
    let several_associations =
        state.associations.len() > 1 && state.associations.iter().any(|a| a.has_limits());
    if state.accounts.iter().any(|a| a.has_limits())
        || state.qos.iter().any(|q| q.limits_accounts())
        || several_associations
        || state.has_core_reservations()
        || state.jobs_ahead_need_extras()
    {
        let (fields, excluded) = tokio::join!(
            slurm.add_job_fields(&mut state.queue),
            slurm.excluded_nodes()
        );
        match excluded {
            Ok(excluded) => squeue::add_excluded_nodes(&mut state.queue, &excluded),
            Err(e) => missing.push(("the nodes jobs queued ahead exclude", e)),
        }
        if let Err(e) = fields {
            missing.push((
                "limits counted per account or association, reservations of cores, and the nodes jobs queued ahead are planned on or ask for",
                e,
            ));
        }
    }
    state.not_read = unchecked(missing);
    Ok(state)
}

/// Why a submission was sent without a pre-flight: what Slurm refused to show (the error's
/// words), also given as `verdict_unavailable` in `submit --json`.
#[derive(Debug, Clone)]
pub struct NoPreFlight(pub String);

/// The state a submission's pre-flight weighs, or why there is none where the cluster keeps
/// what it needs from the user (PrivateData=nodes refuses `sinfo`): the job is then sent
/// without a verdict, and sbatch decides, rather than a user of such a cluster being unable
/// to submit at all. Any other failure (the controller down, which sbatch would meet too)
/// stops it.
pub async fn state_for_submission(
    slurm: &Slurm,
) -> Result<Result<ClusterState, NoPreFlight>, SlurmError> {
    match gather_state(slurm).await {
        Ok(state) => Ok(Ok(state)),
        Err(e @ SlurmError::NotShownToYou { .. }) => {
            let why = crate::error_chain(&e);
            eprintln!("warning: no pre-flight: {why}; submitting without one");
            Ok(Err(NoPreFlight(why)))
        }
        Err(e) => Err(e),
    }
}

/// Warnings for what accounting could not tell the pre-flight: one line when slurmdbd is down
/// (each of sacctmgr's three calls fails the same way), else one a failure.
fn unchecked(missing: Vec<(&str, SlurmError)>) -> Vec<String> {
    let down = missing
        .iter()
        .all(|(_, e)| matches!(e, SlurmError::AccountingUnreachable { .. }));
    match missing.first() {
        Some((_, SlurmError::AccountingUnreachable { stderr, .. })) if down => {
            let what: Vec<&str> = missing.iter().map(|(what, _)| *what).collect();
            let said = stderr
                .lines()
                .map(str::trim)
                .find(|l| !l.is_empty())
                .unwrap_or("");
            vec![format!(
                "Slurm's accounting (slurmdbd) cannot be reached ({said}), so {} {} not checked",
                join_words(&what),
                if what.len() == 1 { "is" } else { "are" }
            )]
        }
        _ => missing
            .into_iter()
            .map(|(what, e)| format!("{what} not checked ({})", crate::error_chain(&e)))
            .collect(),
    }
}

/// `a`, `a and b`, `a, b and c`.
fn join_words(words: &[&str]) -> String {
    match words {
        [] => String::new(),
        [one] => one.to_string(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

pub fn spec_runs_dir(spec: &JobSpec) -> PathBuf {
    spec.resolve(&spec.job.runs_dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: `sbatch_options` went to sbatch unmentioned by a verdict that ignores them.
    #[test]
    fn sbatch_options_are_named_beside_the_verdict() {
        assert_eq!(unjudged(&[]), None);
        let options =
            ["--constraint=a30", "--exclusive"].map(|o| crate::spec::NoControlChars(o.to_string()));
        assert_eq!(
            unjudged(&options).as_deref(),
            Some(
                "sbatch_options --constraint=a30 --exclusive go to sbatch as written; this verdict does not weigh them (`constraint = \"...\"`, `exclusive = true` under [job] are weighed)"
            )
        );
        let options =
            ["--exclude=gpu09", "-w", "gpu07"].map(|o| crate::spec::NoControlChars(o.to_string()));
        assert!(unjudged(&options).is_some_and(|m| {
            m.ends_with("(`nodelist = \"...\"`, `exclude = \"...\"` under [job] are weighed)")
        }));
    }

    /// Regression: with slurmdbd down, `check` printed three warnings, each quoting
    /// sacctmgr's two-line error in full. It says so once, in a line (stderr as captured).
    #[test]
    fn accounting_down_is_one_warning() {
        let down = || {
            SlurmError::AccountingUnreachable {
            command: "sacctmgr -P -n show qos".into(),
            stderr: "sacctmgr: error: slurm_persist_conn_open_without_init: failed to open persistent connection to host:localhost:6819: Connection refused\nsacctmgr: error: Sending PersistInit msg: Connection refused\n".into(),
        }
        };
        let said = unchecked(vec![
            ("QOS limits", down()),
            ("your association's limits", down()),
            ("your default account", down()),
        ]);
        assert_eq!(
            said,
            [
                "Slurm's accounting (slurmdbd) cannot be reached (sacctmgr: error: slurm_persist_conn_open_without_init: failed to open persistent connection to host:localhost:6819: Connection refused), so QOS limits, your association's limits and your default account are not checked"
            ]
        );
        let other = SlurmError::Failed {
            command: "sacctmgr show user".into(),
            code: 1,
            stderr: "no such user".into(),
        };
        let said = unchecked(vec![
            ("QOS limits", down()),
            ("your default account", other),
        ]);
        assert_eq!(said.len(), 2);
        assert!(
            said[1].starts_with("your default account not checked ("),
            "{said:?}"
        );
        assert!(unchecked(Vec::new()).is_empty());
    }
}
