//! The context lines shown above a verdict: the partition, each QOS that applies with its
//! limits and what the user holds under it, and the request.

use crate::slurm::clock;
use crate::slurm::config::PreemptType;
use crate::slurm::duration::{SlurmTime, format_seconds};
use crate::slurm::sacctmgr::MinutesLimits;
use crate::slurm::scontrol::{OverSubscribe, PartitionState};
use crate::slurm::tres::Tres;

use super::reserved::Kept;
use super::rules::job_qos;
use super::usage;
use super::words;
use super::{ClusterState, Request};

pub fn facts(req: &Request, state: &ClusterState) -> Vec<String> {
    let mut facts = Vec::new();
    let Some(p) = state.partition(&req.partition) else {
        return facts;
    };
    let nodes: Vec<_> = state.nodes_of(&p.name).collect();
    let gpus_total: u64 = nodes.iter().map(|n| n.gpus_total).sum();
    let gpus_free: u64 = nodes.iter().map(|n| n.free_gpus_of(None)).sum();
    let cpus_idle: u64 = nodes.iter().map(|n| n.cpus_idle).sum();
    let cpus_total: u64 = nodes.iter().map(|n| n.cpus_total).sum();
    // The GPUs of each type in the partition together.
    let mut of_type: std::collections::BTreeMap<&str, u64> = Default::default();
    for (t, count) in nodes.iter().flat_map(|n| &n.gpu_types) {
        *of_type.entry(t).or_default() += count;
    }
    let types: Vec<String> = of_type.iter().map(|(t, c)| format!("{c}×{t}")).collect();
    let typed = if types.is_empty() {
        String::new()
    } else {
        format!(" ({})", types.join(", "))
    };
    let shown_state = match &p.state {
        PartitionState::Up => String::new(),
        other => format!(" ({other})"),
    };
    let max_mem = match (p.max_mem_per_node_mib, p.max_mem_per_cpu_mib) {
        (Some(m), _) => format!(", max memory {m} MiB a node"),
        (None, Some(m)) => format!(", max memory {m} MiB a CPU"),
        (None, None) => String::new(),
    };
    let rules: String = [
        (p.min_nodes > 1).then(|| format!("MinNodes {}", p.min_nodes)),
        p.max_nodes.map(|n| format!("MaxNodes {n}")),
        p.requires_reservation.then(|| "ReqResv".to_string()),
        p.root_only.then(|| "RootOnly".to_string()),
        p.no_root_jobs.then(|| "DisableRootJobs".to_string()),
        match p.oversubscribe {
            OverSubscribe::No => None,
            OverSubscribe::Exclusive => Some("OverSubscribe=EXCLUSIVE".to_string()),
            OverSubscribe::Yes(n) => Some(format!(
                "OverSubscribe=YES:{n} (CPUs shared only by jobs that ask, with --oversubscribe; yenjob's do not)"
            )),
            OverSubscribe::Force(n) => Some(format!(
                "OverSubscribe=FORCE:{n} (up to {n} of its jobs share each CPU)"
            )),
        },
        p.exclusive_user.then(|| "ExclusiveUser".to_string()),
    ]
    .into_iter()
    .flatten()
    .map(|rule| format!(", {rule}"))
    .collect();
    facts.push(format!(
        "partition {}{shown_state}: {}, {gpus_free} of {}{typed} free, {cpus_idle} of {} idle, max time {}{max_mem}{rules}, QOS {}; EnforcePartLimits {}",
        p.name,
        words::count(nodes.len() as u64, "node"),
        words::count(gpus_total, "GPU"),
        words::count(cpus_total, "CPU"),
        p.max_time,
        p.qos.as_deref().unwrap_or("none"),
        state.config.enforce_part_limits
    ));
    let choices: Vec<String> = [
        req.nodelist.as_ref().map(|n| format!("nodelist {n}")),
        req.constraint.as_ref().map(|c| format!("constraint {c}")),
        req.exclude.as_ref().map(|x| format!("exclude {x}")),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !choices.is_empty() {
        let fitting: Vec<&str> = state.nodes_for(req).map(|n| n.node.as_str()).collect();
        let named = match fitting.len() {
            0 => String::new(),
            _ => format!(": {}", crate::slurm::hostlist::abridged(&fitting, 8)),
        };
        facts.push(format!(
            "{}: {} of partition {}'s {} match {}{named}",
            choices.join(", "),
            fitting.len(),
            p.name,
            words::count(nodes.len() as u64, "node"),
            if choices.len() == 1 { "it" } else { "them" }
        ));
    }
    let above: Vec<String> = state
        .preempted_by(p)
        .iter()
        .map(|q| format!("{} (PriorityTier {})", q.name, q.priority_tier))
        .collect();
    if !above.is_empty() {
        let mode = p
            .preempt_mode
            .as_deref()
            .map(|m| format!(", PreemptMode {m}"))
            .unwrap_or_default();
        facts.push(format!(
            "jobs of partition {} (PriorityTier {}{mode}) may be preempted by jobs of partition {}; a requeued yenjob run resumes from its last checkpoint",
            p.name,
            p.priority_tier,
            above.join(", ")
        ));
    }
    if let PreemptType::Other(plugin) = &state.config.preempt_type {
        facts.push(format!(
            "PreemptType is {plugin}: which jobs this one could preempt, or be preempted by, is not weighed"
        ));
    }
    let job_qos_name = job_qos(req, state);
    let qos_above = state.qos_preempted_by(&job_qos_name);
    if !qos_above.is_empty() {
        facts.push(format!(
            "jobs under QOS {job_qos_name} may be preempted by jobs under QOS {} (their Preempt list names it); a requeued yenjob run resumes from its last checkpoint",
            qos_above.join(", ")
        ));
    }
    for r in &state.reservations {
        let here: Vec<&str> = nodes
            .iter()
            .filter(|n| r.nodes.contains(&n.node))
            .map(|n| n.node.as_str())
            .collect();
        let ended = matches!((r.end, state.now), (Some(end), Some(now)) if end <= now);
        if here.is_empty() || ended {
            continue;
        }
        let when = match (r.start, r.end) {
            (Some(start), Some(end)) => {
                let now = state.now.unwrap_or(start);
                format!(
                    " from {} to {}",
                    clock::when(start, now),
                    clock::when(end, now)
                )
            }
            _ => String::new(),
        };
        let kind = if r.is_maintenance() {
            " (maintenance)"
        } else {
            ""
        };
        let cores: u64 = nodes
            .iter()
            .filter_map(|n| match state.kept(r, n) {
                Kept::Cpus(cpus) => Some(cpus),
                Kept::Nothing | Kept::WholeNode => None,
            })
            .sum();
        let part = if cores > 0 {
            format!("{} of ", words::count(cores, "CPU"))
        } else {
            String::new()
        };
        facts.push(format!(
            "reservation {}{kind}{when} on {part}{}",
            r.name,
            node_names(&here, nodes.len(), &p.name)
        ));
    }
    let mut names = vec![p.qos.clone(), Some(job_qos(req, state))];
    names.dedup();
    for q in names.iter().flatten().filter_map(|n| state.qos_named(n)) {
        let mut parts = Vec::new();
        if !q.max_tres_per_user.is_empty() {
            parts.push(format!("MaxTRESPU {}", tres_text(&q.max_tres_per_user)));
        }
        if !q.max_tres_per_job.is_empty() {
            parts.push(format!("MaxTRESPerJob {}", tres_text(&q.max_tres_per_job)));
        }
        if let Some(n) = q.max_jobs_per_user {
            parts.push(format!("MaxJobsPU {n}"));
        }
        if let Some(n) = q.max_submit_per_user {
            parts.push(format!("MaxSubmitPU {n}"));
        }
        if q.max_wall != SlurmTime::NotSet {
            parts.push(format!("MaxWall {}", q.max_wall));
        }
        if q.grp_wall != SlurmTime::NotSet {
            parts.push(format!("GrpWall {}", q.grp_wall));
        }
        if !q.grp_tres.is_empty() {
            parts.push(format!("GrpTRES {}", tres_text(&q.grp_tres)));
        }
        if let Some(n) = q.grp_submit {
            parts.push(format!("GrpSubmit {n}"));
        }
        if !q.max_tres_per_account.is_empty() {
            parts.push(format!("MaxTRESPA {}", tres_text(&q.max_tres_per_account)));
        }
        if let Some(n) = q.max_jobs_per_account {
            parts.push(format!("MaxJobsPA {n}"));
        }
        if let Some(n) = q.max_submit_per_account {
            parts.push(format!("MaxSubmitPA {n}"));
        }
        if !q.min_tres_per_job.is_empty() {
            parts.push(format!("MinTRES {}", tres_text(&q.min_tres_per_job)));
        }
        parts.extend(minutes_parts(&q.minutes, usage::MinutesOf::Qos(q), state));
        if !q.flags.is_empty() {
            parts.push(format!("Flags {}", q.flags.join(",")));
        }
        let limits = if parts.is_empty() {
            "no limits".to_string()
        } else {
            parts.join(", ")
        };
        let held = usage::held_by_user(q, state);
        let account = usage::account_of(req, state)
            .filter(|_| q.limits_accounts())
            .map(|account| {
                let held = usage::held_by_account(q, account, state);
                format!(
                    "; the users of account {account} have {} running ({}) and {} pending under it",
                    held.running_jobs,
                    words::count(held.tres.gpus(), "GPU"),
                    held.submitted_jobs.saturating_sub(held.running_jobs)
                )
            })
            .unwrap_or_default();
        facts.push(format!(
            "QOS {}: {limits}; you have {} running ({}) and {} pending under it{account}",
            q.name,
            held.running_jobs,
            words::count(held.tres.gpus(), "GPU"),
            held.submitted_jobs.saturating_sub(held.running_jobs)
        ));
    }
    let chain = usage::account_of(req, state)
        .map(|a| usage::account_chain(a, state))
        .unwrap_or_default();
    for a in chain.into_iter().filter(|a| a.has_limits()) {
        let mut parts = Vec::new();
        if !a.grp_tres.is_empty() {
            parts.push(format!("GrpTRES {}", tres_text(&a.grp_tres)));
        }
        if let Some(n) = a.grp_jobs {
            parts.push(format!("GrpJobs {n}"));
        }
        if let Some(n) = a.grp_submit {
            parts.push(format!("GrpSubmit {n}"));
        }
        if a.grp_wall != SlurmTime::NotSet {
            parts.push(format!("GrpWall {}", a.grp_wall));
        }
        parts.extend(minutes_parts(
            &a.minutes,
            usage::MinutesOf::Account(&a.account),
            state,
        ));
        let held = usage::held_in_account(&a.account, state);
        facts.push(format!(
            "account {} (shared by its users): {}; they have {} running ({}) and {} pending",
            a.account,
            parts.join(", "),
            held.running_jobs,
            words::count(held.tres.gpus(), "GPU"),
            held.submitted_jobs.saturating_sub(held.running_jobs)
        ));
    }
    let gpus = words::count(req.gpus, &words::gpu(req.gpu_type.as_deref()));
    let mem = usage::memory_of(req, state)
        .map(|m| {
            let default = if req.mem_mib.is_none() {
                " by default"
            } else {
                ""
            };
            format!(", {m} MiB{default}")
        })
        .unwrap_or_default();
    let cpus = usage::cpus_of(req, state);
    let raised = match p.max_mem_per_cpu_mib {
        Some(per_cpu) if cpus > req.cpus => format!(
            " (Slurm gives it {cpus}: partition {} allows {per_cpu} MiB per CPU, MaxMemPerCPU)",
            p.name
        ),
        _ => String::new(),
    };
    let whole_node = req
        .exclusive
        .then(|| usage::whole_node_for(req, state))
        .flatten();
    let whole = match whole_node {
        Some(node) => {
            let t = usage::whole_node_tres(req, state, node);
            format!(
                ", on a node of its own (`exclusive`: on {} Slurm gives it {}, {} and {} MiB, and limits count those)",
                node.node,
                words::count(t.get("cpu").unwrap_or(0), "CPU"),
                words::count(t.gpus(), "GPU"),
                t.get("mem").unwrap_or(0)
            )
        }
        _ => String::new(),
    };
    facts.push(format!(
        "this job asks for {gpus}, {}{raised}{mem}, {}{whole}",
        words::count(req.cpus, "CPU"),
        format_seconds(req.time_seconds)
    ));
    facts
}

/// A QOS's or an account's TRES-minutes limits, each with what counts against it now.
fn minutes_parts(
    limits: &MinutesLimits,
    of: usage::MinutesOf,
    state: &ClusterState,
) -> Vec<String> {
    let mut parts = Vec::new();
    if !limits.max_tres_mins_per_job.is_empty() {
        parts.push(format!(
            "MaxTRESMins {}",
            tres_text(&limits.max_tres_mins_per_job)
        ));
    }
    if !limits.grp_tres_run_mins.is_empty() {
        parts.push(format!(
            "GrpTRESRunMins {} (held by running jobs: {})",
            tres_text(&limits.grp_tres_run_mins),
            or_none(tres_text(&usage::run_minutes_held(of, state)))
        ));
    }
    if !limits.grp_tres_mins.is_empty() {
        // A budget of TRES-minutes used so far, which only the controller counts.
        let used = match usage::minutes_used(of, state) {
            Some(used) => format!("used so far: {}", or_none(tres_text(used))),
            None if state.limit_use.is_empty() => {
                "use so far unknown: `scontrol show assoc_mgr` could not be read".into()
            }
            None => "use so far unknown: the controller does not show it to you".into(),
        };
        parts.push(format!(
            "GrpTRESMins {} ({used})",
            tres_text(&limits.grp_tres_mins)
        ));
    }
    parts
}

fn tres_text(t: &Tres) -> String {
    t.in_slurm_order()
        .into_iter()
        .map(|(k, v)| {
            if k == "mem" {
                format!("{k}={v}M")
            } else {
                format!("{k}={v}")
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// `none` for an empty list.
fn or_none(list: String) -> String {
    if list.is_empty() {
        "none".to_string()
    } else {
        list
    }
}

/// A few nodes by name; many as a count, as a maintenance window may hold thousands.
fn node_names(here: &[&str], of: usize, partition: &str) -> String {
    const NAMED: usize = 6;
    match here.len() {
        n if n <= NAMED => here.join(", "),
        n if n == of => format!("all {n} nodes of partition {partition}"),
        n => format!(
            "{n} of the {of} nodes of partition {partition} ({}, ...)",
            here[..NAMED / 2].join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::slurm::{scontrol, sinfo};

    /// A partition of many nodes: its GPUs are summed by type, and a reservation of many of
    /// them is a count, not thousands of names.
    #[test]
    fn a_large_partition_in_few_words() {
        let mut nodes = String::new();
        for i in 1..=40 {
            let t = if i <= 30 { "a100" } else { "h100" };
            nodes.push_str(&format!(
                "n{i}|gpu|idle|0/8/0/8|64000|0|gpu:{t}:4|gpu:{t}:0|\n"
            ));
        }
        let state = ClusterState {
            nodes: sinfo::parse_nodes(&nodes),
            partitions: scontrol::parse_partitions("PartitionName=gpu Nodes=n[1-40] State=UP\n"),
            reservations: scontrol::parse_reservations(
                "ReservationName=maint Nodes=n[1-40] Flags=MAINT\n\
                 ReservationName=lab Nodes=n[1-10]\n\
                 ReservationName=two Nodes=n[1-2]\n",
            ),
            ..ClusterState::default()
        };
        let req = Request {
            gpus: 1,
            ..Request::plain("gpu", 1, 600)
        };
        let facts = facts(&req, &state);
        let has = |text: &str| facts.iter().any(|f| f.contains(text));
        assert!(
            has("160 of 160 GPUs (120×a100, 40×h100) free"),
            "{facts:#?}"
        );
        assert!(has("on all 40 nodes of partition gpu"), "{facts:#?}");
        assert!(
            has("on 10 of the 40 nodes of partition gpu (n1, n2, n3, ...)"),
            "{facts:#?}"
        );
        assert!(has("reservation two on n1, n2"), "{facts:#?}");
    }
}
