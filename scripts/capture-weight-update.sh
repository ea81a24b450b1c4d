#!/usr/bin/env bash
# capture-weight-update.sh — whether the backfill scheduler follows a node's Weight set with
# `scontrol update weight=` as it follows one set in slurm.conf. yenjob reads the Weight sinfo
# shows, which is the same either way.
#
#   scripts/capture-weight-update.sh [OUT]    (needs root; default
#                                              tests/fixtures/weight-update/slurm-VERSION.txt)
#
# On the multi shape, yj1 is made heavier (Weight=10) one way, then the other. A job of
# partition normal holds one GPU of each node for 10 minutes, a job of nobody's queued ahead
# waits for both GPUs of one node, and a 30-minute job that names yj1 is submitted behind it.
# Where backfill plans the job ahead on the lighter yj2, the job on yj1 runs; on yj1, it waits.
# One line a way: HOW|WEIGHT SINFO SHOWS|SCHEDNODES OF THE JOB AHEAD|STATE OF THE JOB ON YJ1.
# `scripts/slurm-chroot.sh run scripts/capture-weight-update.sh` captures 24.11's.
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(scontrol show config | sed -n 's/^SLURM_VERSION *= *\([0-9]*\.[0-9]*\).*/\1/p')
OUT=${1:-tests/fixtures/weight-update/slurm-$version.txt}
mkdir -p "$(dirname "$OUT")"

bash scripts/cluster-start.sh multi >/dev/null
conf=$(scontrol show config | awk '$1 == "SLURM_CONF" {print $3}')

# The job ahead's planned nodes and the job on yj1's state, once backfill (every 30 s) has run.
try() {
  local ahead on_yj1 i
  sbatch --parsable -J yj-holder -o /dev/null --uid=nobody -D /tmp -p normal -N 2 --gres=gpu:1 \
    -c 1 -t 10:00 --wrap 'sleep 600' >/dev/null
  sleep 3
  ahead=$(sbatch --parsable -J yj-ahead -o /dev/null --uid=nobody -D /tmp -p gpu --gres=gpu:2 \
    -c 1 -t 10:00 --wrap 'sleep 600')
  sleep 2
  on_yj1=$(sbatch --parsable -J yj-behind -o /dev/null -p gpu --gres=gpu:1 -c 1 -t 30:00 -w yj1 \
    --wrap 'sleep 600')
  for ((i = 0; i < 90; i++)); do
    [ "$(squeue -h -j "$ahead" -o %Y)" != "(null)" ] && break; sleep 1
  done
  sleep 35
  echo "$(sinfo -h -N -n yj1 -O 'Weight' | head -1 | tr -d ' ')|$(squeue -h -j "$ahead" -o %Y)|$(squeue -h -j "$on_yj1" -o %T)"
  scancel -u root; scancel -u nobody
  for ((i = 0; i < 60; i++)); do [ -z "$(squeue -h -o %i)" ] && break; sleep 0.5; done
}

{
  echo "# Slurm $version, $(date -u +%F)"
  scontrol update nodename=yj1 weight=10
  echo "scontrol update|$(try)"
  scontrol reconfigure   # back to slurm.conf's Weight, 1
  sleep 5
  sed -i -e '/^NodeName=yj1 /s/$/ Weight=10/' "$conf"
  scontrol reconfigure
  sleep 5
  echo "slurm.conf|$(try)"
  sed -i -e '/^NodeName=yj1 /s/ Weight=10//' "$conf"
  scontrol reconfigure
} > "$OUT"
cat "$OUT"
