//! Preemption: a job takes the resources of running jobs it may preempt, and Slurm requeues,
//! cancels or suspends them (`PreemptMode`). Under `PreemptType=preempt/partition_prio` a job
//! of a partition with a higher PriorityTier preempts the jobs of partitions with a lower one
//! (unless their PreemptMode is OFF); under `preempt/qos` a job preempts those of the QOS its
//! own QOS's Preempt list names.

use super::{ClusterState, Request};
use crate::slurm::config::PreemptType;
use crate::slurm::scontrol::Partition;
use crate::slurm::sinfo::NodeRow;
use crate::slurm::squeue::QueuedJob;

/// What the running jobs a job could preempt on one node hold.
#[derive(Debug, Default, Clone)]
pub struct Preemptable<'a> {
    pub jobs: Vec<&'a QueuedJob>,
    pub cpus: u64,
    pub gpus: u64,
    pub mem_mib: u64,
}

impl ClusterState {
    /// Whether jobs of `partition` preempt those of `other` (preempt/partition_prio).
    pub fn preempts(&self, partition: &Partition, other: &str) -> bool {
        self.config.preempt_type == PreemptType::PartitionPriority
            && self.partition(other).is_some_and(|o| {
                o.priority_tier < partition.priority_tier
                    && o.preempt_mode.as_deref() != Some("OFF")
            })
    }

    /// Whether jobs of QOS `qos` preempt those of QOS `other` (preempt/qos).
    pub fn qos_preempts(&self, qos: &str, other: &str) -> bool {
        self.config.preempt_type == PreemptType::Qos
            && self
                .qos_named(qos)
                .is_some_and(|q| q.preempts.iter().any(|p| p == other))
    }

    /// Whether a job of `req` preempts the running `job`.
    fn preempts_job(&self, req: &Request, partition: &Partition, job: &QueuedJob) -> bool {
        self.preempts(partition, &job.partition)
            || self.qos_preempts(&super::rules::job_qos(req, self), &job.qos)
    }

    /// The running jobs on `node` that a job of `req`'s partition would preempt, and what
    /// they hold (GPUs of `req`'s type when it names one).
    pub fn preemptable_on(&self, node: &NodeRow, req: &Request) -> Preemptable<'_> {
        let mut found = Preemptable::default();
        let Some(partition) = self.partition(&req.partition) else {
            return found;
        };
        for (j, spans) in self.running_on(node) {
            if !self.preempts_job(req, partition, j) {
                continue;
            }
            found.cpus += j.cpus / spans;
            found.gpus += match &req.gpu_type {
                Some(t) => j.tres.get(&format!("gres/gpu:{t}")).unwrap_or(0),
                None => j.gpus,
            } / spans;
            found.mem_mib += j.mem_mib() / spans;
            found.jobs.push(j);
        }
        found
    }

    /// The partitions whose jobs may preempt those of `partition`.
    pub fn preempted_by(&self, partition: &Partition) -> Vec<&Partition> {
        self.partitions
            .iter()
            .filter(|p| p.name != partition.name && self.preempts(p, &partition.name))
            .collect()
    }

    /// The QOS whose jobs may preempt those of QOS `qos`.
    pub fn qos_preempted_by(&self, qos: &str) -> Vec<&str> {
        self.qos
            .iter()
            .filter(|q| self.qos_preempts(&q.name, qos))
            .map(|q| q.name.as_str())
            .collect()
    }
}

impl ClusterState {
    /// Whether `node` has room for `req` (`cpus` CPUs) now: free GPUs, CPUs (less what
    /// reservations keep) and memory, on a node it may share; `preempting` counts what the
    /// jobs it would preempt hold as free (and a node they leave as one it may share).
    pub fn room_on(&self, node: &NodeRow, req: &Request, cpus: u64, preempting: bool) -> bool {
        let Some(partition) = self.partition(&req.partition) else {
            return false;
        };
        let freed = if preempting {
            self.preemptable_on(node, req)
        } else {
            Preemptable::default()
        };
        let mem_free = node.memory_mib.saturating_sub(node.memory_allocated_mib) + freed.mem_mib;
        node.free_gpus_of(req.gpu_type.as_deref()) + freed.gpus >= req.gpus
            && self.cpus_open(node, req) + freed.cpus >= cpus
            && super::usage::memory_of(req, self).is_none_or(|m| mem_free >= m)
            && (self.may_share(node, partition, req) || !freed.jobs.is_empty())
    }
}
