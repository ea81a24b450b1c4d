//! Submitting a sweep: every task's spec is checked first, the pre-flight judges the array as
//! Slurm will (each task a job), and one `sbatch --array=0-(N-1)%K` runs the tasks, each in
//! its own folder of one sweep folder. `--rerun-failed` submits the tasks that did not
//! complete as a new array into the same folder; each resumes from its own checkpoint.

use std::path::Path;

use crate::backend;
use crate::preflight::{self, Throttle};
use crate::run_dir::{RunDir, atomic_write};
use crate::runs::{self, BackendKind, RunRecord, Submission, SweepRecord};
use crate::script::{self, Layout};
use crate::slurm::Slurm;
use crate::slurm::state::JobState;
use crate::spec::{JobSpec, Sweep};

use super::{
    Options, Origin, allowed, choose_backend, dry_run_json, launch, new_record, now, print_json,
    sbatch_argv, submitted_json,
};

/// The throttle `max_parallel` in [sweep] sets where no pre-flight weighs the limits: a dry
/// run (the submission's pre-flight may lower it), or a cluster whose PrivateData keeps them
/// from the user.
fn max_parallel_throttle(max_parallel: Option<u32>, dry_run: bool) -> Option<Throttle> {
    max_parallel.map(|k| Throttle {
        limit: u64::from(k),
        because: match dry_run {
            true => format!("max_parallel = {k} in [sweep]; the pre-flight may lower it"),
            false => format!("max_parallel = {k} in [sweep]"),
        },
    })
}

pub(super) async fn submit(spec: &JobSpec, opts: &Options<'_>) -> anyhow::Result<i32> {
    let Some(grid) = &spec.sweep else {
        anyhow::bail!("{} has no [sweep] table", spec.source_path.display());
    };
    // Every task's spec, checked before anything is submitted.
    crate::commands::check_spec_inputs(spec)?;
    let tasks: Vec<JobSpec> = (0..grid.len())
        .map(|i| spec.task(i))
        .collect::<Result<_, _>>()?;
    let backend = choose_backend(&spec.job, opts.backend);
    let slurm = Slurm::default();
    let binary = std::env::current_exe()?;
    let indices: Vec<usize> = (0..grid.len()).collect();

    let mut verdict = None;
    let pre_flight = match backend {
        BackendKind::Slurm if !opts.dry_run => {
            Some(crate::commands::state_for_submission(&slurm).await?)
        }
        _ => None,
    };
    let no_pre_flight = pre_flight.as_ref().and_then(|p| p.as_ref().err()).cloned();
    let throttle = match backend {
        BackendKind::Slurm if let Some(Ok(state)) = pre_flight => {
            let v = crate::commands::verdict_asking_slurm(&slurm, spec, &state).await;
            let Some(v) = allowed(v, opts.json, opts.force)? else {
                return Ok(2);
            };
            let throttle = v.array.as_ref().and_then(|a| a.throttle.clone());
            verdict = Some(v);
            throttle
        }
        BackendKind::Slurm => max_parallel_throttle(grid.max_parallel, opts.dry_run),
        BackendKind::Local => Some(local_throttle(grid)),
    };
    let array = array_spec(&indices, throttle.as_ref().map(|t| t.limit));

    if opts.dry_run {
        let sweep_dir = crate::commands::spec_runs_dir(spec).join("<run-id>");
        let layout = Layout::Array {
            sweep_dir: &sweep_dir,
            array: &array,
        };
        if opts.json {
            let text = script::render(spec, &binary, layout)?;
            let argv = sbatch_argv(&script::sbatch_arguments(spec, layout), &sweep_dir);
            let json = dry_run_json(&slurm, backend, text, argv, async |state| {
                crate::commands::verdict_asking_slurm(&slurm, spec, state).await
            });
            print_json(&json.await)?;
            return Ok(0);
        }
        print!("{}", script::render(spec, &binary, layout)?);
        match backend {
            BackendKind::Slurm => eprintln!(
                "# would run: sbatch --parsable {} <run-dir>/job.sbatch",
                script::sbatch_arguments(spec, layout).join(" ")
            ),
            BackendKind::Local => eprintln!(
                "# would run locally (no Slurm), {} at a time: bash <run-dir>/job.sbatch for each task",
                throttle.as_ref().map_or(1, |t| t.limit)
            ),
        }
        for point in grid.points() {
            eprintln!("# task {}: {}", point.index, point.label());
        }
        return Ok(0);
    }

    let (run_id, sweep_dir) =
        runs::create_run_dir(&crate::commands::spec_runs_dir(spec), &spec.job.name.0)?;
    let dir = RunDir::new(&sweep_dir);
    let layout = Layout::Array {
        sweep_dir: &sweep_dir,
        array: &array,
    };
    if let Err(e) = write_folders(spec, &tasks, &binary, layout, &dir) {
        let _ = std::fs::remove_dir_all(&sweep_dir);
        return Err(e.context("nothing was submitted"));
    }
    let mut record = new_record(
        &Origin::of(spec),
        backend,
        run_id,
        sweep_dir.clone(),
        dir.log(),
        script::sbatch_arguments(spec, layout),
    );
    record.sweep = Some(SweepRecord {
        keys: grid.keys(),
        tasks: grid
            .points()
            .map(|p| {
                p.values
                    .iter()
                    .map(|(_, v)| serde_json::to_value(v).unwrap_or(serde_json::Value::Null))
                    .collect()
            })
            .collect(),
        throttle: throttle.as_ref().map(|t| t.limit),
        throttle_reason: throttle.as_ref().map(|t| t.because.clone()),
        submissions: vec![Submission {
            job_id: record.job_id.clone(),
            tasks: indices.clone(),
            submitted_at: now(),
            local_pid: None,
        }],
        ended: vec![None; grid.len()],
    });
    let script_path = dir.script();
    let parallel = throttle.as_ref().map_or(grid.len() as u64, |t| t.limit);
    let Some(record) = launch(&slurm, record, &script_path, |r| {
        backend::local::spawn_sweep(&script_path, &r.run_dir, &indices, parallel)
    })
    .await?
    else {
        return Ok(1);
    };
    if opts.json {
        print_json(&submitted_json(
            &record,
            verdict.as_ref(),
            no_pre_flight.as_ref(),
        ))?;
        return Ok(0);
    }
    print_submitted(&record, &indices, throttle.as_ref());
    if opts.follow {
        return crate::commands::status::follow_sweep(&slurm, &record).await;
    }
    Ok(0)
}

/// Without Slurm the tasks share this machine: one at a time unless `max_parallel` says more.
fn local_throttle(grid: &Sweep) -> Throttle {
    match grid.max_parallel {
        Some(k) => Throttle {
            limit: u64::from(k),
            because: format!("max_parallel = {k} in [sweep]"),
        },
        None => Throttle {
            limit: 1,
            because: "the local backend runs one task at a time unless max_parallel says more"
                .into(),
        },
    }
}

/// The sweep folder: the spec as submitted, the array's script, and each task's folder with
/// its own resolved spec (what its worker reads).
fn write_folders(
    spec: &JobSpec,
    tasks: &[JobSpec],
    binary: &Path,
    layout: Layout,
    dir: &RunDir,
) -> anyhow::Result<()> {
    atomic_write(&dir.spec_copy(), spec.source_text.as_bytes())?;
    atomic_write(
        &dir.script(),
        script::render(spec, binary, layout)?.as_bytes(),
    )?;
    for (i, task) in tasks.iter().enumerate() {
        let task_dir = RunDir::new(dir.task(i));
        atomic_write(&task_dir.spec_copy(), task.source_text.as_bytes())?;
    }
    Ok(())
}

fn print_submitted(record: &RunRecord, indices: &[usize], throttle: Option<&Throttle>) {
    let at_once = throttle.map_or(String::new(), |t| {
        format!(", at most {} at once: {}", t.limit, t.because)
    });
    let what = match record.backend {
        BackendKind::Slurm => format!("Submitted Slurm job array {}", record.job_id),
        BackendKind::Local => format!(
            "Started local sweep {} (in the background here, not through Slurm)",
            record.job_id
        ),
    };
    println!("{what}: {} tasks{at_once}", indices.len());
    println!("  sweep folder: {}", record.run_dir.display());
    println!(
        "  follow it:    yenjob status {} (one line per task); yenjob tail {}_{}",
        record.job_id, record.job_id, indices[0]
    );
}

/// `--array`'s index list: `0-8`, `2,5,7-9`, with `%K` when fewer than all may run at once.
pub fn array_spec(indices: &[usize], throttle: Option<u64>) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < indices.len() {
        let start = indices[i];
        let mut end = start;
        while i + 1 < indices.len() && indices[i + 1] == end + 1 {
            i += 1;
            end = indices[i];
        }
        parts.push(if end == start {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
        i += 1;
    }
    let mut spec = parts.join(",");
    if let Some(k) = throttle.filter(|k| (*k as usize) < indices.len()) {
        spec.push_str(&format!("%{k}"));
    }
    spec
}

/// `submit --rerun-failed SWEEP`: the tasks that ended without completing, as a new array
/// into the same sweep folder, with the same script and task specs.
pub(super) async fn rerun_failed(mut record: RunRecord, opts: &Options<'_>) -> anyhow::Result<i32> {
    let Some(sweep) = record.sweep.clone() else {
        return Err(runs::RunError::NotASweep(record.job_id).into());
    };
    let slurm = Slurm::default();
    let tasks = record.tasks();
    let states = backend::statuses(&slurm, &tasks, true).await?;
    let unfinished = states.iter().filter(|s| !s.state.is_finished()).count();
    // The tasks the report lists without results: a task whose worker wrote its summary is
    // done, whatever state Slurm gives it.
    let failed: Vec<usize> = tasks
        .iter()
        .zip(&states)
        .filter(|(t, s)| {
            (s.state.is_finished() || s.state == JobState::Unknown)
                && s.state != JobState::Completed
                && !t.dir().has_summary()
        })
        .filter_map(|(t, _)| t.task)
        .collect();
    if failed.is_empty() {
        println!(
            "sweep {}: no task to run again ({} completed, {unfinished} still queued or running)",
            record.job_id,
            tasks.len() - unfinished
        );
        return Ok(0);
    }
    // The spec as submitted, its relative paths against the folder it was submitted from.
    let spec = JobSpec::load_relative_to(&record.dir().spec_copy(), &record.spec_folder())?;
    let limits = super::rerun::limits_for(&record, &opts.limits)?;
    let mut request = preflight::Request {
        tasks: failed.len() as u64,
        ..crate::commands::request_of(&spec)
    };
    limits.apply_to(&mut request);
    let max_parallel = spec.sweep.as_ref().and_then(|s| s.max_parallel);
    let one_task_options = record.one_task_options(&limits);
    let pre_flight = match record.backend {
        BackendKind::Slurm => crate::commands::state_for_submission(&slurm).await?.ok(),
        BackendKind::Local => None,
    };
    let throttle = match record.backend {
        BackendKind::Slurm if let Some(state) = pre_flight => {
            let throttle = preflight::throttle(&request, max_parallel, &state);
            let mut verdict = preflight::assess_array(&request, throttle.clone(), &state);
            // Test-only is asked of one task: the options without `--array`.
            crate::commands::ask_about_hidden_reservations(
                &slurm,
                &state,
                &request,
                &one_task_options,
                &record.dir().script(),
                &mut verdict,
            )
            .await;
            // Running a sweep's failed tasks again prints text alone.
            if allowed(verdict, false, opts.force)?.is_none() {
                return Ok(2);
            }
            throttle
        }
        BackendKind::Slurm => max_parallel_throttle(max_parallel, false),
        BackendKind::Local => spec.sweep.as_ref().map(local_throttle),
    };
    let array = array_spec(&failed, throttle.as_ref().map(|t| t.limit));
    let labels: Vec<String> = failed
        .iter()
        .map(|i| format!("{i} ({})", sweep.label(*i)))
        .collect();
    println!("running again: task {}", labels.join(", task "));
    let script_path = record.dir().script();
    let mut submission = Submission {
        job_id: String::new(),
        tasks: failed.clone(),
        submitted_at: now(),
        local_pid: None,
    };
    // A task's old end markers would say it ended again at once.
    for i in &failed {
        let task_dir = RunDir::new(record.dir().task(*i));
        let _ = std::fs::remove_file(task_dir.exit_code());
        let _ = std::fs::remove_file(task_dir.cancelled());
        let _ = std::fs::remove_file(task_dir.pid());
    }
    let _ = std::fs::remove_file(record.dir().cancelled());
    match record.backend {
        BackendKind::Slurm => {
            let mut arguments = one_task_options;
            arguments.insert(1, format!("--array={array}"));
            let submitted = match slurm.submit(&arguments, &script_path).await {
                Ok(s) => s,
                Err(crate::slurm::SlurmError::Failed { stderr, .. }) => {
                    eprintln!(
                        "sbatch refused the array ({}): {stderr}",
                        crate::slurm::sbatch::rejection_reason(&stderr)
                    );
                    return Ok(1);
                }
                Err(e) => return Err(e.into()),
            };
            submission.job_id = submitted.job_id;
        }
        BackendKind::Local => {
            let parallel = throttle.as_ref().map_or(1, |t| t.limit);
            let pid =
                backend::local::spawn_sweep(&script_path, &record.run_dir, &failed, parallel)?;
            submission.job_id = record.job_id.clone();
            submission.local_pid = Some(pid);
            record.local_pid = Some(pid);
        }
    }
    let job_id = submission.job_id.clone();
    record.set_changed_limits(limits);
    if let Some(s) = record.sweep.as_mut() {
        for i in &failed {
            if let Some(e) = s.ended.get_mut(*i) {
                *e = None;
            }
        }
        s.submissions.push(submission);
    }
    runs::save(&record)?;
    println!(
        "Submitted {} of sweep {} again as array {job_id} ({array})",
        crate::preflight::words::count(failed.len() as u64, "task"),
        record.run_id
    );
    println!("  follow it:    yenjob status {}", record.job_id);
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::array_spec;

    #[test]
    fn array_specs_compress_runs_and_throttle_only_when_it_binds() {
        assert_eq!(array_spec(&[0, 1, 2, 3, 4, 5], Some(2)), "0-5%2");
        assert_eq!(array_spec(&[0, 1, 2], Some(3)), "0-2");
        assert_eq!(array_spec(&[0, 1, 2], None), "0-2");
        assert_eq!(array_spec(&[2, 5, 7, 8, 9], Some(2)), "2,5,7-9%2");
        assert_eq!(array_spec(&[4], None), "4");
    }
}
