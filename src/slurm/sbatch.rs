//! What `sbatch --parsable` prints, and what its refusals mean.

/// A submitted job: `12` or `12;cluster`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submitted {
    pub job_id: String,
    pub cluster: Option<String>,
}

pub fn parse_parsable(stdout: &str) -> Option<Submitted> {
    let line = stdout.lines().map(str::trim).find(|l| !l.is_empty())?;
    let (id, cluster) = match line.split_once(';') {
        Some((id, c)) => (id, Some(c.to_string())),
        None => (line, None),
    };
    (!id.is_empty() && id.bytes().all(|b| b.is_ascii_digit() || b == b'_')).then(|| Submitted {
        job_id: id.to_string(),
        cluster,
    })
}

/// What `sbatch --test-only` says of a job (on stderr): when and where Slurm's will-run test
/// would start it, weighing the running jobs and every reservation, those PrivateData hides
/// from the user too, but no job queued and no limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestOnly {
    /// Local clock seconds (`clock`).
    pub start: i64,
    pub nodes: String,
}

/// `sbatch: Job 31 to start at 2026-12-02T07:41:16 using 1 processors on nodes localhost in
/// partition gpu`; `None` for anything else (a refusal: `allocation failure: ...`).
pub fn parse_test_only(stderr: &str) -> Option<TestOnly> {
    let line = stderr.lines().find(|l| l.contains(" to start at "))?;
    let after = |word: &str| line.split(word).nth(1)?.split_whitespace().next();
    Some(TestOnly {
        start: super::clock::parse_timestamp(after(" to start at ")?)?,
        nodes: after(" on nodes ")?.to_string(),
    })
}

/// What sbatch prints when it refuses a job for something other than an accounting limit,
/// by the code the pre-flight gives the same refusal. The text is Slurm's
/// (`slurm_strerror`), after "Batch job submission failed: ".
pub const REFUSALS: &[(&str, &str)] = &[
    ("InvalidPartition", "Invalid partition name specified"),
    ("InvalidQOS", "Invalid qos specification"),
    (
        "NodeConfigurationUnavailable",
        "Requested node configuration is not available",
    ),
    ("InvalidTimeLimit", "Requested time limit is invalid"),
    (
        "TooManyRequestedCpus",
        "More processors requested than permitted",
    ),
    (
        "InvalidAccount",
        "Invalid account or account/partition combination specified",
    ),
    (
        "PartitionNotAvailable",
        "Required partition not available (inactive or drain)",
    ),
    (
        "GroupNotPermitted",
        "User's group not permitted to use this partition",
    ),
    (
        "InvalidTaskMemory",
        "Memory required by task is not available",
    ),
    ("InvalidReservation", "Requested reservation is invalid"),
    ("InvalidFeature", "Invalid feature specification"),
    ("InvalidNodeName", "Invalid node name specified"),
    (
        "ReservationAccessDenied",
        "Access denied to requested reservation",
    ),
    ("InvalidArray", "Invalid job array specification"),
    ("AccessDenied", "Access/permission denied"),
    ("RootJobsDisabled", "Invalid user id"),
    (
        "PartitionConfigurationUnavailable",
        "Requested partition configuration not available now",
    ),
    ("InvalidNodeCount", "Node count specification invalid"),
];

/// What sbatch prints when it refuses a job for the reason `code`, if it is one of
/// `REFUSALS`.
pub fn refusal_message(code: &str) -> Option<&'static str> {
    REFUSALS.iter().find(|(c, _)| *c == code).map(|(_, m)| *m)
}

/// Slurm's reason code for a refused submission, from sbatch's stderr: for an accounting
/// limit sbatch prints the code on a line of its own (`sbatch: error: QOSMaxGRESPerUser`;
/// a QOS's per-account limits read `MaxSubmitJobsPerAccount`, without the prefix);
/// otherwise the code the pre-flight uses for the same refusal.
pub fn rejection_reason(stderr: &str) -> &str {
    let code = stderr
        .lines()
        .filter_map(|l| l.trim().strip_prefix("sbatch: error: "))
        .map(str::trim)
        .find(|w| {
            (w.starts_with("QOS") || w.starts_with("Assoc") || w.ends_with("PerAccount"))
                && w.chars().all(|c| c.is_ascii_alphanumeric())
        });
    if let Some(code) = code {
        return code;
    }
    let said = stderr.to_ascii_lowercase();
    if let Some((code, _)) = REFUSALS
        .iter()
        .find(|(_, message)| said.contains(&message.to_ascii_lowercase()))
    {
        return code;
    }
    if said.contains("violates accounting/qos policy") {
        "QOSPolicy"
    } else {
        "Unknown"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    macro_rules! fixture {
        ($name:literal) => {
            include_str!(concat!("../../tests/fixtures/slurm-22.05/", $name))
        };
    }

    /// As captured (`plain-private-reservations-maint-ahead`, `plain-more-gpus-than-a-node`).
    #[test]
    fn test_only_answers() {
        let said = "sbatch: Job 31 to start at 2026-12-02T07:41:16 using 1 processors on nodes localhost in partition gpu\n";
        let t = parse_test_only(said).unwrap();
        assert_eq!(
            super::super::clock::timestamp(t.start),
            "2026-12-02T07:41:16"
        );
        assert_eq!(t.nodes, "localhost");
        let refused = "allocation failure: Requested node configuration is not available\n";
        assert_eq!(parse_test_only(refused), None);
    }

    #[test]
    fn parsable_output() {
        assert_eq!(
            parse_parsable(fixture!("sbatch--parsable.txt"))
                .unwrap()
                .job_id,
            "2"
        );
        let s = parse_parsable("42;yen\n").unwrap();
        assert_eq!(
            (s.job_id.as_str(), s.cluster.as_deref()),
            ("42", Some("yen"))
        );
        assert_eq!(parse_parsable(""), None);
        assert_eq!(parse_parsable("Submitted batch job 3"), None);
    }

    #[test]
    fn real_refusals() {
        assert_eq!(
            rejection_reason(fixture!("sbatch.over-submit-limit.stderr")),
            "QOSMaxSubmitJobPerUserLimit"
        );
        assert_eq!(
            rejection_reason(fixture!("sbatch.bad-partition.stderr")),
            "InvalidPartition"
        );
        assert_eq!(
            rejection_reason(fixture!("sbatch.bad-qos.stderr")),
            "InvalidQOS"
        );
        assert_eq!(
            rejection_reason(fixture!("sbatch.too-many-gpus.stderr")),
            "NodeConfigurationUnavailable"
        );
    }

    /// Refusals captured on the typed shape (tests/fixtures/preflight/*/slurm.txt).
    #[test]
    fn typed_shape_refusals() {
        let limit = "sbatch: error: QOSMaxGRESPerUser\nsbatch: error: Batch job submission failed: Job violates accounting/QOS policy (job submit limit, user's size and/or time limits)\n";
        assert_eq!(rejection_reason(limit), "QOSMaxGRESPerUser");
        let wall = limit.replace("QOSMaxGRESPerUser", "QOSMaxWallDurationPerJobLimit");
        assert_eq!(rejection_reason(&wall), "QOSMaxWallDurationPerJobLimit");
        assert_eq!(
            rejection_reason(
                "sbatch: error: Batch job submission failed: More processors requested than permitted\n"
            ),
            "TooManyRequestedCpus"
        );
        assert_eq!(
            rejection_reason(
                "sbatch: error: Batch job submission failed: Requested time limit is invalid (missing or exceeds some limit)\n"
            ),
            "InvalidTimeLimit"
        );
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "\\PC*") {
            let _ = parse_parsable(&s);
            let _ = rejection_reason(&s);
        }
    }
}
