//! `scontrol show assoc_mgr flags=qos`: what the controller counts against each QOS's
//! TRES-minutes limits, which neither `sacctmgr` nor `squeue` shows. Read only when a QOS has
//! GrpTRESMins or GrpTRESRunMins.

use super::tres::Tres;

/// The format's lines for one QOS are `QOS=gpu(2)`, then indented `Key=value` lines; a TRES
/// counter reads `cpu=N(60),gres/gpu=100(60)`: the limit (`N` for none), then in brackets
/// what is counted against it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QosUsage {
    pub name: String,
    /// GrpTRESMins' use so far, in TRES-minutes (it decays with time).
    pub tres_mins_used: Tres,
    /// GrpTRESRunMins' count: the running jobs' TRES times their time left, in TRES-minutes.
    pub tres_run_mins: Tres,
}

pub fn parse_qos_usage(text: &str) -> Vec<QosUsage> {
    let mut all: Vec<QosUsage> = Vec::new();
    for line in text.lines().map(str::trim) {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        match key {
            "QOS" => all.push(QosUsage {
                name: value.split('(').next().unwrap_or(value).to_string(),
                ..QosUsage::default()
            }),
            "GrpTRESMins" => {
                if let Some(q) = all.last_mut() {
                    q.tres_mins_used = counted(value);
                }
            }
            "GrpTRESRunMins" => {
                if let Some(q) = all.last_mut() {
                    q.tres_run_mins = counted(value);
                }
            }
            _ => {}
        }
    }
    all
}

/// `cpu=N(60),gres/gpu=100(60)` → cpu=60, gres/gpu=60: the counts in brackets.
fn counted(value: &str) -> Tres {
    let mut t = Tres::default();
    for entry in value.split(',') {
        let Some((name, rest)) = entry.split_once('=') else {
            continue;
        };
        let Some(count) = rest
            .split_once('(')
            .and_then(|(_, c)| c.strip_suffix(')'))
            .and_then(|c| c.parse::<f64>().ok())
        else {
            continue;
        };
        if count > 0.0 {
            // Whole TRES-minutes, as Slurm compares them.
            t.0.insert(name.trim().to_string(), count as u64);
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_from_real_output() {
        // Captured on CI's cluster after a 1-GPU job of 30 minutes started under QOS gpu.
        let real = "Current Association Manager state\n\nQOS Records\n\nQOS=normal(1)\n    UsageRaw=0.000000\n    GrpTRESMins=cpu=N(0),mem=N(0),energy=N(0),node=N(0),billing=N(0),fs/disk=N(0),vmem=N(0),pages=N(0),gres/gpu=N(0)\n    GrpTRESRunMins=cpu=N(0),mem=N(0),energy=N(0),node=N(0),billing=N(0),fs/disk=N(0),vmem=N(0),pages=N(0),gres/gpu=N(0)\nQOS=gpu(2)\n    UsageRaw=0.000000\n    GrpJobs=N(0) GrpJobsAccrue=N(0) GrpSubmitJobs=N(0) GrpWall=N(0.00)\n    GrpTRES=cpu=N(0),mem=N(0),energy=N(0),node=N(0),billing=N(0),fs/disk=N(0),vmem=N(0),pages=N(0),gres/gpu=N(0)\n    GrpTRESMins=cpu=N(0),mem=N(0),energy=N(0),node=N(0),billing=N(0),fs/disk=N(0),vmem=N(0),pages=N(0),gres/gpu=0(0)\n    GrpTRESRunMins=cpu=N(60),mem=N(61440),energy=N(0),node=N(60),billing=N(60),fs/disk=N(0),vmem=N(0),pages=N(0),gres/gpu=100(60)\n    MaxWallPJ=1440\n";
        let all = parse_qos_usage(real);
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].name, "normal");
        assert!(all[0].tres_run_mins.is_empty());
        let gpu = &all[1];
        assert_eq!(gpu.name, "gpu");
        assert_eq!(gpu.tres_run_mins.get("gres/gpu"), Some(60));
        assert_eq!(gpu.tres_run_mins.get("cpu"), Some(60));
        assert_eq!(gpu.tres_mins_used.get("gres/gpu"), None);
    }

    #[test]
    fn odd_lines_are_skipped() {
        assert!(parse_qos_usage("GrpTRESMins=cpu=N(5)\nnonsense\n").is_empty());
        let q = &parse_qos_usage("QOS=x(9)\nGrpTRESMins=cpu=N(oops),gres/gpu=3(2.7)\n")[0];
        assert_eq!(q.tres_mins_used.get("cpu"), None);
        assert_eq!(q.tres_mins_used.get("gres/gpu"), Some(2));
    }
}
