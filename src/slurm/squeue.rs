//! `squeue -O ...` with an explicit, delimited format: names with spaces, long names and a
//! user's `SQUEUE_FORMAT` cannot break it. The job name comes last so a `|` inside it is kept.

use std::collections::HashMap;

use super::constraint::Constraint;
use super::duration::SlurmTime;
use super::hostlist::HostList;
use super::state::JobState;
use super::tres::Tres;

pub const FORMAT: &str = "JobArrayID:|,Partition:|,UserName:|,State:|,TimeUsed:|,TimeLimit:|,NumCPUs:|,tres-alloc:|,QOS:|,Reason:|,StartTime:|,NodeList:|,Name:";
const FIELDS: usize = 13;

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct QueuedJob {
    pub id: String,
    pub partition: String,
    pub user: String,
    pub state: JobState,
    pub elapsed: SlurmTime,
    pub time_limit: SlurmTime,
    pub cpus: u64,
    #[serde(skip)]
    pub tres: Tres,
    pub gpus: u64,
    pub qos: String,
    /// The pending reason code, or `None` for a running job.
    pub reason: String,
    /// Expected (pending) or actual (running) start, as Slurm prints it.
    pub start_time: String,
    pub nodes: String,
    pub name: String,
    /// The account it runs under, the reservation it runs in, and (pending) the nodes the
    /// backfill scheduler plans it on, read only when a limit counted per account, a
    /// reservation of part of a node or a job waiting for resources needs them
    /// (`EXTRA_FORMAT`, a second call).
    #[serde(skip)]
    pub account: Option<String>,
    #[serde(skip)]
    pub reservation: Option<String>,
    /// Slurm's hostlist (`gpu[01-02]`), as squeue's SchedNodes prints it.
    #[serde(skip)]
    pub sched_nodes: Option<String>,
    /// The node features it asks for (`--constraint`, counts across its nodes included), read
    /// with the fields above; `None` for none, or for an expression yenjob does not read.
    #[serde(skip)]
    pub constraint: Option<Constraint>,
    /// The nodes it asked for by name (`--nodelist`), as squeue's ReqNodes prints them
    /// (`yj[1-2]`), read with the fields above.
    #[serde(skip)]
    pub req_nodes: Option<String>,
    /// A pending job's nodes kept off (`--exclude`), as a hostlist (`yj[1-2]`), read with the
    /// fields above (`EXCLUDED_FORMAT`, a call of its own).
    #[serde(skip)]
    pub excluded_nodes: Option<HostList>,
}

impl QueuedJob {
    /// The nodes it runs on or asks for (`node=` in its TRES), at least one.
    pub fn node_count(&self) -> u64 {
        self.tres.get("node").unwrap_or(1).max(1)
    }

    /// The GPU type it holds or asks for (`gres/gpu:a30=2` in its TRES, beside `gres/gpu=2`);
    /// `None` for GPUs of any type, or of several.
    pub fn gpu_type(&self) -> Option<&str> {
        let mut types = self
            .tres
            .0
            .keys()
            .filter_map(|k| k.strip_prefix("gres/gpu:"));
        let first = types.next()?;
        types.next().is_none().then_some(first)
    }

    /// How many GPUs of `gpu_type` it holds or asks for, over all its nodes, where its TRES
    /// counts GPUs by type (`gres/gpu:a30=2`: Slurm counts a running job's GPUs by the types
    /// it was given, asked for by type or not, where accounting tracks those types); `None`
    /// where its GPUs are not counted by type.
    pub fn gpus_of_type(&self, gpu_type: &str) -> Option<u64> {
        if self.gpus == 0 {
            return Some(0);
        }
        let mut by_type = self
            .tres
            .0
            .iter()
            .filter_map(|(k, &n)| Some((k.strip_prefix("gres/gpu:")?, n)));
        let first = by_type.next()?;
        let count = std::iter::once(first)
            .chain(by_type)
            .filter(|&(t, _)| t == gpu_type)
            .map(|(_, n)| n)
            .sum();
        Some(count)
    }

    /// Whether it named as many nodes as it needs (`--nodelist`): Slurm's scheduler then
    /// passes it by without holding up the jobs behind it in its partition, and keeps those
    /// nodes from them instead (`job_scheduler.c`, as captured).
    pub fn names_its_nodes(&self) -> bool {
        self.req_nodes
            .as_deref()
            .is_some_and(|n| super::hostlist::expand(n).len() as u64 >= self.node_count())
    }

    /// The memory it holds or asks for, over all its nodes (`mem=` in its TRES); 0 when not
    /// said.
    pub fn mem_mib(&self) -> u64 {
        self.tres.get("mem").unwrap_or(0)
    }

    /// How many jobs this line stands for: a pending array prints once as `12_[0-5%2]` but
    /// each task counts toward MaxSubmit, as Slurm counts them.
    pub fn task_count(&self) -> u64 {
        let Some(spec) = self
            .id
            .split_once("_[")
            .and_then(|(_, rest)| rest.strip_suffix(']'))
        else {
            return 1;
        };
        let spec = spec.split('%').next().unwrap_or("");
        let count: u64 = spec
            .split(',')
            .map(|part| match part.split_once('-') {
                Some((a, b)) => match (a.parse::<u64>(), b.parse::<u64>()) {
                    (Ok(a), Ok(b)) if b >= a => b - a + 1,
                    _ => 1,
                },
                None => 1,
            })
            .sum();
        count.max(1)
    }
}

pub fn parse(text: &str) -> Vec<QueuedJob> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<QueuedJob> {
    let f: Vec<&str> = line.splitn(FIELDS, '|').collect();
    if f.len() < FIELDS || f[0].trim().is_empty() {
        return None;
    }
    let t = |i: usize| f[i].trim();
    let tres = Tres::parse(t(7));
    Some(QueuedJob {
        id: t(0).to_string(),
        partition: t(1).to_string(),
        user: t(2).to_string(),
        state: JobState::parse(t(3)),
        elapsed: SlurmTime::parse(t(4)).unwrap_or(SlurmTime::NotSet),
        time_limit: SlurmTime::parse(t(5)).unwrap_or(SlurmTime::NotSet),
        cpus: t(6).parse().unwrap_or(0),
        gpus: tres.gpus(),
        tres,
        qos: t(8).to_string(),
        reason: t(9).to_string(),
        start_time: t(10).to_string(),
        nodes: t(11).to_string(),
        // Only the line end is trimmed: a name may start or end with spaces.
        name: f[12].trim_end_matches(['\r', '\n']).to_string(),
        account: None,
        reservation: None,
        sched_nodes: None,
        constraint: None,
        req_nodes: None,
        excluded_nodes: None,
    })
}

/// Each job's account, reservation, planned nodes, features and the nodes it named: `squeue
/// --all -h -O EXTRA_FORMAT`. (Slurm 22.05's `-O` has no field for the nodes a job
/// excludes: `EXCLUDED_FORMAT`.)
pub const EXTRA_FORMAT: &str =
    "JobArrayID:|,Account:|,Reservation:|,SchedNodes:|,Feature:|,ReqNodes:";

/// The nodes each pending job keeps off: `squeue --all -h -t PD -o EXCLUDED_FORMAT`. Slurm
/// 22.05's `-O` has no field for them; `-o`'s `%x` has (`%i` is `-O`'s JobArrayID).
pub const EXCLUDED_FORMAT: &str = "%i|%x";

/// The nodes each pending job keeps off, by job id, from `squeue -o EXCLUDED_FORMAT`.
pub fn parse_excluded(text: &str) -> HashMap<String, HostList> {
    text.lines()
        .filter_map(|l| l.split_once('|'))
        .map(|(id, nodes)| (id.trim(), nodes.trim()))
        .filter(|(_, nodes)| !nodes.is_empty() && *nodes != "(null)")
        .filter_map(|(id, nodes)| Some((id.to_string(), HostList::parse(nodes).ok()?)))
        .collect()
}

/// Fills in the nodes each job keeps off (`parse_excluded`), matching job ids.
pub fn add_excluded_nodes(jobs: &mut [QueuedJob], excluded: &HashMap<String, HostList>) {
    for job in jobs {
        job.excluded_nodes = excluded.get(&job.id).cloned();
    }
}

/// Fills in each job's account, reservation, planned nodes, features and named nodes from `squeue -O
/// EXTRA_FORMAT`, matching job ids. Lines captured before the later fields were read give the
/// first ones.
pub fn add_extra_fields(jobs: &mut [QueuedJob], text: &str) {
    let extras: std::collections::HashMap<&str, Vec<&str>> = text
        .lines()
        .filter_map(|l| {
            let mut f = l.split('|').map(str::trim);
            Some((f.next()?, f.collect()))
        })
        .collect();
    let named = |v: Option<&&str>| {
        v.filter(|s| !s.is_empty() && **s != "(null)")
            .map(|s| s.to_string())
    };
    for job in jobs {
        let found = extras.get(job.id.as_str());
        job.account = named(found.and_then(|f| f.first()));
        job.reservation = named(found.and_then(|f| f.get(1)));
        job.sched_nodes = named(found.and_then(|f| f.get(2)));
        // A feature expression may hold `|` itself: it is every field between SchedNodes and
        // ReqNodes, the last (lines captured before ReqNodes was read end with the features).
        let (features, req_nodes) = match found.map(|f| f.get(3..).unwrap_or_default()) {
            Some([features]) => (features.to_string(), None),
            Some([features @ .., req_nodes]) => (features.join("|"), Some(req_nodes)),
            _ => (String::new(), None),
        };
        job.constraint =
            named(Some(&features.as_str())).and_then(|text| Constraint::parse_queued(&text).ok());
        job.req_nodes = named(req_nodes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A running job's TRES counts its GPUs by the types it was given where accounting
    /// tracks them (captured: `mixed-when-an-untyped-holder-ends`, asked for untyped); where
    /// it does not, the count by type is not known.
    #[test]
    fn gpus_are_counted_by_type_where_the_tres_says() {
        let job = |tres: &str| {
            let line = format!("1|gpu|u|RUNNING|0:01|15:00|1|{tres}|normal|None|N/A|n1|x\n");
            parse(&line).remove(0)
        };
        let typed = job("cpu=1,gres/gpu=2,gres/gpu:a30=2");
        assert_eq!(typed.gpus_of_type("a30"), Some(2));
        assert_eq!(typed.gpus_of_type("h100"), Some(0));
        let both = job("cpu=1,gres/gpu=3,gres/gpu:a30=2,gres/gpu:h100=1");
        assert_eq!(both.gpus_of_type("h100"), Some(1));
        assert_eq!(both.gpu_type(), None);
        assert_eq!(job("cpu=1,gres/gpu=2").gpus_of_type("a30"), None);
        assert_eq!(job("cpu=1").gpus_of_type("a30"), Some(0));
    }

    /// `squeue-O-parsable.txt` was captured with StdOut last; ours ends with Name, so rebuild
    /// lines in our order from the real values.
    #[test]
    fn parses_our_format() {
        let text = "9|gpu|root|PENDING|0:00|2:00:00|1|cpu=1,mem=1G,node=1,billing=1,gres/gpu=2|normal|QOSMaxGRESPerUser|2026-11-27T11:04:32|||finetune llm | with pipe\n\
                    7|gpu|root|RUNNING|0:43|10:00|1|cpu=1,mem=1G,node=1,billing=1,gres/gpu=3|normal|None|2026-11-27T10:54:29|localhost|train-resnet50-imagenet\n";
        let jobs = parse(text);
        assert_eq!(jobs.len(), 2);
        assert_eq!(jobs[0].name, "|finetune llm | with pipe");
        assert_eq!(jobs[0].gpus, 2);
        assert_eq!(jobs[0].state, JobState::Pending);
        assert_eq!(jobs[0].reason, "QOSMaxGRESPerUser");
        assert_eq!(jobs[1].elapsed, SlurmTime::Seconds(43));
        assert_eq!(jobs[1].time_limit, SlurmTime::Seconds(600));
        assert_eq!(jobs[1].nodes, "localhost");
    }

    #[test]
    fn array_tasks_count_one_each() {
        let job = |id: &str| QueuedJob {
            id: id.into(),
            ..parse("1|gpu|root|PENDING|0:00|10:00|1|cpu=1|normal|None|N/A||x\n")[0].clone()
        };
        assert_eq!(job("17").task_count(), 1);
        assert_eq!(job("17_3").task_count(), 1);
        assert_eq!(job("17_[0-5%2]").task_count(), 6);
        assert_eq!(job("17_[1,3,5-7]").task_count(), 5);
    }

    /// Real lines of `squeue -t PD -o '%i|%x'`: a pending array's record and a job that
    /// excludes no node.
    #[test]
    fn excluded_nodes_by_job_id() {
        let line = "3774|gpu|root|PENDING|0:00|10:00|1|cpu=1|normal|None|N/A||x\n";
        let mut jobs = vec![parse(line)[0].clone(), parse(line)[0].clone()];
        jobs[0].id = "461_[1-3%2]".into();
        add_excluded_nodes(&mut jobs, &parse_excluded("461_[1-3%2]|yj[1-2]\n3774|\n"));
        let kept_off = jobs[0].excluded_nodes.as_ref().unwrap();
        assert!(kept_off.contains("yj1") && kept_off.contains("yj2"));
        assert_eq!(jobs[1].excluded_nodes, None);
    }

    /// Real lines: the account, reservation, planned nodes and features of each job, and an
    /// older capture without the reservation.
    #[test]
    fn extra_fields_by_job_id() {
        let line = "3774|gpu|root|RUNNING|0:00|10:00|1|cpu=1|normal|None|N/A|localhost|x\n";
        let mut jobs = vec![parse(line)[0].clone(), parse(line)[0].clone()];
        jobs[1].id = "3775".into();
        add_extra_fields(
            &mut jobs,
            "3774|yenlab|yj-cores\n3775|yenlab|(null)|gpu[01-02]\n",
        );
        assert_eq!(jobs[0].account.as_deref(), Some("yenlab"));
        assert_eq!(jobs[0].reservation.as_deref(), Some("yj-cores"));
        assert_eq!(jobs[0].sched_nodes, None);
        assert_eq!(jobs[1].reservation, None);
        assert_eq!(jobs[1].sched_nodes.as_deref(), Some("gpu[01-02]"));
        add_extra_fields(
            &mut jobs,
            "3774|yenlab|(null)|(null)|ampere&ib\n3775|yenlab|(null)|(null)|ampere*2\n",
        );
        assert_eq!(
            jobs[0].constraint.as_ref().map(|c| c.as_str()),
            Some("ampere&ib")
        );
        // Regression: a count (that many of the job's nodes with the feature) was not read,
        // and the job taken as free to go on any node.
        let counted = jobs[1].constraint.as_ref().expect("read");
        assert_eq!(counted.counts(), [("ampere", 2)]);
        add_extra_fields(&mut jobs, "3775|yenlab|(null)|(null)|ampere**2\n");
        assert_eq!(jobs[1].constraint, None);
        // Regression: a feature expression with `|` was cut at it, and its second half read
        // as the nodes the job named (captured: `sbatch -C 'ampere|hopper' -w yj1`).
        add_extra_fields(&mut jobs, "3774|yenlab|(null)|yj1|ampere|hopper|yj1\n");
        assert_eq!(
            jobs[0].constraint.as_ref().map(|c| c.as_str()),
            Some("ampere|hopper")
        );
        assert_eq!(jobs[0].req_nodes.as_deref(), Some("yj1"));
        // The nodes a job named, as captured (`squeue -O ...,ReqNodes:` of `sbatch -w yj1`).
        add_extra_fields(
            &mut jobs,
            "3774|yenlab|(null)|(null)|(null)|yj1\n3775|yenlab|(null)|(null)|(null)|\n",
        );
        assert_eq!(jobs[0].req_nodes.as_deref(), Some("yj1"));
        assert_eq!(jobs[1].req_nodes, None);
        add_extra_fields(&mut jobs, "3774|other\n");
        assert_eq!(jobs[0].account.as_deref(), Some("other"));
        assert_eq!(jobs[0].reservation, None);
        assert_eq!(jobs[1].account, None);
    }

    #[test]
    fn real_capture_fields_line_up() {
        // The real -O output (tres-alloc in the same position class) parses without loss.
        let real = include_str!("../../tests/fixtures/slurm-22.05/squeue-O-parsable.txt");
        for line in real.lines() {
            let f: Vec<&str> = line.split('|').collect();
            assert_eq!(f.len(), 14, "{line}");
            assert!(Tres::parse(f[10]).get("cpu").is_some(), "{line}");
        }
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "\\PC*(\n\\PC*){0,3}") {
            let _ = parse(&s);
        }
        #[test]
        fn never_panics_pipes(s in "[a-z0-9:/|=,-]{0,120}") {
            let _ = parse(&s);
        }
    }
}
