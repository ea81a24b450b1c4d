//! yenjob in a user's shell and a site's setup, without Slurm: configuration in layers with
//! the file each value came from, shell completion (of job ids too), the man page, colour only
//! where wanted, and JSON that parses from every command that prints a result.

mod common;

use std::path::Path;
use std::time::Duration;

use assert_cmd::Command;

/// yenjob with its own run index, site file and user folder under `dir`.
fn yenjob(dir: &Path) -> Command {
    let mut c = Command::cargo_bin("yenjob").unwrap();
    c.env("YENJOB_HOME", dir.join("home"))
        .env("YENJOB_SITE_CONFIG", dir.join("site/config.toml"))
        .env("XDG_CONFIG_HOME", dir.join("xdg"))
        .env_remove("NO_COLOR")
        .current_dir(dir)
        .timeout(Duration::from_secs(120));
    c
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[test]
fn configuration_layers_site_user_spec_flags_with_their_files() {
    let tmp = tempfile::tempdir().unwrap();
    let site = tmp.path().join("site/config.toml");
    let user = tmp.path().join("xdg/yenjob/config.toml");
    write(
        &site,
        "[job]\npartition = \"gpu\"\naccount = \"sitelab\"\ngpu_request = \"gpus\"\nmodules = [\"cuda/12.4\"]\nbackend = \"slurm\"\nconstraint = \"a30|a100\"\n",
    );
    write(
        &user,
        "[job]\naccount = \"mylab\"\nenv = { HF_HOME = \"/scratch/hf\" }\nexclude = \"gpu[03-04]\"\n",
    );
    // A spec without a partition: the site's fills it.
    let spec = common::write_tiny_spec(tmp.path(), "layers", 1, "", "");
    let text = std::fs::read_to_string(&spec)
        .unwrap()
        .replace("partition = \"gpu\"\n", "qos = \"normal\"\n");
    std::fs::write(&spec, text).unwrap();

    let out = yenjob(tmp.path()).arg("config").output().unwrap();
    let text = common::stdout_of_success(&out);
    let line = |key: &str| {
        text.lines()
            .find(|l| l.contains(&format!(" job.{key} = ")))
            .unwrap_or_else(|| panic!("no {key} in {text}"))
            .to_string()
    };
    assert!(
        line("account").starts_with(&format!("user:{}", user.display())),
        "{text}"
    );
    assert!(line("account").ends_with("= \"mylab\""), "{text}");
    assert!(
        line("partition").starts_with(&format!("site:{}", site.display())),
        "{text}"
    );
    assert!(line("qos").starts_with("default"), "{text}");

    let out = yenjob(tmp.path())
        .arg("config")
        .arg(&spec)
        .output()
        .unwrap();
    let text = common::stdout_of_success(&out);
    let spec_path = std::fs::canonicalize(&spec).unwrap();
    let qos = text.lines().find(|l| l.contains(" job.qos = ")).unwrap();
    assert!(
        qos.starts_with(&format!("spec:{} ", spec_path.display())),
        "{text}"
    );
    assert!(qos.ends_with("job.qos = \"normal\""), "{text}");
    assert!(text.contains("job.partition = \"gpu\""), "{text}");

    // The rendered job: site's GPU style, modules and constraint, user's account, environment
    // and exclude; the
    // --backend flag over the site's backend.
    let out = yenjob(tmp.path())
        .args(["submit", "--dry-run", "--backend", "local"])
        .arg(&spec)
        .output()
        .unwrap();
    let script = common::stdout_of_success(&out);
    for line in [
        "#SBATCH --partition=gpu",
        "#SBATCH --gpus=1",
        "#SBATCH --account=mylab",
        "#SBATCH --qos=normal",
        "#SBATCH --constraint=a30|a100",
        "#SBATCH --exclude=gpu[03-04]",
        "module load 'cuda/12.4'",
        "export HF_HOME='/scratch/hf'",
    ] {
        assert!(script.contains(line), "{line}:\n{script}");
    }
    assert!(!script.contains("#SBATCH --gres"), "{script}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("would run locally"));

    // The --json view names the files too.
    let out = yenjob(tmp.path())
        .args(["config", "--json"])
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_str(&common::stdout_of_success(&out)).unwrap();
    let account = json["values"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["key"] == "job.account")
        .unwrap()
        .clone();
    assert_eq!(account["origin"]["layer"], "user");
    assert_eq!(account["origin"]["path"], user.display().to_string());

    // An unknown key names its file, line and key.
    write(&user, "[job]\naccount = \"mylab\"\npartiton = \"x\"\n");
    let out = yenjob(tmp.path()).arg("config").output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "{}:3:1: `job.partiton`: unknown field `partiton`",
            user.display()
        )),
        "{err}"
    );
}

#[test]
fn a_spec_without_a_partition_and_no_config_says_where_to_put_one() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = common::write_tiny_spec(tmp.path(), "nopart", 1, "", "");
    let text = std::fs::read_to_string(&spec)
        .unwrap()
        .replace("partition = \"gpu\"\n", "");
    std::fs::write(&spec, text).unwrap();
    let out = yenjob(tmp.path())
        .args(["submit", "--dry-run"])
        .arg(&spec)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("`job.partition`: no partition: name one in the spec, or set `partition` under [job] in a site or user config file"), "{err}");
}

#[test]
fn completions_for_three_shells_and_job_ids_from_the_index() {
    let tmp = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish"] {
        let out = yenjob(tmp.path())
            .args(["completions", shell])
            .output()
            .unwrap();
        let script = common::stdout_of_success(&out);
        assert!(
            script.contains("COMPLETE=") || script.contains("COMPLETE "),
            "{shell}: {script}"
        );
        assert!(script.contains("yenjob"), "{shell}");
    }
    // A local run in the index, so there is a job id to complete.
    let spec = common::write_tiny_spec(tmp.path(), "complete me", 1, "backend = \"local\"", "");
    let out = yenjob(tmp.path())
        .args(["submit", "--json"])
        .arg(&spec)
        .output()
        .unwrap();
    let submitted: serde_json::Value =
        serde_json::from_str(&common::stdout_of_success(&out)).unwrap();
    let id = submitted["job_id"].as_str().unwrap().to_string();
    let binary = assert_cmd::cargo::cargo_bin("yenjob");
    let bin_dir = binary.parent().unwrap();
    let script = format!(
        r#"export PATH="{}:$PATH"
source <(yenjob completions bash)
complete -p yenjob
COMP_WORDS=(yenjob tail local-); COMP_CWORD=2; COMP_LINE="yenjob tail local-"; COMP_POINT=${{#COMP_LINE}}
_clap_complete_yenjob yenjob local- tail
printf 'candidate %s\n' "${{COMPREPLY[@]}}"
COMP_WORDS=(yenjob sta); COMP_CWORD=1; COMP_LINE="yenjob sta"; COMP_POINT=${{#COMP_LINE}}
_clap_complete_yenjob yenjob sta yenjob
printf 'candidate %s\n' "${{COMPREPLY[@]}}"
"#,
        bin_dir.display()
    );
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(&script)
        .env("YENJOB_HOME", tmp.path().join("home"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(
            "complete -o bashdefault -o nosort -o nospace -F _clap_complete_yenjob yenjob"
        ),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains(&format!("candidate {id}")), "{text}");
    assert!(text.contains("candidate status"), "{text}");
}

#[test]
fn the_man_page_is_roff() {
    let tmp = tempfile::tempdir().unwrap();
    let out = yenjob(tmp.path()).arg("man").output().unwrap();
    let page = common::stdout_of_success(&out);
    assert!(page.contains(".TH yenjob 1"), "{page}");
    assert!(
        page.contains("SUBCOMMANDS") || page.contains("yenjob\\-submit"),
        "{page}"
    );
}

/// Runs a tiny local job to the end, then reads it back through every command that prints a
/// result: with NO_COLOR no escape codes; with --color always some; and every --json parses.
#[test]
fn colour_only_where_wanted_and_json_from_every_command() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = common::write_tiny_spec(tmp.path(), "json", 1, "backend = \"local\"", "");
    let out = yenjob(tmp.path())
        .args(["submit", "--dry-run", "--json"])
        .arg(&spec)
        .output()
        .unwrap();
    let dry: serde_json::Value = serde_json::from_str(&common::stdout_of_success(&out)).unwrap();
    assert!(dry["script"].as_str().unwrap().starts_with("#!/bin/bash"));
    assert_eq!(dry["sbatch_argv"][0], "sbatch");
    assert!(
        dry["verdict"].is_null() && dry["verdict_unavailable"].is_string(),
        "{dry}"
    );

    let out = yenjob(tmp.path())
        .args(["submit", "--json"])
        .arg(&spec)
        .output()
        .unwrap();
    let submitted: serde_json::Value =
        serde_json::from_str(&common::stdout_of_success(&out)).unwrap();
    let id = submitted["job_id"].as_str().unwrap().to_string();
    assert_eq!(submitted["submitted"], true);
    let out = yenjob(tmp.path())
        .args(["tail", "--json", &id])
        .output()
        .unwrap();
    let events: Vec<serde_json::Value> = common::stdout_of_success(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    assert!(events.iter().any(|e| e["event"] == "step"), "{events:?}");
    let last = events.last().unwrap();
    assert_eq!(
        (&last["event"], &last["state"]),
        (&"job".into(), &"COMPLETED".into()),
        "{last}"
    );

    for args in [
        vec!["status", "--json"],
        vec!["status", "--json", &id],
        vec!["report", "--json", &id],
        vec!["cancel", "--json", &id],
        vec!["config", "--json"],
    ] {
        let out = yenjob(tmp.path()).args(&args).output().unwrap();
        let text = common::stdout_of_success(&out);
        serde_json::from_str::<serde_json::Value>(&text)
            .unwrap_or_else(|e| panic!("{args:?}: {e}\n{text}"));
    }
    let out = yenjob(tmp.path())
        .args([
            "predict",
            "--json",
            "--job",
            &id,
            "net profit rose",
            "loss fell",
        ])
        .output()
        .unwrap();
    for line in common::stdout_of_success(&out).lines() {
        let p: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(p["label"].is_string() && p["positive"].is_number(), "{p}");
    }

    let plain = yenjob(tmp.path())
        .arg("status")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let plain = common::stdout_of_success(&plain);
    assert!(
        plain.contains("COMPLETED") && !plain.contains('\x1b'),
        "{plain:?}"
    );
    let piped = yenjob(tmp.path()).arg("status").output().unwrap();
    assert!(
        !common::stdout_of_success(&piped).contains('\x1b'),
        "colour in a pipe"
    );
    let forced = yenjob(tmp.path())
        .args(["status", "--color", "always"])
        .output()
        .unwrap();
    assert!(
        common::stdout_of_success(&forced).contains("\x1b["),
        "--color always"
    );
}

/// A score job takes the site's and user's defaults too: here the site's GPU style and
/// modules, over the built-in reference job's `[job]` table.
#[test]
fn a_score_job_takes_the_site_defaults() {
    let tmp = tempfile::tempdir().unwrap();
    write(
        &tmp.path().join("site/config.toml"),
        "[job]\ngpu_request = \"gpus\"\nmodules = [\"cuda/12.4\"]\n",
    );
    let base = common::write_tiny_model(&tmp.path().join("base"));
    let model = common::fine_tune(tmp.path(), &base);
    common::write_corpus(&tmp.path().join("news.csv"), 10);
    let out = yenjob(tmp.path())
        .args([
            "score",
            "--dry-run",
            "--backend",
            "slurm",
            "--input",
            "news.csv",
            "--output",
            "scored.csv",
            "--text-column",
            "text",
            "--model",
        ])
        .arg(&model)
        .output()
        .unwrap();
    let script = common::stdout_of_success(&out);
    assert!(script.contains("#SBATCH --gpus=1"), "{script}");
    assert!(script.contains("module load 'cuda/12.4'"), "{script}");
    assert!(script.contains("score-worker --run-dir"), "{script}");
}
