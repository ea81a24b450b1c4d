#!/usr/bin/env bash
# capture-readme.sh — run the README's story on the real cluster and print every command with
# its output, so the README shows what yenjob and Slurm really did.
#
#   scripts/capture-readme.sh > /tmp/readme-capture.txt     (needs root, the model and the data)
#
# Part 1, on the plain shape: check of the reference spec (10 CPUs on 2-CPU nodes), submit of
# the CI-sized spec, a second and a third submit while it runs, status, cancel both, tail to
# the end, status, report, predict, a 5,000-row corpus scored as a job with the run's model (its first rows, its
# report). Part 2, still plain: check of the reference sweep (9 tasks) and of the
# CI-sized one, submit of the CI-sized sweep, status, status of the sweep, report once every
# task ended. Part 3: `yenjob config` with a site and a user file. Part 4, on the typed shape: check of requests that hit several limits, a
# DenyOnLimit QOS and a partition limit under EnforcePartLimits=ALL; then back to plain. Part 5:
# check as user nobody on a cluster whose PrivateData=jobs hides root's job holding GPUs. Part 6:
# check and submit as nobody where PrivateData=nodes refuses sinfo.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q
Y="$PWD/target/release/yenjob"
# A fresh run index, so `status` shows this story's jobs only.
YENJOB_HOME=$(mktemp -d)
export YENJOB_HOME
show() { echo "\$ yenjob $*"; "$Y" "$@" 2>&1 || true; echo; }
job_of() { sed -n 's/^Submitted Slurm job \([0-9]*\):.*/\1/p'; }
clear_queue() {
  scancel -u root 2>/dev/null || true; scancel -u nobody 2>/dev/null || true
  for ((i = 0; i < 60; i++)); do [ -z "$(squeue -h -o %i)" ] && break; sleep 0.5; done
}

bash scripts/cluster-start.sh plain >/dev/null
clear_queue
show check jobs/finbert.toml
out=$("$Y" submit jobs/finbert-ci.toml 2>&1); echo "\$ yenjob submit jobs/finbert-ci.toml"; echo "$out"; echo
first=$(echo "$out" | job_of)
for ((i = 0; i < 60; i++)); do [ "$(squeue -h -j "$first" -o %T)" = RUNNING ] && break; sleep 0.5; done
sleep 15
out=$("$Y" submit jobs/finbert-ci.toml 2>&1); echo "\$ yenjob submit jobs/finbert-ci.toml   # a second one, while the first runs"; echo "$out"; echo
second=$(echo "$out" | job_of)
out=$("$Y" submit jobs/finbert-ci.toml 2>&1); echo "\$ yenjob submit jobs/finbert-ci.toml   # a third one, queued behind the second"; echo "$out"; echo
third=$(echo "$out" | job_of)
# The backfill scheduler (every 30 s) plans the third once the second is planned before it.
for ((i = 0; i < 90; i++)); do
  [ "$(squeue -h -j "$third" -o %S)" != "$(squeue -h -j "$second" -o %S)" ] && break; sleep 1
done
show status
show cancel "$second"
show cancel "$third"
show tail "$first"
show status "$first"
show report "$first"
show predict "Operating profit rose to EUR 13.1 mn from EUR 8.7 mn in the corresponding period in 2007." \
  "Net sales decreased to EUR 40 mn from EUR 52 mn." \
  "The annual general meeting will be held in Helsinki on 20 March."
# A news corpus (5,000 rows of id, date, text drawn from the PhraseBank) scored as a job with
# the run's model: the job borrows the run's [job] table (partition gpu, 1 GPU, 2 CPUs).
corpus=$(mktemp -d)
python3 - "$corpus/news.csv" <<'PY'
import csv, random, sys
random.seed(7)
lines = [l.rsplit("@", 1)[0] for l in open("data/Sentences_AllAgree.txt", encoding="latin-1")]
with open(sys.argv[1], "w", newline="") as f:
    w = csv.writer(f, lineterminator="\n")
    w.writerow(["id", "date", "text"])
    for i in range(5000):
        w.writerow([i + 1, f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}", random.choice(lines)])
PY
(cd "$corpus" && echo "\$ yenjob score --job $first --input news.csv --text-column text --output news-scored.csv --follow" &&
  { "$Y" score --job "$first" --input news.csv --text-column text --output news-scored.csv --follow 2>&1 || true; } && echo &&
  echo "\$ head -4 news-scored.csv" && head -4 news-scored.csv && echo)
show report
rm -rf "$corpus"

# Part 2: a sweep.
show check jobs/finbert-sweep.toml
out=$("$Y" submit jobs/finbert-sweep-ci.toml 2>&1); echo "\$ yenjob submit jobs/finbert-sweep-ci.toml"; echo "$out"; echo
sweep=$(echo "$out" | sed -n 's/^Submitted Slurm job array \([0-9]*\):.*/\1/p')
sleep 30
show status
show status "$sweep"
for ((i = 0; i < 900; i++)); do [ -z "$(squeue -h -j "$sweep" -o %i)" ] && break; sleep 1; done
show report "$sweep"

# Part 3: a site and a user file, and what they give a spec.
cfg=$(mktemp -d)
mkdir -p "$cfg/etc" "$cfg/home/.config/yenjob"
cat > "$cfg/etc/config.toml" <<'TOML'
[job]
partition = "gpu"
account = "yenlab"
qos = "gpu"
gpu_request = "gpus"
modules = ["cuda/12.4"]
TOML
cat > "$cfg/home/.config/yenjob/config.toml" <<'TOML'
[job]
env = { HF_HOME = "/scratch/hf" }
TOML
echo "\$ YENJOB_SITE_CONFIG=$cfg/etc/config.toml XDG_CONFIG_HOME=$cfg/home/.config yenjob config jobs/finbert-ci.toml"
YENJOB_SITE_CONFIG="$cfg/etc/config.toml" XDG_CONFIG_HOME="$cfg/home/.config" "$Y" config jobs/finbert-ci.toml 2>&1; echo
rm -rf "$cfg"

# Part 4: the typed shape.
bash scripts/cluster-start.sh typed >/dev/null
clear_queue
tmp=$(mktemp -d)
spec() {   # spec NAME JOB-KEYS...: the CI spec with [job] keys replaced
  local f="$tmp/$1.toml"; shift
  cp jobs/finbert-ci.toml "$f"
  sed -i "s|^data = \"|data = \"$PWD/jobs/|; s|^model = \"\.\.|model = \"$PWD|" "$f"
  for kv in "$@"; do
    local k=${kv%% =*}
    if grep -q "^$k = " "$f"; then sed -i "s|^$k = .*|$kv|" "$f"; else sed -i "/^\[job\]/a $kv" "$f"; fi
  done
  echo "$f"
}
sbatch -Q -J holder -o /dev/null -p gpu -c 3 --gres=gpu:a30:2 -t 10:00 --wrap 'sleep 600'
sleep 3
echo "\$ squeue -o '%i %P %C %b %T'   # one job holds 3 CPUs and 2 a30 GPUs under QOS lab"
squeue -o '%i %P %C %b %T'; echo
f=$(spec typed 'gpus = "a30:1"' 'cpus = 2' 'time = "1:00:00"')
echo "\$ grep -E '^(partition|gpus|cpus|time)' typed.toml"; grep -E '^(partition|gpus|cpus|time)' "$f"; echo
show check "$f"
f=$(spec deny 'partition = "short"' 'qos = "deny"' 'gpus = 2' 'cpus = 1' 'time = "20:00"')
echo "\$ grep -E '^(partition|qos|gpus|cpus|time)' deny.toml"; grep -E '^(partition|qos|gpus|cpus|time)' "$f"; echo
show check "$f"
f=$(spec cpus 'gpus = 1' 'cpus = 8' 'time = "1:00:00"')
echo "\$ grep -E '^(partition|gpus|cpus|time)' cpus.toml"; grep -E '^(partition|gpus|cpus|time)' "$f"; echo
show check "$f"
clear_queue
bash scripts/cluster-start.sh plain >/dev/null

# Part 5, plain: PrivateData=jobs hides root's job from user nobody, who sees its GPUs in use.
sed -i '/^PrivateData=/d' /etc/slurm/slurm.conf; echo PrivateData=jobs >> /etc/slurm/slurm.conf
scontrol reconfigure
sbatch -Q -J holder -o /dev/null -p gpu -c 1 --gres=gpu:3 -t 10:00 --wrap 'sleep 600'
sleep 3
chmod a+rx "$tmp"
f=$(spec private 'gpus = 2' 'cpus = 1'); chmod a+r "$f"
echo "\$ grep -E '^(partition|gpus|cpus|time)' private.toml"; grep -E '^(partition|gpus|cpus|time)' "$f"; echo
echo "\$ squeue   # as nobody: root's job is not shown"; runuser -u nobody -- squeue; echo
echo "\$ yenjob check private.toml   # as nobody"
runuser -u nobody -- env YENJOB_HOME="$tmp/nobody" "$Y" check "$f" 2>&1 || true; echo
clear_queue

# Part 6, plain: PrivateData=nodes refuses sinfo to nobody: check says why, submit goes on.
sed -i '/^PrivateData=/d' /etc/slurm/slurm.conf; echo PrivateData=nodes >> /etc/slurm/slurm.conf
scontrol reconfigure
mkdir -p "$tmp/nobody"; chown nobody "$tmp/nobody"
f=$(spec nodes 'gpus = 1' 'cpus = 1' 'runs_dir = "nobody/runs"'); chmod a+r "$f"
echo "\$ yenjob check nodes.toml   # as nobody, PrivateData=nodes"
runuser -u nobody -- env YENJOB_HOME="$tmp/nobody" "$Y" check "$f" 2>&1 || true; echo
echo "\$ yenjob submit nodes.toml   # as nobody, PrivateData=nodes"
(cd "$tmp" && runuser -u nobody -- env YENJOB_HOME="$tmp/nobody" "$Y" submit "$f" 2>&1) || true; echo
echo "\$ squeue   # as root"; squeue; echo
clear_queue
sed -i '/^PrivateData=/d' /etc/slurm/slurm.conf; scontrol reconfigure
rm -rf "$tmp" "$YENJOB_HOME"
