//! When a job that waits for nodes is expected to start, and why then: the jobs running
//! there reach their time limits, jobs queued ahead run theirs, a reservation ends. `plan`
//! works it out as Slurm's backfill scheduler does. Every captured scenario that waits for
//! nodes checks it against Slurm's own answers, the backfill scheduler's plan and
//! `sbatch --test-only`'s (`replay_tests::expected_starts_are_when_slurm_plans_them`).

mod limits;
mod pending;
mod plan;

pub use pending::while_pending;
pub(in crate::preflight) use plan::HeldBack;

use crate::slurm::clock;

/// When a job that waits for running jobs to end is expected to start.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExpectedStart {
    /// By the time limits of the jobs running on `node`.
    By {
        /// Local clock seconds (`slurm::clock`); in JSON as Slurm prints a time,
        /// `2026-11-30T10:14:20`.
        #[serde(serialize_with = "as_timestamp")]
        at: i64,
        /// Seconds from when the state was read.
        in_seconds: u64,
        node: String,
        /// The jobs running there that reach their time limits by then, the first to end
        /// first.
        jobs_ending: Vec<String>,
        /// The jobs queued ahead expected to run there first, that reach their time limits
        /// by then.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        jobs_ahead_ending: Vec<QueuedAhead>,
        /// The reservations of some of its cores that end by then.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        reservations_ending: Vec<String>,
        /// The jobs under the limits that keep it pending (MaxJobsPU, MaxTRESPU...), wherever
        /// they run, that reach their time limits by then and so let it in.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        limit_jobs_ending: Vec<String>,
    },
    /// Jobs without a time limit hold what it needs: Slurm's own estimate is then a year
    /// away, a placeholder rather than a time. Or jobs the user cannot see do (the cluster's
    /// PrivateData hides other users' jobs): Slurm knows when they end, the user does not.
    NotKnown {
        jobs_without_time_limit: Vec<String>,
        /// The nodes where jobs not shown to the user hold what sinfo says is in use.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        unseen_on: Vec<String>,
    },
}

/// A job queued ahead, and when it is expected to start.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct QueuedAhead {
    pub job: String,
    #[serde(serialize_with = "as_timestamp")]
    pub start: i64,
}

impl ExpectedStart {
    /// `expected to start by 10:14 (in 30 min) on localhost, when job 2120 reaches its time
    /// limit, or sooner if it ends early`
    pub fn sentence(&self) -> String {
        match self {
            ExpectedStart::By {
                at,
                in_seconds,
                node,
                jobs_ending,
                jobs_ahead_ending,
                reservations_ending,
                limit_jobs_ending,
            } => {
                let now = at.saturating_sub(i64::try_from(*in_seconds).unwrap_or(0));
                // Those under a limit first: the finding before this sentence names the limit.
                let mut ending = limit_jobs_ending.clone();
                ending.extend(
                    jobs_ending
                        .iter()
                        .filter(|j| !limit_jobs_ending.contains(j))
                        .cloned(),
                );
                let jobs = match ending.as_slice() {
                    [] => None,
                    [one] => Some(format!("job {one} reaches its time limit")),
                    many => Some(format!("jobs {} reach their time limits", listed(many))),
                };
                let ahead = match jobs_ahead_ending.as_slice() {
                    [] => None,
                    [one] => Some(format!(
                        "job {}, queued ahead and expected to start at {}, reaches its time limit",
                        one.job,
                        clock::when(one.start, now)
                    )),
                    many => {
                        let ids: Vec<String> = many.iter().map(|a| a.job.clone()).collect();
                        Some(format!(
                            "jobs {}, queued ahead, reach their time limits",
                            listed(&ids)
                        ))
                    }
                };
                let reservations = match reservations_ending.as_slice() {
                    [] => None,
                    [one] => Some(format!("reservation {one} ends")),
                    many => Some(format!("reservations {} end", listed(many))),
                };
                let sooner = match ending.len() + jobs_ahead_ending.len() {
                    0 => "",
                    1 => ", or sooner if it ends early",
                    _ => ", or sooner if they end early",
                };
                let when = [jobs, ahead, reservations]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>();
                let by = clock::when_and_how_soon(*at, now);
                // A plan can hold a node that no visible job explains (jobs hidden from this
                // user by PrivateData): then the time alone, not a dangling "when".
                if when.is_empty() {
                    format!("expected to start by {by} on {node}")
                } else {
                    format!(
                        "expected to start by {by} on {node}, when {}{sooner}",
                        when.join(" and ")
                    )
                }
            }
            ExpectedStart::NotKnown {
                jobs_without_time_limit,
                unseen_on,
            } => {
                let without_limit = match jobs_without_time_limit.as_slice() {
                    [] => None,
                    [one] => Some(format!("job {one} runs there without a time limit")),
                    many => Some(format!(
                        "jobs {} run there without a time limit",
                        listed(many)
                    )),
                };
                let unseen = (!unseen_on.is_empty()).then(|| {
                    format!(
                        "jobs not shown to you (the cluster's PrivateData) hold what it needs on {}",
                        listed(unseen_on)
                    )
                });
                let why = [without_limit, unseen].into_iter().flatten();
                format!(
                    "when it starts is not known: {}, and until then there is no room for it",
                    why.collect::<Vec<_>>().join(" and ")
                )
            }
        }
    }
}

/// A local clock time as Slurm prints a timestamp, `2026-11-30T10:14:20`.
pub(in crate::preflight) fn as_timestamp<S: serde::Serializer>(
    at: &i64,
    to: S,
) -> Result<S::Ok, S::Error> {
    to.serialize_str(&clock::timestamp(*at))
}

/// `2120, 2121 and 2122`, or the first three `and 4 more`.
fn listed(ids: &[String]) -> String {
    const SHOWN: usize = 3;
    match ids {
        [] => String::new(),
        [one] => one.clone(),
        _ if ids.len() > SHOWN => {
            format!("{} and {} more", ids[..SHOWN].join(", "), ids.len() - SHOWN)
        }
        [first @ .., last] => format!("{} and {last}", first.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_are_listed_in_words() {
        let ids = |n: usize| (1..=n).map(|i| i.to_string()).collect::<Vec<_>>();
        assert_eq!(listed(&ids(1)), "1");
        assert_eq!(listed(&ids(2)), "1 and 2");
        assert_eq!(listed(&ids(3)), "1, 2 and 3");
        assert_eq!(listed(&ids(5)), "1, 2, 3 and 2 more");
    }

    #[test]
    fn the_sentence_says_when_and_why() {
        let room = ExpectedStart::By {
            at: clock::parse_timestamp("2026-11-30T10:14:20").unwrap(),
            in_seconds: 1800,
            node: "localhost".into(),
            jobs_ending: vec!["2120".into()],
            jobs_ahead_ending: Vec::new(),
            reservations_ending: Vec::new(),
            limit_jobs_ending: Vec::new(),
        };
        assert_eq!(
            room.sentence(),
            "expected to start by 10:14 (in 30 min) on localhost, when job 2120 reaches its time limit, or sooner if it ends early"
        );
        let json = serde_json::to_value(&room).unwrap();
        assert_eq!(json["by"]["at"], "2026-11-30T10:14:20");
        let unknown = ExpectedStart::NotKnown {
            jobs_without_time_limit: vec!["2126".into()],
            unseen_on: Vec::new(),
        };
        assert_eq!(
            unknown.sentence(),
            "when it starts is not known: job 2126 runs there without a time limit, and until then there is no room for it"
        );
    }

    /// Regression: a node held by jobs this user cannot see (PrivateData=jobs) gave
    /// "...on localhost, when " and nothing after.
    #[test]
    fn a_start_no_visible_job_explains_is_the_time_alone() {
        let hidden = ExpectedStart::By {
            at: clock::parse_timestamp("2026-11-30T10:14:20").unwrap(),
            in_seconds: 1800,
            node: "localhost".into(),
            jobs_ending: Vec::new(),
            jobs_ahead_ending: Vec::new(),
            reservations_ending: Vec::new(),
            limit_jobs_ending: Vec::new(),
        };
        assert_eq!(
            hidden.sentence(),
            "expected to start by 10:14 (in 30 min) on localhost"
        );
    }
}
