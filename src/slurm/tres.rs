//! TRES strings: `cpu=2,gres/gpu:a30=2,mem=8G,node=1`, as in QOS limits and job allocations.

use std::collections::BTreeMap;

/// Trackable resources by name. Memory is in MiB; GPUs of every type add up under `gres/gpu`.
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
            // `gres/gpu:a30` counts towards `gres/gpu` too, as Slurm does for limits.
            if let Some((base, _typ)) = name.split_once(':')
                && base.starts_with("gres/")
            {
                *map.entry(base.to_string()).or_insert(0) += count;
            }
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
        assert_eq!(typed.gpus(), 2);
        assert_eq!(typed.get("gres/gpu:a30"), Some(2));
        assert_eq!(Tres::parse("gres/gpu=4").gpus(), 4);
        assert!(Tres::parse("").is_empty());
        assert_eq!(
            Tres::parse("cpu=2,mem=24105M,node=1,billing=2,gres/gpu=4").get("mem"),
            Some(24105)
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
