//! When a job already pending is expected to start, where Slurm's StartTime says nothing:
//! the backfill scheduler plans no job a limit holds, none in a partition kept to one user at
//! a time (ExclusiveUser), and none before its first pass over a new job (every 30 s by
//! default, and only so many jobs a pass).

use super::ExpectedStart;
use crate::preflight::limit_room::submitted;
use crate::preflight::{ClusterState, Reason, Request};

/// When `job`, already pending in `state` as `req`, is expected to start: the pre-flight's
/// answer for `req` with `job` and the jobs queued after it (a later id) out of the queue, as
/// those go after it. `None` where nothing keeps it pending any more, or its start is not
/// known.
pub fn while_pending(job: &str, req: &Request, state: &ClusterState) -> Option<ExpectedStart> {
    let this = submitted(job);
    let queue = state
        .queue
        .iter()
        .filter(|j| submitted(&j.id) < this || !j.state.is_waiting())
        .cloned()
        .collect();
    let without = ClusterState {
        queue,
        index: Default::default(),
        ..state.clone()
    };
    let verdict = crate::preflight::assess(req, &without);
    match verdict.reason {
        Some(Reason::Limit(_) | Reason::Resources | Reason::Priority) => verdict.expected_start,
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use crate::preflight::test_states::{ALLOCATED, in_minutes, two_nodes};
    use crate::preflight::{ExpectedStart, Request};
    use crate::slurm::scontrol;

    /// Behind a job queued ahead for both nodes' CPUs, before backfill has planned either:
    /// the job ahead takes n1 when its job ends at 10 minutes, and this one n1 after it, at 20
    /// (n2 frees at 30).
    #[test]
    fn a_job_pending_behind_one_queued_ahead_is_expected_after_it() {
        let queue = "1|gpu|them|RUNNING|0:00|10:00|2|cpu=2|normal|None|N/A|n1|x\n\
                     2|gpu|them|RUNNING|0:00|30:00|2|cpu=2|normal|None|N/A|n2|x\n\
                     3|gpu|them|PENDING|0:00|10:00|2|cpu=2|normal|Resources|N/A||x\n\
                     4|gpu|me|PENDING|0:00|10:00|2|cpu=2|normal|Priority|N/A||x\n";
        let s = two_nodes(ALLOCATED, queue);
        let req = Request::plain("gpu", 2, 600);
        let Some(ExpectedStart::By { at, node, .. }) = super::while_pending("4", &req, &s) else {
            panic!("no start expected");
        };
        assert_eq!((at, node.as_str()), (in_minutes(20), "n1"));
    }

    /// In a partition kept to one user at a time, another user's jobs hold both nodes with a
    /// CPU each to spare: the user's job pending for them (which Slurm's backfill does not
    /// plan) is expected when the first of them ends, on its node.
    #[test]
    fn a_job_pending_where_others_hold_every_node_is_expected_when_one_ends() {
        let nodes = "n1|gpu|mixed|1/1/0/2|8000|0|gpu:4|gpu:0|\n\
                     n2|gpu|mixed|1/1/0/2|8000|0|gpu:4|gpu:0|\n";
        let queue = "1|gpu|them|RUNNING|0:00|30:00|1|cpu=1|normal|None|N/A|n1|x\n\
                     2|gpu|them|RUNNING|0:00|10:00|1|cpu=1|normal|None|N/A|n2|x\n\
                     3|gpu|me|PENDING|0:00|10:00|1|cpu=1|normal|Resources|N/A||x\n";
        let mut s = two_nodes(nodes, queue);
        s.partitions =
            scontrol::parse_partitions("PartitionName=gpu Nodes=n[1-2] ExclusiveUser=YES\n");
        let req = Request::plain("gpu", 1, 600);
        let Some(ExpectedStart::By {
            at,
            node,
            jobs_ending,
            ..
        }) = super::while_pending("3", &req, &s)
        else {
            panic!("no start expected");
        };
        assert_eq!((at, node.as_str()), (in_minutes(10), "n2"));
        assert_eq!(jobs_ending, ["2"]);
        // Without ExclusiveUser it has room now, and is said to wait for nothing.
        s.partitions = scontrol::parse_partitions("PartitionName=gpu Nodes=n[1-2]\n");
        assert_eq!(super::while_pending("3", &req, &s), None);
    }
}
