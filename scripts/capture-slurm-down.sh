#!/usr/bin/env bash
# capture-slurm-down.sh — what Slurm's commands print when a daemon is down, for the tests
# that play captures back through a fake Slurm (tests/fake_slurm.rs) and make a call fail:
# their stderr is Slurm's own, not made up.
#
#   bash scripts/capture-slurm-down.sh     (on the cluster of scripts/cluster-start.sh)
#
# Stops slurmdbd, runs the sacctmgr calls yenjob makes, starts it again; then does the same
# with slurmctld and the scontrol/sinfo/squeue calls; then, as user nobody, the calls a
# cluster's PrivateData refuses. Each call's stderr and exit status go to
# tests/fixtures/slurm-down/PROGRAM-WHAT.stderr and .status. Jobs on the cluster are kept
# (slurmctld keeps its state over a restart), but none should be running.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=tests/fixtures/slurm-down
SPOOL=/var/spool/slurm
mkdir -p "$OUT"
SHAPE=$(cat "$SPOOL/shape" 2>/dev/null || echo plain)

log() { echo "[capture-slurm-down $(date +%T)] $*"; }
stop() {   # stop PIDFILE: SIGTERM and wait until it is gone
  local pid
  pid=$(cat "$1")
  kill -TERM "$pid"
  for ((i = 0; i < 60; i++)); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.5; done
  kill -KILL "$pid"
}
call() {   # call NAME PROGRAM ARGS...: keeps its stderr and exit status
  local name=$1; shift
  timeout 120 "$@" > /dev/null 2> "$OUT/$name.stderr"
  echo $? > "$OUT/$name.status"
  log "$name: exit $(cat "$OUT/$name.status"): $(head -c 200 "$OUT/$name.stderr" | tr '\n' ' ')"
}

log "slurmdbd down"
stop "$SPOOL/slurmdbd.pid"
call sacctmgr-qos sacctmgr -P -n show qos format=Name,MaxTRESPU
call sacctmgr-assoc sacctmgr -P -n show assoc where user=root format=Account,User
call sacctmgr-user sacctmgr -P -n show user root format=DefaultAccount
bash scripts/cluster-start.sh "$SHAPE" > /dev/null

log "slurmctld down"
stop "$SPOOL/slurmctld.pid"
call scontrol-config scontrol show config
call scontrol-partitions scontrol --all show partition -o
call sinfo sinfo --all -h -N -O NodeList:
call squeue squeue --all -h -O JobArrayID:
call scontrol-assoc-mgr scontrol show assoc_mgr flags=assoc,qos users=root
bash scripts/cluster-start.sh "$SHAPE" > /dev/null

# Not a daemon down: what a user reads is refused where slurm.conf's PrivateData keeps it
# from users (nodes: sinfo; partitions: scontrol's partitions, and squeue, which loads them).
private_data() {   # private_data WHAT: PrivateData=WHAT (none for ""), read again
  sed -i '/^PrivateData=/d' /etc/slurm/slurm.conf
  [ -n "$1" ] && echo "PrivateData=$1" >> /etc/slurm/slurm.conf
  scontrol reconfigure
}
log "PrivateData=nodes, then partitions, as nobody"
private_data nodes
call private-nodes-sinfo runuser -u nobody -- sinfo --all -h -N -O NodeList:
private_data partitions
call private-partitions-sinfo runuser -u nobody -- sinfo --all -h -N -O NodeList:
call private-partitions-scontrol runuser -u nobody -- scontrol --all show partition -o
call private-partitions-squeue runuser -u nobody -- squeue --all -h -O JobArrayID:
private_data ""
log "done: $OUT"
