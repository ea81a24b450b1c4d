//! The pre-flight on a large cluster: how long `yenjob check` spends reading Slurm's output
//! and weighing a request when the cluster has thousands of nodes and tens of thousands of
//! jobs. Slurm's output is generated in the formats yenjob asks for (the small files come
//! from a captured scenario), then parsed and assessed as `check` does.
//!
//! `cargo run --release --example preflight_scale [NODES] [RUNNING] [PENDING]`
//! (default 2000 nodes, 20000 running jobs, 30000 pending lines); `SHOW=1` prints each
//! verdict's sentence and facts too.

use std::fmt::Write;
use std::time::Instant;

use yenjob::preflight::{self, ClusterState, Request, Throttle};
use yenjob::slurm::{assoc_mgr, clock, config, sacctmgr, scontrol, sinfo, squeue};

const SCENARIO: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/preflight/preempt-array-preempts"
);
const NOW: &str = "2026-11-29T19:14:48";
const RACK: usize = 72;

fn arg(n: usize, default: usize) -> usize {
    std::env::args()
        .nth(n)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

/// `sh03-17n05`: 72 nodes a rack, as sites name them, so that job node lists compress.
fn node_name(i: usize) -> String {
    format!("sh03-{:02}n{:02}", i / RACK + 1, i % RACK + 1)
}

/// What the generated cluster holds, before it is written as Slurm's text.
struct Cluster {
    nodes: usize,
    /// The first `gpu_nodes` nodes have 4 GPUs each (a100 or h100 by rack).
    gpu_nodes: usize,
    cpus_used: Vec<u64>,
    gpus_used: Vec<u64>,
    queue: String,
    accounts: String,
}

const CPUS: u64 = 32;
const GPUS: u64 = 4;

fn gpu_type(node: usize) -> &'static str {
    if (node / RACK).is_multiple_of(2) {
        "a100"
    } else {
        "h100"
    }
}

/// A deterministic stream of numbers (no rand crate needed for a benchmark's layout).
struct Lcg(u64);
impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % n.max(1)
    }
}

fn generate(nodes: usize, running: usize, pending: usize) -> Cluster {
    let gpu_nodes = nodes / 4;
    let mut c = Cluster {
        nodes,
        gpu_nodes,
        cpus_used: vec![0; nodes],
        gpus_used: vec![0; nodes],
        queue: String::new(),
        accounts: String::new(),
    };
    let mut rng = Lcg(42);
    let mut id = 1_000_000;
    let mut placed = 0;
    while placed < running {
        id += 1;
        // One job in ten spans a run of 2-8 nodes of a rack; the rest fit on one.
        let span = if rng.below(10) == 0 {
            2 + rng.below(7)
        } else {
            1
        };
        let first = rng.below(nodes - span);
        let wants_gpus = first < gpu_nodes && first + span <= gpu_nodes && rng.below(2) == 0;
        let (cpus, gpus) = (1 + rng.below(8) as u64, if wants_gpus { 1 } else { 0 });
        let on: Vec<usize> = (first..first + span).collect();
        if on
            .iter()
            .any(|&n| c.cpus_used[n] + cpus > CPUS || c.gpus_used[n] + gpus > GPUS)
        {
            // Full here; a real scheduler would have placed it elsewhere. Count it anyway so
            // the loop ends on a cluster that is nearly full.
            placed += 1;
            continue;
        }
        for &n in &on {
            c.cpus_used[n] += cpus;
            c.gpus_used[n] += gpus;
        }
        let partition = if gpus > 0 { "gpu" } else { "normal" };
        let list = node_list(&on);
        let limit = 3600 * (1 + rng.below(48));
        let used = rng.below(limit);
        let tres = format!(
            "cpu={},mem={}G,node={span},billing={}{}",
            cpus * span as u64,
            4 * cpus,
            cpus,
            if gpus > 0 {
                format!(",gres/gpu={}", gpus * span as u64)
            } else {
                String::new()
            }
        );
        let _ = writeln!(
            c.queue,
            "{id}|{partition}|user{}|RUNNING|{}|{}|{}|{tres}|normal|None|2026-11-29T10:00:00|{list}|job{id}",
            rng.below(500),
            hms(used),
            hms(limit),
            cpus * span as u64,
        );
        let _ = writeln!(c.accounts, "{id}|lab{}|", rng.below(50));
        placed += 1;
    }
    for k in 0..pending {
        id += 1;
        let (partition, gpus) = if k % 3 == 0 {
            ("gpu", 1 + rng.below(4))
        } else {
            ("normal", 0)
        };
        let reason = ["Priority", "Resources", "QOSMaxGRESPerUser", "Dependency"][rng.below(4)];
        // One pending line in twenty is a whole array of tasks.
        let job_id = if rng.below(20) == 0 {
            format!("{id}_[0-{}%10]", 10 + rng.below(500))
        } else {
            id.to_string()
        };
        let gres = if gpus > 0 {
            format!(",gres/gpu={gpus}")
        } else {
            String::new()
        };
        let _ = writeln!(
            c.queue,
            "{job_id}|{partition}|user{}|PENDING|0:00|1-00:00:00|4|cpu=4,mem=16G,node=1,billing=4{gres}|normal|{reason}|N/A||job{id}",
            rng.below(500),
        );
        let _ = writeln!(c.accounts, "{job_id}|lab{}|", rng.below(50));
    }
    c
}

fn hms(seconds: usize) -> String {
    format!(
        "{}:{:02}:{:02}",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    )
}

/// `sh03-01n[05-08]` for consecutive nodes of a rack, a comma list across racks.
fn node_list(on: &[usize]) -> String {
    if on.len() == 1 {
        return node_name(on[0]);
    }
    let mut groups: Vec<(usize, usize, usize)> = Vec::new(); // rack, first, last
    for &n in on {
        match groups.last_mut() {
            Some((rack, _, last)) if *rack == n / RACK && *last + 1 == n % RACK => *last += 1,
            _ => groups.push((n / RACK, n % RACK, n % RACK)),
        }
    }
    groups
        .iter()
        .map(|&(rack, first, last)| {
            if first == last {
                format!("sh03-{:02}n{:02}", rack + 1, first + 1)
            } else {
                format!("sh03-{:02}n[{:02}-{:02}]", rack + 1, first + 1, last + 1)
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

impl Cluster {
    /// `sinfo -N`: each node once per partition it is in (all are in `normal` and `owners`,
    /// the GPU nodes in `gpu` too).
    fn sinfo(&self) -> String {
        let mut out = String::new();
        for n in 0..self.nodes {
            let (used, gpus_used) = (self.cpus_used[n], self.gpus_used[n]);
            let state = match (n % 997, used) {
                (0, _) => "drained",
                (1, _) => "down*",
                (_, 0) => "idle",
                (_, u) if u == CPUS => "allocated",
                _ => "mixed",
            };
            let (gres, gres_used) = if n < self.gpu_nodes {
                let t = gpu_type(n);
                (
                    format!("gpu:{t}:{GPUS}(S:0-1)"),
                    format!("gpu:{t}:{gpus_used}(IDX:N/A)"),
                )
            } else {
                ("(null)".to_string(), "gpu:0".to_string())
            };
            let mut partitions = vec!["normal*", "owners"];
            if n < self.gpu_nodes {
                partitions.push("gpu");
            }
            for p in partitions {
                let _ = writeln!(
                    out,
                    "{}|{p}|{state}|{used}/{}/0/{CPUS}|256000|{}|{gres}|{gres_used}|",
                    node_name(n),
                    CPUS - used,
                    used * 4096,
                );
            }
        }
        out
    }

    fn partitions(&self) -> String {
        let all = format!("sh03-[01-{:02}]n[01-{RACK:02}]", self.nodes.div_ceil(RACK));
        let gpu = format!(
            "sh03-[01-{:02}]n[01-{RACK:02}]",
            self.gpu_nodes.div_ceil(RACK)
        );
        let line = |name: &str, default: &str, nodes: &str, tier: u32, mode: &str| {
            format!(
                "PartitionName={name} AllowGroups=ALL AllowAccounts=ALL AllowQos=ALL AllocNodes=ALL Default={default} QoS=N/A DefaultTime=01:00:00 DisableRootJobs=NO ExclusiveUser=NO GraceTime=0 Hidden=NO MaxNodes=UNLIMITED MaxTime=2-00:00:00 MinNodes=0 LLN=NO MaxCPUsPerNode=UNLIMITED Nodes={nodes} PriorityJobFactor=1 PriorityTier={tier} RootOnly=NO ReqResv=NO OverSubscribe=NO OverTimeLimit=NONE PreemptMode={mode} State=UP TotalCPUs=0 TotalNodes=0 SelectTypeParameters=NONE JobDefaults=(null) DefMemPerNode=UNLIMITED MaxMemPerNode=UNLIMITED\n"
            )
        };
        line("normal", "YES", &all, 1, "REQUEUE")
            + &line("gpu", "NO", &gpu, 1, "REQUEUE")
            + &line("owners", "NO", &all, 10, "OFF")
    }

    /// A maintenance window over the whole cluster tomorrow, and a core reservation on a
    /// rack now: the two kinds that make every node's check look at reservations.
    fn reservations(&self) -> String {
        let all = format!("sh03-[01-{:02}]n[01-{RACK:02}]", self.nodes.div_ceil(RACK));
        format!(
            "ReservationName=maint StartTime=2026-11-30T08:00:00 EndTime=2026-11-30T20:00:00 Duration=12:00:00 Nodes={all} NodeCnt={} CoreCnt={} Features=(null) PartitionName=(null) Flags=MAINT,SPEC_NODES TRES=cpu={} Users=root Groups=(null) Accounts=(null) Licenses=(null) State=INACTIVE BurstBuffer=(null) Watts=n/a MaxStartDelay=(null)\n\
             ReservationName=lab-cores StartTime=2026-11-29T08:00:00 EndTime=2026-11-30T08:00:00 Duration=1-00:00:00 Nodes=sh03-02n[01-{RACK:02}] NodeCnt={RACK} CoreCnt={} Features=(null) PartitionName=normal Flags=SPEC_NODES TRES=cpu={} Users=user7 Groups=(null) Accounts=(null) Licenses=(null) State=ACTIVE BurstBuffer=(null) Watts=n/a MaxStartDelay=(null)\n",
            self.nodes,
            self.nodes as u64 * CPUS,
            self.nodes as u64 * CPUS,
            RACK * 8,
            RACK * 8,
        )
    }
}

fn read(file: &str) -> String {
    std::fs::read_to_string(format!("{SCENARIO}/{file}")).unwrap_or_else(|e| {
        eprintln!("{SCENARIO}/{file}: {e}");
        std::process::exit(1)
    })
}

fn main() {
    let (nodes, running, pending) = (arg(1, 2000), arg(2, 20000), arg(3, 30000));
    let cluster = generate(nodes, running, pending);
    let texts = (
        cluster.sinfo(),
        cluster.queue.clone(),
        cluster.accounts.clone(),
        cluster.partitions(),
        cluster.reservations(),
    );
    println!(
        "{nodes} nodes ({} with GPUs), {} sinfo lines, {} squeue lines ({} KiB)",
        cluster.gpu_nodes,
        texts.0.lines().count(),
        texts.1.lines().count(),
        texts.1.len() / 1024,
    );

    let start = Instant::now();
    let mut queue = squeue::parse(&texts.1);
    squeue::add_extra_fields(&mut queue, &texts.2);
    let state = ClusterState {
        user: "root".into(),
        groups: Some(vec!["root".into()]),
        default_account: sacctmgr::parse_default_account(&read("user.txt")),
        config: config::parse(&read("config.txt")),
        partitions: scontrol::parse_partitions(&texts.3),
        nodes: sinfo::parse_nodes(&texts.0),
        qos: sacctmgr::parse_qos(&read("qos.txt")),
        associations: sacctmgr::parse_associations(&read("assoc.txt")),
        accounts: sacctmgr::parse_account_limits(&read("accounts.txt")),
        queue,
        limit_use: assoc_mgr::parse(&read("assoc-mgr.txt")),
        reservations: scontrol::parse_reservations(&texts.4),
        now: clock::parse_timestamp(NOW),
        index: Default::default(),
        not_read: Vec::new(),
    };
    println!("parse: {:.1} ms", start.elapsed().as_secs_f64() * 1e3);

    let request = |partition: &str, gpus: u64, gpu_type: Option<&str>, tasks: u64| Request {
        partition: partition.into(),
        qos: None,
        account: None,
        reservation: None,
        gpus,
        gpu_type: gpu_type.map(str::to_string),
        cpus: 4,
        mem_mib: Some(16_000),
        time_seconds: 4 * 3600,
        tasks,
        constraint: None,
        nodelist: None,
        exclude: None,
        exclusive: false,
    };
    for (what, req) in [
        ("1 GPU, partition gpu", request("gpu", 1, None, 1)),
        (
            "2 h100 GPUs, partition gpu",
            request("gpu", 2, Some("h100"), 1),
        ),
        ("CPUs only, partition normal", request("normal", 0, None, 1)),
        ("4 GPUs, partition gpu", request("gpu", 4, None, 1)),
        (
            "1 GPU, partition owners (preempts)",
            request("owners", 1, None, 1),
        ),
        (
            "array of 200 tasks, 1 GPU each",
            request("gpu", 1, None, 200),
        ),
    ] {
        let start = Instant::now();
        let verdict = if req.tasks > 1 {
            let throttle = Some(Throttle {
                limit: 50,
                because: "%50".into(),
            });
            preflight::assess_array(&req, throttle, &state)
        } else {
            preflight::assess(&req, &state)
        };
        println!(
            "{what}: {:.1} ms, {}",
            start.elapsed().as_secs_f64() * 1e3,
            verdict.headline()
        );
        if std::env::var_os("SHOW").is_some() {
            println!("  {}", verdict.message);
            if let Some(start) = &verdict.expected_start {
                println!("  {}", start.sentence());
            }
            if let Some(timeline) = verdict.array.as_ref().and_then(|a| a.timeline.as_ref()) {
                println!("  {}", timeline.sentence());
            }
            for fact in &verdict.facts {
                println!("  - {fact}");
            }
        }
    }
}
