//! CPUs shared between jobs. Under a partition's `OverSubscribe=FORCE:N`, up to N of its jobs
//! run on each CPU: Slurm keeps N rows of a node's CPUs for the partition, and a job must fit
//! in one row. GPUs and memory are never shared, and the CPUs that jobs of other partitions
//! hold are theirs alone (as captured). `YES:N` shares only among jobs that ask for it with
//! `--oversubscribe`, which yenjob's do not, so to them it is `NO`.

use super::ClusterState;
use crate::slurm::scontrol::{OverSubscribe, Partition};
use crate::slurm::sinfo::NodeRow;

/// More rows than this are not worth packing: a job fits in an empty one.
const MOST_ROWS: u64 = 64;

impl ClusterState {
    /// The CPUs of `node` free to a new job of `partition`: the idle ones, or under FORCE:N
    /// the most left in any of the partition's N rows.
    pub fn cpus_free(&self, node: &NodeRow, partition: &Partition) -> u64 {
        let Some(rows) = shared_rows(partition) else {
            return node.cpus_idle;
        };
        let mut others = 0;
        let mut ours = Vec::new();
        for (job, spans) in self.running_on(node) {
            let cpus = job.cpus / spans;
            if job.partition == partition.name {
                ours.push(cpus);
            } else {
                others += cpus;
            }
        }
        free_in_rows(node.cpus_total, others, ours, rows)
    }
}

/// The rows of CPUs a partition shares among its jobs: N under FORCE:N (N ≥ 2); `None` when
/// its jobs do not share.
pub fn shared_rows(partition: &Partition) -> Option<u64> {
    match partition.oversubscribe {
        OverSubscribe::Force(rows) if rows >= 2 => Some(rows),
        _ => None,
    }
}

/// The most CPUs left in any of `rows` rows of a node's `cpus`, with `others` held by other
/// partitions' jobs in every row and the partition's own jobs (`ours`, each its CPUs) packed
/// into the rows.
pub fn free_in_rows(cpus: u64, others: u64, mut ours: Vec<u64>, rows: u64) -> u64 {
    let room = cpus.saturating_sub(others);
    // The largest first, each into the first row with room for it, as Slurm packs them; a
    // job that fits none (its CPUs were counted differently) goes to the emptiest.
    ours.sort_unstable_by(|a, b| b.cmp(a));
    let mut used = vec![0u64; rows.clamp(1, MOST_ROWS) as usize];
    for job in ours {
        let row = match used.iter().position(|u| u + job <= room) {
            Some(row) => row,
            None => (0..used.len()).min_by_key(|&r| used[r]).unwrap_or(0),
        };
        used[row] += job;
    }
    room.saturating_sub(used.into_iter().min().unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::slurm::{scontrol, sinfo, squeue};

    fn state(oversubscribe: &str, queue: &str) -> ClusterState {
        ClusterState {
            partitions: scontrol::parse_partitions(&format!(
                "PartitionName=normal Nodes=n1 OverSubscribe={oversubscribe}\n\
                 PartitionName=gpu Nodes=n1 OverSubscribe=NO\n"
            )),
            nodes: sinfo::parse_nodes("n1|normal|allocated|4/0/0/4|8000|0|(null)|gpu:0|\n"),
            queue: squeue::parse(queue),
            ..ClusterState::default()
        }
    }

    fn free(s: &ClusterState) -> u64 {
        s.cpus_free(&s.nodes[0], &s.partitions[0])
    }

    const THREE_AND_ONE: &str = "1|normal|a|RUNNING|0:00|10:00|3|cpu=3|normal|None|N/A|n1|x\n\
                                 2|normal|b|RUNNING|0:00|10:00|1|cpu=1|normal|None|N/A|n1|x\n";

    /// Jobs of 3 and 1 CPUs fill the first row of 4; the second row is free.
    #[test]
    fn force_packs_jobs_into_rows() {
        assert_eq!(free(&state("FORCE:2", THREE_AND_ONE)), 4);
        let third = "3|normal|c|RUNNING|0:00|10:00|2|cpu=2|normal|None|N/A|n1|x\n";
        assert_eq!(
            free(&state("FORCE:2", &format!("{THREE_AND_ONE}{third}"))),
            2
        );
        assert_eq!(
            free(&state("FORCE:3", &format!("{THREE_AND_ONE}{third}"))),
            4
        );
    }

    /// Without FORCE, and under YES (which yenjob's jobs do not ask for), only idle CPUs.
    #[test]
    fn no_and_yes_leave_the_idle_cpus() {
        assert_eq!(free(&state("NO", THREE_AND_ONE)), 0);
        assert_eq!(free(&state("YES:4", THREE_AND_ONE)), 0);
    }

    /// A job of another partition keeps its CPUs out of every row.
    #[test]
    fn other_partitions_keep_their_cpus() {
        let queue = "1|gpu|a|RUNNING|0:00|10:00|3|cpu=3|normal|None|N/A|n1|x\n\
                     2|normal|b|RUNNING|0:00|10:00|1|cpu=1|normal|None|N/A|n1|x\n";
        assert_eq!(free(&state("FORCE:2", queue)), 1);
    }
}
