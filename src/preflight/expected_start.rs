//! When a job that waits for running jobs to end is expected to start: the first time a node
//! it may use has room for it as those jobs reach their time limits, worked out as Slurm's
//! will-run test does (what `sbatch --test-only` runs). Every captured scenario that waits
//! for resources checks it against Slurm's two answers, test-only's and the backfill
//! scheduler's plan (`replay_tests::expected_starts_are_when_slurm_plans_them`). A job that
//! waits for `Resources` has no job ahead in its partition that waits too (it would say
//! `Priority`), except one that named its nodes: those are left to it.

use super::queue_ahead::{Holding, Need, fits};
use super::reserved::Kept;
use super::{ClusterState, Request, oversubscribe, usage};
use crate::slurm::clock;
use crate::slurm::sinfo::NodeRow;

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
        /// The reservations of some of its cores that end by then.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        reservations_ending: Vec<String>,
    },
    /// Jobs without a time limit hold what it needs: Slurm's own estimate is then a year
    /// away, a placeholder rather than a time.
    NotKnown {
        jobs_without_time_limit: Vec<String>,
    },
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
                reservations_ending,
            } => {
                let now = at.saturating_sub(i64::try_from(*in_seconds).unwrap_or(0));
                let jobs = match jobs_ending.as_slice() {
                    [] => None,
                    [one] => Some(format!("job {one} reaches its time limit")),
                    many => Some(format!("jobs {} reach their time limits", listed(many))),
                };
                let reservations = match reservations_ending.as_slice() {
                    [] => None,
                    [one] => Some(format!("reservation {one} ends")),
                    many => Some(format!("reservations {} end", listed(many))),
                };
                let sooner = match jobs_ending.len() {
                    0 => "",
                    1 => ", or sooner if it ends early",
                    _ => ", or sooner if they end early",
                };
                let when = [jobs, reservations]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>();
                format!(
                    "expected to start by {} (in {}) on {node}, when {}{sooner}",
                    clock::when(*at, now),
                    clock::in_words(at - now),
                    when.join(" and "),
                )
            }
            ExpectedStart::NotKnown {
                jobs_without_time_limit,
            } => {
                let (jobs, runs) = match jobs_without_time_limit.as_slice() {
                    [one] => (format!("job {one}"), "runs"),
                    many => (format!("jobs {}", listed(many)), "run"),
                };
                format!(
                    "when it starts is not known: {jobs} {runs} there without a time limit, and until then there is no room for it"
                )
            }
        }
    }
}

fn as_timestamp<S: serde::Serializer>(at: &i64, to: S) -> Result<S::Ok, S::Error> {
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

impl ClusterState {
    /// When `req` (`cpus` CPUs on one node) is expected to start on one of `usable`, the
    /// nodes it may use, as the jobs running there reach their time limits, worked out as
    /// Slurm's will-run test does it (select/cons_tres `_will_run_test`): the jobs are taken
    /// off in the order they end, in groups of those that end within a window of the
    /// group's first (30 s, doubled after each group), and after each group the first node
    /// with room takes the job, at the group's last end. Nodes kept for a job queued ahead
    /// that named them are left to it while others remain, and a reservation holds the
    /// cores (or the whole node) it keeps until it ends, from a job that would run into it,
    /// as the backfill scheduler plans it.
    ///
    /// `None` where something this does not weigh would decide it too: a reservation
    /// without an end, the job's own reservation of cores, a partition kept to one user at a
    /// time (ExclusiveUser), a node with GPUs of several types, or a job past its time limit
    /// that still runs.
    pub fn expected_start(
        &self,
        req: &Request,
        cpus: u64,
        usable: &[&NodeRow],
    ) -> Option<ExpectedStart> {
        let now = self.now?;
        let partition = self.partition(&req.partition)?;
        // A typed request on a node of that type alone: its GPUs are the node's GPUs.
        let typed_alone = |n: &NodeRow| match req.gpu_type.as_deref() {
            Some(t) => n.gpu_types.keys().all(|k| k == t) && n.gpus_of(Some(t)) >= req.gpus,
            None => true,
        };
        let own_cores = |n: &NodeRow| self.own_cores(n, req).is_some();
        if partition.exclusive_user || usable.iter().any(|n| !typed_alone(n) || own_cores(n)) {
            return None;
        }
        let not_kept: Vec<&NodeRow> = usable
            .iter()
            .copied()
            .filter(|n| self.kept_for_named_job(n, req).is_none())
            .collect();
        let nodes = if not_kept.is_empty() {
            usable
        } else {
            &not_kept[..]
        };
        let rows = oversubscribe::shared_rows(partition);
        let mem_mib = usage::memory_of(req, self).unwrap_or(0);
        let need_on = |n: &NodeRow| match partition.whole_nodes() || req.exclusive {
            true => Need {
                cpus: n.cpus_total,
                gpus: n.gpus_total,
                mem_mib,
            },
            false => Need {
                cpus,
                gpus: req.gpus,
                mem_mib,
            },
        };
        // Each running job on each of these nodes, and each reservation of some of their
        // cores or all of them, the first to end first (those without a time limit last).
        let mut holding: Vec<Held> = Vec::new();
        for (on, &n) in nodes.iter().enumerate() {
            for (job, spans) in self.running_on(n) {
                holding.push(Held {
                    on,
                    by: By::Job(job.id.as_str()),
                    holding: self.holding(job, spans, &req.partition),
                });
            }
            for r in self
                .reservations
                .iter()
                .filter(|r| r.end.is_none_or(|e| e > now))
            {
                if Some(&r.name) == req.reservation.as_ref() || r.leaves_room() {
                    continue;
                }
                let kept = match self.kept(r, n) {
                    Kept::Nothing => continue,
                    // One without an end holds them for good: not weighed.
                    _ if r.end.is_none() => return None,
                    Kept::Cpus(cpus) => Holding::kept(cpus, 0, 0, r.end),
                    Kept::WholeNode => {
                        Holding::kept(n.cpus_total, n.gpus_total, n.memory_mib, r.end)
                    }
                };
                holding.push(Held {
                    on,
                    by: By::Reservation(r.name.as_str(), r.start.unwrap_or(now)),
                    holding: kept,
                });
            }
        }
        holding.sort_by_key(|h| h.holding.end.unwrap_or(i64::MAX));
        // Where each node's holdings are in that order, so that each room test reads only
        // the node's own.
        let mut on_node: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
        for (at, h) in holding.iter().enumerate() {
            on_node[h.on].push(at);
        }
        let job_seconds = i64::try_from(req.time_seconds).unwrap_or(i64::MAX);
        // Room on a node at `at` beside what is still held then: a reservation keeps its
        // cores only from a job that would run into it.
        let room_on = |ended: usize, at: i64| {
            nodes.iter().enumerate().find(|&(on, n)| {
                let left: Vec<&Holding> = on_node[on]
                    .iter()
                    .filter(|&&i| i >= ended)
                    .map(|&i| &holding[i])
                    .filter(|h| match h.by {
                        By::Reservation(_, start) => start < at.saturating_add(job_seconds),
                        By::Job(_) => true,
                    })
                    .map(|h| &h.holding)
                    .collect();
                fits(need_on(n), n, &left, rows)
            })
        };
        let (mut ended, mut window) = (0, WILL_RUN_WINDOW);
        while let Some(first_end) = holding.get(ended).and_then(|h| h.holding.end) {
            while holding
                .get(ended)
                .and_then(|h| h.holding.end)
                .is_some_and(|end| end <= first_end + window)
            {
                ended += 1;
            }
            window *= 2;
            let at = holding[ended - 1].holding.end?;
            let Some((on, node)) = room_on(ended, at) else {
                continue;
            };
            // A job past its time limit that still runs: when Slurm ends it is not known.
            if at <= now {
                return None;
            }
            let ending = |h: &&Held| h.on == on;
            return Some(ExpectedStart::By {
                at,
                in_seconds: u64::try_from(at - now).unwrap_or(0),
                node: node.node.clone(),
                jobs_ending: names(holding[..ended].iter().filter(ending), By::job),
                reservations_ending: names(holding[..ended].iter().filter(ending), By::reservation),
            });
        }
        // What is left never ends: jobs without a time limit (a reservation without an end
        // gave up above).
        let without_limit = names(holding[ended..].iter(), By::job);
        (!without_limit.is_empty()).then_some(ExpectedStart::NotKnown {
            jobs_without_time_limit: without_limit,
        })
    }
}

/// The first window of Slurm's will-run test, in seconds: jobs that end this close to the
/// first of a group are taken off with it.
const WILL_RUN_WINDOW: i64 = 30;

/// What holds part of the node at `on` (in the nodes weighed) until it ends.
struct Held<'a> {
    on: usize,
    by: By<'a>,
    holding: Holding,
}

/// A running job (its id), or a reservation (its name and start).
#[derive(Clone, Copy)]
enum By<'a> {
    Job(&'a str),
    Reservation(&'a str, i64),
}

impl<'a> By<'a> {
    fn job(self) -> Option<&'a str> {
        match self {
            By::Job(id) => Some(id),
            By::Reservation(..) => None,
        }
    }

    fn reservation(self) -> Option<&'a str> {
        match self {
            By::Reservation(name, _) => Some(name),
            By::Job(_) => None,
        }
    }
}

/// The jobs' ids (or the reservations' names) among `held`, each once, in order.
fn names<'a>(
    held: impl Iterator<Item = &'a Held<'a>>,
    pick: fn(By<'a>) -> Option<&'a str>,
) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for name in held.filter_map(|h| pick(h.by)) {
        if !names.iter().any(|n| n == name) {
            names.push(name.to_string());
        }
    }
    names
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
            reservations_ending: Vec::new(),
        };
        assert_eq!(
            room.sentence(),
            "expected to start by 10:14 (in 30 min) on localhost, when job 2120 reaches its time limit, or sooner if it ends early"
        );
        let json = serde_json::to_value(&room).unwrap();
        assert_eq!(json["by"]["at"], "2026-11-30T10:14:20");
        let unknown = ExpectedStart::NotKnown {
            jobs_without_time_limit: vec!["2126".into()],
        };
        assert_eq!(
            unknown.sentence(),
            "when it starts is not known: job 2126 runs there without a time limit, and until then there is no room for it"
        );
    }
}
