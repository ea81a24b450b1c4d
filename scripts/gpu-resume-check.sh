#!/usr/bin/env bash
# gpu-resume-check.sh BIN MODEL DATA — on a GPU node: an uninterrupted 3-epoch fine-tune, then
# the same one stopped by SIGUSR1 (what Slurm sends before a time limit) once it logs step 130
# and resumed from its checkpoint; prints both runs' last training line and test metrics,
# which should match. BIN is yenjob built with `--features cuda`; DEVICE=cpu rehearses the
# script without a GPU. (On the CPU, tests/worker.rs and tests/cluster.rs check the same.)
set -uo pipefail
BIN=$(realpath "$1") MODEL=$(realpath "$2") DATA=$(realpath "$3")
dir=$(mktemp -d)
cat > "$dir/spec.toml" <<TOML
[job]
name = "resume-check"
partition = "gpu"
time = "0:30:00"
[train]
data = "$DATA"
model = "$MODEL"
device = "${DEVICE:-cuda}"
epochs = 3
log_every = 10
TOML
"$BIN" worker --spec "$dir/spec.toml" --run-dir "$dir/full" > "$dir/full.log" 2>&1
echo "uninterrupted: exit $?"
"$BIN" worker --spec "$dir/spec.toml" --run-dir "$dir/cut" > "$dir/cut.log" 2>&1 &
pid=$!
for _ in $(seq 1 600); do grep -q "step 130/" "$dir/cut.log" 2>/dev/null && break; sleep 0.05; done
kill -USR1 "$pid"
wait "$pid"
echo "signalled: exit $? (75: checkpointed)"
"$BIN" worker --spec "$dir/spec.toml" --run-dir "$dir/cut" > "$dir/resumed.log" 2>&1
echo "resumed: exit $?"
grep -h -E "stopping: checkpoint|resuming from" "$dir/cut.log" "$dir/resumed.log"
grep -E "step 300/|test after" "$dir/full.log" "$dir/resumed.log"
echo "logs in $dir"
