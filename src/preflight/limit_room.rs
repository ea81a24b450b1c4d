//! When a limit that running jobs hold lets one more job in. A job held by MaxJobsPU,
//! MaxTRESPU, GrpJobs, GrpTRES or their kin waits for some of the jobs under that limit to
//! end; Slurm's own answers (squeue's StartTime, `sbatch --test-only`) leave such limits out,
//! so the pre-flight works it out: the jobs under the limit end at their time limits, the
//! first to end first, until what is left and what the job asks for fit under the limit.

use crate::slurm::squeue::QueuedJob;
use crate::slurm::state::JobState;

use super::ClusterState;

/// What a limit counts of each job under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Counted {
    /// Running jobs (MaxJobsPU, MaxJobsPA, GrpJobs, an association's MaxJobs).
    Jobs,
    /// One TRES the running jobs hold (`gres/gpu` for MaxTRESPU=gres/gpu=4, say).
    Tres(String),
}

impl Counted {
    fn of(&self, job: &QueuedJob) -> u64 {
        match self {
            Counted::Jobs => 1,
            Counted::Tres(tres) => job.tres.get(tres).unwrap_or(0),
        }
    }
}

/// A running job under the limit: what it holds of it, and when it ends (`None`: it has no
/// time limit).
#[derive(Debug, Clone, PartialEq)]
struct HeldUntil {
    job: String,
    amount: u64,
    end: Option<i64>,
}

/// A limit of `max` and what the running jobs under it hold until they end; a job that needs
/// `need` of it fits when what is still held and `need` come to `max` at most.
#[derive(Debug, Clone, PartialEq)]
pub struct LimitRoom {
    counted: Counted,
    max: u64,
    need: u64,
    /// The first to end first; those without a time limit last.
    held: Vec<HeldUntil>,
    /// Jobs under the limit wait already: queued first, they take the room first, and when
    /// they free it again depends on when they start.
    queued_first: bool,
}

/// When a limit lets the job in, and which of the jobs under it end by then.
#[derive(Debug, Clone, PartialEq)]
pub struct Opening {
    pub at: i64,
    pub jobs_ending: Vec<String>,
}

impl LimitRoom {
    /// The room under a limit of `max` of `counted`, for a job that needs `need`, held by the
    /// running jobs that `counts` picks, each until its time limit.
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
            queued_first: false,
        };
        for job in state.queue.iter().filter(|j| counts(j)) {
            if job.state.is_waiting() {
                room.queued_first = true;
            }
            if matches!(job.state, JobState::Running | JobState::Completing) {
                let amount = room.counted.of(job);
                room.hold(&job.id, amount, state.end_of(job));
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
            queued_first: false,
        }
    }

    /// Counts `amount` held by `job` under the limit until `end`.
    pub fn hold(&mut self, job: &str, amount: u64, end: Option<i64>) {
        let held = HeldUntil {
            job: job.to_string(),
            amount,
            end,
        };
        let at = self
            .held
            .partition_point(|h| h.end.is_some() && (end.is_none() || h.end <= end));
        self.held.insert(at, held);
    }

    /// One more job like the one the room is for, holding what it needs until `end`: an
    /// array's task, placed.
    pub fn hold_another(&mut self, job: &str, end: i64) {
        self.hold(job, self.need, Some(end));
    }

    /// The first time from `not_before` on that the job fits under the limit, as the jobs
    /// under it end at their time limits; `None` where that is not known: it must wait and
    /// other jobs wait for the limit too, the jobs it waits for have no time limit, or it
    /// alone needs more than the limit.
    pub fn opens(&self, not_before: i64) -> Option<Opening> {
        if self.need > self.max {
            return None;
        }
        let still_held = |h: &&HeldUntil| h.end.is_none_or(|end| end > not_before);
        let mut held: u64 = self.held.iter().filter(still_held).map(|h| h.amount).sum();
        if self.queued_first && held + self.need > self.max {
            return None;
        }
        let mut opening = Opening {
            at: not_before,
            jobs_ending: Vec::new(),
        };
        for h in self.held.iter().filter(still_held) {
            if held + self.need <= self.max {
                break;
            }
            opening.at = h.end?;
            opening.jobs_ending.push(h.job.clone());
            held -= h.amount;
        }
        Some(opening)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preflight::test_states::{IDLE, in_minutes as minutes, two_nodes};

    fn state(queue: &str) -> ClusterState {
        two_nodes(IDLE, queue)
    }

    /// Job `id` of `user`, running for 0:00 of `limit` with `gpus` GPUs, or pending.
    fn job(id: u32, user: &str, running: bool, limit: &str, gpus: u64) -> String {
        let state = if running { "RUNNING" } else { "PENDING" };
        format!(
            "{id}|gpu|{user}|{state}|0:00|{limit}|1|cpu=1,mem=1G,node=1,gres/gpu={gpus}|normal|None|N/A|n1|x\n"
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

    #[test]
    fn a_job_queued_first_under_the_limit_takes_it_first() {
        let s = state(&(job(1, "me", true, "10:00", 1) + &job(2, "me", false, "10:00", 1)));
        let now = s.now.unwrap();
        assert_eq!(
            LimitRoom::held_by(Counted::Jobs, 1, 1, &s, mine).opens(now),
            None
        );
        // Where the job need not wait, those waiting for something else do not matter.
        let room = LimitRoom::held_by(Counted::Jobs, 2, 1, &s, mine);
        assert_eq!(room.opens(now).unwrap().at, now);
        // Another user's pending job does not count under a per-user limit.
        let s = state(&(job(1, "me", true, "10:00", 1) + &job(2, "you", false, "10:00", 1)));
        let room = LimitRoom::held_by(Counted::Jobs, 1, 1, &s, mine);
        assert_eq!(room.opens(now).unwrap().at, minutes(10));
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
            throttle.hold(&j.id, 1, s.end_of(j));
        }
        let opening = throttle.opens(minutes(15)).unwrap();
        assert_eq!(opening.at, minutes(15));
        assert!(opening.jobs_ending.is_empty());
        assert_eq!(LimitRoom::of_jobs(0).opens(minutes(0)), None);
    }
}
