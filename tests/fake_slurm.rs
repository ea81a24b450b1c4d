//! `yenjob check` against a fake Slurm. Scripts named `scontrol`, `sinfo`, `squeue` and
//! `sacctmgr`, first on PATH, print what the real commands printed in a captured scenario
//! (`tests/fixtures/preflight`, from `scripts/capture-preflight.sh`, and Slurm 24.11's in
//! `tests/fixtures/preflight-slurm-24.11`), its timestamps moved
//! to now. So the binary makes the calls it makes on a cluster, reads their output and prints
//! its verdict, for every capture; and any call can be made to fail, to show what a user is
//! told when Slurm answers with an error.

mod common;

use std::path::{Path, PathBuf};

use yenjob::slurm::{clock, sacctmgr, sinfo, squeue};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/preflight");
/// Slurm 24.11's cross-section of the same scenarios (`scripts/slurm-chroot.sh`).
const FIXTURES_24_11: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/preflight-slurm-24.11"
);

/// Each call `yenjob check` makes, as `gather_state` makes it, and the file of a capture that
/// holds its output (the capture script makes the same calls).
fn calls(user: &str) -> Vec<(&'static str, String, &'static str)> {
    vec![
        (
            "scontrol",
            "--all show partition -o".into(),
            "partitions.txt",
        ),
        ("scontrol", "show config".into(), "config.txt"),
        ("scontrol", "show reservation -o".into(), "reservations.txt"),
        (
            "scontrol",
            format!("show assoc_mgr flags=assoc,qos users={user}"),
            "assoc-mgr.txt",
        ),
        (
            "sinfo",
            format!("--all -h -N -O {}", sinfo::NODE_FORMAT),
            "nodes.txt",
        ),
        (
            "squeue",
            format!("--all -h -O {}", squeue::FORMAT),
            "queue.txt",
        ),
        (
            "squeue",
            format!("--all -h -O {}", squeue::EXTRA_FORMAT),
            "queue-accounts.txt",
        ),
        (
            "squeue",
            format!("--all -h -t PD -o {}", squeue::EXCLUDED_FORMAT),
            "queue-excluded.txt",
        ),
        (
            "sacctmgr",
            format!("-P -n show qos {}", sacctmgr::QOS_FORMAT),
            "qos.txt",
        ),
        (
            "sacctmgr",
            format!(
                "-P -n show assoc where user={user} {}",
                sacctmgr::ASSOC_FORMAT
            ),
            "assoc.txt",
        ),
        (
            "sacctmgr",
            format!("-P -n show assoc where user= {}", sacctmgr::ACCOUNT_FORMAT),
            "accounts.txt",
        ),
        (
            "sacctmgr",
            format!("-P -n show user {user} {}", sacctmgr::USER_FORMAT),
            "user.txt",
        ),
    ]
}

/// One capture played back: `bin/` holds the fake commands, `out/` their outputs, and
/// `fail/FILE` (where written) makes the call that prints FILE fail with its text on stderr.
struct FakeSlurm {
    dir: PathBuf,
    user: String,
    /// The uid and gid the binary runs with, where not this test's own (`run_as`).
    ids: Option<(u32, u32)>,
}

impl FakeSlurm {
    /// Plays `fixture` back, every timestamp in it moved by the time since it was captured
    /// (the early captures, without `now.txt`, have none that matters: no reservations).
    fn of(fixture: &Path, dir: &Path) -> FakeSlurm {
        let request = read(fixture, "request.txt");
        let user = word(&request, "user").unwrap_or("root").to_string();
        let out = dir.join("out");
        std::fs::create_dir_all(&out).unwrap();
        std::fs::create_dir_all(dir.join("fail")).unwrap();
        let then = std::fs::read_to_string(fixture.join("now.txt"))
            .ok()
            .and_then(|t| clock::parse_timestamp(&t));
        let shift = then.map_or(0, |then| clock::now() - then);
        let stamp = regex::Regex::new(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d").unwrap();
        // `sbatch --test-only` prints what it printed when captured (on stderr), and with
        // `--begin=now+SECONDS` what it printed asked so (`test-only-begin-MINUTES.txt`).
        let answered = calls(&user)
            .into_iter()
            .map(|(_, _, file)| file.to_string());
        let begins = std::fs::read_dir(fixture)
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|name| name.starts_with("test-only-begin-"));
        for file in answered.chain(["test-only.txt".to_string()]).chain(begins) {
            let file = file.as_str();
            // Captures made before yenjob read a file have none: the call prints nothing.
            let text = std::fs::read_to_string(fixture.join(file)).unwrap_or_default();
            let moved = stamp.replace_all(&text, |c: &regex::Captures| {
                clock::parse_timestamp(&c[0])
                    .map_or(c[0].to_string(), |t| clock::timestamp(t + shift))
            });
            std::fs::write(out.join(file), moved.as_bytes()).unwrap();
        }
        let fake = FakeSlurm {
            dir: dir.to_path_buf(),
            user,
            ids: None,
        };
        fake.write_commands();
        fake
    }

    fn write_commands(&self) {
        let bin = self.dir.join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let calls = calls(&self.user);
        for program in ["scontrol", "sinfo", "squeue", "sacctmgr"] {
            let cases: String = calls
                .iter()
                .filter(|(p, _, _)| *p == program)
                .map(|(_, args, file)| format!("  '{args}') file={file} ;;\n"))
                .collect();
            let d = self.dir.display();
            let script = format!(
                "#!/bin/bash\n\
                 d='{d}'\n\
                 case \"$*\" in\n{cases}  *) echo \"{program} $*\" >> \"$d/unexpected-calls\"\n     \
                 echo \"fake {program}: no captured output for this call\" >&2; exit 64 ;;\n\
                 esac\n\
                 if [ -e \"$d/fail/$file\" ]; then cat \"$d/fail/$file\" >&2; exit \"$(cat \"$d/fail/$file.status\" 2>/dev/null || echo 1)\"; fi\n\
                 cat \"$d/out/$file\"\n"
            );
            let path = bin.join(program);
            std::fs::write(&path, script).unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        // sbatch answers `--test-only` as it did when captured (a refusal exits 1), asked
        // with `--begin` within two minutes of a capture's, and nothing else: a submission, or a begin no capture
        // asked, is a call no capture answers.
        let d = self.dir.display();
        let sbatch = format!(
            "#!/bin/bash\n\
             d='{d}'\n\
             if [ \"$1\" != --test-only ]; then echo \"sbatch $*\" >> \"$d/unexpected-calls\"; exit 64; fi\n\
             file=test-only.txt\n\
             for a in \"$@\"; do case $a in --begin=now+*) s=${{a#--begin=now+}}; file=none\n\
               for f in \"$d\"/out/test-only-begin-*.txt; do m=${{f##*-}}; m=${{m%.txt}}; (( m * 60 - s <= 120 && s - m * 60 <= 120 )) && file=${{f##*/}}; done ;; esac; done\n\
             if [ ! -e \"$d/out/$file\" ]; then echo \"sbatch $*\" >> \"$d/unexpected-calls\"; echo \"fake sbatch: no captured $file\" >&2; exit 64; fi\n\
             cat \"$d/out/$file\" >&2\n\
             grep -q ' to start at ' \"$d/out/$file\"\n"
        );
        let path = bin.join("sbatch");
        std::fs::write(&path, sbatch).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// Makes the call whose output is `file` fail, printing `stderr`.
    fn fail(&self, file: &str, stderr: &str) {
        std::fs::write(self.dir.join("fail").join(file), stderr).unwrap();
    }

    /// Makes the call whose output is `file` fail as Slurm's did in `captured`
    /// (`tests/fixtures/slurm-down/CAPTURED.stderr` and `.status`; a status of 0 prints
    /// nothing on stdout).
    fn fail_as_captured(&self, file: &str, captured: &str) {
        self.fail(file, &captured_stderr(captured));
        let status = read(
            Path::new(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/fixtures/slurm-down"
            )),
            &format!("{captured}.status"),
        );
        std::fs::write(
            self.dir.join("fail").join(format!("{file}.status")),
            status.trim(),
        )
        .unwrap();
    }

    /// An `sbatch` that takes any job, prints its id (4242) and keeps its arguments.
    fn accept_jobs(&self) {
        let d = self.dir.display();
        let path = self.dir.join("bin").join("sbatch");
        std::fs::write(
            &path,
            format!("#!/bin/bash\necho \"$*\" >> '{d}/sbatch-calls'\necho 4242\n"),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// Replaces what the call whose output is `file` prints.
    fn print(&self, file: &str, stdout: &str) {
        std::fs::write(self.dir.join("out").join(file), stdout).unwrap();
    }

    /// Runs the binary as the user `ids` (uid, gid) names, with that user's group alone:
    /// what it reads and writes here is opened to it.
    fn run_as(&mut self, ids: (u32, u32)) {
        let status = std::process::Command::new("chmod")
            .args(["-R", "a+rwX"])
            .arg(&self.dir)
            .status()
            .unwrap();
        assert!(status.success(), "chmod {}", self.dir.display());
        self.ids = Some(ids);
    }

    /// `yenjob ARGS` as the capture's user, with these commands first on PATH.
    fn yenjob(&self, args: &[&str]) -> std::process::Output {
        let path = format!(
            "{}:{}",
            self.dir.join("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut yenjob = std::process::Command::new(env!("CARGO_BIN_EXE_yenjob"));
        yenjob
            .args(args)
            .env("PATH", path)
            .env("USER", &self.user)
            .env("YENJOB_HOME", self.dir.join("home"))
            .env("YENJOB_SITE_CONFIG", self.dir.join("no-site-config.toml"))
            .env("XDG_CONFIG_HOME", self.dir.join("config"));
        if let Some((uid, gid)) = self.ids {
            // As root, std drops the supplementary groups with the uid: the child's groups
            // are `gid`'s alone.
            use std::os::unix::process::CommandExt;
            yenjob.uid(uid).gid(gid);
        }
        yenjob.output().unwrap()
    }

    /// Calls yenjob made that no capture answers: each is a call `calls` does not know.
    fn unexpected_calls(&self) -> String {
        std::fs::read_to_string(self.dir.join("unexpected-calls")).unwrap_or_default()
    }
}

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file))
        .unwrap_or_else(|e| panic!("{}: {e}", dir.join(file).display()))
}

/// `key`'s value in `partition=gpu gpus=1 ...`.
fn word<'a>(request: &'a str, key: &str) -> Option<&'a str> {
    request
        .split_whitespace()
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
}

/// A spec asking what the capture's request asked sbatch for (`partition=gpu gpus=a30:1
/// cpus=1 time=10:00 tasks=3 throttle=2 ...`), for the tiny model and data in `inputs`.
fn spec_of(request: &str, inputs: &Path) -> String {
    let mut job = String::from("[job]\nname = \"replay\"\nbackend = \"slurm\"\n");
    let mut sweep = String::new();
    for w in request.split_whitespace() {
        let (key, value) = w.split_once('=').expect("key=value");
        match key {
            "partition" | "qos" | "account" | "reservation" | "time" | "mem" | "constraint"
            | "nodelist" | "exclude" => job += &format!("{key} = {value:?}\n"),
            "gpus" if value.contains(':') => job += &format!("gpus = {value:?}\n"),
            "gpus" | "cpus" => job += &format!("{key} = {value}\n"),
            "exclusive" => job += &format!("exclusive = {}\n", value == "yes"),
            "tasks" => {
                let n: u64 = value.parse().unwrap();
                let seeds: Vec<String> = (1..=n).map(|s| s.to_string()).collect();
                sweep += &format!("seed = [{}]\n", seeds.join(", "));
            }
            "throttle" => sweep += &format!("max_parallel = {value}\n"),
            // Who submits, and how long the capture waited.
            "user" | "settle" => {}
            other => panic!("unknown request word {other}"),
        }
    }
    let train = format!(
        "[train]\ndata = {:?}\nmodel = {:?}\nmax_length = 32\n",
        inputs.join("data.txt"),
        inputs.join("model")
    );
    let sweep = if sweep.is_empty() {
        sweep
    } else {
        format!("[sweep]\n{sweep}")
    };
    format!("{job}{train}{sweep}")
}

/// The tiny model and data every spec here points at.
fn inputs(dir: &Path) -> PathBuf {
    let inputs = dir.join("inputs");
    common::write_tiny_model(&inputs.join("model"));
    common::write_tiny_data(&inputs.join("data.txt"), 30);
    inputs
}

/// Whether `check --json`'s verdict is what Slurm did (`slurm.txt`: `running`,
/// `pending|REASON`, `rejected|SBATCH STDERR`, `array|RUNNING|REASON`) with the request
/// captured, `throttled` or not.
fn agrees(v: &serde_json::Value, slurm: &str, throttled: bool) -> bool {
    let (what, detail) = slurm.split_once('|').unwrap_or((slurm, ""));
    let reason = v["reason"].as_str().unwrap_or("-");
    // squeue says `ReqNodeNotAvail, UnavailableNodes:yj1` where the code is its first word.
    let same_reason = |code: &str, squeue: &str| {
        squeue == code
            || (code == "ReqNodeNotAvail"
                && (squeue.starts_with(code)
                    || squeue.starts_with("Nodes required for job are DOWN, DRAINED")))
            // Slurm 24.11 shows its sentence for a group AllowGroups leaves out.
            || (code == "AccountNotAllowed"
                && squeue.contains("not in group permitted to use this partition"))
    };
    match (what, v["outcome"].as_str().unwrap_or("")) {
        ("running", "starts_now") => true,
        ("pending", "pends") => same_reason(reason, detail),
        // The capture script joined sbatch's lines with spaces.
        ("rejected", "rejected") => {
            let stderr = detail.replace(" sbatch: error: ", "\nsbatch: error: ");
            yenjob::slurm::sbatch::rejection_reason(&stderr) == reason
        }
        // yenjob submits every array with a throttle (`%K`, the smallest of its limits): where
        // the capture's sbatch had none, the tasks that wait, wait for that throttle.
        ("array", _) => {
            let (running, waits_for) = detail.split_once('|').unwrap_or((detail, "-"));
            let plan = &v["array"];
            let reason = plan["wait_reason"].as_str().unwrap_or("-");
            let throttled_here = !throttled && reason == "JobArrayTaskLimit";
            let started = plan["start_now"].as_u64().map(|n| n.to_string());
            started.as_deref() == Some(running)
                && (same_reason(reason, waits_for) || throttled_here)
        }
        _ => false,
    }
}

/// Every capture, Slurm 22.05's then 24.11's.
fn captures() -> Vec<PathBuf> {
    let mut all = Vec::new();
    for root in [FIXTURES, FIXTURES_24_11] {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(root)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_dir())
            .collect();
        dirs.sort();
        all.extend(dirs);
    }
    all
}

/// The binary, through the commands it runs and its JSON, gives the verdict Slurm gave in every
/// capture (as `src/preflight/replay_tests.rs` checks of the pre-flight alone), makes no call a
/// capture cannot answer, and warns of nothing.
#[test]
fn every_capture_played_back_through_the_binary_gets_slurms_verdict() {
    let tmp = tempfile::tempdir().unwrap();
    // Open to the captures' users the binary may run as (`capture_user_ids`).
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let inputs = inputs(tmp.path());
    let all = captures();
    assert!(
        all.len() >= 400,
        "only {} captures in {FIXTURES} and {FIXTURES_24_11}",
        all.len()
    );
    let wrong: Vec<String> = std::thread::scope(|s| {
        let per_thread = all.len().div_ceil(4);
        let workers: Vec<_> = all
            .chunks(per_thread)
            .map(|chunk| {
                let (tmp, inputs) = (tmp.path(), &inputs);
                s.spawn(move || {
                    chunk
                        .iter()
                        .filter_map(|fixture| disagreement(fixture, tmp, inputs))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    assert!(
        wrong.is_empty(),
        "{} of {} disagree:\n{}",
        wrong.len(),
        all.len(),
        wrong.join("\n")
    );
}

/// Whether the capture's user had other groups than this test's process, in a capture where
/// groups decide (a partition's AllowGroups, a reservation's Groups): yenjob reads the groups
/// of its own process, as Slurm reads the submitter's (`run_as_capture_user`).
fn groups_of_another_decide(fixture: &Path) -> bool {
    // The early captures did not keep the groups, and had no groups to decide.
    let Ok(theirs) = std::fs::read_to_string(fixture.join("groups.txt")) else {
        return false;
    };
    let mut theirs: Vec<&str> = theirs.split_whitespace().collect();
    theirs.sort();
    let ours = yenjob::slurm::identity::current_groups().unwrap_or_default();
    let decide = read(fixture, "partitions.txt")
        .split_whitespace()
        .any(|w| w.starts_with("AllowGroups=") && w != "AllowGroups=ALL")
        || std::fs::read_to_string(fixture.join("reservations.txt")).is_ok_and(|r| {
            r.split_whitespace()
                .any(|w| w.starts_with("Groups=") && w != "Groups=(null)")
        });
    decide && ours != theirs
}

/// The uid and gid of the user `fixture` was captured as, where this test can run the binary
/// as that user with the groups it had: as root, for a user whose groups were its own group
/// alone (`nobody`, in `nogroup`).
fn capture_user_ids(fixture: &Path) -> Option<(u32, u32)> {
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    let user = word(&read(fixture, "request.txt"), "user")?.to_string();
    let name = std::ffi::CString::new(user).ok()?;
    // SAFETY: getpwnam returns null or a pointer to static storage, read at once; getgrgid
    // likewise, and the group's name is copied before any other call.
    let (uid, gid, group) = unsafe {
        let pw = libc::getpwnam(name.as_ptr());
        if pw.is_null() {
            return None;
        }
        let (uid, gid) = ((*pw).pw_uid, (*pw).pw_gid);
        let gr = libc::getgrgid(gid);
        if gr.is_null() || (*gr).gr_name.is_null() {
            return None;
        }
        let group = std::ffi::CStr::from_ptr((*gr).gr_name);
        (uid, gid, group.to_string_lossy().into_owned())
    };
    let theirs = std::fs::read_to_string(fixture.join("groups.txt")).ok()?;
    let theirs: Vec<&str> = theirs.split_whitespace().collect();
    (theirs == [group.as_str()]).then_some((uid, gid))
}

/// What is wrong with the binary's answer for `fixture`, if anything.
fn disagreement(fixture: &Path, tmp: &Path, inputs: &Path) -> Option<String> {
    let mut name = fixture.file_name().unwrap().to_string_lossy().into_owned();
    if fixture.starts_with(FIXTURES_24_11) {
        name.push_str("-slurm-24.11");
    }
    let as_capture_user = match groups_of_another_decide(fixture) {
        false => None,
        true => match capture_user_ids(fixture) {
            Some(ids) => Some(ids),
            None => {
                eprintln!(
                    "{name}: not played back: the capture's user's groups decide, and this test, not run as root, cannot take them on"
                );
                return None;
            }
        },
    };
    let dir = tmp.join(&name);
    let mut fake = FakeSlurm::of(fixture, &dir);
    let spec = dir.join("job.toml");
    let request = read(fixture, "request.txt");
    std::fs::write(&spec, spec_of(&request, inputs)).unwrap();
    if let Some(ids) = as_capture_user {
        fake.run_as(ids);
    }
    let out = fake.yenjob(&["check", "--json", spec.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&out.stdout) else {
        return Some(format!("{name}: no verdict: {stderr}"));
    };
    let slurm = read(fixture, "slurm.txt").trim().to_string();
    let never_runs = v["outcome"] == "rejected" || v["never_starts"] == true;
    let unexpected = fake.unexpected_calls();
    let throttled = word(&request, "throttle").is_some();
    // Under PrivateData the verdict names what the user cannot see: pending jobs that may be
    // queued ahead, an account's counts. Where that held the job, Slurm pended it, which
    // nothing the user may read tells (`src/preflight/replay_tests.rs`, `HIDDEN_DECIDES`).
    let (kept_from_user, not_checked): (Vec<_>, Vec<_>) = v["not_checked"]
        .as_array()
        .into_iter()
        .flatten()
        .partition(|line| {
            line.as_str()
                .is_some_and(|l| l.contains("(the cluster's PrivateData"))
        });
    let held_by_hidden = !kept_from_user.is_empty() && slurm.starts_with("pending|");
    let problem = if !agrees(&v, &slurm, throttled) && !held_by_hidden {
        format!(
            "yenjob {} ({}): {}; Slurm: {slurm}",
            v["outcome"], v["reason"], v["message"]
        )
    } else if out.status.code() != Some(if never_runs { 2 } else { 0 }) {
        format!("exit status {:?} for {}", out.status.code(), v["outcome"])
    } else if !unexpected.is_empty() {
        format!("calls no capture answers:\n{unexpected}")
    } else if !not_checked.is_empty() {
        format!("not checked: {not_checked:?}")
    } else if !stderr.is_empty() {
        format!("stderr: {stderr}")
    } else {
        return None;
    };
    Some(format!("{name}: {problem}"))
}

/// Slurm's own stderr for a call made with a daemon down (`scripts/capture-slurm-down.sh`).
fn captured_stderr(name: &str) -> String {
    read(
        Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/slurm-down"
        )),
        &format!("{name}.stderr"),
    )
}

/// A capture played back in a fresh folder, with the spec of its request.
fn played_back(capture: &str) -> (tempfile::TempDir, FakeSlurm, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let fixture = Path::new(FIXTURES).join(capture);
    let inputs = inputs(tmp.path());
    let fake = FakeSlurm::of(&fixture, &tmp.path().join("slurm"));
    let spec = tmp.path().join("job.toml");
    std::fs::write(&spec, spec_of(&read(&fixture, "request.txt"), &inputs)).unwrap();
    (tmp, fake, spec)
}

fn check_json(fake: &FakeSlurm, spec: &Path) -> serde_json::Value {
    let out = fake.yenjob(&["check", "--json", spec.to_str().unwrap()]);
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("check --json: {}", String::from_utf8_lossy(&out.stderr)))
}

/// Regression: with slurmdbd down, `check --json` said "starts_now" of a job its QOS holds,
/// and nothing else: the warning went to the text output only. The verdict carries what was
/// not checked, in one line, wherever it is printed.
#[test]
fn accounting_down_is_named_beside_the_verdict() {
    let (_tmp, fake, spec) = played_back("plain-gpus-per-user");
    let down = captured_stderr("sacctmgr-qos");
    for file in ["qos.txt", "assoc.txt", "accounts.txt", "user.txt"] {
        fake.fail(file, &down);
    }
    let v = check_json(&fake, &spec);
    // Without the QOS, the node decides: one of its four GPUs is free.
    assert_eq!(
        (&v["outcome"], &v["reason"]),
        (&"pends".into(), &"Resources".into()),
        "{v}"
    );
    assert_eq!(
        v["not_checked"],
        serde_json::json!([
            "Slurm's accounting (slurmdbd) cannot be reached (sacctmgr: error: slurm_persist_conn_open_without_init: failed to open persistent connection to host:localhost:6819: Connection refused), so QOS limits, your association's limits, your default account and your accounts' shared limits are not checked"
        ])
    );
    let out = fake.yenjob(&["check", spec.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("  warning: Slurm's accounting (slurmdbd) cannot be reached (sacctmgr: error: slurm_persist_conn_open_without_init"),
        "{text}"
    );
    assert_eq!(out.status.code(), Some(0));
    // Only accounting is missing: the QOS limit is what the capture shows holding the job.
    let (_tmp, fake, spec) = played_back("plain-gpus-per-user");
    let v = check_json(&fake, &spec);
    assert_eq!(
        (&v["outcome"], &v["reason"]),
        (&"pends".into(), &"QOSMaxGRESPerUser".into())
    );
    assert_eq!(v["not_checked"], serde_json::json!([]));
}

/// Partitions, the site's configuration, the nodes and the queue are what any verdict needs:
/// with the controller down each call's failure is the error, named with the command and
/// Slurm's words, and a way to check; no verdict is printed and no panic.
#[test]
fn controller_down_is_an_error_naming_the_call() {
    for (file, said, program) in [
        (
            "partitions.txt",
            "scontrol-partitions",
            "scontrol --all show partition -o",
        ),
        ("config.txt", "scontrol-config", "scontrol show config"),
        ("nodes.txt", "sinfo", "sinfo --all -h -N -O"),
        ("queue.txt", "squeue", "squeue --all -h -O"),
    ] {
        let (_tmp, fake, spec) = played_back("plain-gpus-per-user");
        let stderr = captured_stderr(said);
        fake.fail(file, &stderr);
        for json in [true, false] {
            let mut args = vec!["check", spec.to_str().unwrap()];
            if json {
                args.insert(1, "--json");
            }
            let out = fake.yenjob(&args);
            let e = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{file}: {e}");
            assert!(
                out.stdout.is_empty(),
                "{file}: {}",
                String::from_utf8_lossy(&out.stdout)
            );
            assert!(
                e.contains(&format!(
                    "the Slurm controller cannot be reached (`{program}"
                )) && e.contains(stderr.trim())
                    && e.contains("is slurmctld running? try `scontrol ping`")
                    && !e.contains("panicked"),
                "{file}: {e}"
            );
        }
    }
}

/// Regression for the excluded-nodes call (`squeue -o %i|%x`, made where jobs queued ahead
/// need their planned nodes): when it fails alone, the verdict weighs what the other calls
/// read and names what it could not, once.
#[test]
fn a_failing_excluded_nodes_call_is_named_and_the_rest_weighed() {
    let (_tmp, fake, spec) = played_back("multi-exclude-ahead-needs-the-other-node");
    let v = check_json(&fake, &spec);
    assert_eq!(v["outcome"], "starts_now", "{v}");
    fake.fail("queue-excluded.txt", &captured_stderr("squeue"));
    let v = check_json(&fake, &spec);
    assert_eq!(
        v["not_checked"],
        serde_json::json!([
            "the nodes jobs queued ahead exclude not checked (the Slurm controller cannot be reached (`squeue --all -h -t PD -o '%i|%x'` said: slurm_load_jobs error: Unable to contact slurm controller (connect failure)); is slurmctld running? try `scontrol ping`)"
        ]),
        "{v}"
    );
    // Not knowing that job 463, queued ahead, keeps off node yj2, yenjob plans it there: the
    // job waits its turn, and says what it could not check.
    assert_eq!(
        (&v["outcome"], &v["reason"]),
        (&"pends".into(), &"Priority".into()),
        "{v}"
    );
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("job 463 (nobody), queued ahead"),
        "{v}"
    );
}

/// The TRES-minutes counters (`scontrol show assoc_mgr`, read where a limit of used minutes
/// is set): when they cannot be read, the verdict cannot see the QOS's GPU-minutes spent,
/// and says that it did not weigh them.
#[test]
fn unreadable_minutes_counters_are_named() {
    let (_tmp, fake, spec) = played_back("plain-qos-grp-minutes-spent");
    let v = check_json(&fake, &spec);
    assert_eq!(
        (&v["outcome"], &v["reason"]),
        (&"pends".into(), &"QOSGrpGRESMinutes".into())
    );
    fake.fail("assoc-mgr.txt", &captured_stderr("scontrol-assoc-mgr"));
    let v = check_json(&fake, &spec);
    assert_eq!(v["outcome"], "starts_now", "{v}");
    assert_eq!(
        v["not_checked"],
        serde_json::json!([
            "TRES-minutes used (GrpTRESMins) not checked (the Slurm controller cannot be reached (`scontrol show assoc_mgr flags=assoc,qos users=root` said: slurm_load_assoc_mgr_info error: Unable to contact slurm controller (connect failure)); is slurmctld running? try `scontrol ping`)"
        ]),
        "{v}"
    );
}

/// Regression: sinfo printing something else (another format, a wrapper's banner) read as a
/// cluster without nodes — "partition gpu: 0 nodes" and a verdict on that. Output of which
/// no line reads is an error naming the command and what it printed; nothing printed is still
/// nothing (an empty queue is not an error).
#[test]
fn output_that_is_not_slurms_is_an_error_naming_the_command() {
    for (file, printed, command) in [
        ("nodes.txt", "this is not sinfo\n", "sinfo --all -h -N -O"),
        ("queue.txt", "garbage|x\n", "squeue --all -h -O"),
        (
            "partitions.txt",
            "Partition gpu is not what you think\n",
            "scontrol --all show partition -o",
        ),
    ] {
        let (_tmp, fake, spec) = played_back("plain-gpus-per-user");
        fake.print(file, printed);
        let out = fake.yenjob(&["check", spec.to_str().unwrap()]);
        let e = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{file}: {e}");
        assert!(
            out.stdout.is_empty(),
            "{file}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(
            e.contains(&format!("could not understand the output of `{command}"))
                && e.contains(&format!("the first being {:?}", printed.trim())),
            "{file}: {e}"
        );
    }
    // An empty queue is no jobs: the node's 3 GPUs in use are then held by jobs not shown.
    let (_tmp, fake, spec) = played_back("plain-gpus-per-user");
    fake.print("queue.txt", "");
    let v = check_json(&fake, &spec);
    assert_eq!(
        (&v["outcome"], &v["reason"]),
        (&"pends".into(), &"Resources".into()),
        "{v}"
    );
    assert_eq!(
        v["expected_start"],
        serde_json::json!({"not_known": {"jobs_without_time_limit": [], "unseen_on": ["localhost"]}})
    );
}

/// Under PrivateData=jobs a QOS's per-account limits count what the controller counts for
/// the account (its "Account Limits"), hidden jobs too; the call is made where a QOS has
/// only such limits. Regression: they counted the user's own jobs alone, and the verdict
/// said so in `not_checked`.
#[test]
fn per_account_limits_under_private_data_count_hidden_jobs() {
    let (_tmp, fake, spec) = played_back("plain-private-group-gpus-hidden");
    let captured = read(&fake.dir.join("out"), "qos.txt");
    let gpu_line = |fields: &[(usize, &str)]| {
        // QOS_FORMAT's fields: MaxTRESPU 1, MaxJobsPU 2, MaxSubmitPU 3, MaxWall 4, GrpTRES 5,
        // MaxTRESPA 10, MaxJobsPA 11, MaxSubmitPA 12.
        let mut line = vec![""; 20];
        line[0] = "gpu";
        for &(at, value) in [(1, "gres/gpu=4"), (2, "2"), (3, "4"), (4, "1-00:00:00")]
            .iter()
            .chain(fields)
        {
            line[at] = value;
        }
        line.join("|")
    };
    let grp_tres = gpu_line(&[(5, "gres/gpu=3")]);
    assert!(captured.contains(&format!("{grp_tres}\n")), "{captured}");
    // Root's hidden job holds 2 GPUs under QOS gpu, in account yenlab; nobody asks for 2.
    let cases = [
        (
            (10, "gres/gpu=3"),
            "pends",
            "MaxGRESPerAccount",
            "the users of account yenlab hold 2 (2 not shown to you) of the 3 GPUs QOS gpu allows per account (MaxTRESPA); this job asks for 2",
        ),
        (
            (11, "1"),
            "pends",
            "MaxJobsPerAccount",
            "the users of account yenlab run 1 job (1 not shown to you) together under QOS gpu, which allows 1 at once per account (MaxJobsPA)",
        ),
        (
            (12, "1"),
            "rejected",
            "MaxSubmitJobsPerAccount",
            "QOS gpu allows 1 job queued or running per account (MaxSubmitPA), and the users of account yenlab have 1 (1 not shown to you)",
        ),
    ];
    for (per_account, outcome, reason, message) in cases {
        fake.print(
            "qos.txt",
            &captured.replace(&grp_tres, &gpu_line(&[per_account])),
        );
        let v = check_json(&fake, &spec);
        assert_eq!(
            (&v["outcome"], &v["reason"]),
            (&outcome.into(), &reason.into()),
            "{per_account:?}: {v}"
        );
        let said = v["message"].as_str().unwrap_or_default();
        assert!(said.starts_with(message), "{per_account:?}: {said}");
        assert_eq!(v["not_checked"], serde_json::json!([]), "{v}");
    }
}

/// Where the cluster's PrivateData keeps nodes or partitions from the user (captured as
/// nobody; squeue then exits 0 having shown nothing), `check` is an error that says so, and
/// `submit` sends the job without a verdict, sbatch deciding, rather than not at all.
/// Regression: the error said only "exited with status 1", no one on such a cluster could
/// submit, and squeue's refusal read as an empty queue.
#[test]
fn what_private_data_refuses_is_named_and_submit_goes_on_without_a_verdict() {
    for (file, captured, program) in [
        ("nodes.txt", "private-nodes-sinfo", "sinfo"),
        ("nodes.txt", "private-partitions-sinfo", "sinfo"),
        ("partitions.txt", "private-partitions-scontrol", "scontrol"),
        ("queue.txt", "private-partitions-squeue", "squeue"),
    ] {
        let (_tmp, fake, spec) = played_back("plain-gpus-per-user");
        fake.fail_as_captured(file, captured);
        let said = captured_stderr(captured);
        let out = fake.yenjob(&["check", spec.to_str().unwrap()]);
        let e = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{captured}: {e}");
        assert!(out.stdout.is_empty(), "{captured}");
        assert!(
            e.contains(&format!("`{program} "))
                && e.contains(said.trim())
                && e.contains("the cluster's PrivateData (`scontrol show config | grep PrivateData`) keeps this from users like you")
                && e.contains("no pre-flight here (`yenjob submit` still sends the job, without one, for sbatch to decide)"),
            "{captured}: {e}"
        );

        fake.accept_jobs();
        let out = fake.yenjob(&["submit", spec.to_str().unwrap()]);
        let e = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{captured}: {e}");
        assert!(
            e.contains("warning: no pre-flight: `") && e.contains("submitting without one"),
            "{captured}: {e}"
        );
        let submitted = std::fs::read_to_string(fake.dir.join("sbatch-calls")).unwrap_or_default();
        assert!(
            submitted.contains("--parsable"),
            "{captured}: {submitted:?}"
        );
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("4242"),
            "{captured}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        // --json: no verdict, and why.
        let out = fake.yenjob(&["submit", "--json", spec.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(0), "{captured}");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            (&v["submitted"], &v["verdict"]),
            (&true.into(), &serde_json::Value::Null)
        );
        let why = v["verdict_unavailable"].as_str().unwrap_or_default();
        assert!(
            why.contains(said.trim()) && why.ends_with("keeps this from users like you"),
            "{captured}: {v}"
        );
    }
}

/// A sweep's tasks under PrivateData=reservations: test-only is asked of each wave of them,
/// with `--begin` where a wave starts later. Played back as captured: the second task of 40
/// minutes, expected when the first ends, would run into the hidden window and is expected at
/// its end; tasks of 90 minutes all wait for it (Slurm: ReqNodeNotAvail), and the second is
/// asked of when it would follow the first, where test-only finds room. Regression: a sweep
/// kept the warning alone, and its timeline ran through the window.
#[test]
fn a_sweeps_tasks_a_hidden_reservation_holds_up_are_found_by_test_only() {
    let in_minutes = |v: &serde_json::Value, field: &str| {
        let text = v["array"]["timeline"][field]
            .as_str()
            .unwrap_or_else(|| panic!("no {field}: {v}"));
        (clock::parse_timestamp(text).unwrap() - clock::now()) / 60
    };
    let (_tmp, fake, spec) = played_back("plain-private-reservations-maint-array-next-task");
    let v = check_json(&fake, &spec);
    assert_eq!(v["outcome"], "starts_now", "{v}");
    assert_eq!(v["array"]["start_now"], 1, "{v}");
    assert_eq!(v["not_checked"], serde_json::json!([]), "{v}");
    assert!(
        v["facts"]
            .to_string()
            .contains("keeps the nodes before the tasks expected then would end"),
        "{v}"
    );
    assert!((118..=120).contains(&in_minutes(&v, "next_start")), "{v}");
    assert_eq!(fake.unexpected_calls(), "");

    let (_tmp, fake, spec) = played_back("plain-private-reservations-maint-array-waits");
    let v = check_json(&fake, &spec);
    assert_eq!(
        (&v["outcome"], &v["reason"]),
        (&"pends".into(), &"ReqNodeNotAvail".into()),
        "{v}"
    );
    assert!(
        v["message"]
            .as_str()
            .unwrap_or_default()
            .starts_with("none of the 2 tasks starts now: a reservation not shown to you"),
        "{v}"
    );
    assert_eq!(v["not_checked"], serde_json::json!([]), "{v}");
    assert!((118..=120).contains(&in_minutes(&v, "next_start")), "{v}");
    assert!((208..=210).contains(&in_minutes(&v, "last_start")), "{v}");
    assert_eq!(fake.unexpected_calls(), "");
    // `submit --dry-run --json` of the sweep gives the verdict submit would.
    let out = fake.yenjob(&["submit", "--dry-run", "--json", spec.to_str().unwrap()]);
    let dry: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "submit --dry-run --json: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert_eq!(dry["verdict"]["reason"], "ReqNodeNotAvail", "{dry}");
}

/// Under PrivateData=reservations, with the jobs shown, `sbatch --test-only` (which sees the
/// maintenance window hidden from the user) is asked, and its later start is the verdict:
/// Slurm said `ReqNodeNotAvail, Reserved for maintenance`. Where it starts the job now, the
/// warning that a hidden reservation may be in the way goes. Regression: the verdict said
/// "starts now" beside the warning alone.
#[test]
fn a_reservation_hidden_from_the_user_is_found_by_test_only() {
    let (_tmp, fake, spec) = played_back("plain-private-reservations-maint-ahead");
    let v = check_json(&fake, &spec);
    assert_eq!(
        (&v["outcome"], &v["reason"]),
        (&"pends".into(), &"ReqNodeNotAvail".into()),
        "{v}"
    );
    let message = v["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(
            "a reservation not shown to you (the cluster's PrivateData=reservations) keeps the node"
        ),
        "{message}"
    );
    assert!(
        message.ends_with("(in 1 h 59 min) on localhost, not now"),
        "{message}"
    );
    assert_eq!(v["not_checked"], serde_json::json!([]), "{v}");
    assert_eq!(v["expected_start"]["by"]["node"], "localhost", "{v}");
    // `submit --dry-run --json` gives the verdict submit would.
    let out = fake.yenjob(&["submit", "--dry-run", "--json", spec.to_str().unwrap()]);
    let dry: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "submit --dry-run --json: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let verdict = &dry["verdict"];
    assert_eq!(verdict["reason"], "ReqNodeNotAvail", "{dry}");
    assert_eq!(verdict["not_checked"], serde_json::json!([]), "{dry}");
    // A score job of the same size, its own script asked of too.
    let dir = spec.parent().unwrap();
    let model = common::fine_tune(dir, &dir.join("inputs/model"));
    common::write_corpus(&dir.join("news.csv"), 5);
    let out = fake.yenjob(&[
        "score",
        "--backend",
        "slurm",
        "--model",
        model.to_str().unwrap(),
        "--input",
        dir.join("news.csv").to_str().unwrap(),
        "--text-column",
        "text",
        "--output",
        dir.join("scored.csv").to_str().unwrap(),
        "--partition",
        "gpu",
        "--gpus",
        "1",
        "--cpus",
        "1",
        "--time",
        "2:00:00",
        "--dry-run",
        "--json",
    ]);
    let dry: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "score --dry-run --json: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert_eq!(dry["verdict"]["reason"], "ReqNodeNotAvail", "{dry}");

    // The same cluster where test-only starts it now: no reservation is in its way.
    let now = clock::timestamp(clock::now());
    fake.print(
        "test-only.txt",
        &format!("sbatch: Job 31 to start at {now} using 1 processors on nodes localhost in partition gpu\n"),
    );
    let v = check_json(&fake, &spec);
    assert_eq!(v["outcome"], "starts_now", "{v}");
    assert_eq!(v["not_checked"], serde_json::json!([]), "{v}");
    assert!(v["facts"].to_string().contains("none is in its way"), "{v}");
}
