//! `sinfo -N -O ...`: one line per node and partition, with its CPUs, memory, GPUs and
//! features.

use std::collections::BTreeMap;

use super::constraint::Constraint;

/// The exact format we ask for; the parser below expects these fields in this order.
pub const NODE_FORMAT: &str = "NodeList:|,Partition:|,StateLong:|,CPUsState:|,Memory:|,AllocMem:|,Gres:|,GresUsed:|,Features:|,Weight:|";

#[derive(Debug, Clone, PartialEq)]
pub struct NodeRow {
    pub node: String,
    /// Without the `*` sinfo puts on the default partition.
    pub partition: String,
    pub state: String,
    pub cpus_allocated: u64,
    pub cpus_idle: u64,
    pub cpus_total: u64,
    pub memory_mib: u64,
    pub memory_allocated_mib: u64,
    pub gpus_total: u64,
    pub gpus_used: u64,
    /// GPUs of each type in the node's Gres (`a30` → 4); empty for untyped GPUs.
    pub gpu_types: BTreeMap<String, u64>,
    /// GPUs of each type in use.
    pub gpu_types_used: BTreeMap<String, u64>,
    /// The node's features (`ampere`, `ib`), what `--constraint` is matched against; empty
    /// without any, or in output saved before yenjob asked for them.
    pub features: Vec<String>,
    /// Its scheduling Weight: of the nodes with room for a job, Slurm gives it the lightest,
    /// the first listed of equals. 1, Slurm's default, in output saved before yenjob asked.
    pub weight: u64,
}

impl NodeRow {
    /// GPUs of `gpu_type` (any type for `None`) this node has in all.
    pub fn gpus_of(&self, gpu_type: Option<&str>) -> u64 {
        match gpu_type {
            None => self.gpus_total,
            Some(t) => self.gpu_types.get(t).copied().unwrap_or(0),
        }
    }

    /// GPUs of `gpu_type` (any type for `None`) free now.
    pub fn free_gpus_of(&self, gpu_type: Option<&str>) -> u64 {
        match gpu_type {
            None => self.gpus_total.saturating_sub(self.gpus_used),
            Some(t) => self
                .gpus_of(Some(t))
                .saturating_sub(self.gpu_types_used.get(t).copied().unwrap_or(0)),
        }
    }

    /// The node as a job that asks for GPUs of `gpu_type` sees it, where it has GPUs of
    /// other types too: only those of that type are its GPUs, in all and in use.
    pub fn of_type(&self, gpu_type: &str) -> NodeRow {
        let total = self.gpus_of(Some(gpu_type));
        let used = self.gpu_types_used.get(gpu_type).copied().unwrap_or(0);
        NodeRow {
            gpus_total: total,
            gpus_used: used,
            gpu_types: BTreeMap::from([(gpu_type.to_string(), total)]),
            gpu_types_used: BTreeMap::from([(gpu_type.to_string(), used)]),
            ..self.clone()
        }
    }

    /// Whether it has the features `constraint` asks for (any node, without one).
    pub fn has_features(&self, constraint: Option<&Constraint>) -> bool {
        constraint.is_none_or(|c| c.matches(&self.features))
    }

    /// Up, and kept for a reservation: usable by jobs that run in it.
    pub fn is_reserved(&self) -> bool {
        self.state.eq_ignore_ascii_case("reserved")
    }

    /// Usable, or kept for a reservation that ends: a job may be planned on it around the
    /// reservations read.
    pub fn is_up(&self) -> bool {
        self.is_usable() || self.is_reserved()
    }

    /// States in which a node can take new work.
    pub fn is_usable(&self) -> bool {
        let s = self.state.to_ascii_lowercase();
        let bad = [
            "down",
            "drain",
            "fail",
            "maint",
            "reserved",
            "unknown",
            "not_responding",
            "future",
            "power",
        ];
        !bad.iter().any(|b| s.contains(b)) && !s.ends_with('*')
    }
}

/// Parses the output of `sinfo -h -N -O NODE_FORMAT`; lines that do not fit are skipped.
/// The rows come lightest first, and in sinfo's order among equals: the order in which Slurm
/// tries nodes for a job, so that the first with room is the one it would take.
pub fn parse_nodes(text: &str) -> Vec<NodeRow> {
    let mut rows: Vec<NodeRow> = text.lines().filter_map(parse_node_line).collect();
    rows.sort_by_key(|n| n.weight);
    rows
}

fn parse_node_line(line: &str) -> Option<NodeRow> {
    let f: Vec<&str> = line.split('|').map(str::trim).collect();
    if f.len() < 8 || f[0].is_empty() {
        return None;
    }
    let cpus: Vec<u64> = f[3].split('/').filter_map(|n| n.parse().ok()).collect();
    let [cpus_allocated, cpus_idle, _other, cpus_total] = cpus.as_slice() else {
        return None;
    };
    let (gpus_total, gpu_types) = count_gpus(f[6]);
    let (gpus_used, gpu_types_used) = count_gpus(f[7]);
    Some(NodeRow {
        node: f[0].to_string(),
        partition: f[1].trim_end_matches('*').to_string(),
        state: f[2].to_string(),
        cpus_allocated: *cpus_allocated,
        cpus_idle: *cpus_idle,
        cpus_total: *cpus_total,
        memory_mib: f[4].parse().unwrap_or(0),
        memory_allocated_mib: f[5].parse().unwrap_or(0),
        gpus_total,
        gpus_used,
        gpu_types,
        gpu_types_used,
        features: f.get(8).map_or_else(Vec::new, |list| features(list)),
        weight: f.get(9).and_then(|w| w.parse().ok()).unwrap_or(1),
    })
}

/// `ampere,ib`; `(null)` for none.
fn features(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|f| !f.is_empty() && *f != "(null)")
        .map(str::to_string)
        .collect()
}

/// Counts the GPUs in a Gres string: `gpu:4`, `gpu:a30:4(S:0)`, `gpu:a30:2(IDX:0,2),gpu:v100:1`,
/// `gpu:0(IDX:N/A)`, `(null)`. Returns the count and the count of each GPU type named.
pub fn count_gpus(gres: &str) -> (u64, BTreeMap<String, u64>) {
    let mut total = 0;
    let mut types = BTreeMap::new();
    for item in split_outside_parens(gres) {
        let bare = item.split('(').next().unwrap_or("").trim();
        let parts: Vec<&str> = bare.split(':').collect();
        if parts.first() != Some(&"gpu") {
            continue;
        }
        let (typ, count) = match parts.as_slice() {
            ["gpu"] => (None, Some(1)),
            ["gpu", n] => match n.parse::<u64>() {
                Ok(n) => (None, Some(n)),
                Err(_) => (Some(*n), Some(1)),
            },
            ["gpu", t, n, ..] => (Some(*t), n.parse::<u64>().ok()),
            _ => (None, None),
        };
        let n = count.unwrap_or(0);
        total += n;
        if let Some(t) = typ {
            *types.entry(t.to_string()).or_insert(0) += n;
        }
    }
    (total, types)
}

fn split_outside_parens(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth <= 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    const REAL: &str = include_str!("../../tests/fixtures/slurm-22.05/sinfo-p-gpu-N-O-pipe.txt");

    #[test]
    fn node_from_real_output() {
        let rows = parse_nodes(REAL);
        assert_eq!(rows.len(), 1);
        let n = &rows[0];
        assert_eq!(n.node, "localhost");
        assert_eq!(n.partition, "gpu");
        assert_eq!((n.cpus_allocated, n.cpus_idle, n.cpus_total), (2, 0, 2));
        assert_eq!((n.gpus_total, n.gpus_used), (4, 4));
        assert_eq!(n.memory_mib, 24105);
        assert!(n.is_usable());
    }

    #[test]
    fn typed_and_untyped_gres() {
        assert_eq!(count_gpus("gpu:4"), (4, BTreeMap::new()));
        assert_eq!(
            count_gpus("gpu:a30:4(S:0)"),
            (4, BTreeMap::from([("a30".to_string(), 4)]))
        );
        let (n, types) = count_gpus("gpu:a30:2(IDX:0,2),gpu:v100:1(IDX:3)");
        assert_eq!((n, types["a30"], types["v100"]), (3, 2, 1));
        assert_eq!(count_gpus("gpu:0(IDX:N/A)").0, 0);
        assert_eq!(count_gpus("(null)").0, 0);
        assert_eq!(count_gpus("gpu:a30:4(S:0),mps:100").0, 4);
    }

    /// Captured on the typed shape with one a30 in use.
    #[test]
    fn typed_node_counts_by_type() {
        let rows =
            parse_nodes("localhost|gpu|mixed|1/7/0/8|16000|1024|gpu:a30:4|gpu:a30:1(IDX:0)|\n");
        let n = &rows[0];
        assert_eq!((n.gpus_total, n.gpus_used), (4, 1));
        assert_eq!(n.free_gpus_of(Some("a30")), 3);
        assert_eq!(n.free_gpus_of(Some("v100")), 0);
        assert_eq!(n.free_gpus_of(None), 3);
    }

    /// Captured on the multi shape: features after the GPUs; `(null)` for a node without any.
    #[test]
    fn features_of_each_node() {
        let rows = parse_nodes(
            "yj1|gpu|idle|0/2/0/2|24105|0|gpu:2|gpu:0(IDX:N/A)|ampere,ib|\nn2|gpu|idle|0/2/0/2|1000|0|gpu:2|gpu:0|(null)|\n",
        );
        assert_eq!(rows[0].features, ["ampere", "ib"]);
        assert!(rows[1].features.is_empty());
        // Saved before the column was asked for.
        assert!(parse_nodes(REAL)[0].features.is_empty());
    }

    /// Captured in `multi-weight-*`: Slurm plans a job on the lightest of the nodes that free
    /// together, so the rows come in that order, sinfo's among equals.
    #[test]
    fn rows_come_lightest_first() {
        let row = |node: &str, weight: &str| {
            format!("{node}|gpu|idle|0/2/0/2|1000|0|gpu:2|gpu:0|(null)|{weight}|\n")
        };
        let text = [row("yj1", "10"), row("yj2", "1"), row("yj3", "1")].concat();
        let rows = parse_nodes(&text);
        let order: Vec<(&str, u64)> = rows.iter().map(|n| (n.node.as_str(), n.weight)).collect();
        assert_eq!(order, [("yj2", 1), ("yj3", 1), ("yj1", 10)]);
        // Saved before the column was asked for: Slurm's default.
        assert_eq!(parse_nodes(REAL)[0].weight, 1);
    }

    #[test]
    fn default_partition_star_and_bad_states() {
        let rows = parse_nodes("n1|normal*|drained|0/2/0/2|1000|0|gpu:2|gpu:0|\n");
        assert_eq!(rows[0].partition, "normal");
        assert!(!rows[0].is_usable());
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "\\PC*(\n\\PC*){0,3}") {
            let _ = parse_nodes(&s);
            let _ = count_gpus(&s);
        }

        #[test]
        fn never_panics_on_pipe_rich_lines(s in "[a-z0-9:/|(),*]{0,80}") {
            let _ = parse_nodes(&s);
        }
    }
}
