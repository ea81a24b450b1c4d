#!/usr/bin/env bash
# slurm-chroot.sh — a second real Slurm, of another version, beside Debian 12's 22.05: Debian 13
# (trixie) in a chroot with its Slurm 24.11, MUNGE and MariaDB, so that the pre-flight is checked
# against what a newer Slurm really does. The chroot sees this repository at the same path, and
# scripts/cluster-start.sh and scripts/capture-preflight.sh run in it unchanged.
#
#   scripts/slurm-chroot.sh setup           debootstrap the chroot and install the packages (once)
#   scripts/slurm-chroot.sh start [SHAPE]   stop this host's cluster, start the chroot's
#   scripts/slurm-chroot.sh capture         the cross-section below, into
#                                           tests/fixtures/preflight-slurm-24.11
#   scripts/slurm-chroot.sh test [FILTER]   yenjob's live suite (tests/cluster.rs), built here,
#                                           run in the chroot against its cluster (start first)
#   scripts/slurm-chroot.sh run CMD...      a command in the chroot, in this repository
#   scripts/slurm-chroot.sh stop            stop the chroot's cluster
#
# Both clusters use the same ports (6817-6819, 3306), so only one runs at a time: `start` stops
# the host's, and scripts/cluster-start.sh starts it again after `stop`. Needs root and
# deb.debian.org.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=${SLURM_CHROOT:-/srv/trixie}
SUITE=trixie
OUT=tests/fixtures/preflight-slurm-24.11

# The scenarios captured on 24.11 (names as in capture-preflight.sh, SHAPE-NAME): each verdict
# class and reason, limits of every kind, reservations, arrays, PrivateData, expected starts,
# each cluster shape but preempt, and every scenario that mixes a partition limit with
# another (where 24.11 was found to decide otherwise than 22.05).
PLAIN='starts|unknown-partition|more-gpus-than-a-node|more-cpus-than-a-node|over-partition-time|more-memory-than-a-node|qos-not-allowed|gpu-type-not-on-any-node|node-busy|gpus-per-user|jobs-per-user|jobs-and-gpus-per-user|submit-limit|queue-ahead-held-up|queue-ahead-backfilled|queue-ahead-planned-held-up|node-drained|node-down|partition-down|partition-drain|partition-inactive|over-max-mem-per-node|partition-min-nodes|partition-root-only|partition-needs-reservation|partition-no-root-jobs|partition-exclusive-node-busy|force-shares-cpus|exclusive-node-busy|max-mem-per-cpu-raises-cpus|group-not-allowed|maint-ahead-job-ends-before|maint-ahead-job-runs-into-it|maint-now|reserved-now|in-reservation-now|in-unknown-reservation|cores-reserved-job-fits|cores-reserved-job-too-big|account-gpus|account-jobs|account-submit|qos-account-gpus|qos-account-jobs|qos-group-submit|qos-min-gpus|qos-gpu-minutes|qos-run-minutes|qos-grp-minutes-spent|qos-deny-min-gpus|association-jobs-same-account|partition-association-gpus|qos-grp-wall-spent|array-fits|array-throttled|array-waits-on-jobs-per-user|array-waits-for-cpus|array-behind-queued|array-over-submit-limit|array-over-max-array-size|private-jobs-hidden-holder|private-reservations-maint-ahead|private-queue-ahead-held-up|private-qos-account-gpus-hidden|when-the-later-job-ends|when-a-cpu-frees|when-memory-frees|partition-down-over-partition-time|over-max-mem-per-node-and-time|partition-min-nodes-over-partition-time|over-partition-time-more-gpus-than-a-node|partition-min-nodes-more-gpus-than-a-node|partition-min-nodes-jobs-per-user|partition-max-nodes-zero|partition-max-nodes-zero-more-gpus-than-a-node|group-allowed|group-not-allowed-root|group-not-allowed-drained-partition|group-not-allowed-more-gpus-than-a-node|group-not-allowed-qos-not-allowed|partition-down-more-cpus-than-a-node|over-max-mem-per-node-and-cpus|max-mem-per-cpu-raised-over-a-node|partition-needs-reservation-group-not-allowed|partition-root-only-group-not-allowed|node-drained-and-gpus-per-user|partition-down-node-drained|group-not-allowed-unknown-account|partition-down-jobs-per-user|over-max-mem-per-node-and-jobs-per-user'
TYPED='starts-typed|group-not-allowed|unknown-gpu-type|over-max-cpus-per-node|cpus-per-user|memory-per-user|deny-on-limit-gpus|deny-on-limit-wall|gpus-per-job|group-jobs|typed-gpus-counted-once|association-gpus-deny-on-limit|over-short-time|qos-not-allowed-in-partition|over-partition-time|partition-min-nodes|partition-max-nodes-zero|more-typed-gpus-than-a-node|group-not-allowed-qos-not-allowed-in-partition|partition-down-over-max-cpus-per-node|max-mem-per-cpu-raised-over-max-cpus-per-node'
MULTI='two-nodes-ahead-held-up|counted-constraint-ahead-needs-the-other-node|weight-ahead-on-the-lighter-node|weight-the-heavier-node-free|two-ahead-one-shape-held-up|constraint-starts|constraint-unknown-feature|constraint-node-busy|nodelist-node-busy|exclusive-other-node-free|when-the-first-node-frees|constraint-unknown-feature-over-partition-time|exclude-every-node-over-partition-time'
MIXED='typed-starts|typed-other-type-busy|when-its-type-frees'
CROSS_SECTION="^(plain-($PLAIN)|typed-($TYPED)|multi-($MULTI)|mixed-($MIXED))\$"

log() { echo "[slurm-chroot $(date +%T)] $*" >&2; }

mounted() { mountpoint -q "$ROOT/$1"; }
# Binds DIR (absolute) at the same path in the chroot. A bind mount outlives its source being
# replaced (a new session's ../shared, a fresh clone), and then shows the old one, or
# nothing: bind again when the mount is not DIR itself (same device and inode).
bind_here() {
  if mounted "${1#/}"; then
    [ "$(stat -c %d:%i "$1")" = "$(stat -c %d:%i "$ROOT$1")" ] && return 0
    umount -l "$ROOT$1"
  fi
  mkdir -p "$ROOT$1"
  mount --bind "$1" "$ROOT$1"
}
mount_all() {
  local m
  for m in proc sys dev dev/pts; do mounted "$m" || mount --bind "/$m" "$ROOT/$m"; done
  bind_here "$PWD"
  # data/ links the Financial PhraseBank in ../shared: the same path in the chroot.
  local shared
  shared=$(realpath -m ../shared)
  if [ -d "$shared" ]; then bind_here "$shared"; fi
  # Slurm resolves "localhost" by /etc/hosts; munged wants the host's name too.
  cp /etc/hosts /etc/resolv.conf "$ROOT/etc/"
}

in_chroot() {
  mount_all
  chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
    ONLY="${ONLY:-}" bash -c "cd '$PWD' && $*"
}

case "${1:-}" in
  setup)
    command -v debootstrap >/dev/null || apt-get install -y -qq debootstrap >/dev/null
    [ -x "$ROOT/usr/bin/apt-get" ] || { log "debootstrap $SUITE into $ROOT"; debootstrap --variant=minbase "$SUITE" "$ROOT" http://deb.debian.org/debian >/dev/null; }
    in_chroot 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends munge slurmctld slurmd slurm-client slurmdbd mariadb-server procps util-linux >/dev/null'
    in_chroot 'slurmctld -V' ;;
  start)
    bash scripts/cluster-stop.sh >/dev/null 2>&1 || true
    in_chroot "bash scripts/cluster-start.sh ${2:-plain}" ;;
  capture)
    ONLY=$CROSS_SECTION in_chroot "bash scripts/capture-preflight.sh $OUT"
    in_chroot 'slurmctld -V' > "$OUT/slurm-version.txt" ;;
  test)
    # Built on this host (the chroot has no Rust), run in the chroot, where scontrol, sbatch
    # and squeue are 24.11's; the tests find the yenjob binary (which cargo builds with
    # them) beside their own.
    suite=$(cargo test --release --test cluster --no-run --message-format=json 2>/dev/null |
      grep '"kind":\["test"\],[^}]*"name":"cluster"' |
      sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -1)
    [ -x "$suite" ] || { log "could not build tests/cluster.rs"; exit 1; }
    in_chroot "'$suite' --include-ignored --test-threads 1 ${2:-}" ;;
  run)
    shift; in_chroot "$@" ;;
  stop)
    in_chroot 'bash scripts/cluster-stop.sh' ;;
  *)
    sed -n '2,18p' "$0" >&2; exit 2 ;;
esac
