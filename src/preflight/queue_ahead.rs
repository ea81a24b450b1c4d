//! Jobs queued ahead. Slurm starts pending jobs in priority order: a job behind one that waits
//! for resources starts only when the backfill scheduler finds that it leaves that one's
//! expected start alone, and otherwise waits with the reason `Priority`. Backfill plans whole
//! nodes: from that start the node is kept for the job ahead, so the job behind must end
//! before it even where both would fit (as captured). Jobs queued now are ahead of a job about
//! to be submitted.

use super::{ClusterState, Request};
use crate::slurm::clock;
use crate::slurm::sinfo::NodeRow;
use crate::slurm::squeue::QueuedJob;
use crate::slurm::state::JobState;

/// A job queued ahead that starting the new job now would hold up.
#[derive(Debug, Clone)]
pub struct HeldUp<'a> {
    pub job: &'a QueuedJob,
    /// When it is expected to start (local clock seconds).
    pub start: i64,
}

impl ClusterState {
    /// The job queued ahead, expected first, that starting `req` on `node` now would hold up:
    /// one waiting for resources that is expected to start on this node before `req` would end.
    pub fn holds_up(&self, node: &NodeRow, req: &Request) -> Option<HeldUp<'_>> {
        let now = self.now?;
        let ends = now.saturating_add(i64::try_from(req.time_seconds).unwrap_or(i64::MAX));
        self.waiting_for_resources()
            .filter_map(|job| {
                let start = self.expected_start(job, node)?;
                (ends > start).then_some(HeldUp { job, start })
            })
            .min_by_key(|held| held.start)
    }

    /// Pending jobs the scheduler holds resources back for: those waiting for `Resources`,
    /// or behind such a job (`Priority`). Jobs held by a limit wait whatever the nodes do.
    pub(super) fn waiting_for_resources(&self) -> impl Iterator<Item = &QueuedJob> {
        self.queue.iter().filter(|j| {
            j.state == JobState::Pending && matches!(j.reason.as_str(), "Resources" | "Priority")
        })
    }

    /// When `job` is expected to start on `node`, if there: the node must be in its partition
    /// and the earliest of its partition's nodes to have room for it, as running jobs end.
    /// The time is the backfill scheduler's own (squeue's StartTime) once it has planned the
    /// job, else that estimate.
    fn expected_start(&self, job: &QueuedJob, node: &NodeRow) -> Option<i64> {
        let candidates = self
            .nodes
            .iter()
            .filter(|n| n.partition == job.partition)
            .filter_map(|n| Some((n, self.room_from(job, n)?)));
        let (first, at) = candidates.min_by_key(|(_, at)| *at)?;
        let now = self.now?;
        let planned = clock::parse_timestamp(&job.start_time).filter(|&t| t >= now);
        (first.node == node.node).then_some(planned.unwrap_or(at))
    }

    /// The earliest time `job` fits on `node`, as the running jobs there end; `None` when it
    /// never does (the node is too small for it).
    fn room_from(&self, job: &QueuedJob, node: &NodeRow) -> Option<i64> {
        let now = self.now?;
        let fits = |at: i64| {
            let (cpus, gpus) = self.free_at(node, at);
            cpus >= job.cpus && gpus >= job.gpus
        };
        if fits(now) {
            return Some(now);
        }
        let mut ends: Vec<i64> = self
            .running_on(node)
            .filter_map(|(j, _)| self.end_of(j))
            .collect();
        ends.sort_unstable();
        ends.into_iter().find(|&at| fits(at))
    }

    /// CPUs and GPUs of `node` free at `at`: all of them less those of the jobs running there
    /// that will not have ended.
    fn free_at(&self, node: &NodeRow, at: i64) -> (u64, u64) {
        let (mut cpus, mut gpus) = (node.cpus_total, node.gpus_total);
        for (j, spans) in self.running_on(node) {
            if self.end_of(j).is_none_or(|end| end > at) {
                cpus = cpus.saturating_sub(j.cpus / spans);
                gpus = gpus.saturating_sub(j.gpus / spans);
            }
        }
        (cpus, gpus)
    }

    /// When a running job reaches its time limit; `None` for no limit.
    fn end_of(&self, job: &QueuedJob) -> Option<i64> {
        let left = job
            .time_limit
            .seconds()?
            .saturating_sub(job.elapsed.seconds().unwrap_or(0));
        Some(self.now? + i64::try_from(left).ok()?)
    }
}

/// `job 3942 (nobody), queued ahead of this one, ...` in words, with `now` for the time.
pub fn describe(held: &HeldUp<'_>, now: i64) -> String {
    format!(
        "job {} ({}), queued ahead of this one, waits for {} CPUs and {} GPUs and is expected to start at {}",
        held.job.id,
        held.job.user,
        held.job.cpus,
        held.job.gpus,
        clock::when(held.start, now)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::slurm::{sinfo, squeue};

    const NOW: &str = "2026-11-29T18:00:00";

    fn state(queue: &str) -> ClusterState {
        ClusterState {
            nodes: sinfo::parse_nodes(
                "n1|gpu|mixed|1/1/0/2|8000|0|gpu:4|gpu:0|\n\
                 n2|gpu|allocated|2/0/0/2|8000|0|gpu:4|gpu:0|\n",
            ),
            queue: squeue::parse(queue),
            now: clock::parse_timestamp(NOW),
            ..ClusterState::default()
        }
    }

    fn request(minutes: u64) -> Request {
        Request {
            partition: "gpu".into(),
            qos: None,
            account: None,
            reservation: None,
            gpus: 0,
            gpu_type: None,
            cpus: 1,
            mem_mib: None,
            time_seconds: minutes * 60,
            tasks: 1,
        }
    }

    const RUNNING: &str = "1|gpu|a|RUNNING|0:00|10:00|1|cpu=1|normal|None|N/A|n1|x\n\
                           2|gpu|b|RUNNING|0:00|5:00|2|cpu=2|normal|None|N/A|n2|x\n";

    /// The job ahead needs a whole node: n2 frees first, so it is expected there and leaves
    /// n1 to a job of any length.
    #[test]
    fn a_job_ahead_holds_up_the_node_it_is_expected_on() {
        let s = state(&format!(
            "{RUNNING}3|gpu|c|PENDING|0:00|10:00|2|cpu=2|normal|Resources|N/A||x\n"
        ));
        let (n1, n2) = (&s.nodes[0], &s.nodes[1]);
        assert!(s.holds_up(n1, &request(60)).is_none());
        let held = s.holds_up(n2, &request(10)).unwrap();
        assert_eq!(held.job.id, "3");
        assert_eq!(held.start - s.now.unwrap(), 300);
        // A job that ends by then leaves it alone.
        assert!(s.holds_up(n2, &request(5)).is_none());
    }

    /// Once the backfill scheduler has planned the job ahead, its time is Slurm's.
    #[test]
    fn the_planned_start_is_slurms() {
        let s = state(&format!(
            "{RUNNING}3|gpu|c|PENDING|0:00|10:00|2|cpu=2|normal|Priority|2026-11-29T18:20:00||x\n"
        ));
        let held = s.holds_up(&s.nodes[1], &request(30)).unwrap();
        assert_eq!(held.start - s.now.unwrap(), 20 * 60);
        assert!(s.holds_up(&s.nodes[1], &request(20)).is_none());
    }

    /// A job held by a limit, or one no node can ever take, holds nothing back.
    #[test]
    fn jobs_not_waiting_for_nodes_hold_nothing_up() {
        let s = state(&format!(
            "{RUNNING}3|gpu|c|PENDING|0:00|10:00|2|cpu=2|normal|QOSMaxJobsPerUserLimit|N/A||x\n\
             4|gpu|c|PENDING|0:00|10:00|8|cpu=8|normal|Resources|N/A||x\n"
        ));
        assert!(s.holds_up(&s.nodes[1], &request(60)).is_none());
    }
}
