//! `sacct -P -n`: what happened to jobs that left the queue, and their efficiency numbers.

use super::duration::SlurmTime;
use super::state::JobState;

pub const FORMAT: &str = "--format=JobID,JobName,State,ExitCode,Elapsed,Timelimit,Start,End,NodeList,AllocCPUS,TotalCPU,MaxRSS,AllocTRES";

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AccountedJob {
    pub id: String,
    pub name: String,
    pub state: JobState,
    pub exit_code: String,
    pub elapsed: SlurmTime,
    pub time_limit: SlurmTime,
    pub start: String,
    pub end: String,
    pub nodes: String,
    pub alloc_cpus: u64,
    /// CPU time used by all steps (`TotalCPU`), in seconds.
    pub total_cpu_seconds: Option<f64>,
    /// The largest MaxRSS of any step, in MiB.
    pub max_rss_mib: Option<u64>,
    pub alloc_tres: String,
}

/// Parses sacct rows for one or more jobs; steps (`12.batch`, `12.0`) are folded into their job.
pub fn parse(text: &str) -> Vec<AccountedJob> {
    let mut jobs: Vec<AccountedJob> = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split('|').collect();
        if f.len() < 13 || f[0].trim().is_empty() || f[0] == "JobID" {
            continue;
        }
        let (job_id, step) = match f[0].split_once('.') {
            Some((j, s)) => (j, Some(s)),
            None => (f[0], None),
        };
        let rss = super::tres::parse_mem_mib(f[11]);
        let cpu = parse_cpu_time(f[10]);
        if step.is_some() {
            if let Some(job) = jobs.iter_mut().find(|j| j.id == job_id) {
                job.max_rss_mib = job.max_rss_mib.max(rss);
                if job.total_cpu_seconds.is_none() {
                    job.total_cpu_seconds = cpu;
                }
            }
            continue;
        }
        jobs.push(AccountedJob {
            id: job_id.to_string(),
            name: f[1].to_string(),
            state: JobState::parse(f[2]),
            exit_code: f[3].to_string(),
            elapsed: SlurmTime::parse(f[4]).unwrap_or(SlurmTime::NotSet),
            time_limit: SlurmTime::parse(f[5]).unwrap_or(SlurmTime::NotSet),
            start: f[6].to_string(),
            end: f[7].to_string(),
            // A job that never ran: sacct says "None assigned".
            nodes: if f[8] == "None assigned" {
                String::new()
            } else {
                f[8].to_string()
            },
            alloc_cpus: f[9].parse().unwrap_or(0),
            total_cpu_seconds: cpu,
            max_rss_mib: rss,
            alloc_tres: f[12].to_string(),
        });
    }
    // An array's tasks that never left its pending record are one row (`2189_[2-3%2]`): one
    // job a task, as squeue -r and every other row name them.
    super::array_ids::one_per_task(jobs, |j| &j.id, |j, id| AccountedJob { id, ..j })
}

/// `TotalCPU` as sacct prints it: `[D-][HH:]MM:SS[.mmm]`.
fn parse_cpu_time(text: &str) -> Option<f64> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    let (main, frac) = match t.split_once('.') {
        Some((m, f)) => (m, format!("0.{f}").parse::<f64>().ok()?),
        None => (t, 0.0),
    };
    Some(SlurmTime::parse(main)?.seconds()? as f64 + frac)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: `scancel 2189` of a sweep with tasks still in the array's pending record
    /// left those tasks UNKNOWN to yenjob: accounting has them as one row, `2189_[2-3%2]`
    /// (captured from the CI cluster).
    #[test]
    fn an_array_row_of_pending_tasks_is_one_job_a_task() {
        let text = "2189_1|finbert-sweep-ci|CANCELLED by 0|0:0|00:00:02|00:30:00|2026-11-29T11:11:51|2026-11-29T11:11:53|localhost|1|00:03.132||billing=1,cpu=1,gres/gpu=1,mem=1G,node=1\n2189_1.batch|batch|FAILED|75:0|00:00:04||2026-11-29T11:11:51|2026-11-29T11:11:55|localhost|1|00:00.015|12284K|cpu=1,gres/gpu=1,mem=1G,node=1\n2189_[2-3%2]|finbert-sweep-ci|CANCELLED by 0|0:0|00:00:00|00:30:00|None|2026-11-29T11:11:53|None assigned|1|00:00:00||\n";
        let jobs = parse(text);
        let ids: Vec<&str> = jobs.iter().map(|j| j.id.as_str()).collect();
        assert_eq!(ids, ["2189_1", "2189_2", "2189_3"]);
        assert!(jobs.iter().all(|j| j.state == JobState::Cancelled));
        assert_eq!(jobs[2].nodes, "");
    }

    #[test]
    fn folds_steps_into_jobs() {
        let text = "2|gpu-env|COMPLETED|0:0|00:00:12|00:01:00|2026-11-27T10:54:20|2026-11-27T10:54:32|localhost|2|00:20.500||billing=1,cpu=2,gres/gpu=1\n\
                    2.batch|batch|COMPLETED|0:0|00:00:12||2026-11-27T10:54:20|2026-11-27T10:54:32|localhost|2|00:20.500|812M|cpu=2\n";
        let jobs = parse(text);
        assert_eq!(jobs.len(), 1);
        let j = &jobs[0];
        assert_eq!(j.state, JobState::Completed);
        assert_eq!(j.elapsed, SlurmTime::Seconds(12));
        assert_eq!(j.max_rss_mib, Some(812));
        assert_eq!(j.total_cpu_seconds, Some(20.5));
    }

    #[test]
    fn timeout_state() {
        let text = "17|will-timeout|TIMEOUT|0:15|00:01:15|00:01:00|||localhost|1|||\n";
        assert_eq!(parse(text)[0].state, JobState::Timeout);
    }

    #[test]
    fn unknown_job_is_empty() {
        let real = include_str!("../../tests/fixtures/slurm-22.05/sacct-j-unknown.txt");
        assert!(parse(real).is_empty());
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "\\PC*(\n\\PC*){0,3}") {
            let _ = parse(&s);
        }
        #[test]
        fn never_panics_pipes(s in "[0-9a-z.:|-]{0,100}") {
            let _ = parse(&s);
        }
    }
}
