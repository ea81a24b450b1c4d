#!/usr/bin/env bash
# capture-constraint-counts.sh — what Slurm does with a job whose constraint counts a feature
# (`-N2 -C hopper*1`: one of its two nodes has hopper). yenjob's own jobs run on one node and
# may not count, but jobs queued by others may, and the pre-flight plans where they will run.
#
#   scripts/capture-constraint-counts.sh [OUT]    (needs root; default
#                                                  tests/fixtures/constraint-counts/slurm-VERSION.txt)
#
# On the multi shape (yj1: ampere,ib; yj2: hopper,ib), each request is submitted for real
# (sbatch --test-only ignores the count, and names yj1 for `-N1 -C hopper*1`), and one line is
# written: NODES|CONSTRAINT|ran|NODELIST, NODES|CONSTRAINT|pending|REASON or
# NODES|CONSTRAINT|refused|SBATCH'S ERROR. Lines starting with `#` give each node's features.
# The unit tests in src/slurm/constraint.rs hold the constraint's reading to these lines.
# `scripts/slurm-chroot.sh run scripts/capture-constraint-counts.sh` captures 24.11's.
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(scontrol show config | sed -n 's/^SLURM_VERSION *= *\([0-9]*\.[0-9]*\).*/\1/p')
OUT=${1:-tests/fixtures/constraint-counts/slurm-$version.txt}
mkdir -p "$(dirname "$OUT")"

[ "$(cat /var/spool/slurm/shape 2>/dev/null)" = multi ] || bash scripts/cluster-start.sh multi >/dev/null
scancel -u root 2>/dev/null || true

{
  echo "# Slurm $version, $(date -u +%F)"
  sinfo -h -N -p gpu -o '# %N %f' | sort -u
  for request in '1 hopper*1' '2 hopper*1' '1 ampere*1' '2 ampere*1' '1 hopper*2' '2 hopper*2' \
    '2 [ampere*1&hopper*1]' '1 [ampere*1&hopper*1]' '1 ib&hopper*1' '2 ib&hopper*1' '1 ampere*1|hopper'; do
    read -r nodes constraint <<< "$request"
    if ! out=$(sbatch --parsable -p gpu -N "$nodes" --gres=gpu:1 -c 1 -t 5 -C "$constraint" \
      -o /dev/null --wrap 'sleep 30' 2>&1); then
      echo "$nodes|$constraint|refused|$(echo "$out" | sed 's/^sbatch: error: //' | tr '\n' ' ' | sed 's/ *$//')"
      continue
    fi
    id=$out
    state=""
    for ((i = 0; i < 40; i++)); do
      state=$(squeue -h -j "$id" -o '%T|%r|%N')
      case "$state" in RUNNING*) break ;; PENDING\|None*|PENDING\|\|*) ;; PENDING*) break ;; esac
      sleep 0.5
    done
    case "$state" in
      RUNNING*) echo "$nodes|$constraint|ran|${state##*|}" ;;
      *) IFS='|' read -r _ reason _ <<< "$state"; echo "$nodes|$constraint|pending|$reason" ;;
    esac
    scancel "$id"
    for ((i = 0; i < 40; i++)); do [ -z "$(squeue -h -o %i)" ] && break; sleep 0.5; done
  done
} > "$OUT"
cat "$OUT"
bash scripts/cluster-start.sh plain >/dev/null
