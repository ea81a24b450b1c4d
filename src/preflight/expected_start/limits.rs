//! When a job that limits keep pending is expected to start: Slurm's own answers leave the
//! limits out (`sbatch --test-only` says "now" of a job MaxJobsPU holds, and the backfill
//! scheduler plans no job a limit holds). Such a job starts once every limit in its way lets
//! it in as the jobs under them end (`limit_room`), and then where and when the backfill
//! scheduler would plan it on the nodes, where the jobs queued first that the same limits
//! hold run from when they are let in.

use super::{ExpectedStart, HeldBack};
use crate::preflight::limit_room::{LimitRoom, submitted};
use crate::preflight::queue_ahead::LetIn;
use crate::preflight::rules::{Effect, Finding};
use crate::preflight::{ClusterState, Reason, Request, usage};
use crate::slurm::sinfo::NodeRow;
use crate::slurm::squeue::QueuedJob;

impl ClusterState {
    /// When `req`, kept pending by `found` (the decisive finding first), is expected to
    /// start: the first finding's expected start where no limit holds it; else from when the
    /// last of the limits lets it in, on the nodes.
    ///
    /// `None` where it never starts as asked, or where something in its way does not end on
    /// its own: a limit that no running job holds (TRES-minutes spent), a job queued first
    /// under one of its limits that waits for something else, a node out of service.
    pub(in crate::preflight) fn expected_start_of(
        &self,
        req: &Request,
        found: &[Finding],
    ) -> Option<ExpectedStart> {
        if found.iter().any(|f| f.effect != Effect::Pends) {
            return None;
        }
        if !found.iter().any(held_by_limit) {
            return found.first()?.expected_start.clone();
        }
        let now = self.now?;
        let mut not_before = now;
        let mut limit_jobs_ending: Vec<String> = Vec::new();
        for f in found {
            match &f.room {
                Some(room) => {
                    let opening = room.opens(now)?;
                    not_before = not_before.max(opening.at);
                    for job in opening.jobs_ending {
                        if !limit_jobs_ending.contains(&job) {
                            limit_jobs_ending.push(job);
                        }
                    }
                }
                None if held_by_limit(f) => return None,
                // What keeps it off the nodes is weighed below, if it ends on its own.
                None if f.expected_start.is_none() => return None,
                None => {}
            }
        }
        let usable: Vec<&NodeRow> = self
            .nodes_for(req)
            .filter(|n| self.node_open(n, req))
            .collect();
        let cpus = usage::cpus_of(req, self);
        let let_in = self.let_in_by(found.iter().filter_map(|f| f.room.as_ref()));
        let held_back = HeldBack {
            not_before,
            by_limits: true,
            let_in: &let_in,
        };
        let mut start = self.expected_start_after(req, cpus, &usable, &held_back)?;
        if let ExpectedStart::By {
            limit_jobs_ending: jobs,
            ..
        } = &mut start
        {
            *jobs = limit_jobs_ending;
        }
        Some(start)
    }
}

impl ClusterState {
    /// The jobs queued first that `rooms` place, each let in when the last of these limits
    /// lets it in, and where it then runs (`let_in`), in the order they are let in.
    pub(in crate::preflight) fn let_in_by<'a, 'r>(
        &'a self,
        rooms: impl Iterator<Item = &'r LimitRoom>,
    ) -> Vec<LetIn<'a>> {
        let mut first: Vec<(&QueuedJob, i64)> = Vec::new();
        for (id, at) in rooms.flat_map(LimitRoom::queued_first) {
            match first.iter_mut().find(|(job, _)| job.id == id) {
                Some((_, start)) => *start = (*start).max(at),
                None => first.extend(self.queue.iter().find(|j| j.id == id).map(|j| (j, at))),
            }
        }
        first.sort_by_key(|(job, at)| (*at, submitted(&job.id)));
        self.let_in(&first)
    }
}

/// A QOS's or an association's limit, rather than the nodes, the partition or the queue.
fn held_by_limit(f: &Finding) -> bool {
    matches!(f.reason, Reason::Limit(_))
}

#[cfg(test)]
mod tests {
    use crate::preflight::test_states::{ALLOCATED, IDLE, in_minutes, two_nodes};
    use crate::preflight::{ClusterState, ExpectedStart, Request, assess};
    use crate::slurm::sacctmgr;

    /// The user's jobs 1 (10 minutes) and 2 (30) run on n1 under QOS gpu, 1 CPU and `gpus`
    /// GPUs each, with `more` queued after them.
    fn two_jobs_of_mine(nodes: &str, gpus: [u64; 2], more: &str) -> ClusterState {
        let [a, b] = gpus;
        two_nodes(
            nodes,
            &format!(
                "1|gpu|me|RUNNING|0:00|10:00|1|cpu=1,gres/gpu={a}|gpu|None|N/A|n1|x\n\
                 2|gpu|me|RUNNING|0:00|30:00|1|cpu=1,gres/gpu={b}|gpu|None|N/A|n1|x\n{more}"
            ),
        )
    }

    /// A job of 1 CPU and `gpus` GPUs for 10 minutes under QOS gpu, whose limits are the
    /// `qos` line of sacctmgr.
    fn expected(s: &mut ClusterState, qos: &str, gpus: u64) -> Option<ExpectedStart> {
        s.qos = sacctmgr::parse_qos(qos);
        let req = Request {
            qos: Some("gpu".into()),
            gpus,
            ..Request::plain("gpu", 1, 600)
        };
        assess(&req, s).expected_start
    }

    fn at(start: &Option<ExpectedStart>) -> i64 {
        match start {
            Some(ExpectedStart::By { at, .. }) => *at,
            other => panic!("{other:?}"),
        }
    }

    /// MaxJobsPU 2 with two of the user's jobs running: the job starts when the first of
    /// them ends, on the node with room then (n2, free all along), and it is said so.
    #[test]
    fn a_job_held_by_its_job_count_starts_when_the_first_of_the_users_jobs_ends() {
        let mut s = two_jobs_of_mine(IDLE, [1, 1], "");
        let start = expected(&mut s, "gpu||2|||||||\n", 1);
        assert_eq!(at(&start), in_minutes(10));
        let sentence = start.unwrap().sentence();
        assert_eq!(
            sentence,
            "expected to start by 18:10 (in 10 min) on n2, when job 1 reaches its time limit, or sooner if it ends early"
        );
    }

    /// MaxTRESPU gres/gpu=4 with 1 + 3 GPUs held: a job of 2 waits for job 2 (30 minutes),
    /// since job 1 ending frees too few; one of 1 GPU waits for job 1 alone.
    #[test]
    fn a_job_held_by_a_tres_limit_starts_once_enough_of_it_frees() {
        let mut s = two_jobs_of_mine(IDLE, [1, 3], "");
        let qos = "gpu|gres/gpu=4||||||||\n";
        assert_eq!(at(&expected(&mut s, qos, 2)), in_minutes(30));
        assert_eq!(at(&expected(&mut s, qos, 1)), in_minutes(10));
    }

    /// The limit lets a job of a whole node in at 10 minutes, when job 1 ends, but job 2
    /// keeps a CPU of n1 until 30 and another user's job n2 until 20: it starts at 20 on n2,
    /// and both jobs that end first are named.
    #[test]
    fn a_job_held_by_a_limit_and_full_nodes_waits_for_both() {
        let other = "3|gpu|you|RUNNING|0:00|20:00|2|cpu=2|normal|None|N/A|n2|x\n";
        let mut s = two_jobs_of_mine(ALLOCATED, [1, 1], other);
        s.qos = sacctmgr::parse_qos("gpu||2|||||||\n");
        let whole_node = Request {
            qos: Some("gpu".into()),
            ..Request::plain("gpu", 2, 600)
        };
        let start = assess(&whole_node, &s).expected_start;
        assert_eq!(at(&start), in_minutes(20));
        assert_eq!(
            start.unwrap().sentence(),
            "expected to start by 18:20 (in 20 min) on n2, when jobs 1 and 3 reach their time limits, or sooner if they end early"
        );
    }

    /// Job 3 of the user's, queued first and held by MaxJobsPU too, takes the place job 1
    /// frees at 10 minutes, until 20: this one starts then. Had job 3 waited for nodes, when
    /// it takes its place would not be known.
    #[test]
    fn a_job_queued_first_under_the_same_limit_goes_first() {
        let pending = "3|gpu|me|PENDING|0:00|10:00|1|cpu=1|gpu|QOSMaxJobsPerUserLimit|N/A||x\n";
        let mut s = two_jobs_of_mine(IDLE, [1, 1], pending);
        let start = expected(&mut s, "gpu||2|||||||\n", 1);
        assert_eq!(at(&start), in_minutes(20));
        assert_eq!(
            start.unwrap().sentence(),
            "expected to start by 18:20 (in 20 min) on n2, when jobs 1 and 3 reach their time limits, or sooner if they end early"
        );
        let for_nodes = pending.replace("QOSMaxJobsPerUserLimit", "Resources");
        let mut s = two_jobs_of_mine(IDLE, [1, 1], &for_nodes);
        assert_eq!(expected(&mut s, "gpu||2|||||||\n", 1), None);
    }

    /// MaxTRESPU gres/gpu=4: job 1's end at 10 minutes lets in both job 3, queued first,
    /// and this one, but job 3 takes n1 whole then (another user's job holds n2 until 30):
    /// this one starts when job 3 ends, at 20, rather than at 10 beside it. Job 3 has no room
    /// on the nodes now either, so Slurm gives this one Priority, the limit listed after.
    #[test]
    fn a_job_queued_first_and_let_in_with_it_takes_the_node_first() {
        let queue = "1|gpu|me|RUNNING|0:00|10:00|2|cpu=2,gres/gpu=4|gpu|None|N/A|n1|x\n\
                     2|gpu|you|RUNNING|0:00|30:00|2|cpu=2|normal|None|N/A|n2|x\n\
                     3|gpu|me|PENDING|0:00|10:00|2|cpu=2,gres/gpu=2|gpu|QOSMaxGRESPerUser|N/A||x\n";
        let mut s = two_nodes(ALLOCATED, queue);
        s.qos = sacctmgr::parse_qos("gpu|gres/gpu=4||||||||\n");
        let req = Request {
            qos: Some("gpu".into()),
            gpus: 2,
            ..Request::plain("gpu", 2, 600)
        };
        let verdict = assess(&req, &s);
        assert_eq!(verdict.reason.map(|r| r.code()), Some("Priority"));
        assert!(
            verdict.also[0].ends_with("(QOSMaxGRESPerUser)"),
            "{verdict:?}"
        );
        let start = verdict.expected_start;
        assert_eq!(at(&start), in_minutes(20));
        assert_eq!(
            start.unwrap().sentence(),
            "expected to start by 18:20 (in 20 min) on n1, when jobs 1 and 3 reach their time limits, or sooner if they end early"
        );
    }

    /// The user's two jobs of 1 GPU (10 and 30 minutes) under QOS gpu's GrpTRESRunMins
    /// gres/gpu=`max`, and a request for 1 GPU for 10 minutes.
    fn one_gpu_for_10_minutes_under_run_minutes(max: u64) -> (ClusterState, Request) {
        let mut s = two_jobs_of_mine(IDLE, [1, 1], "");
        let qos = format!("gpu{}gres/gpu={max}|||\n", "|".repeat(16));
        s.qos = sacctmgr::parse_qos(&qos);
        let req = Request {
            qos: Some("gpu".into()),
            gpus: 1,
            ..Request::plain("gpu", 1, 600)
        };
        (s, req)
    }

    /// GrpTRESRunMins under priority/basic: each running job holds its GPUs times its whole
    /// time limit until it ends (10 + 30 GPU-minutes), and 10 more asked go over 45 until
    /// the first ends. Where the priority decays, what they hold shrinks as they run, at each
    /// decay: not worked out.
    #[test]
    fn a_job_held_by_running_minutes_starts_when_enough_of_them_end() {
        let (mut s, req) = one_gpu_for_10_minutes_under_run_minutes(45);
        let verdict = assess(&req, &s);
        assert_eq!(
            verdict.reason.map(|r| r.code()),
            Some("QOSGrpGRESRunMinutes")
        );
        assert_eq!(at(&verdict.expected_start), in_minutes(10));
        s.config.multifactor_priority = true;
        assert_eq!(assess(&req, &s).expected_start, None);
    }

    /// What the controller counts under GrpTRESRunMins beyond the running jobs' shares (no
    /// job's end gives it back) is held for good: 40 shares and 5 more counted leave no room
    /// for 10 under 50 until the 10-minute job ends; 45 more, none once both have ended.
    #[test]
    fn running_minutes_no_job_holds_are_held_for_good() {
        let (mut s, req) = one_gpu_for_10_minutes_under_run_minutes(50);
        let counted = |minutes: u64| {
            crate::slurm::assoc_mgr::parse(&format!(
                "QOS Records\n\nQOS=gpu(2)\n    GrpTRESRunMins=gres/gpu=50({minutes})\n"
            ))
        };
        s.limit_use = counted(45);
        assert_eq!(at(&assess(&req, &s).expected_start), in_minutes(10));
        s.limit_use = counted(85);
        let verdict = assess(&req, &s);
        assert_eq!(
            verdict.reason.map(|r| r.code()),
            Some("QOSGrpGRESRunMinutes")
        );
        assert_eq!(verdict.expected_start, None);
    }

    /// A job already pending behind the user's two running jobs (MaxJobsPU 2), with another
    /// queued after it: it is expected when the first of the two ends, as the one after it
    /// goes after it; and once it has room it is not said to wait.
    #[test]
    fn a_pending_job_a_limit_holds_is_expected_when_the_limit_frees() {
        let held = "3|gpu|me|PENDING|0:00|10:00|1|cpu=1,gres/gpu=1|gpu|QOSMaxJobsPerUserLimit|N/A||x\n\
                    4|gpu|me|PENDING|0:00|10:00|1|cpu=1,gres/gpu=1|gpu|QOSMaxJobsPerUserLimit|N/A||x\n";
        let mut s = two_jobs_of_mine(IDLE, [1, 1], held);
        s.qos = sacctmgr::parse_qos("gpu||2|||||||\n");
        let req = Request {
            qos: Some("gpu".into()),
            gpus: 1,
            ..Request::plain("gpu", 1, 600)
        };
        assert_eq!(
            at(&crate::preflight::while_pending("3", &req, &s)),
            in_minutes(10)
        );
        // Job 4 waits for job 3 too, which takes the first place to free, until 20 minutes.
        assert_eq!(
            at(&crate::preflight::while_pending("4", &req, &s)),
            in_minutes(20)
        );
        s.qos = sacctmgr::parse_qos("gpu||3|||||||\n");
        assert_eq!(crate::preflight::while_pending("3", &req, &s), None);
    }
}
