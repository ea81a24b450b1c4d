#!/usr/bin/env bash
# cluster-stop.sh — stop the daemons started by start-cluster.sh, by pid file only.
#   cluster-stop.sh          cancel all jobs, stop slurmd, slurmctld, slurmdbd, mariadbd, munged
#   cluster-stop.sh --wipe   ... and also delete Slurm state (job ids restart at 1), logs and
#                            the accounting database, so the next start is a fresh cluster
set -uo pipefail
SPOOL=/var/spool/slurm
LOGDIR=/var/log/slurm
WIPE=0; [ "${1:-}" = "--wipe" ] && WIPE=1

log() { echo "[cluster-stop $(date +%T)] $*"; }
. "$(dirname "${BASH_SOURCE[0]}")/pidfile.sh"   # alive PIDFILE NAME
stop_pidfile() {   # stop_pidfile NAME PIDFILE
  local name=$1 pf=$2 pid
  [ -s "$pf" ] || { log "$name: no pid file"; return 0; }
  pid=$(cat "$pf")
  if alive "$pf" "$name"; then
    log "$name: SIGTERM $pid"
    kill -TERM "$pid"
    for ((i = 0; i < 60; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    if kill -0 "$pid" 2>/dev/null; then log "$name: still alive, SIGKILL $pid"; kill -KILL "$pid"; fi
  else
    log "$name: pid $pid not running (a stale pid file)"
  fi
  rm -f "$pf"
}

# Jobs run under slurmstepd processes that outlive slurmd; cancel them while slurmctld is up.
if alive "$SPOOL/slurmctld.pid" slurmctld; then
  jobs=$(squeue -h -o %i 2>/dev/null | tr '\n' ' ')
  if [ -n "${jobs// /}" ]; then
    log "cancelling jobs: $jobs"
    scancel $jobs
    for ((i = 0; i < 40; i++)); do [ -z "$(squeue -h -t R,CG -o %i 2>/dev/null)" ] && break; sleep 0.5; done
  fi
fi

stop_pidfile slurmd    "$SPOOL/slurmd.pid"
for pf in "$SPOOL"/slurmd-*.pid; do [ -e "$pf" ] && stop_pidfile slurmd "$pf"; done
stop_pidfile slurmctld "$SPOOL/slurmctld.pid"
stop_pidfile slurmdbd  "$SPOOL/slurmdbd.pid"

if [ $WIPE = 1 ] && alive /run/mysqld/mysqld.pid mariadbd; then
  log "dropping accounting database"
  mariadb -uroot -e 'DROP DATABASE IF EXISTS slurm_acct_db'
fi
stop_pidfile mariadbd /run/mysqld/mysqld.pid
stop_pidfile munged   /run/munge/munged.pid

if [ $WIPE = 1 ]; then
  log "wiping Slurm state and logs"
  rm -rf "$SPOOL/ctld" "$SPOOL/d" "$LOGDIR"/*.log
fi
log "stopped"
