//! TRES strings: `cpu=2,gres/gpu:a30=2,mem=8G,node=1`, as in QOS limits and job allocations.

use std::collections::BTreeMap;

/// Trackable resources by name. Memory is in MiB. Each name is its own counter, as in Slurm:
/// a typed allocation reads `gres/gpu=1,gres/gpu:a30=1` and counts once toward each, so
/// `gres/gpu` is never the sum of the typed entries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tres(pub BTreeMap<String, u64>);

impl Tres {
    /// Parses a TRES list; entries that are not `name=count` are skipped (Slurm adds new ones).
    pub fn parse(text: &str) -> Tres {
        let mut map = BTreeMap::new();
        for entry in text.split(',') {
            let Some((name, value)) = entry.trim().split_once('=') else {
                continue;
            };
            let name = name.trim();
            let Some(count) = parse_count(name, value.trim()) else {
                continue;
            };
            *map.entry(name.to_string()).or_insert(0) += count;
        }
        Tres(map)
    }

    pub fn get(&self, name: &str) -> Option<u64> {
        self.0.get(name).copied()
    }

    pub fn gpus(&self) -> u64 {
        self.get("gres/gpu").unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The entries in the order Slurm checks limits: its fixed TRES first (cpu, mem, energy,
    /// node, billing), then the others by name, so `gres/gpu` comes before `gres/gpu:a30`.
    pub fn in_slurm_order(&self) -> Vec<(&str, u64)> {
        let mut entries: Vec<(&str, u64)> = self.0.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        entries.sort_by_key(|(name, _)| (slurm_rank(name), *name));
        entries
    }

    /// `self + other`, name by name.
    pub fn plus(&self, other: &Tres) -> Tres {
        let mut sum = self.clone();
        sum.add(other);
        sum
    }

    /// Adds `other` to `self`, name by name.
    pub fn add(&mut self, other: &Tres) {
        for (k, v) in &other.0 {
            match self.0.get_mut(k) {
                Some(count) => *count += v,
                None => {
                    self.0.insert(k.clone(), *v);
                }
            }
        }
    }
}

/// Position of a TRES in Slurm's own array (`assoc_mgr_tres_array`).
fn slurm_rank(name: &str) -> usize {
    [
        "cpu", "mem", "energy", "node", "billing", "fs/disk", "vmem", "pages",
    ]
    .iter()
    .position(|n| *n == name)
    .unwrap_or(8)
}

/// A count, with memory suffixes turned into MiB.
fn parse_count(name: &str, value: &str) -> Option<u64> {
    if name == "mem" || name.ends_with("mem") {
        return parse_mem_mib(value);
    }
    value.parse().ok()
}

/// `8G` → 8192, `1024M` → 1024, `24105M`, `2T`, plain numbers are MiB.
pub fn parse_mem_mib(value: &str) -> Option<u64> {
    let value = value.trim();
    let (digits, unit) = match value
        .char_indices()
        .find(|(_, c)| !c.is_ascii_digit() && *c != '.')
    {
        Some((i, _)) => value.split_at(i),
        None => (value, ""),
    };
    let n: f64 = digits.parse().ok()?;
    let mib = match unit.to_ascii_uppercase().as_str() {
        "" | "M" => n,
        "K" => n / 1024.0,
        "G" => n * 1024.0,
        "T" => n * 1024.0 * 1024.0,
        _ => return None,
    };
    (mib.is_finite() && mib >= 0.0).then_some(mib.round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_real_tres_strings() {
        let t = Tres::parse("cpu=1,mem=1G,node=1,billing=1,gres/gpu=2");
        assert_eq!(t.get("cpu"), Some(1));
        assert_eq!(t.get("mem"), Some(1024));
        assert_eq!(t.gpus(), 2);
        let typed = Tres::parse("cpu=2,gres/gpu:a30=2,mem=8G");
        assert_eq!(
            typed.gpus(),
            0,
            "a typed entry alone is not the untyped count"
        );
        assert_eq!(typed.get("gres/gpu:a30"), Some(2));
        assert_eq!(Tres::parse("gres/gpu=4").gpus(), 4);
        assert!(Tres::parse("").is_empty());
        assert_eq!(
            Tres::parse("cpu=2,mem=24105M,node=1,billing=2,gres/gpu=4").get("mem"),
            Some(24105)
        );
    }

    /// A running typed job, as squeue's tres-alloc prints it (typed-gpus-counted-once):
    /// one GPU, not two.
    #[test]
    fn typed_allocation_counts_once() {
        let t = Tres::parse("cpu=1,mem=1G,node=1,billing=1,gres/gpu=1,gres/gpu:a30=1");
        assert_eq!(t.gpus(), 1);
        assert_eq!(t.get("gres/gpu:a30"), Some(1));
    }

    #[test]
    fn slurm_order() {
        let t = Tres::parse("gres/gpu:a30=1,node=1,gres/gpu=2,mem=4000M,cpu=4,billing=1");
        let names: Vec<&str> = t.in_slurm_order().into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            ["cpu", "mem", "node", "billing", "gres/gpu", "gres/gpu:a30"]
        );
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "\\PC*") {
            let _ = Tres::parse(&s);
            let _ = parse_mem_mib(&s);
        }
    }
}
