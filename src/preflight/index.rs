//! Which running jobs are on which node, how many CPUs each reservation's nodes have, and
//! where the jobs queued ahead are expected: worked out once for a state rather than for
//! every node checked. A large cluster has thousands of nodes and tens of thousands of jobs,
//! and a verdict asks about each node several times (`examples/preflight_scale.rs` measures
//! it).

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::OnceLock;

use super::ClusterState;
use super::queue_ahead::QueuePlan;
use crate::slurm::hostlist;
use crate::slurm::sinfo::NodeRow;
use crate::slurm::squeue::QueuedJob;
use crate::slurm::state::JobState;

/// What `ClusterState` works out from its fields on first use. Build a state with
/// `StateIndex::default()`; after a verdict has been asked of it, add or take out jobs with
/// `ClusterState::add_running`, `add_running_behind_queue` and `take_job`, which keep it
/// true.
#[derive(Debug, Clone, Default)]
pub struct StateIndex {
    index: OnceLock<Index>,
    queue_plan: OnceLock<QueuePlan>,
}

#[derive(Debug, Clone)]
struct Index {
    /// The queue's length when this was worked out: a queue changed some other way is seen,
    /// and then read directly.
    queue_len: usize,
    /// Each node's running jobs: their place in the queue and how many nodes each runs on.
    running: HashMap<String, Vec<(usize, u64)>>,
    /// The CPUs of each reservation's nodes together (each node once, though sinfo lists a
    /// node once per partition), by reservation name.
    reservation_cpus: HashMap<String, u64>,
}

impl ClusterState {
    fn index(&self) -> &Index {
        self.index.index.get_or_init(|| {
            let mut running: HashMap<String, Vec<(usize, u64)>> = HashMap::new();
            for (at, job) in self.queue.iter().enumerate() {
                add_to(&mut running, at, job);
            }
            let mut cpus_of_node: HashMap<&str, u64> = HashMap::new();
            for n in &self.nodes {
                cpus_of_node.insert(&n.node, n.cpus_total);
            }
            let reservation_cpus = self
                .reservations
                .iter()
                .map(|r| {
                    let cpus = r.nodes.iter().filter_map(|n| cpus_of_node.get(n.as_str()));
                    (r.name.clone(), cpus.sum())
                })
                .collect();
            Index {
                queue_len: self.queue.len(),
                running,
                reservation_cpus,
            }
        })
    }

    /// The running jobs on `node`, each with how many nodes it runs on (a job on several is
    /// taken to hold an even share of its CPUs and GPUs on each).
    pub fn running_on<'a>(
        &'a self,
        node: &NodeRow,
    ) -> Box<dyn Iterator<Item = (&'a QueuedJob, u64)> + 'a> {
        let index = self.index();
        if index.queue_len != self.queue.len() {
            let name = node.node.clone();
            return Box::new(self.queue.iter().filter_map(move |j| {
                let on = running_nodes(j)?;
                on.contains(&name).then_some((j, on.len() as u64))
            }));
        }
        let here = index.running.get(&node.node).map_or(&[][..], Vec::as_slice);
        Box::new(
            here.iter()
                .filter_map(|&(at, spans)| Some((self.queue.get(at)?, spans))),
        )
    }

    /// The CPUs of these nodes together, each counted once.
    pub(super) fn cpus_of_nodes(&self, name: &str, nodes: &BTreeSet<String>) -> u64 {
        if let Some(&cpus) = self.index().reservation_cpus.get(name) {
            return cpus;
        }
        let mut seen = HashSet::new();
        self.nodes
            .iter()
            .filter(|n| nodes.contains(&n.node) && seen.insert(n.node.as_str()))
            .map(|n| n.cpus_total)
            .sum()
    }

    /// Where the jobs queued ahead are expected (`queue_ahead`); worked out afresh when the
    /// queue was changed some other way than through the methods below.
    pub fn queue_plan(&self) -> Cow<'_, QueuePlan> {
        let plan = self
            .index
            .queue_plan
            .get_or_init(|| self.work_out_queue_plan());
        if plan.queue_len == self.queue.len() {
            Cow::Borrowed(plan)
        } else {
            Cow::Owned(self.work_out_queue_plan())
        }
    }

    /// Adds a running job to the queue, and to the index when it was worked out.
    pub fn add_running(&mut self, job: QueuedJob) {
        self.index.queue_plan = OnceLock::new();
        self.add_running_behind_queue(job);
    }

    /// Adds a running job that holds up no job queued ahead (`holds_up` found none where it
    /// runs): it takes only room that frees before they are expected, so their plan stays.
    pub fn add_running_behind_queue(&mut self, job: QueuedJob) {
        let at = self.queue.len();
        if let Some(index) = self.index.index.get_mut()
            && index.queue_len == at
        {
            add_to(&mut index.running, at, &job);
            index.queue_len += 1;
        }
        if let Some(plan) = self.index.queue_plan.get_mut()
            && plan.queue_len == at
        {
            plan.queue_len += 1;
        }
        self.queue.push(job);
    }

    /// Takes the job at `at` out of the queue; the jobs after it move up, so everything is
    /// worked out again when next asked.
    pub fn take_job(&mut self, at: usize) -> QueuedJob {
        self.index = StateIndex::default();
        self.queue.remove(at)
    }
}

/// The nodes a running job runs on; `None` for a job not running.
fn running_nodes(job: &QueuedJob) -> Option<Vec<String>> {
    (job.state == JobState::Running).then(|| hostlist::expand(&job.nodes))
}

fn add_to(running: &mut HashMap<String, Vec<(usize, u64)>>, at: usize, job: &QueuedJob) {
    let Some(on) = running_nodes(job) else { return };
    let spans = on.len() as u64;
    for name in on {
        running.entry(name).or_default().push((at, spans));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::slurm::{sinfo, squeue};

    fn state() -> ClusterState {
        ClusterState {
            nodes: sinfo::parse_nodes(
                "n1|gpu|mixed|1/1/0/2|8000|0|gpu:4|gpu:0|\n\
                 n2|gpu|mixed|1/1/0/2|8000|0|gpu:4|gpu:0|\n",
            ),
            queue: squeue::parse(
                "1|gpu|a|RUNNING|0:00|10:00|2|cpu=2|normal|None|N/A|n[1-2]|x\n\
                 2|gpu|b|PENDING|0:00|10:00|1|cpu=1|normal|Resources|N/A||x\n",
            ),
            ..ClusterState::default()
        }
    }

    fn ids_on(s: &ClusterState, node: usize) -> Vec<(String, u64)> {
        s.running_on(&s.nodes[node])
            .map(|(j, spans)| (j.id.clone(), spans))
            .collect()
    }

    /// A job on two nodes is on each, spanning two; a pending one is on none.
    #[test]
    fn running_jobs_by_node() {
        let s = state();
        assert_eq!(ids_on(&s, 0), [("1".to_string(), 2)]);
        assert_eq!(ids_on(&s, 1), [("1".to_string(), 2)]);
    }

    /// Jobs added or taken out after the index was worked out are seen, and so are jobs
    /// pushed onto the queue directly.
    #[test]
    fn the_index_follows_the_queue() {
        let mut s = state();
        assert_eq!(ids_on(&s, 1).len(), 1);
        let mut task = s.queue[0].clone();
        task.id = "3".into();
        task.nodes = "n2".into();
        s.add_running_behind_queue(task.clone());
        assert_eq!(ids_on(&s, 1), [("1".into(), 2), ("3".into(), 1)]);
        s.take_job(0);
        assert_eq!(ids_on(&s, 1), [("3".to_string(), 1)]);
        assert!(ids_on(&s, 0).is_empty());
        task.id = "4".into();
        s.queue.push(task);
        assert_eq!(ids_on(&s, 1), [("3".into(), 1), ("4".into(), 1)]);
    }
}
