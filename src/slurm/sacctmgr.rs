//! `sacctmgr -P -n show qos|assoc`: QOS limits and which QOS a user may use.

use super::duration::SlurmTime;
use super::tres::Tres;

pub const QOS_FORMAT: &str = "format=Name,MaxTRESPU,MaxJobsPU,MaxSubmitPU,MaxWall,GrpTRES,GrpJobs,MaxTRES,MaxTRESPerNode,Flags,MaxTRESPA,MaxJobsPA,MaxSubmitPA,GrpSubmit,MinTRES,MaxTRESMins,GrpTRESRunMins,GrpTRESMins,GrpWall,Preempt";

#[derive(Debug, Clone, PartialEq)]
pub struct Qos {
    pub name: String,
    pub max_tres_per_user: Tres,
    pub max_jobs_per_user: Option<u64>,
    pub max_submit_per_user: Option<u64>,
    pub max_wall: SlurmTime,
    pub grp_tres: Tres,
    pub grp_jobs: Option<u64>,
    pub max_tres_per_job: Tres,
    pub max_tres_per_node: Tres,
    pub flags: Vec<String>,
    /// MaxTRESPA: held at once by the jobs of one account, all its users together.
    pub max_tres_per_account: Tres,
    /// MaxJobsPA: running jobs of one account.
    pub max_jobs_per_account: Option<u64>,
    /// MaxSubmitPA: pending and running jobs of one account.
    pub max_submit_per_account: Option<u64>,
    /// GrpSubmit: pending and running jobs of everyone.
    pub grp_submit: Option<u64>,
    /// MinTRES: what each job must ask for at least.
    pub min_tres_per_job: Tres,
    /// MaxTRESMins, GrpTRESMins and GrpTRESRunMins.
    pub minutes: MinutesLimits,
    /// GrpWall: a budget of wall time the QOS's jobs have run, which decays.
    pub grp_wall: SlurmTime,
    /// Preempt: the QOS whose jobs this one's preempt (under PreemptType=preempt/qos).
    pub preempts: Vec<String>,
}

impl Qos {
    pub fn has_flag(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f.eq_ignore_ascii_case(flag))
    }

    /// Whether a limit counts the jobs of each account apart (MaxTRESPA, MaxJobsPA,
    /// MaxSubmitPA).
    pub fn limits_accounts(&self) -> bool {
        !self.max_tres_per_account.is_empty()
            || self.max_jobs_per_account.is_some()
            || self.max_submit_per_account.is_some()
    }
}

/// Parses `sacctmgr -P -n show qos QOS_FORMAT`.
pub fn parse_qos(text: &str) -> Vec<Qos> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split('|').collect();
            if f.len() < 10 || f[0].trim().is_empty() {
                return None;
            }
            let count = |s: &str| s.trim().parse::<u64>().ok();
            // Snapshots taken before the per-account and minutes limits were read end at Flags.
            let at = |i: usize| f.get(i).copied().unwrap_or("");
            Some(Qos {
                name: f[0].trim().to_string(),
                max_tres_per_user: Tres::parse(f[1]),
                max_jobs_per_user: count(f[2]),
                max_submit_per_user: count(f[3]),
                max_wall: SlurmTime::parse(f[4]).unwrap_or(SlurmTime::NotSet),
                grp_tres: Tres::parse(f[5]),
                grp_jobs: count(f[6]),
                max_tres_per_job: Tres::parse(f[7]),
                max_tres_per_node: Tres::parse(f[8]),
                flags: f[9]
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect(),
                max_tres_per_account: Tres::parse(at(10)),
                max_jobs_per_account: count(at(11)),
                max_submit_per_account: count(at(12)),
                grp_submit: count(at(13)),
                min_tres_per_job: Tres::parse(at(14)),
                minutes: MinutesLimits {
                    max_tres_mins_per_job: Tres::parse(at(15)),
                    grp_tres_run_mins: Tres::parse(at(16)),
                    grp_tres_mins: Tres::parse(at(17)),
                },
                grp_wall: SlurmTime::parse(at(18)).unwrap_or(SlurmTime::NotSet),
                preempts: at(19)
                    .split(',')
                    .map(str::trim)
                    .filter(|q| !q.is_empty())
                    .map(str::to_string)
                    .collect(),
            })
        })
        .collect()
}

pub const ASSOC_FORMAT: &str = "format=Cluster,Account,User,Partition,QOS,DefaultQOS,GrpTRES,MaxTRES,MaxJobs,MaxSubmit,MaxWall,GrpTRESMins,GrpTRESRunMins,MaxTRESMins,GrpWall";

/// One association: which QOS a user may use under an account, and its own limits.
#[derive(Debug, Clone, PartialEq)]
pub struct Association {
    pub cluster: String,
    pub account: String,
    pub user: String,
    pub partition: String,
    pub qos: Vec<String>,
    pub default_qos: Option<String>,
    pub grp_tres: Tres,
    /// MaxTRES: per job.
    pub max_tres_per_job: Tres,
    pub max_jobs: Option<u64>,
    pub max_submit: Option<u64>,
    pub max_wall: SlurmTime,
    /// GrpTRESMins, GrpTRESRunMins and MaxTRESMins, as a QOS's.
    pub minutes: MinutesLimits,
    /// GrpWall: a budget of wall time its jobs have run, which decays.
    pub grp_wall: SlurmTime,
}

/// The TRES-minutes limits a QOS or an association may set.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MinutesLimits {
    /// GrpTRESMins: a budget of TRES-minutes used so far, which decays.
    pub grp_tres_mins: Tres,
    /// GrpTRESRunMins: the running jobs' TRES times their time left.
    pub grp_tres_run_mins: Tres,
    /// MaxTRESMins: a job's TRES times its time limit.
    pub max_tres_mins_per_job: Tres,
}

impl MinutesLimits {
    /// Whether a limit needs what the controller counts (GrpTRESMins, GrpTRESRunMins).
    pub fn counts_use(&self) -> bool {
        !self.grp_tres_mins.is_empty() || !self.grp_tres_run_mins.is_empty()
    }

    pub fn is_empty(&self) -> bool {
        self.grp_tres_mins.is_empty()
            && self.grp_tres_run_mins.is_empty()
            && self.max_tres_mins_per_job.is_empty()
    }
}

impl Association {
    /// `account yenlab`, or `account yenlab, partition gpu` for a partition's own.
    pub fn describe(&self) -> String {
        if self.partition.is_empty() {
            format!("account {}", self.account)
        } else {
            format!("account {}, partition {}", self.account, self.partition)
        }
    }

    /// Whether it limits its own jobs (so which jobs are under it matters).
    pub fn has_limits(&self) -> bool {
        !self.grp_tres.is_empty()
            || !self.max_tres_per_job.is_empty()
            || self.max_jobs.is_some()
            || self.max_submit.is_some()
            || !self.minutes.is_empty()
            || self.grp_wall != SlurmTime::NotSet
    }
}

pub fn parse_associations(text: &str) -> Vec<Association> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split('|').collect();
            if f.len() < 6 || f[2].trim().is_empty() {
                return None;
            }
            let at = |i: usize| f.get(i).map(|s| s.trim()).unwrap_or("");
            Some(Association {
                cluster: f[0].trim().to_string(),
                account: f[1].trim().to_string(),
                user: f[2].trim().to_string(),
                partition: f[3].trim().to_string(),
                qos: f[4]
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect(),
                default_qos: Some(f[5].trim().to_string()).filter(|s| !s.is_empty()),
                grp_tres: Tres::parse(at(6)),
                max_tres_per_job: Tres::parse(at(7)),
                max_jobs: at(8).parse().ok(),
                max_submit: at(9).parse().ok(),
                max_wall: SlurmTime::parse(at(10)).unwrap_or(SlurmTime::NotSet),
                minutes: MinutesLimits {
                    grp_tres_mins: Tres::parse(at(11)),
                    grp_tres_run_mins: Tres::parse(at(12)),
                    max_tres_mins_per_job: Tres::parse(at(13)),
                },
                grp_wall: SlurmTime::parse(at(14)).unwrap_or(SlurmTime::NotSet),
            })
        })
        .collect()
}

/// The format for `sacctmgr -P -n show assoc where user=`: the accounts' own rows, with the
/// limits all their users and sub-accounts share.
pub const ACCOUNT_FORMAT: &str = "format=Cluster,Account,ParentName,GrpTRES,GrpJobs,GrpSubmit,GrpTRESMins,GrpTRESRunMins,GrpWall";

/// An account's own limits, shared by every job of its users and of its sub-accounts.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountLimits {
    pub account: String,
    /// The account above it; `None` for `root`.
    pub parent: Option<String>,
    pub grp_tres: Tres,
    /// Running jobs at once.
    pub grp_jobs: Option<u64>,
    /// Pending and running jobs.
    pub grp_submit: Option<u64>,
    /// GrpTRESMins and GrpTRESRunMins (an account has no MaxTRESMins of its own).
    pub minutes: MinutesLimits,
    /// GrpWall: a budget of wall time its users' jobs have run, which decays.
    pub grp_wall: SlurmTime,
}

impl AccountLimits {
    pub fn has_limits(&self) -> bool {
        !self.grp_tres.is_empty()
            || self.grp_jobs.is_some()
            || self.grp_submit.is_some()
            || !self.minutes.is_empty()
            || self.grp_wall != SlurmTime::NotSet
    }
}

/// Parses `sacctmgr -P -n show assoc where user= ACCOUNT_FORMAT`.
pub fn parse_account_limits(text: &str) -> Vec<AccountLimits> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split('|').map(str::trim).collect();
            if f.len() < 6 || f[1].is_empty() {
                return None;
            }
            Some(AccountLimits {
                account: f[1].to_string(),
                parent: Some(f[2].to_string()).filter(|p| !p.is_empty()),
                grp_tres: Tres::parse(f[3]),
                grp_jobs: f[4].parse().ok(),
                grp_submit: f[5].parse().ok(),
                // Snapshots from before these columns were read end at GrpSubmit.
                minutes: MinutesLimits {
                    grp_tres_mins: Tres::parse(f.get(6).copied().unwrap_or("")),
                    grp_tres_run_mins: Tres::parse(f.get(7).copied().unwrap_or("")),
                    max_tres_mins_per_job: Tres::default(),
                },
                grp_wall: f
                    .get(8)
                    .and_then(|w| SlurmTime::parse(w))
                    .unwrap_or(SlurmTime::NotSet),
            })
        })
        .collect()
}

/// The format for `sacctmgr -P -n show user NAME`: the account a job without `--account` uses.
pub const USER_FORMAT: &str = "format=DefaultAccount";

/// Parses `sacctmgr -P -n show user NAME USER_FORMAT`.
pub fn parse_default_account(text: &str) -> Option<String> {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qos_from_real_output() {
        // Captured with Priority as the second column; drop it to match QOS_FORMAT.
        let real = include_str!("../../tests/fixtures/slurm-22.05/sacctmgr-P-n-show-qos-gpu.txt");
        let ours: String = real
            .lines()
            .map(|l| {
                let mut f: Vec<&str> = l.split('|').collect();
                f.remove(1);
                f.join("|") + "\n"
            })
            .collect();
        let q = &parse_qos(&ours)[0];
        assert_eq!(q.name, "gpu");
        assert_eq!(q.max_tres_per_user.gpus(), 4);
        assert_eq!(q.max_jobs_per_user, Some(2));
        assert_eq!(q.max_submit_per_user, Some(4));
        assert_eq!(q.max_wall, SlurmTime::Seconds(86_400));
        assert!(q.grp_tres.is_empty());
        assert!(q.flags.is_empty());
    }

    #[test]
    fn per_account_and_minutes_limits_from_real_output() {
        let real = include_str!("../../tests/fixtures/preflight/plain-qos-account-gpus/qos.txt");
        let gpu = parse_qos(real)
            .into_iter()
            .find(|q| q.name == "gpu")
            .unwrap();
        assert_eq!(gpu.max_tres_per_account.gpus(), 2);
        assert!(gpu.limits_accounts());
        let real = include_str!("../../tests/fixtures/preflight/plain-qos-cpu-minutes/qos.txt");
        let gpu = parse_qos(real)
            .into_iter()
            .find(|q| q.name == "gpu")
            .unwrap();
        assert_eq!(gpu.minutes.max_tres_mins_per_job.get("cpu"), Some(60));
        assert!(!gpu.limits_accounts());
        // Snapshots from before these columns were read still parse, without them.
        let old = &parse_qos("gpu|gres/gpu=4|2|4|1-00:00:00|||||\n")[0];
        assert!(old.max_tres_per_account.is_empty() && old.grp_submit.is_none());
        assert!(old.preempts.is_empty());
    }

    #[test]
    fn preempt_list_from_real_output() {
        let real =
            include_str!("../../tests/fixtures/preflight/preempt-qos-preempts-named-qos/qos.txt");
        let qos = parse_qos(real);
        let named = |name: &str| qos.iter().find(|q| q.name == name).unwrap();
        assert_eq!(named("lab").preempts, ["normal"]);
        assert!(named("normal").preempts.is_empty());
    }

    #[test]
    fn empty_limits_are_none() {
        let q = &parse_qos("normal|||||||||\n")[0];
        assert_eq!(q.max_jobs_per_user, None);
        assert_eq!(q.max_wall, SlurmTime::NotSet);
        let q = &parse_qos(
            "big|cpu=8,gres/gpu:a30=2|||2-00:00:00|gres/gpu=16||||DenyOnLimit,OverPartQOS\n",
        )[0];
        assert_eq!(q.max_tres_per_user.gpus(), 0, "only a typed limit is set");
        assert_eq!(q.max_tres_per_user.get("gres/gpu:a30"), Some(2));
        assert!(q.has_flag("DenyOnLimit"));
        assert!(q.has_flag("OverPartQOS"));
    }

    #[test]
    fn associations_from_real_output() {
        let real = include_str!("../../tests/fixtures/slurm-22.05/sacctmgr-P-n-show-assoc.txt");
        // Captured columns: Cluster,Account,User,Partition,QOS,DefaultQOS,...
        let assocs = parse_associations(real);
        let root = assocs
            .iter()
            .find(|a| a.user == "root" && a.account == "yenlab")
            .unwrap();
        assert_eq!(root.qos, vec!["gpu", "normal"]);
        assert_eq!(root.default_qos.as_deref(), Some("normal"));
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "\\PC*(\n\\PC*){0,3}") {
            let _ = parse_qos(&s);
            let _ = parse_associations(&s);
        }
    }
}
