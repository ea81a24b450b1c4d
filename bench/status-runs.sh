#!/usr/bin/env bash
# status-runs.sh — what `yenjob status` costs the cluster over a long history: N recorded runs
# (default 1000) whose job ids are real jobs of the running cluster (finished ones from
# accounting, and two that run now). Prints, for each refresh, how many times it called squeue,
# sacct and scontrol (shims on PATH count them) and how long it took.
#
#   bench/status-runs.sh [N]        (needs scripts/cluster-start.sh and some finished jobs)
#   BASELINE=/path/to/older/yenjob bench/status-runs.sh     also times an older build, first
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000}
Y="$PWD/target/release/yenjob"
[ -x "$Y" ] || cargo build --release -q

work=$(mktemp -d)
trap 'scancel --name=yj-status-bench 2>/dev/null || true; rm -rf "$work"' EXIT
export YENJOB_HOME="$work/home"
mkdir -p "$work/shims" "$YENJOB_HOME/index"
for tool in squeue sacct scontrol; do
  real=$(command -v "$tool")
  printf '#!/bin/sh\necho %s >> %s/calls\nexec %s "$@"\n' "$tool" "$work" "$real" > "$work/shims/$tool"
  chmod +x "$work/shims/$tool"
done

# Two jobs that run now, and the finished jobs accounting knows.
running=$(for _ in 1 2; do sbatch --parsable -J yj-status-bench -p normal -c 1 -t 10:00 -o /dev/null --wrap 'sleep 600'; done | tr '\n' ' ')
finished=$(sacct -X -n -P -o JobID,State -S 2026-01-01 | awk -F'|' '$1 ~ /^[0-9]+$/ && $2 !~ /RUNNING|PENDING/ {print $1}' | tr '\n' ' ')
python3 - "$N" "$work" "$running" "$finished" <<'EOF'
import json, os, sys
n, work, running, finished = int(sys.argv[1]), sys.argv[2], sys.argv[3].split(), sys.argv[4].split()
ids = (finished * (n // max(len(finished), 1) + 1))[: n - len(running)] + running
for i, job in enumerate(ids):
    run_id = f"20261128-{i:06d}-bench-{i:04x}"
    run_dir = os.path.join(work, "runs", run_id)
    os.makedirs(run_dir)
    record = {
        "run_id": run_id, "run_dir": run_dir, "backend": "slurm", "job_id": job,
        "cluster": None, "job_name": "bench", "partition": "normal", "gpus": 0,
        "time_limit_seconds": 600, "submitted_at": f"2026-11-28T00:{i // 60 % 60:02d}:{i % 60:02d}Z",
        "spec_source": "bench.toml", "git_commit": None,
        "log_path": os.path.join(run_dir, "job.log"), "sbatch_arguments": [], "local_pid": None,
    }
    for path in (os.path.join(run_dir, "run.json"), os.path.join(work, "home", "index", run_id + ".json")):
        with open(path, "w") as f:
            json.dump(record, f)
EOF
echo "$N recorded runs: $(echo "$running" | wc -w) running, the rest finished ($(echo "$finished" | wc -w) distinct job ids)"

refresh() {   # refresh LABEL ARGS...
  local label=$1; shift
  : > "$work/calls"
  local start end lines
  start=$(date +%s.%N)
  lines=$(PATH="$work/shims:$PATH" "${BIN:-$Y}" status "$@" | wc -l)
  end=$(date +%s.%N)
  printf '%-44s %6.2f s  squeue %s, sacct %s, scontrol %s; %s lines\n' "$label" \
    "$(echo "$end - $start" | bc)" \
    "$(grep -c '^squeue' "$work/calls" || true)" "$(grep -c '^sacct' "$work/calls" || true)" \
    "$(grep -c '^scontrol' "$work/calls" || true)" "$lines"
}
if [ -n "${BASELINE:-}" ]; then
  BIN=$BASELINE refresh "baseline: status"
  BIN=$BASELINE refresh "baseline: status --all" --all
fi
refresh "status (first: no end recorded yet)"
refresh "status (again: ends recorded in run.json)"
refresh "status --all" --all
refresh "status --json --all" --json --all
