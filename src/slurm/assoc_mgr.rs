//! `scontrol show assoc_mgr flags=assoc,qos users=USER`: what the controller counts against
//! the TRES-minutes limits of each QOS and of the user's associations and accounts, which
//! neither `sacctmgr` nor `squeue` shows, and what every user's jobs hold against the group
//! limits (GrpTRES, GrpJobs, GrpSubmitJobs), which `squeue` shows only where the cluster's
//! PrivateData lets the user see every job. Read only where one of these matters.

use std::collections::BTreeMap;

use super::tres::Tres;

/// Whose counters: a QOS, or an association (a user's in an account, maybe for one partition,
/// or an account's own row, without a user).
#[derive(Debug, Clone, PartialEq)]
pub enum Owner {
    Qos(String),
    Association {
        account: String,
        user: Option<String>,
        partition: String,
    },
}

/// The format's lines for one owner are `QOS=gpu(2)` or `ClusterName=yen Account=yenlab
/// UserName=root(0) Partition= ...`, then indented `Key=value` lines; a TRES counter reads
/// `cpu=N(60),gres/gpu=100(60)`: the limit (`N` for none), then in brackets what is counted
/// against it.
#[derive(Debug, Clone, PartialEq)]
pub struct LimitUse {
    pub owner: Owner,
    /// GrpTRESMins' use so far, in TRES-minutes (it decays with time).
    pub tres_mins_used: Tres,
    /// GrpTRESRunMins' count: the running jobs' TRES times their time left, in TRES-minutes.
    pub tres_run_mins: Tres,
    /// GrpWall's use so far, in whole minutes (it decays with time).
    pub wall_minutes_used: u64,
    /// What GrpTRES, GrpJobs and GrpSubmitJobs count: every user's jobs under it.
    pub held: JobCounts,
    /// A QOS's counts for each account whose jobs ran under it (MaxTRESPA, MaxJobsPA,
    /// MaxSubmitJobsPA: its "Account Limits"); empty for an association.
    pub per_account: BTreeMap<String, JobCounts>,
}

/// What the controller counts under one limit, every user's jobs together.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobCounts {
    /// The TRES the running jobs hold.
    pub tres: Tres,
    pub running_jobs: u64,
    /// Pending and running jobs.
    pub submitted_jobs: u64,
}

impl JobCounts {
    /// Both counts together: jobs of two accounts under one QOS.
    pub fn add(&mut self, other: &JobCounts) {
        self.tres.add(&other.tres);
        self.running_jobs += other.running_jobs;
        self.submitted_jobs += other.submitted_jobs;
    }

    /// The larger of each count.
    pub fn raise_to(&mut self, other: &JobCounts) {
        for (tres, &count) in &other.tres.0 {
            let mine = self.tres.0.entry(tres.clone()).or_default();
            *mine = (*mine).max(count);
        }
        self.running_jobs = self.running_jobs.max(other.running_jobs);
        self.submitted_jobs = self.submitted_jobs.max(other.submitted_jobs);
    }
}

impl LimitUse {
    fn new(owner: Owner) -> LimitUse {
        LimitUse {
            owner,
            tres_mins_used: Tres::default(),
            tres_run_mins: Tres::default(),
            wall_minutes_used: 0,
            held: JobCounts::default(),
            per_account: BTreeMap::new(),
        }
    }
}

/// Which part of a QOS record the lines belong to: its own counters, the counts of one
/// account (under `Account Limits`, a line naming the account), or those of one user (under
/// `User Limits`, a line of the uid), which yenjob counts from the user's own jobs.
enum Section {
    Own,
    AccountLimits(Option<String>),
    UserLimits,
}

pub fn parse(text: &str) -> Vec<LimitUse> {
    let mut all: Vec<LimitUse> = Vec::new();
    let mut section = Section::Own;
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if line.starts_with("ClusterName=") {
            all.push(LimitUse::new(association(line)));
            section = Section::Own;
            continue;
        }
        if let Some(qos) = line.strip_prefix("QOS=") {
            all.push(LimitUse::new(Owner::Qos(without_id(qos).to_string())));
            section = Section::Own;
            continue;
        }
        match line {
            "Account Limits" => section = Section::AccountLimits(None),
            "User Limits" => section = Section::UserLimits,
            _ => {}
        }
        let Some(u) = all.last_mut() else {
            continue;
        };
        match &mut section {
            Section::Own => own_counters(u, line),
            Section::AccountLimits(account) => {
                if !line.contains('=') {
                    *account = (line != "Account Limits").then(|| line.to_string());
                } else if let Some(account) = account {
                    let counts = u.per_account.entry(account.clone()).or_default();
                    account_counters(counts, line);
                }
            }
            Section::UserLimits => {}
        }
    }
    all
}

/// A line of the owner's own counters: `GrpJobs=N(0) GrpJobsAccrue=N(0) GrpSubmitJobs=N(0)
/// GrpWall=N(0.00)` (several on a line for a QOS, over two for an association), or one TRES
/// counter (`GrpTRES=cpu=N(1),...`).
fn own_counters(u: &mut LimitUse, line: &str) {
    for (key, count) in counts_on(line) {
        match key {
            "GrpWall" => u.wall_minutes_used = count,
            "GrpJobs" => u.held.running_jobs = count,
            "GrpSubmitJobs" => u.held.submitted_jobs = count,
            _ => {}
        }
    }
    let Some((key, value)) = line.split_once('=') else {
        return;
    };
    match key {
        "GrpTRES" => u.held.tres = counted(value),
        "GrpTRESMins" => u.tres_mins_used = counted(value),
        "GrpTRESRunMins" => u.tres_run_mins = counted(value),
        _ => {}
    }
}

/// A line of one account's counts under a QOS: `MaxJobsPA=N(1) MaxJobsAccruePA=N(0)
/// MaxSubmitJobsPA=N(1)`, or `MaxTRESPA=cpu=N(1),...,gres/gpu=N(3)`.
fn account_counters(counts: &mut JobCounts, line: &str) {
    if let Some(tres) = line.strip_prefix("MaxTRESPA=") {
        counts.tres = counted(tres);
        return;
    }
    for (key, count) in counts_on(line) {
        match key {
            "MaxJobsPA" => counts.running_jobs = count,
            "MaxSubmitJobsPA" => counts.submitted_jobs = count,
            _ => {}
        }
    }
}

/// `GrpJobs=N(0) GrpWall=30(42.75)` → (GrpJobs, 0), (GrpWall, 42): each word's count, whole.
fn counts_on(line: &str) -> impl Iterator<Item = (&str, u64)> {
    line.split_whitespace().filter_map(|word| {
        let (key, value) = word.split_once('=')?;
        Some((key, in_brackets(value).map_or(0, |m| m as u64)))
    })
}

/// `ClusterName=yen Account=yenlab UserName=root(0) Partition=gpu Priority=0 ID=6`.
fn association(line: &str) -> Owner {
    let field = |name: &str| {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(name)?.strip_prefix('='))
            .unwrap_or("")
    };
    let user = without_id(field("UserName"));
    Owner::Association {
        account: field("Account").to_string(),
        user: (!user.is_empty()).then(|| user.to_string()),
        partition: field("Partition").to_string(),
    }
}

/// `gpu(2)` → `gpu`; `root(0)` → `root`.
fn without_id(value: &str) -> &str {
    value.split('(').next().unwrap_or(value)
}

/// `100(60.5)` → 60.5: what is counted against a limit.
fn in_brackets(value: &str) -> Option<f64> {
    value
        .split_once('(')
        .and_then(|(_, c)| c.strip_suffix(')'))
        .and_then(|c| c.parse::<f64>().ok())
}

/// `cpu=N(60),gres/gpu=100(60)` → cpu=60, gres/gpu=60: the counts in brackets.
fn counted(value: &str) -> Tres {
    let mut t = Tres::default();
    for entry in value.split(',') {
        let Some((name, rest)) = entry.split_once('=') else {
            continue;
        };
        let Some(count) = in_brackets(rest) else {
            continue;
        };
        if count > 0.0 {
            // Whole TRES-minutes, as Slurm compares them.
            t.0.insert(name.trim().to_string(), count as u64);
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_from_real_output() {
        // Captured on CI's cluster after a 1-GPU job of 30 minutes started under QOS gpu.
        let real = "Current Association Manager state\n\nQOS Records\n\nQOS=normal(1)\n    UsageRaw=0.000000\n    GrpTRESMins=cpu=N(0),mem=N(0),energy=N(0),node=N(0),billing=N(0),fs/disk=N(0),vmem=N(0),pages=N(0),gres/gpu=N(0)\n    GrpTRESRunMins=cpu=N(0),mem=N(0),energy=N(0),node=N(0),billing=N(0),fs/disk=N(0),vmem=N(0),pages=N(0),gres/gpu=N(0)\nQOS=gpu(2)\n    UsageRaw=0.000000\n    GrpJobs=N(0) GrpJobsAccrue=N(0) GrpSubmitJobs=N(0) GrpWall=N(0.00)\n    GrpTRES=cpu=N(0),mem=N(0),energy=N(0),node=N(0),billing=N(0),fs/disk=N(0),vmem=N(0),pages=N(0),gres/gpu=N(0)\n    GrpTRESMins=cpu=N(0),mem=N(0),energy=N(0),node=N(0),billing=N(0),fs/disk=N(0),vmem=N(0),pages=N(0),gres/gpu=0(0)\n    GrpTRESRunMins=cpu=N(60),mem=N(61440),energy=N(0),node=N(60),billing=N(60),fs/disk=N(0),vmem=N(0),pages=N(0),gres/gpu=100(60)\n    MaxWallPJ=1440\n";
        let all = parse(real);
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].owner, Owner::Qos("normal".into()));
        assert!(all[0].tres_run_mins.is_empty());
        let gpu = &all[1];
        assert_eq!(gpu.owner, Owner::Qos("gpu".into()));
        assert_eq!(gpu.tres_run_mins.get("gres/gpu"), Some(60));
        assert_eq!(gpu.tres_run_mins.get("cpu"), Some(60));
        assert_eq!(gpu.tres_mins_used.get("gres/gpu"), None);
        let q = &parse("QOS=x(9)\n    GrpJobs=N(0) GrpSubmitJobs=N(0) GrpWall=30(42.75)\n")[0];
        assert_eq!(q.wall_minutes_used, 42);
    }

    /// Read as `nobody` under PrivateData=jobs while root's job of 3 GPUs ran: squeue showed
    /// no job, the controller's counts show root's.
    #[test]
    fn group_counts_include_jobs_squeue_hides() {
        let all = parse(include_str!(
            "../../tests/fixtures/preflight/plain-private-jobs-hidden-holder/assoc-mgr.txt"
        ));
        let gpu = all
            .iter()
            .find(|u| u.owner == Owner::Qos("gpu".into()))
            .unwrap();
        assert_eq!(gpu.held.tres.get("gres/gpu"), Some(3));
        assert_eq!((gpu.held.running_jobs, gpu.held.submitted_jobs), (1, 1));
        let lab = all
            .iter()
            .find(|u| matches!(&u.owner, Owner::Association { account, user: None, .. } if account == "yenlab"))
            .unwrap();
        assert_eq!(lab.held.tres.get("gres/gpu"), Some(3));
        assert_eq!((lab.held.running_jobs, lab.held.submitted_jobs), (1, 1));
    }

    /// The same capture: QOS normal's "Account Limits" count root's hidden job for account
    /// yenlab (what MaxTRESPA, MaxJobsPA and MaxSubmitPA compare), and its "User Limits",
    /// under uid 0, are not taken for an account.
    #[test]
    fn per_account_counts_of_a_qos() {
        let all = parse(include_str!(
            "../../tests/fixtures/preflight/plain-private-jobs-hidden-holder/assoc-mgr.txt"
        ));
        let normal = all
            .iter()
            .find(|u| u.owner == Owner::Qos("normal".into()))
            .unwrap();
        assert_eq!(normal.per_account.keys().collect::<Vec<_>>(), ["yenlab"]);
        let lab = &normal.per_account["yenlab"];
        assert_eq!(lab.tres.get("gres/gpu"), Some(3));
        assert_eq!((lab.running_jobs, lab.submitted_jobs), (1, 1));
        assert!(all.iter().all(|u| !u.per_account.contains_key("0")));
        let associations = all
            .iter()
            .filter(|u| matches!(u.owner, Owner::Association { .. }));
        assert!(associations.clone().count() > 0);
        assert!(associations.into_iter().all(|u| u.per_account.is_empty()));
    }

    #[test]
    fn associations_and_accounts() {
        let real = "Association Records\n\nClusterName=yen Account=yenlab UserName= Partition= Priority=0 ID=3\n    GrpTRESRunMins=cpu=N(0),gres/gpu=N(30)\nClusterName=yen Account=yenlab UserName=root(0) Partition=gpu Priority=0 ID=6\n    GrpTRESMins=cpu=N(0),gres/gpu=0(0)\n    GrpTRESRunMins=cpu=N(10),gres/gpu=N(10)\n";
        let all = parse(real);
        assert_eq!(
            all[0].owner,
            Owner::Association {
                account: "yenlab".into(),
                user: None,
                partition: String::new()
            }
        );
        assert_eq!(all[0].tres_run_mins.get("gres/gpu"), Some(30));
        assert_eq!(
            all[1].owner,
            Owner::Association {
                account: "yenlab".into(),
                user: Some("root".into()),
                partition: "gpu".into()
            }
        );
        assert_eq!(all[1].tres_run_mins.get("cpu"), Some(10));
    }

    #[test]
    fn odd_lines_are_skipped() {
        assert!(parse("GrpTRESMins=cpu=N(5)\nnonsense\n").is_empty());
        let q = &parse("QOS=x(9)\nGrpTRESMins=cpu=N(oops),gres/gpu=3(2.7)\n")[0];
        assert_eq!(q.tres_mins_used.get("cpu"), None);
        assert_eq!(q.tres_mins_used.get("gres/gpu"), Some(2));
    }
}
