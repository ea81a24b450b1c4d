//! Slurm's time syntax: `1-00:00:00`, `2:00:00`, `10:00`, `30` (minutes), `UNLIMITED`, `N/A`...

use std::fmt;

use serde::{Deserialize, Deserializer};

/// A time limit or elapsed time as Slurm prints it. In JSON: whole seconds, `"UNLIMITED"`, or
/// `null` when Slurm gave no value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SlurmTime {
    Seconds(u64),
    Unlimited,
    /// `N/A`, `NOT_SET`, `Partition_Limit`, empty: no value known.
    NotSet,
}

impl SlurmTime {
    /// Parses what Slurm prints (and accepts) for a time; `None` for text that is no time.
    pub fn parse(text: &str) -> Option<SlurmTime> {
        let t = text.trim();
        match t.to_ascii_lowercase().as_str() {
            "unlimited" | "infinite" | "infinity" => return Some(SlurmTime::Unlimited),
            "" | "n/a" | "not_set" | "partition_limit" | "none" | "invalid" => {
                return Some(SlurmTime::NotSet);
            }
            _ => {}
        }
        parse_duration_seconds(t).map(SlurmTime::Seconds)
    }

    pub fn seconds(self) -> Option<u64> {
        match self {
            SlurmTime::Seconds(s) => Some(s),
            _ => None,
        }
    }

    /// Whether a job asking for `secs` fits under this limit.
    pub fn allows(self, secs: u64) -> bool {
        match self {
            SlurmTime::Seconds(limit) => secs <= limit,
            SlurmTime::Unlimited | SlurmTime::NotSet => true,
        }
    }
}

impl serde::Serialize for SlurmTime {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            SlurmTime::Seconds(n) => s.serialize_u64(*n),
            SlurmTime::Unlimited => s.serialize_str("UNLIMITED"),
            SlurmTime::NotSet => s.serialize_none(),
        }
    }
}

impl fmt::Display for SlurmTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SlurmTime::Seconds(s) => f.write_str(&format_seconds(*s)),
            SlurmTime::Unlimited => f.write_str("UNLIMITED"),
            SlurmTime::NotSet => f.write_str("N/A"),
        }
    }
}

/// `[D-]HH:MM:SS` as Slurm prints it (`1-00:00:00`, `2:00:00`, `10:00`).
pub fn format_seconds(total: u64) -> String {
    let (d, rest) = (total / 86_400, total % 86_400);
    let (h, m, s) = (rest / 3600, rest % 3600 / 60, rest % 60);
    if d > 0 {
        format!("{d}-{h:02}:{m:02}:{s:02}")
    } else if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

/// Parses the finite forms: `M`, `M:S`, `H:M:S`, `D-H`, `D-H:M`, `D-H:M:S`.
fn parse_duration_seconds(t: &str) -> Option<u64> {
    fn num(s: &str) -> Option<u64> {
        if s.is_empty() || s.len() > 12 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    }
    let below_60 = |v: u64| (v < 60).then_some(v);
    let (days, clock) = match t.split_once('-') {
        Some((d, rest)) => (Some(num(d)?), rest),
        None => (None, t),
    };
    let parts: Vec<&str> = clock.split(':').collect();
    let secs = match (days, parts.as_slice()) {
        (None, [m]) => num(m)? * 60,
        (None, [m, s]) => num(m)? * 60 + below_60(num(s)?)?,
        (None, [h, m, s]) => num(h)? * 3600 + below_60(num(m)?)? * 60 + below_60(num(s)?)?,
        (Some(d), [h]) => d * 86_400 + below_24(num(h)?)? * 3600,
        (Some(d), [h, m]) => d * 86_400 + below_24(num(h)?)? * 3600 + below_60(num(m)?)? * 60,
        (Some(d), [h, m, s]) => {
            d * 86_400 + below_24(num(h)?)? * 3600 + below_60(num(m)?)? * 60 + below_60(num(s)?)?
        }
        _ => return None,
    };
    Some(secs)
}

fn below_24(v: u64) -> Option<u64> {
    (v < 24).then_some(v)
}

/// A job's time limit in a spec: finite and above zero. Written as Slurm writes it
/// (`1:00:00`), so a spec written back reads the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlurmDuration(pub u64);

impl serde::Serialize for SlurmDuration {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl SlurmDuration {
    pub fn seconds(self) -> u64 {
        self.0
    }
}

impl fmt::Display for SlurmDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_seconds(self.0))
    }
}

impl<'de> Deserialize<'de> for SlurmDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        match SlurmTime::parse(&text) {
            Some(SlurmTime::Seconds(s)) if s > 0 => Ok(SlurmDuration(s)),
            _ => Err(serde::de::Error::custom(format!(
                "{text:?} is not a time limit; use minutes (\"30\"), \"MM:SS\", \"HH:MM:SS\" or \"D-HH:MM:SS\""
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `status --json` printed `"NotSet"` and `{"Seconds":600}`: plain values now.
    #[test]
    fn json_is_seconds_or_null() {
        let json = |t| serde_json::to_string(&t).unwrap();
        assert_eq!(json(SlurmTime::Seconds(600)), "600");
        assert_eq!(json(SlurmTime::NotSet), "null");
        assert_eq!(json(SlurmTime::Unlimited), "\"UNLIMITED\"");
    }

    #[test]
    fn parses_every_form_slurm_prints() {
        let s = |t| SlurmTime::parse(t);
        assert_eq!(s("1-00:00:00"), Some(SlurmTime::Seconds(86_400)));
        assert_eq!(s("2:00:00"), Some(SlurmTime::Seconds(7200)));
        assert_eq!(s("10:00"), Some(SlurmTime::Seconds(600)));
        assert_eq!(s("0:43"), Some(SlurmTime::Seconds(43)));
        assert_eq!(s("30"), Some(SlurmTime::Seconds(1800)));
        assert_eq!(s("2-12"), Some(SlurmTime::Seconds(2 * 86_400 + 12 * 3600)));
        assert_eq!(
            s("2-12:30"),
            Some(SlurmTime::Seconds(2 * 86_400 + 12 * 3600 + 1800))
        );
        assert_eq!(s("00:01:15"), Some(SlurmTime::Seconds(75)));
        assert_eq!(s("UNLIMITED"), Some(SlurmTime::Unlimited));
        assert_eq!(s("infinite"), Some(SlurmTime::Unlimited));
        assert_eq!(s("N/A"), Some(SlurmTime::NotSet));
        assert_eq!(s("Partition_Limit"), Some(SlurmTime::NotSet));
    }

    #[test]
    fn rejects_impossible_clocks() {
        for bad in [
            "25:99",
            "1:60:00",
            "1-24:00:00",
            "abc",
            "1:2:3:4",
            "-5",
            "1--2",
            "1-",
            ":",
        ] {
            assert_eq!(SlurmTime::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn formats_like_slurm() {
        assert_eq!(format_seconds(86_400), "1-00:00:00");
        assert_eq!(format_seconds(7200), "2:00:00");
        assert_eq!(format_seconds(600), "10:00");
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "\\PC*") {
            let _ = SlurmTime::parse(&s);
        }

        #[test]
        fn format_then_parse_is_identity(secs in 0u64..10_000_000) {
            proptest::prop_assert_eq!(SlurmTime::parse(&format_seconds(secs)), Some(SlurmTime::Seconds(secs)));
        }
    }
}
