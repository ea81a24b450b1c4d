//! Slurm: pure parsers for each command's output (one module each) and `Slurm`, which runs the
//! commands and hands their parsed output back.

pub mod array_ids;
pub mod assoc_mgr;
pub mod clock;
pub mod config;
pub mod constraint;
pub mod duration;
pub mod hostlist;
pub mod identity;
pub mod runner;
pub mod sacct;
pub mod sacctmgr;
pub mod sbatch;
pub mod scontrol;
pub mod sinfo;
pub mod squeue;
pub mod state;
pub mod tres;

use std::collections::HashMap;
use std::path::Path;

pub use identity::{current_groups, current_user};
pub use runner::{SlurmCli, SlurmError};

/// Calls Slurm's tools and parses what they print.
#[derive(Debug, Clone, Default)]
pub struct Slurm {
    pub cli: SlurmCli,
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

impl Slurm {
    /// Whether this machine can submit to Slurm at all.
    pub fn is_installed() -> bool {
        runner::on_path("sbatch")
    }

    /// Every partition: `--all` shows those hidden from the user too (Hidden=YES, or an
    /// AllowGroups the user is not in), which Slurm refuses for a reason worth saying.
    pub async fn partitions(&self) -> Result<Vec<scontrol::Partition>, SlurmError> {
        let out = self
            .cli
            .run("scontrol", &args(&["--all", "show", "partition", "-o"]))
            .await?;
        out.records(
            scontrol::parse_partitions(&out.stdout),
            &["No partitions in the system"],
        )
    }

    /// What the controller counts against the TRES-minutes limits of each QOS and of
    /// `user`'s associations and accounts.
    pub async fn limit_use(&self, user: &str) -> Result<Vec<assoc_mgr::LimitUse>, SlurmError> {
        let out = self
            .cli
            .run(
                "scontrol",
                &args(&[
                    "show",
                    "assoc_mgr",
                    "flags=assoc,qos",
                    &format!("users={user}"),
                ]),
            )
            .await?;
        Ok(assoc_mgr::parse(&out.stdout))
    }

    /// Every reservation, ahead or active.
    pub async fn reservations(&self) -> Result<Vec<scontrol::Reservation>, SlurmError> {
        let out = self
            .cli
            .run("scontrol", &args(&["show", "reservation", "-o"]))
            .await?;
        Ok(scontrol::parse_reservations(&out.stdout))
    }

    /// The site settings a verdict depends on (`scontrol show config`).
    pub async fn site_config(&self) -> Result<config::SiteConfig, SlurmError> {
        let out = self.cli.run("scontrol", &args(&["show", "config"])).await?;
        Ok(config::parse(&out.stdout))
    }

    pub async fn nodes(&self) -> Result<Vec<sinfo::NodeRow>, SlurmError> {
        let out = self
            .cli
            .run(
                "sinfo",
                &args(&["--all", "-h", "-N", "-O", sinfo::NODE_FORMAT]),
            )
            .await?;
        out.records(sinfo::parse_nodes(&out.stdout), &[])
    }

    /// Pending and running jobs, of one user or (None) of everyone, in every partition (those
    /// hidden from the user too: their jobs count toward the same limits).
    pub async fn queue(&self, user: Option<&str>) -> Result<Vec<squeue::QueuedJob>, SlurmError> {
        let mut a = args(&["--all", "-h", "-O", squeue::FORMAT]);
        if let Some(u) = user {
            a.extend(["-u".to_string(), u.to_string()]);
        }
        let out = self.cli.run("squeue", &a).await?;
        out.records(squeue::parse(&out.stdout), &[])
    }

    /// Every job and array task (pending tasks one a line: `-r`) of these ids, in one call:
    /// an id of an array brings all its tasks. Ids the controller no longer knows are left out.
    pub async fn queued_jobs(&self, ids: &[String]) -> Result<Vec<squeue::QueuedJob>, SlurmError> {
        let a = args(&[
            "-h",
            "-r",
            "-t",
            "all",
            "-j",
            &ids.join(","),
            "-O",
            squeue::FORMAT,
        ]);
        match self.cli.run("squeue", &a).await {
            Ok(out) => Ok(squeue::parse(&out.stdout)),
            // With one id, an unknown one is an error; with several, squeue leaves it out.
            Err(SlurmError::Failed { stderr, .. }) if stderr.contains("Invalid job id") => {
                Ok(Vec::new())
            }
            Err(e) => Err(e),
        }
    }

    pub async fn qos(&self) -> Result<Vec<sacctmgr::Qos>, SlurmError> {
        let out = self
            .cli
            .run(
                "sacctmgr",
                &args(&["-P", "-n", "show", "qos", sacctmgr::QOS_FORMAT]),
            )
            .await?;
        Ok(sacctmgr::parse_qos(&out.stdout))
    }

    pub async fn associations(&self, user: &str) -> Result<Vec<sacctmgr::Association>, SlurmError> {
        let a = args(&[
            "-P",
            "-n",
            "show",
            "assoc",
            &format!("where user={user}"),
            sacctmgr::ASSOC_FORMAT,
        ]);
        // `where user=x` must be two words for sacctmgr.
        let a: Vec<String> = a
            .iter()
            .flat_map(|s| s.split(' ').map(str::to_string).collect::<Vec<_>>())
            .collect();
        let out = self.cli.run("sacctmgr", &a).await?;
        Ok(sacctmgr::parse_associations(&out.stdout))
    }

    /// Every account's own limits (the association rows without a user).
    pub async fn account_limits(&self) -> Result<Vec<sacctmgr::AccountLimits>, SlurmError> {
        let a = args(&[
            "-P",
            "-n",
            "show",
            "assoc",
            "where",
            "user=",
            sacctmgr::ACCOUNT_FORMAT,
        ]);
        let out = self.cli.run("sacctmgr", &a).await?;
        Ok(sacctmgr::parse_account_limits(&out.stdout))
    }

    /// Fills in the account, reservation, planned and named nodes and features of each job in
    /// `queue` (a second squeue call).
    pub async fn add_job_fields(&self, queue: &mut [squeue::QueuedJob]) -> Result<(), SlurmError> {
        let a = args(&["--all", "-h", "-O", squeue::EXTRA_FORMAT]);
        let out = self.cli.run("squeue", &a).await?;
        squeue::add_extra_fields(queue, &out.stdout);
        Ok(())
    }

    /// The nodes each pending job excludes, by job id (a call of its own: 22.05's `-O` has no
    /// field for them).
    pub async fn excluded_nodes(&self) -> Result<HashMap<String, hostlist::HostList>, SlurmError> {
        let a = args(&["--all", "-h", "-t", "PD", "-o", squeue::EXCLUDED_FORMAT]);
        let out = self.cli.run("squeue", &a).await?;
        Ok(squeue::parse_excluded(&out.stdout))
    }

    /// The account a job of `user` goes to when it names none.
    pub async fn default_account(&self, user: &str) -> Result<Option<String>, SlurmError> {
        let a = args(&["-P", "-n", "show", "user", user, sacctmgr::USER_FORMAT]);
        let out = self.cli.run("sacctmgr", &a).await?;
        Ok(sacctmgr::parse_default_account(&out.stdout))
    }

    /// Accounting records of a job; empty when accounting does not know it.
    pub async fn accounting(&self, id: &str) -> Result<Vec<sacct::AccountedJob>, SlurmError> {
        let out = self
            .cli
            .run("sacct", &args(&["-j", id, "-P", "-n", sacct::FORMAT]))
            .await?;
        Ok(sacct::parse(&out.stdout))
    }

    /// Every job the controller still holds in memory (`scontrol show job`), in one call.
    pub async fn all_job_details(&self) -> Result<Vec<scontrol::JobDetails>, SlurmError> {
        let out = self.cli.run("scontrol", &args(&["show", "job"])).await?;
        Ok(scontrol::parse_jobs(&out.stdout))
    }

    /// `sbatch --parsable OPTIONS SCRIPT`.
    pub async fn submit(
        &self,
        options: &[String],
        script: &Path,
    ) -> Result<sbatch::Submitted, SlurmError> {
        let out = self.sbatch("--parsable", options, script).await?;
        sbatch::parse_parsable(&out.stdout).ok_or_else(|| SlurmError::Parse {
            command: "sbatch --parsable".into(),
            message: format!("expected a job id, got {:?}", out.stdout.trim()),
        })
    }

    /// `sbatch --test-only OPTIONS SCRIPT`: when and where Slurm would start the job,
    /// submitting nothing.
    pub async fn test_only(
        &self,
        options: &[String],
        script: &Path,
    ) -> Result<sbatch::TestOnly, SlurmError> {
        let out = self.sbatch("--test-only", options, script).await?;
        sbatch::parse_test_only(&out.stderr).ok_or_else(|| SlurmError::Parse {
            command: "sbatch --test-only".into(),
            message: format!("expected when the job would start, got {:?}", out.stderr),
        })
    }

    /// `sbatch MODE OPTIONS SCRIPT`; options go on the command line, where no quoting can go
    /// wrong.
    async fn sbatch(
        &self,
        mode: &str,
        options: &[String],
        script: &Path,
    ) -> Result<runner::Output, SlurmError> {
        let mut a = vec![mode.to_string()];
        a.extend(options.iter().cloned());
        a.push(script.to_string_lossy().into_owned());
        self.cli.run("sbatch", &a).await
    }

    pub async fn cancel(&self, id: &str) -> Result<(), SlurmError> {
        self.cli.run("scancel", &args(&[id])).await.map(|_| ())
    }

    pub async fn requeue(&self, id: &str) -> Result<(), SlurmError> {
        self.cli
            .run("scontrol", &args(&["requeue", id]))
            .await
            .map(|_| ())
    }
}
