//! `scontrol show config`: the site settings that change a pre-flight verdict.

use std::collections::BTreeMap;

/// `EnforcePartLimits`: whether a job over a partition limit is refused at submit (ALL, ANY)
/// or accepted and left pending forever (NO).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum EnforcePartLimits {
    /// Slurm's default.
    #[default]
    No,
    Any,
    All,
}

impl EnforcePartLimits {
    fn parse(value: &str) -> EnforcePartLimits {
        match value.trim().to_ascii_uppercase().as_str() {
            "ALL" => EnforcePartLimits::All,
            "ANY" | "YES" => EnforcePartLimits::Any,
            _ => EnforcePartLimits::No,
        }
    }

    /// Whether sbatch refuses a request over a partition limit.
    pub fn refuses(self) -> bool {
        self != EnforcePartLimits::No
    }
}

impl std::fmt::Display for EnforcePartLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            EnforcePartLimits::No => "NO",
            EnforcePartLimits::Any => "ANY",
            EnforcePartLimits::All => "ALL",
        })
    }
}

/// The controller's release, `SLURM_VERSION = 24.11.5`: where Slurm's decisions changed
/// between releases, the verdict follows the cluster's (captured on 22.05 and 24.11).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct SlurmVersion {
    pub major: u32,
    pub minor: u32,
}

impl SlurmVersion {
    /// The oldest release whose decisions are 24.11's: the newer of the two captured. The
    /// releases between 22.05 and 24.11 were not captured, and are taken as 24.11.
    const DECIDES_AS_24_11: SlurmVersion = SlurmVersion {
        major: 22,
        minor: 6,
    };

    /// `24.11.5`, `22.05.8`, `25.05.0-0rc1`.
    pub fn parse(value: &str) -> Option<SlurmVersion> {
        let mut parts = value.trim().split('.');
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.parse().ok()?;
        Some(SlurmVersion { major, minor })
    }

    /// Whether Slurm decides as 24.11 does where 22.05 decided otherwise.
    pub fn decides_as_24_11(self) -> bool {
        self >= Self::DECIDES_AS_24_11
    }
}

impl std::fmt::Display for SlurmVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{:02}", self.major, self.minor)
    }
}

/// The settings read from `scontrol show config`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SiteConfig {
    /// None where `scontrol show config` did not say (read as 22.05, the release CI runs).
    pub version: Option<SlurmVersion>,
    pub enforce_part_limits: EnforcePartLimits,
    /// Memory a job gets per CPU when it names none (MiB).
    pub def_mem_per_cpu_mib: Option<u64>,
    /// Memory a job gets per node when it names none (MiB).
    pub def_mem_per_node_mib: Option<u64>,
    pub max_array_size: Option<u64>,
    /// `PriorityType` is `priority/multifactor`: a new job's priority (fair-share, QOS,
    /// partition tier) may rank it above jobs already queued, where `priority/basic` ranks by
    /// submission alone.
    pub multifactor_priority: bool,
    pub preempt_type: PreemptType,
    /// `PrivateData` includes `jobs`: squeue shows a user (not root, not an operator) only
    /// their own jobs, and the counts of limits shared with others must come from the
    /// controller.
    pub private_jobs: bool,
    /// `PrivateData` includes `reservations`: a user sees only the reservations they may use,
    /// not a maintenance window that keeps the nodes from them.
    pub private_reservations: bool,
}

impl SiteConfig {
    /// Whether the controller decides as Slurm 24.11 does where 22.05 decided otherwise.
    pub fn decides_as_24_11(&self) -> bool {
        self.version.is_some_and(SlurmVersion::decides_as_24_11)
    }

    /// Whether squeue hides other users' jobs from `user` (root sees every job).
    pub fn hides_jobs_from(&self, user: &str) -> bool {
        self.private_jobs && user != "root"
    }

    /// Whether `scontrol show reservation` leaves out the reservations `user` may not use.
    pub fn hides_reservations_from(&self, user: &str) -> bool {
        self.private_reservations && user != "root"
    }
}

/// `PreemptType`: which running jobs a job may preempt.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum PreemptType {
    /// `preempt/none`: none.
    #[default]
    Off,
    /// `preempt/partition_prio`: those of partitions with a lower PriorityTier.
    PartitionPriority,
    /// `preempt/qos`: those of the QOS its own QOS's Preempt list names.
    Qos,
    /// A plugin this version of yenjob does not weigh, as Slurm spelled it.
    Other(String),
}

impl PreemptType {
    fn parse(value: &str) -> PreemptType {
        match value.trim() {
            "" | "preempt/none" => PreemptType::Off,
            "preempt/partition_prio" => PreemptType::PartitionPriority,
            "preempt/qos" => PreemptType::Qos,
            other => PreemptType::Other(other.to_string()),
        }
    }
}

/// Parses `scontrol show config` (`Key = Value` lines); unknown keys are ignored.
pub fn parse(text: &str) -> SiteConfig {
    let map: BTreeMap<&str, &str> = text
        .lines()
        .filter_map(|l| l.split_once(" = "))
        .map(|(k, v)| (k.trim(), v.trim()))
        .collect();
    let number = |k: &str| map.get(k).and_then(|v| v.parse::<u64>().ok());
    // `PrivateData = accounts,jobs,usage`.
    let private = |what: &str| {
        map.get("PrivateData")
            .is_some_and(|v| v.split(',').any(|w| w.trim() == what))
    };
    SiteConfig {
        version: map
            .get("SLURM_VERSION")
            .and_then(|v| SlurmVersion::parse(v)),
        enforce_part_limits: map
            .get("EnforcePartLimits")
            .map(|v| EnforcePartLimits::parse(v))
            .unwrap_or_default(),
        def_mem_per_cpu_mib: number("DefMemPerCPU"),
        def_mem_per_node_mib: number("DefMemPerNode"),
        max_array_size: number("MaxArraySize"),
        multifactor_priority: map.get("PriorityType") == Some(&"priority/multifactor"),
        preempt_type: map
            .get("PreemptType")
            .map(|t| PreemptType::parse(t))
            .unwrap_or_default(),
        private_jobs: private("jobs"),
        private_reservations: private("reservations"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_shapes_from_real_output() {
        let plain = parse(include_str!(
            "../../tests/fixtures/preflight/plain-starts/config.txt"
        ));
        assert_eq!(plain.enforce_part_limits, EnforcePartLimits::No);
        assert_eq!(plain.def_mem_per_cpu_mib, Some(1024));
        assert_eq!(plain.def_mem_per_node_mib, None);
        assert_eq!(plain.max_array_size, Some(1001));
        assert!(!plain.multifactor_priority);
        assert_eq!(plain.preempt_type, PreemptType::Off);
        assert!(!plain.private_jobs);
        let private = parse(include_str!(
            "../../tests/fixtures/preflight/plain-private-jobs-hidden-holder/config.txt"
        ));
        assert!(private.private_jobs);
        assert!(parse("PrivateData             = accounts,jobs,usage\n").private_jobs);
        assert!(!private.private_reservations);
        let reservations = parse(include_str!(
            "../../tests/fixtures/preflight/plain-private-reservations-maint-ahead/config.txt"
        ));
        assert!(reservations.private_reservations && !reservations.private_jobs);
        assert!(reservations.hides_reservations_from("nobody"));
        assert!(!reservations.hides_reservations_from("root"));
        let preempt = parse(include_str!(
            "../../tests/fixtures/preflight/preempt-preempts-lower-tier/config.txt"
        ));
        assert_eq!(preempt.preempt_type, PreemptType::PartitionPriority);
        let by_qos = parse(include_str!(
            "../../tests/fixtures/preflight/preempt-qos-preempts-named-qos/config.txt"
        ));
        assert_eq!(by_qos.preempt_type, PreemptType::Qos);
        assert!(parse("PriorityType            = priority/multifactor\n").multifactor_priority);
        let typed = parse(include_str!(
            "../../tests/fixtures/preflight/typed-starts-typed/config.txt"
        ));
        assert_eq!(typed.enforce_part_limits, EnforcePartLimits::All);
        assert!(typed.enforce_part_limits.refuses());
        assert_eq!(
            plain.version.map(|v| v.to_string()).as_deref(),
            Some("22.05")
        );
        assert!(!plain.decides_as_24_11());
    }

    #[test]
    fn the_release_is_read_from_slurm_version() {
        let newer = parse(include_str!(
            "../../tests/fixtures/preflight-slurm-24.11/plain-starts/config.txt"
        ));
        assert_eq!(
            newer.version,
            Some(SlurmVersion {
                major: 24,
                minor: 11
            })
        );
        assert!(newer.decides_as_24_11());
        for (said, as_24_11) in [
            ("22.05.8", false),
            ("21.08.5", false),
            ("23.02.7", true),
            ("25.05.0-0rc1", true),
        ] {
            let v = SlurmVersion::parse(said).unwrap();
            assert_eq!(v.decides_as_24_11(), as_24_11, "{said}");
        }
        assert_eq!(SlurmVersion::parse("unknown"), None);
        assert!(!parse("").decides_as_24_11());
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "\\PC*(\n\\PC*){0,3}") {
            let _ = parse(&s);
        }
    }
}
