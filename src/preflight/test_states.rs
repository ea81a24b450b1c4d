//! The small cluster the pre-flight's unit tests share: partition gpu of nodes n1 and n2,
//! each of 2 CPUs, 8000 MiB and 4 GPUs, read at `NOW`.

use super::ClusterState;
use crate::slurm::{clock, scontrol, sinfo, squeue};

pub const NOW: &str = "2026-11-29T18:00:00";

/// Both nodes free.
pub const IDLE: &str = "n1|gpu|idle|0/2/0/2|8000|0|gpu:4|gpu:0|\n\
                        n2|gpu|idle|0/2/0/2|8000|0|gpu:4|gpu:0|\n";

/// Both nodes' CPUs taken.
pub const ALLOCATED: &str = "n1|gpu|allocated|2/0/0/2|8000|0|gpu:4|gpu:0|\n\
                             n2|gpu|allocated|2/0/0/2|8000|0|gpu:4|gpu:0|\n";

/// n1 with one CPU taken, n2 with both.
pub const N1_HALF_N2_FULL: &str = "n1|gpu|mixed|1/1/0/2|8000|0|gpu:4|gpu:0|\n\
                                   n2|gpu|allocated|2/0/0/2|8000|0|gpu:4|gpu:0|\n";

/// n1 with one CPU taken, n2 free.
pub const N1_HALF: &str = "n1|gpu|mixed|1/1/0/2|8000|0|gpu:4|gpu:0|\n\
                           n2|gpu|idle|0/2/0/2|8000|0|gpu:4|gpu:0|\n";

/// A sweep queued as array 40, throttled to 2, on `N1_HALF_N2_HALF`: tasks 0 and 1 run 10
/// minutes more (of 15), and tasks 2 and 3 wait (one record to Slurm).
pub const ARRAY_40: &str = "40_0|gpu|me|RUNNING|5:00|15:00|1|cpu=1|normal|None|N/A|n1|x\n\
                            40_1|gpu|me|RUNNING|5:00|15:00|1|cpu=1|normal|None|N/A|n2|x\n\
                            40_[2-3%2]|gpu|me|PENDING|0:00|15:00|1|cpu=1|normal|JobArrayTaskLimit|N/A||x\n";

/// One CPU of each node taken.
pub const N1_HALF_N2_HALF: &str = "n1|gpu|mixed|1/1/0/2|8000|0|gpu:4|gpu:0|\n\
                                   n2|gpu|mixed|1/1/0/2|8000|0|gpu:4|gpu:0|\n";

/// Partition gpu with its nodes as sinfo gives them (`nodes`), and the jobs as squeue gives
/// them (`queue`), read at `NOW` by the user `me`.
pub fn two_nodes(nodes: &str, queue: &str) -> ClusterState {
    ClusterState {
        partitions: scontrol::parse_partitions("PartitionName=gpu Nodes=n[1-2]\n"),
        nodes: sinfo::parse_nodes(nodes),
        queue: squeue::parse(queue),
        now: clock::parse_timestamp(NOW),
        user: "me".into(),
        ..ClusterState::default()
    }
}

/// `minutes` from `NOW`, on the clock.
pub fn in_minutes(minutes: i64) -> i64 {
    clock::parse_timestamp(NOW).unwrap_or_default() + minutes * 60
}
