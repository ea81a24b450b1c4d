//! Where Slurm 24.11 decides otherwise than 22.05 (captured on both:
//! `tests/fixtures/preflight-slurm-24.11`, `scripts/slurm-chroot.sh`). Releases between the
//! two were not captured, and are taken as 24.11 (`SlurmVersion::decides_as_24_11`).
//!
//! - Under EnforcePartLimits=NO the QOS and association limits come before the partition's:
//!   a job over MaxTime and a QOS's MaxWall waits for QOSMaxWallDurationPerJobLimit (22.05:
//!   PartitionTimeLimit), and one over MinNodes that a QOS's MaxJobsPU holds waits for that.
//! - Under NO, more CPUs than any node of the partition has (22.05: PartitionConfig, pending
//!   forever) and a partition MinNodes over its node count (22.05: PartitionNodeLimit) are
//!   refused at submit as a node shape, unless a QOS or association limit holds the job first.
//! - AllowGroups leaving the user out is refused only under ALL/ANY, after AllowQos; under NO
//!   the job waits forever (AccountNotAllowed).
//! - MinNodes and MaxNodes=0 under ALL/ANY read "Node count specification invalid".
//! - A DOWN partition queues the job whatever its CPUs (22.05 refused more CPUs than a node).
//! - MaxMemPerCPU raising the CPUs past MaxCPUsPerNode is refused as a node shape.

use super::{Ctx, Effect, Finding};
use crate::preflight::reason::Reason;

impl Ctx<'_> {
    /// Whether the cluster's Slurm decides as 24.11 does.
    pub(super) fn decides_as_24_11(&self) -> bool {
        self.state.config.decides_as_24_11()
    }

    /// The findings in the order Slurm 24.11 meets them (see the module's notes; the rest is
    /// 22.05's order, `run`).
    pub(super) fn run_as_24_11(&self) -> Vec<Finding> {
        let down = self.is_down();
        let refuses = self.enforce.refuses();
        let mut found = self.who_may_submit();
        found.extend(self.qos_allowed_by_partition());
        found.extend(self.account_allowed_by_partition());
        let group = self.group_allowed();
        if refuses {
            found.extend(group.clone());
        }
        found.extend(self.features_exist());
        found.extend(self.reservation_allowed());
        let mut partition_limits = self.partition_limits();
        if !refuses && let Some(group) = group {
            partition_limits.insert(0, self.group_waits(group));
        }
        let fewer_nodes_allowed = self.fewer_nodes_allowed();
        let waits_for_partition =
            !refuses && !down && (!partition_limits.is_empty() || fewer_nodes_allowed.is_some());
        if !waits_for_partition {
            found.extend(self.node_shape());
        }
        if refuses && !down {
            found.extend(partition_limits.iter().cloned());
        }
        found.extend(self.accounting_at_submit());
        let before_selection = self.accounting_before_selection();
        if !refuses && !down {
            if before_selection.is_empty() {
                found.extend(self.node_count_over_the_partition());
                found.extend(self.cpus_over_every_node());
            }
            found.extend(before_selection);
            found.extend(partition_limits.iter().cloned());
        } else {
            found.extend(before_selection);
        }
        found.extend(self.reservation_ahead());
        found.extend(self.nodes_unavailable());
        if down {
            found.push(self.partition_down());
            // Once the partition is up again, these hold it (or refuse it, too late).
            found.extend(partition_limits);
        }
        found.extend(self.accounting_after_selection());
        found.extend(fewer_nodes_allowed);
        if !down {
            found.extend(self.nodes_busy());
        }
        found
    }

    /// AllowGroups under EnforcePartLimits=NO: queued, and pending until the site adds the
    /// user to a group it allows.
    fn group_waits(&self, refused: Finding) -> Finding {
        Finding::new(
            Reason::AccountNotAllowed,
            Effect::PendsForever,
            refused.message,
        )
        .decided_by(format!("EnforcePartLimits is {}", self.enforce))
    }

    /// A partition whose MinNodes is more than it has nodes: a job can never get them, and
    /// 24.11 refuses it at submit ("Requested node configuration is not available").
    fn node_count_over_the_partition(&self) -> Option<Finding> {
        let p = self.partition;
        let nodes = self.nodes.len() as u64;
        (nodes > 0 && p.min_nodes > nodes).then(|| {
            Finding::new(
                Reason::NodeConfigurationUnavailable,
                Effect::Refused,
                format!(
                    "partition {} runs jobs on at least {} nodes (MinNodes), and it has {}; use another partition",
                    p.name,
                    p.min_nodes,
                    super::words::count(nodes, "node")
                ),
            )
        })
    }

    /// More CPUs than any node of the partition has: 24.11 refuses it at submit ("CPU count
    /// per node can not be satisfied").
    fn cpus_over_every_node(&self) -> Option<Finding> {
        let most = self.nodes.iter().map(|n| n.cpus_total).max()?;
        self.over_every_node().then(|| {
            Finding::new(
                Reason::NodeConfigurationUnavailable,
                Effect::Refused,
                format!(
                    "no node in partition {} has {} (the largest has {most}); Slurm says \"CPU count per node can not be satisfied\"; ask for at most {most}",
                    self.partition.name,
                    super::words::count(self.req.cpus, "CPU")
                ),
            )
        })
    }
}
