//! Site and user configuration: defaults for every spec's `[job]` table, in layers, lowest
//! first: built-in defaults, the site file (`$YENJOB_SITE_CONFIG`, else
//! `/etc/yenjob/config.toml`), the user file (`$XDG_CONFIG_HOME/yenjob/config.toml`, else
//! `~/.config/yenjob/config.toml`), then the job spec, then command-line flags. A key set in a
//! higher layer replaces it whole (a list too). Every file is checked as a spec is: an
//! unknown key or a bad value names the file, line and key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::slurm::constraint::Constraint;
use crate::slurm::hostlist::HostList;
use crate::spec::{
    BackendChoice, EnvName, GpuRequest, JobTable, NoControlChars, SlurmName, SpecError,
};

/// What a site or user file may set: the `[job]` keys a site shares (unset ones are left out
/// when serialized, so the TOML table holds exactly what the file set).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct JobDefaults {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<SlurmName>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partition: Option<SlurmName>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qos: Option<SlurmName>,
    /// Node features every job needs (`--constraint`), where a site requires one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub constraint: Option<Constraint>,
    /// Nodes every job keeps off (`--exclude`): a node a user has learnt to avoid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exclude: Option<HostList>,
    /// Whole nodes for every job (`--exclusive`), where a site gives jobs nodes of their own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exclusive: Option<bool>,
    /// `gres` (`--gres=gpu:N`) or `gpus` (`--gpus=N`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gpu_request: Option<GpuRequest>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub modules: Option<Vec<NoControlChars>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub env: Option<BTreeMap<EnvName, NoControlChars>>,
    /// Where run folders go; a relative path is relative to the file's folder.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runs_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sbatch_options: Option<Vec<NoControlChars>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mail_user: Option<NoControlChars>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backend: Option<BackendChoice>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    #[serde(default)]
    job: JobDefaults,
}

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "layer", content = "path", rename_all = "lowercase")]
pub enum Origin {
    Default,
    Site(PathBuf),
    User(PathBuf),
    Spec(PathBuf),
    Flag,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Default => f.write_str("default"),
            Origin::Site(p) => write!(f, "site:{}", p.display()),
            Origin::User(p) => write!(f, "user:{}", p.display()),
            Origin::Spec(p) => write!(f, "spec:{}", p.display()),
            Origin::Flag => f.write_str("flag"),
        }
    }
}

/// One file's defaults.
#[derive(Debug, Clone)]
pub struct Layer {
    pub origin: Origin,
    pub job: JobDefaults,
}

/// The site and user layers found on this machine (either may be absent).
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub layers: Vec<Layer>,
}

/// The keys the layers may set, in the order `yenjob config` prints them.
pub const KEYS: &[&str] = &[
    "account",
    "partition",
    "qos",
    "constraint",
    "exclude",
    "exclusive",
    "gpu_request",
    "modules",
    "env",
    "runs_dir",
    "sbatch_options",
    "mail_user",
    "backend",
];

impl Config {
    /// The site file, then the user file, where they exist.
    pub fn load() -> Result<Config, SpecError> {
        let mut layers = Vec::new();
        if let Some(path) = site_path().filter(|p| p.is_file()) {
            layers.push(Layer {
                job: read(&path)?,
                origin: Origin::Site(path),
            });
        }
        if let Some(path) = user_path().filter(|p| p.is_file()) {
            layers.push(Layer {
                job: read(&path)?,
                origin: Origin::User(path),
            });
        }
        Ok(Config { layers })
    }

    /// The value of `key` from the highest layer that sets it, as TOML, and its origin.
    pub fn value(&self, key: &str) -> Option<(toml::Value, Origin)> {
        self.layers
            .iter()
            .rev()
            .find_map(|l| get(&l.job, key, &l.origin).map(|v| (v, l.origin.clone())))
    }
}

/// `$YENJOB_SITE_CONFIG`, else `/etc/yenjob/config.toml`.
pub fn site_path() -> Option<PathBuf> {
    Some(
        std::env::var_os("YENJOB_SITE_CONFIG")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/etc/yenjob/config.toml")),
    )
}

/// `$XDG_CONFIG_HOME/yenjob/config.toml`, else `~/.config/yenjob/config.toml`.
pub fn user_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("yenjob/config.toml"))
}

fn read(path: &Path) -> Result<JobDefaults, SpecError> {
    let text = std::fs::read_to_string(path).map_err(|source| SpecError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let file: ConfigFile = crate::spec::from_toml(&text, path)?;
    Ok(file.job)
}

/// `key` of `job` as a TOML value, if the file set it (`runs_dir` made absolute against the
/// file's folder).
fn get(job: &JobDefaults, key: &str, origin: &Origin) -> Option<toml::Value> {
    let table = toml::Value::try_from(job).ok()?;
    let value = table.get(key)?.clone();
    match (key, &value, origin) {
        ("runs_dir", toml::Value::String(p), Origin::Site(f) | Origin::User(f)) => {
            let base = f.parent().unwrap_or(Path::new("/"));
            Some(toml::Value::String(
                base.join(p).to_string_lossy().into_owned(),
            ))
        }
        _ => Some(value),
    }
}

/// Fills the `[job]` keys the spec did not set (`set_in_spec`) from the layers, and returns
/// where every key's value came from.
pub fn apply(
    job: &mut JobTable,
    set_in_spec: &[String],
    spec_path: &Path,
    config: &Config,
) -> Result<BTreeMap<String, Origin>, SpecError> {
    let mut origins = BTreeMap::new();
    for key in KEYS {
        if set_in_spec.iter().any(|k| k == key) {
            origins.insert(key.to_string(), Origin::Spec(spec_path.to_path_buf()));
            continue;
        }
        let Some((value, origin)) = config.value(key) else {
            origins.insert(key.to_string(), Origin::Default);
            continue;
        };
        let bad = |e: toml::de::Error| SpecError::Invalid {
            path: spec_path.to_path_buf(),
            line: 1,
            column: 1,
            key: format!("job.{key}"),
            message: format!("from {origin}: {}", e.message()),
        };
        match *key {
            "account" => job.account = Some(value.try_into().map_err(bad)?),
            "partition" => job.partition = value.try_into().map_err(bad)?,
            "qos" => job.qos = Some(value.try_into().map_err(bad)?),
            "constraint" => job.constraint = Some(value.try_into().map_err(bad)?),
            "exclude" => job.exclude = Some(value.try_into().map_err(bad)?),
            "exclusive" => job.exclusive = value.try_into().map_err(bad)?,
            "gpu_request" => job.gpu_request = value.try_into().map_err(bad)?,
            "modules" => job.modules = value.try_into().map_err(bad)?,
            "env" => job.env = value.try_into().map_err(bad)?,
            "runs_dir" => job.runs_dir = value.try_into().map_err(bad)?,
            "sbatch_options" => job.sbatch_options = value.try_into().map_err(bad)?,
            "mail_user" => job.mail_user = Some(value.try_into().map_err(bad)?),
            "backend" => job.backend = value.try_into().map_err(bad)?,
            _ => continue,
        }
        origins.insert(key.to_string(), origin);
    }
    if job.partition.0.is_empty() {
        return Err(SpecError::Invalid {
            path: spec_path.to_path_buf(),
            line: 1,
            column: 1,
            key: "job.partition".into(),
            message: "no partition: name one in the spec, or set `partition` under [job] in a site or user config file (`yenjob config` lists them)".into(),
        });
    }
    Ok(origins)
}
