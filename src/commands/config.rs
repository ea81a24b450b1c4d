//! `yenjob config [SPEC]`: the `[job]` defaults a site or user file may set, merged, each with
//! the file that set it (as `git config --show-origin` does); with SPEC, what that spec ends up
//! with once the files fill what it leaves out.

use std::path::Path;

use crate::config::{self, Config, KEYS, Origin};
use crate::spec::JobSpec;

#[derive(serde::Serialize)]
struct Entry {
    key: String,
    value: Option<toml::Value>,
    origin: Origin,
}

pub fn run(spec: Option<&Path>, json: bool) -> anyhow::Result<i32> {
    let config = Config::load()?;
    let entries: Vec<Entry> = match spec {
        Some(path) => {
            let mut spec = JobSpec::load(path)?;
            spec.apply_config(&config)?;
            let values = toml::Value::try_from(&spec.job)?;
            KEYS.iter()
                .map(|k| Entry {
                    key: format!("job.{k}"),
                    value: values.get(*k).cloned(),
                    origin: spec.origins.get(*k).cloned().unwrap_or(Origin::Default),
                })
                .collect()
        }
        None => KEYS
            .iter()
            .map(|k| match config.value(k) {
                Some((value, origin)) => Entry {
                    key: format!("job.{k}"),
                    value: Some(value),
                    origin,
                },
                None => Entry {
                    key: format!("job.{k}"),
                    value: None,
                    origin: Origin::Default,
                },
            })
            .collect(),
    };
    if json {
        let files = serde_json::json!({
            "site": config::site_path(),
            "user": config::user_path(),
            "read": config.layers.iter().map(|l| l.origin.clone()).collect::<Vec<_>>(),
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({"files": files, "values": entries}))?
        );
        return Ok(0);
    }
    for (name, path) in [("site", config::site_path()), ("user", config::user_path())] {
        if let Some(p) = path {
            let state = if p.is_file() { "read" } else { "absent" };
            println!("# {name} file {} ({state})", p.display());
        }
    }
    let width = entries
        .iter()
        .map(|e| e.origin.to_string().len())
        .max()
        .unwrap_or(0);
    for e in &entries {
        let value = e
            .value
            .as_ref()
            .map_or("(not set)".to_string(), toml::Value::to_string);
        println!("{:<width$}  {} = {value}", e.origin.to_string(), e.key);
    }
    Ok(0)
}
