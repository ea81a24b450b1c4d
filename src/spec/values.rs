//! The spec's checked values: each newtype's `Deserialize` runs its check, so a bad value fails
//! with the value's own position and key path.

use std::fmt;

use serde::{Deserialize, Deserializer};

/// Defines a newtype whose `Deserialize` runs a check, so a bad value fails with the value's
/// own position and key path.
macro_rules! checked_newtype {
    ($(#[$m:meta])* $name:ident($inner:ty), $check:expr) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(pub $inner);

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let value = <$inner>::deserialize(d)?;
                let check: fn(&$inner) -> Result<(), String> = $check;
                check(&value).map_err(serde::de::Error::custom)?;
                Ok($name(value))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

checked_newtype!(
    /// A job name: anything printable (spaces and quotes too: it never passes through a shell).
    JobName(String),
    |s| {
        if s.trim().is_empty() {
            Err("the job name is empty".into())
        } else if s.chars().any(char::is_control) {
            Err(format!("the job name {s:?} contains a control character (newline, tab, ...)"))
        } else if s.len() > 200 {
            Err("the job name is longer than 200 characters".into())
        } else {
            Ok(())
        }
    }
);

checked_newtype!(
    /// A partition, QOS or account name as Slurm accepts them.
    SlurmName(String),
    |s| {
        if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c)) {
            Ok(())
        } else {
            Err(format!("{s:?} is not a Slurm name (letters, digits, '_', '-', '.')"))
        }
    }
);

checked_newtype!(
    /// Free text that must stay on one line.
    NoControlChars(String),
    |s| {
        if s.chars().any(char::is_control) {
            Err(format!("{s:?} contains a control character (newline, tab, ...)"))
        } else {
            Ok(())
        }
    }
);

checked_newtype!(
    /// An environment variable name.
    EnvName(String),
    |s| {
        let mut chars = s.chars();
        let ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if ok { Ok(()) } else { Err(format!("{s:?} is not an environment variable name")) }
    }
);

checked_newtype!(
    /// Slurm memory: a number with an optional K/M/G/T suffix.
    Memory(String),
    |s| {
        let re = regex::Regex::new(r"^[0-9]+[KMGTkmgt]?$").map_err(|e| e.to_string())?;
        if re.is_match(s) && !s.starts_with('0') {
            Ok(())
        } else {
            Err(format!("{s:?} is not a memory size like \"16G\" or \"4000M\""))
        }
    }
);

checked_newtype!(
    /// `--mail-type`: a comma list of Slurm's mail events.
    MailType(String),
    |s| {
        const EVENTS: &[&str] = &[
            "NONE", "BEGIN", "END", "FAIL", "REQUEUE", "ALL", "INVALID_DEPEND", "STAGE_OUT",
            "TIME_LIMIT", "TIME_LIMIT_90", "TIME_LIMIT_80", "TIME_LIMIT_50", "ARRAY_TASKS",
        ];
        for part in s.split(',') {
            if !EVENTS.contains(&part) {
                return Err(format!("{part:?} is not a mail event; use one of {}", EVENTS.join(", ")));
            }
        }
        Ok(())
    }
);

checked_newtype!(PositiveF64(f64), |v| if v.is_finite() && *v > 0.0 {
    Ok(())
} else {
    Err(format!("{v} must be a number above 0"))
});

checked_newtype!(NonNegativeF64(f64), |v| if v.is_finite() && *v >= 0.0 {
    Ok(())
} else {
    Err(format!("{v} must be a number of 0 or more"))
});

checked_newtype!(
    /// A number in [0, 1).
    Fraction(f64),
    |v| if (0.0..1.0).contains(v) { Ok(()) } else { Err(format!("{v} must be at least 0 and below 1")) }
);

/// GPUs for the job, as `--gres=gpu[:TYPE]:N` asks for them.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct Gpus {
    pub count: u32,
    /// `a30`; `None` for any type.
    pub gpu_type: Option<String>,
}

impl fmt::Display for Gpus {
    /// `1` or `a30:1`: what follows `gpu:` in `--gres`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.gpu_type {
            Some(t) => write!(f, "{t}:{}", self.count),
            None => write!(f, "{}", self.count),
        }
    }
}

impl Gpus {
    fn from_text(s: &str) -> Result<Gpus, String> {
        let bad =
            || format!("{s:?} is not a GPU request: use a count (1) or TYPE:COUNT (\"a30:1\")");
        let (ty, count) = match s.rsplit_once(':') {
            Some((t, n)) => (Some(t), n),
            None => (None, s),
        };
        let count: u32 = count.trim().parse().map_err(|_| bad())?;
        if let Some(t) = ty
            && (t.is_empty()
                || !t
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c)))
        {
            return Err(bad());
        }
        if ty.is_some() && count == 0 {
            return Err(format!(
                "{s:?} asks for 0 GPUs of a type; drop the type or ask for 1 or more"
            ));
        }
        Ok(Gpus {
            count,
            gpu_type: ty.map(str::to_string),
        })
    }
}

impl<'de> Deserialize<'de> for Gpus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Gpus;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a GPU count (1) or TYPE:COUNT (\"a30:1\")")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Gpus, E> {
                u32::try_from(v)
                    .map(|count| Gpus {
                        count,
                        gpu_type: None,
                    })
                    .map_err(|_| E::custom(format!("{v} is not a GPU count (0 to {})", u32::MAX)))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Gpus, E> {
                self.visit_i64(i64::try_from(v).unwrap_or(-1))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Gpus, E> {
                Gpus::from_text(v).map_err(E::custom)
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// A whole number above zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct Positive<T>(pub T);

impl<'de> Deserialize<'de> for Positive<u32> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = i64::deserialize(d)?;
        if v <= 0 || v > u32::MAX as i64 {
            return Err(serde::de::Error::custom(format!(
                "{v} must be a whole number from 1 to {}",
                u32::MAX
            )));
        }
        Ok(Positive(v as u32))
    }
}

impl Positive<u32> {
    pub fn get(self) -> usize {
        self.0 as usize
    }
}

/// Train/validation/test fractions, e.g. `[0.7, 0.2, 0.1]`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Split {
    pub train: f64,
    pub validation: f64,
    pub test: f64,
}

impl Default for Split {
    fn default() -> Self {
        Split {
            train: 0.7,
            validation: 0.2,
            test: 0.1,
        }
    }
}

impl<'de> Deserialize<'de> for Split {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let parts = <[f64; 3]>::deserialize(d)?;
        let sum: f64 = parts.iter().sum();
        if parts.iter().any(|p| !(0.0..=1.0).contains(p)) || parts[0] == 0.0 || parts[2] == 0.0 {
            return Err(serde::de::Error::custom(
                "split must be [train, validation, test] fractions, train and test above 0",
            ));
        }
        if (sum - 1.0).abs() > 1e-6 {
            return Err(serde::de::Error::custom(format!(
                "split fractions add up to {sum:.3}, not 1"
            )));
        }
        Ok(Split {
            train: parts[0],
            validation: parts[1],
            test: parts[2],
        })
    }
}

// Environment names are map keys.
impl Eq for EnvName {}
impl Ord for EnvName {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.cmp(&other.0)
    }
}
impl PartialOrd for EnvName {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
