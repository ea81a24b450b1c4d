//! What reservations keep from a job: whole nodes (a maintenance window, a lab's nodes), or
//! some of a node's cores (`CoreCnt`), which leaves the rest of the node open to everyone. A
//! job in a reservation of cores has only those cores.

use super::{ClusterState, Request};
use crate::slurm::scontrol::Reservation;
use crate::slurm::sinfo::NodeRow;

/// Under PrivateData=reservations, that the reservations the user may not use are not shown:
/// a maintenance window ahead may keep the nodes before the job would end (captured as
/// `nobody`: Slurm said `ReqNodeNotAvail, Reserved for maintenance` of a job of 2 hours an hour
/// before one, `plain-private-reservations-maint-ahead`). `sbatch --test-only` sees them. A
/// line for `not_checked`.
pub fn hidden(state: &ClusterState) -> Option<String> {
    state
        .config
        .hides_reservations_from(&state.user)
        .then(|| HIDDEN.to_string())
}

/// The line `hidden` gives; `check` and `submit` ask `sbatch --test-only` where the jobs
/// are shown, and drop it where that finds none in the way (`test_only::weigh`).
pub const HIDDEN: &str = "reservations you may not use are not shown to you (the cluster's PrivateData=reservations): a maintenance window may keep the nodes before this job would end; `sbatch --test-only` with the job's options asks Slurm, which sees them";

/// What one reservation keeps of one node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kept {
    Nothing,
    WholeNode,
    Cpus(u64),
}

impl ClusterState {
    /// What `r` keeps of `node`. A reservation of fewer CPUs than its nodes have keeps part of
    /// them; Slurm shows which cores of which node only now and then, and without that the
    /// CPUs are taken as spread evenly over its nodes.
    pub fn kept(&self, r: &Reservation, node: &NodeRow) -> Kept {
        if !r.nodes.contains(&node.node) {
            return Kept::Nothing;
        }
        let Some(cpus) = r.cpus else {
            return Kept::WholeNode;
        };
        let cpus_per_core = match r.cores {
            Some(cores) if cores > 0 => (cpus / cores).max(1),
            _ => 1,
        };
        let here = match r.cores_on.get(&node.node) {
            Some(cores) => cores * cpus_per_core,
            // Every CPU of its nodes keeps each whole, however unequal they are.
            None if cpus >= self.cpus_of_nodes(&r.name, &r.nodes) => return Kept::WholeNode,
            None => cpus.div_ceil(r.nodes.len() as u64),
        };
        if here >= node.cpus_total {
            Kept::WholeNode
        } else {
            Kept::Cpus(here)
        }
    }

    /// Whether `r` keeps its nodes or cores from `req` if the job started now: it is not the
    /// job's own, and it is active now or begins before the job would end.
    fn in_the_way(&self, r: &Reservation, req: &Request) -> bool {
        let Some(now) = self.now else { return false };
        let job_end = now.saturating_add(i64::try_from(req.time_seconds).unwrap_or(i64::MAX));
        Some(&r.name) != req.reservation.as_ref()
            && !r.leaves_room()
            && r.start.is_some_and(|start| start < job_end)
            && r.end.is_none_or(|end| end > now)
    }

    /// The reservation that keeps `req` off the whole of `node` if it started now.
    pub fn reservation_in_the_way(&self, node: &NodeRow, req: &Request) -> Option<&Reservation> {
        self.reservations
            .iter()
            .find(|r| self.in_the_way(r, req) && self.kept(r, node) == Kept::WholeNode)
    }

    /// Whether a reservation that ends keeps `req` off a node that is up, so that it waits
    /// for it (ReqNodeNotAvail) and is planned around it.
    pub fn waits_for_a_reservation(&self, req: &Request) -> bool {
        self.nodes_for(req)
            .any(|n| n.is_up() && self.reservation_in_the_way(n, req).is_some())
    }

    /// Whether `node` can take `req` now: up, in the job's reservation if it asks for one,
    /// and no other reservation of the whole node in the way. sinfo says `reserved` of an
    /// idle node with any active reservation, of some of its cores too, so a reserved node is
    /// up when the reservations read explain it, and they decide.
    pub fn node_open(&self, node: &NodeRow, req: &Request) -> bool {
        let in_its_reservation = match &req.reservation {
            Some(name) => self
                .reservation_named(name)
                .is_some_and(|r| r.nodes.contains(&node.node)),
            None => true,
        };
        let explained = || {
            req.reservation.is_some()
                || self
                    .reservations
                    .iter()
                    .any(|r| r.nodes.contains(&node.node))
        };
        let up = node.is_usable() || (node.is_reserved() && explained());
        up && in_its_reservation && self.reservation_in_the_way(node, req).is_none()
    }

    /// The reservations of some of `node`'s cores in `req`'s way, each with the CPUs it keeps
    /// there that its own jobs do not use (those are allocated already).
    pub fn cpus_kept_from(&self, node: &NodeRow, req: &Request) -> Vec<(&Reservation, u64)> {
        self.reservations
            .iter()
            .filter(|r| self.in_the_way(r, req))
            .filter_map(|r| match self.kept(r, node) {
                Kept::Cpus(kept) => Some((r, kept.saturating_sub(self.cpus_used_in(r, node)))),
                Kept::Nothing | Kept::WholeNode => None,
            })
            .filter(|(_, kept)| *kept > 0)
            .collect()
    }

    /// The CPUs of `node` that `req` can have now: the free ones (idle, or shared under
    /// OverSubscribe=FORCE) less those kept for others; in a reservation of some cores, no
    /// more than it has left.
    pub fn cpus_open(&self, node: &NodeRow, req: &Request) -> u64 {
        let free = match self.partition(&req.partition) {
            Some(partition) => self.cpus_free(node, partition),
            None => node.cpus_idle,
        };
        self.open_of(free, node, req)
    }

    /// Whether `node` has room for `cpus` CPUs of `req` only by sharing them with its
    /// partition's other jobs (OverSubscribe=FORCE): its idle CPUs, less those kept for
    /// reservations, are too few.
    pub fn shares_cpus(&self, node: &NodeRow, req: &Request, cpus: u64) -> bool {
        self.open_of(node.cpus_idle, node, req) < cpus && self.cpus_open(node, req) >= cpus
    }

    /// What of `free` CPUs of `node` `req` can have: less those kept for others; in a
    /// reservation of some cores, no more than it has left.
    fn open_of(&self, free: u64, node: &NodeRow, req: &Request) -> u64 {
        let kept: u64 = self.cpus_kept_from(node, req).iter().map(|(_, k)| k).sum();
        let open = free.saturating_sub(kept);
        match self.own_cores(node, req) {
            Some((r, cpus)) => open.min(cpus.saturating_sub(self.cpus_used_in(r, node))),
            None => open,
        }
    }

    /// The job's own reservation, when it keeps some of `node`'s cores, and how many CPUs.
    pub fn own_cores(&self, node: &NodeRow, req: &Request) -> Option<(&Reservation, u64)> {
        let r = self.reservation_named(req.reservation.as_deref()?)?;
        match self.kept(r, node) {
            Kept::Cpus(cpus) => Some((r, cpus)),
            Kept::Nothing | Kept::WholeNode => None,
        }
    }

    /// CPUs that running jobs in `r` hold on `node`. A job's reservation is known only when
    /// it was read (`squeue::EXTRA_FORMAT`); without it none are counted, which keeps more
    /// of the node kept than is.
    fn cpus_used_in(&self, r: &Reservation, node: &NodeRow) -> u64 {
        self.running_on(node)
            .filter(|(j, _)| j.reservation.as_ref() == Some(&r.name))
            .map(|(j, spans)| j.cpus / spans)
            .sum()
    }

    /// Whether any reservation keeps part of a node: then the jobs' reservations are read.
    pub fn has_core_reservations(&self) -> bool {
        self.reservations.iter().any(|r| {
            self.nodes
                .iter()
                .any(|n| matches!(self.kept(r, n), Kept::Cpus(_)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::slurm::{scontrol, sinfo};

    fn state(nodes: &str, reservations: &str) -> ClusterState {
        ClusterState {
            nodes: sinfo::parse_nodes(nodes),
            reservations: scontrol::parse_reservations(reservations),
            now: Some(0),
            ..ClusterState::default()
        }
    }

    fn kept_of(s: &ClusterState) -> Vec<Kept> {
        s.nodes
            .iter()
            .map(|n| s.kept(&s.reservations[0], n))
            .collect()
    }

    const TWO_NODES: &str = "n1|gpu|idle|0/32/0/32|64000|0|gpu:4|gpu:0|\n\
                             n2|gpu|idle|0/64/0/64|64000|0|gpu:4|gpu:0|\n";

    /// A whole-node reservation of unequal nodes is of each node whole, though an even spread
    /// of its CPUs would keep part of the larger one.
    #[test]
    fn whole_nodes_of_unequal_size() {
        let s = state(
            TWO_NODES,
            "ReservationName=r Nodes=n[1-2] CoreCnt=96 TRES=cpu=96\n",
        );
        assert_eq!(kept_of(&s), [Kept::WholeNode, Kept::WholeNode]);
        let unknown = state(TWO_NODES, "ReservationName=r Nodes=n1\n");
        assert_eq!(kept_of(&unknown), [Kept::WholeNode, Kept::Nothing]);
    }

    /// Cores named per node count with the node's threads; without them the CPUs are spread.
    #[test]
    fn cores_of_each_node() {
        let named = "ReservationName=r Nodes=n[1-2] CoreCnt=4 NodeName=n1 CoreIDs=0-2 NodeName=n2 CoreIDs=5 TRES=cpu=8\n";
        assert_eq!(
            kept_of(&state(TWO_NODES, named)),
            [Kept::Cpus(6), Kept::Cpus(2)]
        );
        let spread = "ReservationName=r Nodes=n[1-2] CoreCnt=4 TRES=cpu=8\n";
        assert_eq!(
            kept_of(&state(TWO_NODES, spread)),
            [Kept::Cpus(4), Kept::Cpus(4)]
        );
    }

    /// Of the CPUs a reservation keeps, those its own running jobs hold are allocated already,
    /// so they are not taken twice from the idle ones.
    #[test]
    fn cpus_open_beside_and_in_a_reservation_of_cores() {
        let mut s = state(
            "n1|gpu|mixed|3/29/0/32|64000|0|gpu:4|gpu:1|\n",
            "ReservationName=lab StartTime=1970-01-01T00:00:00 Nodes=n1 CoreCnt=4 TRES=cpu=4\n",
        );
        s.queue = crate::slurm::squeue::parse(
            "1|gpu|alice|RUNNING|0:10|10:00|3|cpu=3|normal|None|N/A|n1|x\n",
        );
        let req = |reservation: Option<&str>| Request {
            reservation: reservation.map(str::to_string),
            ..Request::plain("gpu", 1, 600)
        };
        let node = &s.nodes[0];
        // The job's reservation unknown: all 4 kept, 29 idle less 4.
        assert_eq!(s.cpus_open(node, &req(None)), 25);
        s.queue[0].reservation = Some("lab".into());
        assert_eq!(s.cpus_open(node, &req(None)), 28);
        assert_eq!(s.cpus_open(node, &req(Some("lab"))), 1);
        assert_eq!(
            s.own_cores(node, &req(Some("lab"))).map(|(_, c)| c),
            Some(4)
        );
        // A reservation ended keeps nothing.
        s.now = Some(10 * 86_400);
        s.reservations[0].end = Some(86_400);
        assert_eq!(s.cpus_open(node, &req(None)), 29);
    }

    /// Regression: under OverSubscribe=FORCE a job that fits only on CPUs a partition's job
    /// holds, because a core reservation keeps the idle ones, shares them; the sentence said
    /// it did not, counting the kept CPUs as idle.
    #[test]
    fn kept_idle_cpus_make_a_job_share() {
        let mut s = state(
            "n1|normal|mixed|2/2/0/4|8000|0|(null)|gpu:0|\n",
            "ReservationName=lab StartTime=1970-01-01T00:00:00 Nodes=n1 CoreCnt=2 TRES=cpu=2\n",
        );
        s.partitions =
            scontrol::parse_partitions("PartitionName=normal Nodes=n1 OverSubscribe=FORCE:2\n");
        s.queue = crate::slurm::squeue::parse(
            "1|normal|alice|RUNNING|0:10|10:00|2|cpu=2|normal|None|N/A|n1|x\n",
        );
        let req = Request::plain("normal", 2, 600);
        let node = &s.nodes[0];
        assert_eq!(s.cpus_open(node, &req), 2);
        assert!(s.shares_cpus(node, &req, 2));
        // Without the reservation the 2 idle CPUs are room enough.
        s.reservations.clear();
        assert!(!s.shares_cpus(node, &req, 2));
    }
}
