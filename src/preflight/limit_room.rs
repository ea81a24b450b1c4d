//! When a limit that running jobs hold lets one more job in. A job held by MaxJobsPU,
//! MaxTRESPU, GrpJobs, GrpTRES or their kin waits for some of the jobs under that limit to
//! end; Slurm's own answers (squeue's StartTime, `sbatch --test-only`) leave such limits out,
//! so the pre-flight works it out: the jobs under the limit end at their time limits, those
//! queued first that the limit holds too take their part as it frees, those queued first for
//! nodes take theirs when the backfill scheduler plans them, and the job fits once what is
//! still held and what it asks for come to the limit at most.

use crate::slurm::clock;
use crate::slurm::squeue::QueuedJob;
use crate::slurm::state::JobState;

use super::queue_ahead::waits_for_resources;
use super::{ClusterState, LimitCode};

/// What a limit counts of each job under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Counted {
    /// Running jobs (MaxJobsPU, MaxJobsPA, GrpJobs, an association's MaxJobs).
    Jobs,
    /// One TRES the running jobs hold (`gres/gpu` for MaxTRESPU=gres/gpu=4, say).
    Tres(String),
    /// One TRES times the time limit, in minutes (GrpTRESRunMins under priority/basic, which
    /// counts a job's whole time limit until it ends: `usage::run_seconds_counted`).
    RunMinutes(String),
}

impl Counted {
    fn of(&self, job: &QueuedJob) -> u64 {
        match self {
            Counted::Jobs => 1,
            Counted::Tres(tres) => job.tres.get(tres).unwrap_or(0),
            Counted::RunMinutes(tres) => {
                let minutes = job.time_limit.seconds().unwrap_or(0) / 60;
                job.tres.get(tres).unwrap_or(0) * minutes
            }
        }
    }
}

/// A job under the limit: what it holds of it, from when (a job queued first that the
/// limit holds too starts later), until when (`None`: it has no time limit).
#[derive(Debug, Clone, PartialEq)]
struct HeldUntil {
    job: String,
    amount: u64,
    start: i64,
    end: Option<i64>,
    /// A job queued first that limits hold (this one among them) and that the limit lets in
    /// at `start`; not one running, nor one the backfill scheduler plans on its nodes.
    let_in: bool,
}

/// A limit of `max` and what the jobs under it hold until they end; a job that needs `need`
/// of it fits when what is still held and `need` come to `max` at most.
#[derive(Debug, Clone, PartialEq)]
pub struct LimitRoom {
    counted: Counted,
    max: u64,
    need: u64,
    held: Vec<HeldUntil>,
    /// Jobs under the limit wait for something else (nodes not planned yet, a dependency):
    /// when they take their part of it is not known.
    unknown_ahead: bool,
}

/// When a limit lets the job in, and which of the jobs under it end by then.
#[derive(Debug, Clone, PartialEq)]
pub struct Opening {
    pub at: i64,
    pub jobs_ending: Vec<String>,
}

impl LimitRoom {
    /// The room under a limit of `max` of `counted`, for a job that needs `need`, held by the
    /// jobs that `counts` picks: the running ones until their time limits, and those queued
    /// first, in the order they were submitted, until their time limits, each from when the
    /// limit lets it in: one the limit holds too as it opens, one waiting for nodes once the
    /// backfill scheduler plans it.
    pub fn held_by(
        counted: Counted,
        max: u64,
        need: u64,
        state: &ClusterState,
        counts: impl Fn(&QueuedJob) -> bool,
    ) -> LimitRoom {
        let mut room = LimitRoom {
            counted,
            max,
            need,
            held: Vec::new(),
            unknown_ahead: false,
        };
        let now = state.now.unwrap_or_default();
        let mut ahead: Vec<&QueuedJob> = Vec::new();
        for job in state.queue.iter().filter(|j| counts(j)) {
            if matches!(job.state, JobState::Running | JobState::Completing) {
                let amount = room.counted.of(job);
                room.hold(&job.id, amount, now, state.end_of(job));
            } else if job.state.is_waiting() {
                ahead.push(job);
            }
        }
        ahead.sort_by_key(|j| submitted(&j.id));
        // Each job queued first is placed in turn; past a few dozen, when the last of them
        // starts says little, and working it out would take long.
        if ahead.len() > MOST_AHEAD {
            room.unknown_ahead = true;
            return room;
        }
        for job in ahead {
            let amount = room.counted.of(job);
            let seconds = job.time_limit.seconds().and_then(|s| i64::try_from(s).ok());
            // A job held by a limit like this one comes in as it opens; one waiting for
            // nodes once the backfill scheduler's planned start comes (squeue's StartTime).
            let held = LimitCode::opens_as_jobs_end(&job.reason);
            let from = if held {
                Some(now)
            } else if waits_for_resources(job) {
                clock::parse_timestamp(&job.start_time).filter(|&t| t >= now)
            } else {
                None
            };
            let opening = from.and_then(|from| room.opening_for(amount, from));
            match (opening, seconds) {
                (Some(at), Some(seconds)) if state.now.is_some() => {
                    room.hold(&job.id, amount, at, Some(at + seconds));
                    if let Some(placed) = room.held.last_mut() {
                        placed.let_in = held;
                    }
                }
                _ => room.unknown_ahead = true,
            }
        }
        room
    }

    /// A limit of `max` jobs at once, none running yet: an array's throttle.
    pub fn of_jobs(max: u64) -> LimitRoom {
        LimitRoom {
            counted: Counted::Jobs,
            max,
            need: 1,
            held: Vec::new(),
            unknown_ahead: false,
        }
    }

    /// Counts `amount` more as held for good: what the controller counts under the limit
    /// beyond the shares of the jobs it sees, which no job's end gives back.
    /// With what jobs not shown to the user hold under the limit held for good: when they
    /// end is not known.
    pub fn and_unseen(mut self, unseen: &crate::preflight::usage::Unseen) -> LimitRoom {
        let amount = unseen.of(&self.counted);
        self.hold_unaccounted(amount);
        self
    }

    pub fn hold_unaccounted(&mut self, amount: u64) {
        if amount > 0 {
            self.hold("", amount, i64::MIN, None);
        }
    }

    /// Counts `amount` held by `job` under the limit from `start` until `end`.
    fn hold(&mut self, job: &str, amount: u64, start: i64, end: Option<i64>) {
        self.held.push(HeldUntil {
            job: job.to_string(),
            amount,
            start,
            end,
            let_in: false,
        });
    }

    /// The jobs queued first that the limit holds too, each with when it lets them in:
    /// they take their nodes then, ahead of the job the room is for.
    pub fn queued_first(&self) -> impl Iterator<Item = (&str, i64)> {
        self.held
            .iter()
            .filter(|h| h.let_in)
            .map(|h| (h.job.as_str(), h.start))
    }

    /// One more job like the one the room is for, holding what it needs from `start` until
    /// `end`: an array's task, placed.
    pub fn hold_another(&mut self, job: &str, start: i64, end: i64) {
        self.hold(job, self.need, start, Some(end));
    }

    /// The first time from `not_before` on that `amount` fits under the limit: then, or
    /// when one of the jobs under it ends. `None` where it never does (what is left has no
    /// time limit, or `amount` alone is over the limit). One pass over the jobs' starts and
    /// ends in time order: a shared limit may have thousands under it.
    fn opening_for(&self, amount: u64, not_before: i64) -> Option<i64> {
        if amount > self.max {
            return None;
        }
        // (when, what it adds to what is held): a start, or an end (taken off).
        let mut changes: Vec<(i64, i128)> = Vec::new();
        for h in self
            .held
            .iter()
            .filter(|h| h.end.is_none_or(|e| e > not_before))
        {
            changes.push((h.start.max(not_before), i128::from(h.amount)));
            if let Some(end) = h.end {
                changes.push((end, -i128::from(h.amount)));
            }
        }
        changes.sort_unstable();
        let fits = |held: i128| held + i128::from(amount) <= i128::from(self.max);
        let mut held: i128 = 0;
        let mut i = 0;
        while i < changes.len() {
            let t = changes[i].0;
            while i < changes.len() && changes[i].0 == t {
                held += changes[i].1;
                i += 1;
            }
            if t >= not_before && fits(held) {
                return Some(t);
            }
        }
        // Nothing under the limit at all.
        changes.is_empty().then_some(not_before)
    }

    /// The first time from `not_before` on that the job fits under the limit, as the jobs
    /// under it end at their time limits, and which of them end by then; `None` where that
    /// is not known: it must wait and jobs queued first wait for something else, the jobs it
    /// waits for have no time limit, or it alone needs more than the limit.
    pub fn opens(&self, not_before: i64) -> Option<Opening> {
        let at = self.opening_for(self.need, not_before)?;
        if at > not_before && self.unknown_ahead {
            return None;
        }
        let mut ending: Vec<&HeldUntil> = self
            .held
            .iter()
            .filter(|h| h.end.is_some_and(|end| end > not_before && end <= at))
            .collect();
        ending.sort_by_key(|h| h.end);
        Some(Opening {
            at,
            jobs_ending: ending.into_iter().map(|h| h.job.clone()).collect(),
        })
    }
}

/// How many jobs queued first under a limit are placed, each when the limit lets it in.
const MOST_AHEAD: usize = 50;

/// The order jobs were submitted in: their ids, an array's tasks by the array's.
pub(super) fn submitted(id: &str) -> (u64, u64) {
    let mut parts = id.split('_');
    let number = |part: Option<&str>| part.and_then(|p| p.parse().ok()).unwrap_or(u64::MAX);
    (number(parts.next()), number(parts.next()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preflight::test_states::{IDLE, in_minutes as minutes, two_nodes};

    fn state(queue: &str) -> ClusterState {
        two_nodes(IDLE, queue)
    }

    /// Job `id` of `user`, running for 0:00 of `limit` with `gpus` GPUs.
    fn job(id: u32, user: &str, running: bool, limit: &str, gpus: u64) -> String {
        let (state, reason) = match running {
            true => ("RUNNING", "None"),
            false => ("PENDING", "QOSMaxJobsPerUserLimit"),
        };
        format!(
            "{id}|gpu|{user}|{state}|0:00|{limit}|1|cpu=1,mem=1G,node=1,gres/gpu={gpus}|normal|{reason}|N/A|n1|x\n"
        )
    }

    fn mine(j: &QueuedJob) -> bool {
        j.user == "me"
    }

    #[test]
    fn a_job_count_opens_when_the_first_job_under_it_ends() {
        let s = state(&(job(1, "me", true, "30:00", 1) + &job(2, "me", true, "10:00", 1)));
        let room = LimitRoom::held_by(Counted::Jobs, 2, 1, &s, mine);
        let opening = room.opens(s.now.unwrap()).unwrap();
        assert_eq!(opening.at, minutes(10));
        assert_eq!(opening.jobs_ending, ["2"]);
    }

    #[test]
    fn a_tres_limit_opens_once_enough_of_it_is_free() {
        // 4 GPUs per user, 1 + 2 + 1 held; 3 asked: the 1-GPU job ending first frees too
        // little, the 2-GPU one after it enough.
        let s = state(
            &(job(1, "me", true, "10:00", 1)
                + &job(2, "me", true, "20:00", 2)
                + &job(3, "me", true, "30:00", 1)),
        );
        let room = LimitRoom::held_by(Counted::Tres("gres/gpu".into()), 4, 3, &s, mine);
        let opening = room.opens(s.now.unwrap()).unwrap();
        assert_eq!(opening.at, minutes(20));
        assert_eq!(opening.jobs_ending, ["1", "2"]);
    }

    #[test]
    fn a_limit_with_room_now_opens_now() {
        let s = state(&job(1, "me", true, "10:00", 1));
        let room = LimitRoom::held_by(Counted::Jobs, 2, 1, &s, mine);
        let now = s.now.unwrap();
        assert_eq!(room.opens(now).unwrap().at, now);
        assert!(room.opens(now).unwrap().jobs_ending.is_empty());
    }

    /// Job 2, queued first and held by the limit too, takes the place job 1 frees at 10
    /// minutes and keeps it 10: the job waits for it.
    #[test]
    fn a_job_queued_first_under_the_limit_takes_it_first() {
        let s = state(&(job(1, "me", true, "10:00", 1) + &job(2, "me", false, "10:00", 1)));
        let now = s.now.unwrap();
        let opening = LimitRoom::held_by(Counted::Jobs, 1, 1, &s, mine).opens(now);
        let opening = opening.unwrap();
        assert_eq!(opening.at, minutes(20));
        assert_eq!(opening.jobs_ending, ["1", "2"]);
        let room = LimitRoom::held_by(Counted::Jobs, 1, 1, &s, mine);
        assert_eq!(
            room.queued_first().collect::<Vec<_>>(),
            [("2", minutes(10))]
        );
        // Another user's pending job does not count under a per-user limit.
        let s = state(&(job(1, "me", true, "10:00", 1) + &job(2, "you", false, "10:00", 1)));
        let room = LimitRoom::held_by(Counted::Jobs, 1, 1, &s, mine);
        assert_eq!(room.opens(now).unwrap().at, minutes(10));
    }

    /// A job queued first that waits for nodes takes its place when the backfill scheduler
    /// plans it (squeue's StartTime): job 2, planned at 5 minutes, holds the one place from
    /// when job 1 ends at 10 until 20.
    #[test]
    fn a_job_queued_first_for_nodes_takes_its_place_when_planned() {
        let planned = job(2, "me", false, "10:00", 1).replace(
            "QOSMaxJobsPerUserLimit|N/A",
            "Resources|2026-11-29T18:05:00",
        );
        let s = state(&(job(1, "me", true, "10:00", 1) + &planned));
        let room = LimitRoom::held_by(Counted::Jobs, 1, 1, &s, mine);
        let opening = room.opens(s.now.unwrap()).unwrap();
        assert_eq!(opening.at, minutes(20));
        assert_eq!(opening.jobs_ending, ["1", "2"]);
        // Its nodes are in the backfill scheduler's plan already.
        assert_eq!(room.queued_first().count(), 0);
    }

    /// A job queued first that waits for something else (nodes not planned yet here) takes
    /// its place when that ends, which is not known; where the job need not wait, it does
    /// not matter.
    #[test]
    fn a_job_queued_first_for_something_else_leaves_the_start_unknown() {
        let waits_for_nodes =
            job(2, "me", false, "10:00", 1).replace("QOSMaxJobsPerUserLimit", "Resources");
        let s = state(&(job(1, "me", true, "10:00", 1) + &waits_for_nodes));
        let now = s.now.unwrap();
        assert_eq!(
            LimitRoom::held_by(Counted::Jobs, 1, 1, &s, mine).opens(now),
            None
        );
        let room = LimitRoom::held_by(Counted::Jobs, 2, 1, &s, mine);
        assert_eq!(room.opens(now).unwrap().at, now);
    }

    #[test]
    fn a_limit_held_by_a_job_without_a_time_limit_never_opens() {
        let s = state(&(job(1, "me", true, "UNLIMITED", 1) + &job(2, "me", true, "10:00", 1)));
        let room = LimitRoom::held_by(Counted::Jobs, 2, 1, &s, mine);
        // The job with an end frees a place first.
        assert_eq!(room.opens(s.now.unwrap()).unwrap().at, minutes(10));
        let room = LimitRoom::held_by(Counted::Jobs, 1, 1, &s, mine);
        assert_eq!(room.opens(s.now.unwrap()), None);
    }

    #[test]
    fn jobs_that_end_before_the_job_may_start_hold_nothing_then() {
        let s = state(&(job(1, "me", true, "10:00", 1) + &job(2, "me", true, "20:00", 1)));
        let mut throttle = LimitRoom::of_jobs(2);
        for j in &s.queue {
            let end = s.end_of(j).unwrap();
            throttle.hold_another(&j.id, s.now.unwrap(), end);
        }
        let opening = throttle.opens(minutes(15)).unwrap();
        assert_eq!(opening.at, minutes(15));
        assert!(opening.jobs_ending.is_empty());
        assert_eq!(LimitRoom::of_jobs(0).opens(minutes(0)), None);
    }
}
