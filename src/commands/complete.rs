//! Shell completion: `yenjob completions bash|zsh|fish` prints a script that asks yenjob itself
//! for candidates (clap_complete's environment-activated completion), so job ids, run ids and
//! a sweep's tasks complete from the run index as it is now.

use std::ffi::OsStr;

use clap_complete::engine::CompletionCandidate;

use crate::runs;

/// Job ids and run ids of the recorded runs that start with what is typed; a sweep's tasks
/// (`123_4`) once its id and `_` are typed. Newest first.
pub fn job_ids(current: &OsStr) -> Vec<CompletionCandidate> {
    let Some(current) = current.to_str() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for r in runs::list().runs.into_iter().rev() {
        let help = format!("{} ({})", r.job_name, r.run_id);
        if let Some(sweep) = &r.sweep
            && current.starts_with(&format!("{}_", r.job_id))
        {
            for i in 0..sweep.tasks.len() {
                let id = format!("{}_{i}", r.job_id);
                if id.starts_with(current) {
                    out.push(CompletionCandidate::new(id).help(Some(sweep.label(i).into())));
                }
            }
            continue;
        }
        for id in [&r.job_id, &r.run_id] {
            if id.starts_with(current) {
                out.push(CompletionCandidate::new(id.clone()).help(Some(help.clone().into())));
            }
        }
    }
    out
}

/// The script that registers completion for `shell`: it calls `yenjob` with `COMPLETE=shell`.
pub fn registration(shell: &str) -> anyhow::Result<String> {
    let shells = clap_complete::env::Shells::builtins();
    let Some(completer) = shells.completer(shell) else {
        anyhow::bail!(
            "no completion for shell {shell:?}; yenjob has bash, zsh, fish, elvish and powershell"
        );
    };
    let binary = std::env::current_exe()?;
    let mut script = Vec::new();
    completer.write_registration(
        "COMPLETE",
        "yenjob",
        "yenjob",
        &binary.to_string_lossy(),
        &mut script,
    )?;
    Ok(String::from_utf8_lossy(&script).into_owned())
}
