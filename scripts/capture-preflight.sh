#!/usr/bin/env bash
# capture-preflight.sh — the oracle for yenjob's pre-flight: for each scenario, set the cluster
# up (shape, jobs holding resources, drained node), save exactly what `yenjob check` reads, then
# hand the same request to sbatch and record what Slurm really does with it.
#
#   scripts/capture-preflight.sh [OUT]      (default tests/fixtures/preflight; needs root)
#   ONLY=typed-group scripts/capture-preflight.sh    just the scenarios that match
#
# Each scenario becomes OUT/NAME/ with
#   request.txt   the job request as key=value words (partition, gpus, cpus, mem, time, qos,
#                 account, reservation, constraint, nodelist, exclude; a job array: tasks=N
#                 and throttle=K for --array=0-(N-1)%K)
#   partitions.txt nodes.txt queue.txt qos.txt assoc.txt user.txt config.txt groups.txt
#   reservations.txt now.txt accounts.txt queue-accounts.txt queue-excluded.txt
#                 what yenjob reads (as the request's user=, root by default), and when
#   slurm.txt     what Slurm did: "running", "pending|REASON" or "rejected|SBATCH STDERR";
#                 for an array "array|RUNNING TASKS|REASON THE OTHERS WAIT FOR" (- if none wait)
#   test-only.txt what `sbatch --test-only` said of the request before it was submitted
#   planned.txt   for a request that waited for nodes (Resources, Priority, nodes kept for a
#                 job queued ahead or for a reservation), the backfill scheduler's plan:
#                 "STATE|StartTime|SchedNodes"; for an array, that of its waiting tasks' record
#   starts.txt    (special "starts") when the request really started, each task of an array
# tests in src/preflight replay every folder and compare yenjob's verdict with slurm.txt, and
# its expected start with test-only.txt and planned.txt.
# The command formats below must stay those of src/slurm (a unit test checks they do).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-tests/fixtures/preflight}
mkdir -p "$OUT"

NODE_FORMAT='NodeList:|,Partition:|,StateLong:|,CPUsState:|,Memory:|,AllocMem:|,Gres:|,GresUsed:|,Features:|,Weight:|'
QUEUE_FORMAT='JobArrayID:|,Partition:|,UserName:|,State:|,TimeUsed:|,TimeLimit:|,NumCPUs:|,tres-alloc:|,QOS:|,Reason:|,StartTime:|,NodeList:|,Name:'
QOS_FORMAT='format=Name,MaxTRESPU,MaxJobsPU,MaxSubmitPU,MaxWall,GrpTRES,GrpJobs,MaxTRES,MaxTRESPerNode,Flags,MaxTRESPA,MaxJobsPA,MaxSubmitPA,GrpSubmit,MinTRES,MaxTRESMins,GrpTRESRunMins,GrpTRESMins,GrpWall,Preempt'
ASSOC_FORMAT='format=Cluster,Account,User,Partition,QOS,DefaultQOS,GrpTRES,MaxTRES,MaxJobs,MaxSubmit,MaxWall,GrpTRESMins,GrpTRESRunMins,MaxTRESMins,GrpWall'
USER_FORMAT='format=DefaultAccount'
ACCOUNT_FORMAT='format=Cluster,Account,ParentName,GrpTRES,GrpJobs,GrpSubmit,GrpTRESMins,GrpTRESRunMins,GrpWall'
JOB_EXTRA_FORMAT='JobArrayID:|,Account:|,Reservation:|,SchedNodes:|,Feature:|,ReqNodes:'
JOB_EXCLUDED_FORMAT='%i|%x'

log() { echo "[capture-preflight $(date +%T)] $*" >&2; }

# A partition's PriorityTier in the current shape: the preempt shape ranks gpu above normal.
tier_of() {
  if [ "$(cat /var/spool/slurm/shape 2>/dev/null)" = preempt ] && [ "$1" = gpu ]; then echo 2; else echo 1; fi
}

clear_queue() {
  scancel -u root 2>/dev/null || true
  scancel -u nobody 2>/dev/null || true
  for ((i = 0; i < 60; i++)); do [ -z "$(squeue -h -o %i)" ] && break; sleep 0.5; done
  for node in $(sinfo -h -N -o %N | sort -u); do
    scontrol update nodename="$node" state=resume >/dev/null 2>&1 || true
  done
  local part resv
  for resv in $(scontrol show reservation -o 2>/dev/null | grep -o 'ReservationName=[^ ]*' | cut -d= -f2); do
    scontrol delete reservationname="$resv"
  done
  local nodes=localhost
  [ "$(cat /var/spool/slurm/shape 2>/dev/null)" = multi ] && nodes='yj[1-2]'
  for part in $(sinfo -h -o %R); do scontrol update partitionname="$part" nodes="$nodes" state=up maxmempernode=0 allowgroups=ALL \
    minnodes=0 maxnodes=unlimited rootonly=no reqresv=no exclusiveuser=no oversubscribe=no disablerootjobs=no \
    prioritytier="$(tier_of "$part")"; done
  for ((i = 0; i < 60; i++)); do
    sinfo -h -N -o %T | grep -qvE '^(idle|mixed|allocated)$' || break; sleep 0.5
  done
}

# sbatch options for a request given as key=value words.
sbatch_args() {
  local kv args=() tasks="" throttle=""
  for kv in "$@"; do
    case "$kv" in
      partition=*) args+=(-p "${kv#*=}") ;;
      gpus=0) ;;
      gpus=*) args+=("--gres=gpu:${kv#*=}") ;;
      cpus=*) args+=(-c "${kv#*=}") ;;
      nodes=*) args+=(-N "${kv#*=}") ;;
      constraint=*) args+=(-C "${kv#*=}") ;;
      nodelist=*) args+=(-w "${kv#*=}") ;;
      exclude=*) args+=(-x "${kv#*=}") ;;
      exclusive=yes) args+=(--exclusive) ;;
      mem=*) args+=("--mem=${kv#*=}") ;;
      time=*) args+=(-t "${kv#*=}") ;;
      qos=*) args+=("--qos=${kv#*=}") ;;
      account=*) args+=("--account=${kv#*=}") ;;
      reservation=*) args+=("--reservation=${kv#*=}") ;;
      user=*) args+=("--uid=${kv#*=}" -D /tmp) ;;
      tasks=*) tasks=${kv#*=} ;;
      throttle=*) throttle=${kv#*=} ;;
      settle=*) ;;
      *) echo "unknown request word $kv" >&2; exit 2 ;;
    esac
  done
  [ -n "$tasks" ] && args+=("--array=0-$((tasks - 1))${throttle:+%$throttle}")
  printf '%s\n' "${args[@]}"
}

# reserve NAME KIND:IN:FOR SETTINGS...: a reservation of the node from IN minutes from now,
# FOR minutes long (maint: a maintenance window; reserved: someone else's; lab: root's).
reserve() {
  local name=$1 in for
  IFS=: read -r _ in for <<< "$2"
  shift 2
  scontrol create reservation reservationname="$name" starttime="now+${in}minutes" duration="$for" \
    nodes=localhost "$@" >/dev/null
}

# set_weight NODE W: the node's Weight in slurm.conf (none, Slurm's default of 1, for ""),
# read again with `scontrol reconfigure`. Slurm 24.11 tries nodes in the order of the Weight
# it read there: one set with `scontrol update weight=` shows in sinfo but left its backfill
# plan on the heavier node (captured by hand, 2026-12-03); 22.05 follows either.
set_weight() {
  local node=$1 weight=$2 conf i
  conf=$(scontrol show config | awk '$1 == "SLURM_CONF" {print $3}')
  sed -i -e "/^NodeName=$node /s/ Weight=[0-9]*//" "$conf"
  [ -n "$weight" ] && sed -i -e "/^NodeName=$node /s/\$/ Weight=$weight/" "$conf"
  scontrol reconfigure
  for ((i = 0; i < 60; i++)); do
    scontrol show node "$node" | grep -q "Weight=${weight:-1} " && break; sleep 0.5
  done
  for ((i = 0; i < 60; i++)); do
    sinfo -h -N -o %T | grep -qvE '^(idle|mixed|allocated)$' || break; sleep 0.5
  done
}

request_partition() {
  local kv
  for kv in "$@"; do [[ $kv == partition=* ]] && echo "${kv#*=}"; done
}

# A job that holds what it asks for (or waits) for 10 minutes.
hold() {
  local id
  mapfile -t args < <(sbatch_args "$@")
  id=$(sbatch --parsable -J yj-holder -o /dev/null "${args[@]}" --wrap 'sleep 600')
  # Wait until the scheduler has looked at it: running, or pending for a real reason.
  for ((i = 0; i < 40; i++)); do
    case "$(squeue -h -j "$id" -o '%T|%r')" in RUNNING*|PENDING\|QOS*|PENDING\|Assoc*|PENDING\|Resources|PENDING\|Priority) break ;; esac
    sleep 0.5
  done
}

snapshot() {   # snapshot DIR USER [as-user]: what `yenjob check` reads, with the same commands
  local d=$1 user=$2 as=()
  # as-user: read as USER rather than as root, who sees every job whatever PrivateData hides.
  [ "${3:-}" = as-user ] && as=(runuser -u "$user" --)
  "${as[@]}" scontrol --all show partition -o > "$d/partitions.txt"
  "${as[@]}" sinfo --all -h -N -O "$NODE_FORMAT" > "$d/nodes.txt"
  "${as[@]}" squeue --all -h -O "$QUEUE_FORMAT" > "$d/queue.txt"
  "${as[@]}" squeue --all -h -O "$JOB_EXTRA_FORMAT" > "$d/queue-accounts.txt"
  "${as[@]}" squeue --all -h -t PD -o "$JOB_EXCLUDED_FORMAT" > "$d/queue-excluded.txt"
  "${as[@]}" sacctmgr -P -n show assoc where user= "$ACCOUNT_FORMAT" > "$d/accounts.txt"
  "${as[@]}" sacctmgr -P -n show qos "$QOS_FORMAT" > "$d/qos.txt"
  "${as[@]}" sacctmgr -P -n show assoc where user="$user" "$ASSOC_FORMAT" > "$d/assoc.txt"
  "${as[@]}" sacctmgr -P -n show user "$user" "$USER_FORMAT" > "$d/user.txt"
  id -Gn "$user" | tr ' ' '\n' > "$d/groups.txt"
  "${as[@]}" scontrol show config > "$d/config.txt"
  "${as[@]}" scontrol show reservation -o > "$d/reservations.txt"
  "${as[@]}" scontrol show assoc_mgr flags=assoc,qos users="$user" > "$d/assoc-mgr.txt"
  date +%Y-%m-%dT%H:%M:%S > "$d/now.txt"
}

# The request's sbatch options in ARGS, and in AS the command that runs sbatch as the
# request's user: a request as another user is submitted by that user, as a real user submits
# (Slurm checks some things, a partition's RootOnly, against who submits, not whom the job
# runs as).
request_as_user() {
  local a all
  ARGS=() AS=()
  mapfile -t all < <(sbatch_args "$@")
  for a in "${all[@]}"; do
    case "$a" in --uid=*) AS=(runuser -u "${a#--uid=}" --) ;; *) ARGS+=("$a") ;; esac
  done
}

# When Slurm would start the request by the jobs running now, on one line: sbatch
# --test-only's "Job N to start at TIME using C processors on nodes X in partition P", or why
# it would refuse it. It weighs neither the jobs queued ahead nor the QOS and association
# limits.
# With BEGIN set (minutes), asked with --begin=now+SECONDS: whether it could start then.
test_only() {
  request_as_user "$@"
  [ -n "${BEGIN:-}" ] && ARGS+=("--begin=now+$((BEGIN * 60))")
  { "${AS[@]}" sbatch --test-only -J yj-request -o /dev/null "${ARGS[@]}" --wrap 'sleep 600' 2>&1 || true; } |
    tr '\n' ' ' | sed 's/ *$//'
  echo
}

# What Slurm does with the request: refused by sbatch, or the state the scheduler settles on.
outcome() {
  local out id state reason
  request_as_user "$@"
  if ! out=$("${AS[@]}" sbatch --parsable -J yj-request -o /dev/null "${ARGS[@]}" --wrap 'sleep 600' 2>&1); then
    echo "rejected|$(echo "$out" | tr '\n' ' ' | sed 's/ *$//')"
    return
  fi
  id=${out%%;*}
  REQUEST_ID=$id
  # settle=SECONDS: give the backfill scheduler (every 30 s) time to start the job.
  local kv
  for kv in "$@"; do [[ $kv == settle=* ]] && sleep "${kv#*=}"; done
  if [[ " $* " == *" tasks="* ]]; then array_outcome "$id"; return; fi
  # Slurm says None first, and PartitionConfig for a moment before some reasons.
  for ((i = 0; i < 40; i++)); do
    IFS='|' read -r state reason < <(squeue -h -j "$id" -o '%T|%r')
    [ "$state" = RUNNING ] && { echo running; return; }
    if [ "$state" = PENDING ] && [ "$reason" != None ] && { [ "$reason" != PartitionConfig ] || [ "$i" -ge 20 ]; }; then
      echo "pending|$reason"; return
    fi
    sleep 0.5
  done
  echo "pending|$reason"
}

# Where and when the backfill scheduler (every 30 s) plans the request that waits, on one
# line: "STATE|StartTime|SchedNodes" (RUNNING and its start, if it started meanwhile).
planned_start() {
  local planned i pending=()
  # An array's waiting tasks are one record, planned as one job: its next task.
  [[ $1 == array\|* ]] && pending=(-t PD)
  for ((i = 0; i < 90; i++)); do
    planned=$(squeue -h -j "$REQUEST_ID" "${pending[@]}" -o '%T|%S|%Y' | head -1)
    [[ $planned != PENDING\|N/A* ]] && break
    sleep 1
  done
  echo "$planned"
}

# When the request started (each task of an array), once none of it waits any more: the
# holders and the request run out their (short) time limits. "JOB|START" a line, from
# accounting.
task_starts() {
  local i
  for ((i = 0; i < 600; i++)); do
    [ -z "$(squeue -h -r -j "$REQUEST_ID" -t PD -o %i)" ] && break
    sleep 1
  done
  sleep 2
  sacct -X -n -P -j "$REQUEST_ID" -o JobID,Start | sort -t_ -k2n
}

# An array's tasks once the scheduler has settled: how many run, and why the rest wait.
array_outcome() {
  local id=$1 running reason
  for ((i = 0; i < 40; i++)); do
    running=$(squeue -h -r -j "$id" -t RUNNING -o %i | wc -l)
    reason=$(squeue -h -r -j "$id" -t PENDING -o %r | head -1)
    if [ -z "$reason" ]; then
      [ "$i" -ge 6 ] && { echo "array|$running|-"; return; }
    elif [ "$reason" != None ] && { [ "$reason" != PartitionConfig ] || [ "$i" -ge 20 ]; }; then
      echo "array|$running|$reason"; return
    fi
    sleep 0.5
  done
  echo "array|$running|$reason"
}

# Limits of account yenlab itself, shared by all its users, for one scenario
# ("account:GrpTRES=gres/gpu=2").
account_limits() {
  sacctmgr -i modify account where name=yenlab set "$@" >/dev/null
  sleep 2
}

# One QOS limit for one scenario ("qos:gpu:MaxTRESPA=gres/gpu=2"); with "undo", set it back
# to unlimited (a TRES limit to -1 for that TRES, Flags to none).
qos_limit() {
  local word=$1 undo=${2:-} name setting
  IFS=: read -r _ name setting <<< "$word"
  [ -n "$undo" ] && setting="${setting%=*}=-1"
  # A Preempt list is emptied, not set to -1.
  [ -n "$undo" ] && [[ $setting == Preempt=* ]] && setting="Preempt="
  sacctmgr -i modify qos "$name" set "$setting" >/dev/null
}

# A QOS made for one scenario, so that its counters start at zero ("newqos:yj-fresh:LIMIT"):
# the controller's running TRES-minutes of an older QOS may still count earlier scenarios'
# jobs. Root and nobody may use it in account yenlab; with "undo", deleted.
new_qos() {
  local word=$1 undo=${2:-} name setting u
  IFS=: read -r _ name setting <<< "$word"
  if [ -n "$undo" ]; then
    sacctmgr -i delete qos "$name" >/dev/null
    return
  fi
  sacctmgr -i add qos "$name" >/dev/null
  sacctmgr -i modify qos "$name" set "$setting" >/dev/null
  for u in root nobody; do
    sacctmgr -i modify user where name="$u" account=yenlab set qos+="$name" >/dev/null
  done
}

# An association of root in account yenlab for one partition, with its limits, for one
# scenario ("passoc:gpu:MaxJobs=1"); with "undo", deleted.
partition_assoc() {
  local word=$1 undo=${2:-} partition setting
  IFS=: read -r _ partition setting <<< "$word"
  if [ -n "$undo" ]; then
    sacctmgr -i delete user where name=root account=yenlab partition="$partition" >/dev/null
    return
  fi
  sacctmgr -i add user root account=yenlab partition="$partition" cluster=yen >/dev/null
  sacctmgr -i modify user where name=root account=yenlab partition="$partition" \
    set qos=normal,gpu,lab,deny,perjob,sweep defaultqos=normal "$setting" >/dev/null
}

# Association limits for root in account yenlab, set for one scenario ("assoc:MaxJobs=1").
assoc_limits() {
  sacctmgr -i modify user where name=root account=yenlab set "$@" >/dev/null
  # slurmctld learns the change from slurmdbd a moment later.
  sleep 2
}

# scenario SHAPE NAME "HOLDER; HOLDER" "REQUEST" [SPECIAL]
# Whether an outcome waits for nodes, which the backfill scheduler plans: for resources, behind
# a job queued ahead, or for nodes kept for one or for a reservation (not a drained node).
waits_for_nodes() {
  case "$1" in
    "pending|Resources" | "pending|Priority" | "pending|Nodes required for job are DOWN, DRAINED or reserved"*) return 0 ;;
    "array|"*"|Resources" | "array|"*"|Priority" | "array|0|ReqNodeNotAvail, "*) return 0 ;;
    "pending|ReqNodeNotAvail, UnavailableNodes:"*) [[ -z $(sinfo -h -t drain,down -o %N) ]] ;;
    "pending|ReqNodeNotAvail, "*) return 0 ;;
    *) return 1 ;;
  esac
}

# SPECIAL: assoc:LIMIT=N ... (the user's association limits), or words among drain or down
# (the node, once the holders hold), partition:STATE and partition:KEY=VALUE (the request's
# partition; clear_queue sets every partition UP again, without MaxMemPerNode or AllowGroups),
# maint:IN:FOR, reserved:IN:FOR and lab:IN:FOR (a reservation of the node; clear_queue deletes
# them), oversubscribe:YES:N or oversubscribe:FORCE:N (the request's partition, set before the
# holders start), cores:IN:FOR:N and labcores:IN:FOR:N (N of the node's cores reserved, for someone
# else or for root), shown-reserved (wait until sinfo says the node is reserved), planned (wait
# until the backfill scheduler has planned the jobs waiting for resources), starts (wait
# until the request, each task of an array, has started, and keep when),
# qos:NAME:KEY=VALUE (one limit or flag of a QOS, set back after the scenario),
# passoc:PARTITION:KEY=VALUE (an association of root in yenlab for that partition, with that
# limit, deleted after the scenario), newqos:NAME:KEY=VALUE (a QOS with that limit, made for
# the scenario and deleted after it), private:WHAT (slurm.conf's PrivateData=WHAT for the
# scenario, and what yenjob reads read as the request's user, who then sees only what it lets
# them), begin:MIN (also test-only-begin-MIN.txt, what `sbatch --test-only --begin=now+MIN
# minutes` said: whether it could start then), weight:NODE=W (the node's scheduling Weight in
# slurm.conf, read again for the scenario and taken out after it)
scenario() {
  local shape=$1 name=$2 holders=$3 request=$4 special=${5:-}
  # ONLY=REGEX captures just the scenarios whose SHAPE-NAME matches.
  if [ -n "${ONLY:-}" ] && ! [[ "$shape-$name" =~ $ONLY ]]; then return 0; fi
  if [ "$(cat /var/spool/slurm/shape 2>/dev/null || echo plain)" != "$shape" ]; then
    log "cluster shape $shape"
    bash scripts/cluster-start.sh "$shape" >/dev/null
  fi
  clear_queue
  for what in $special; do
    [[ "$what" == weight:*=* ]] && what=${what#weight:} && set_weight "${what%%=*}" "${what#*=}"
  done
  # The settings are the words with "="; "starts" or "planned" may follow them.
  # shellcheck disable=SC2046,SC2086
  [[ "$special" == assoc:* ]] && assoc_limits $(printf '%s\n' ${special#assoc:} | grep =)
  # shellcheck disable=SC2086
  # shellcheck disable=SC2046,SC2086
  [[ "$special" == account:* ]] && account_limits $(printf '%s\n' ${special#account:} | grep =)
  local what
  for what in $special; do
    [[ "$what" == qos:* ]] && qos_limit "$what"
    [[ "$what" == passoc:* ]] && partition_assoc "$what"
    [[ "$what" == newqos:* ]] && new_qos "$what"
  done
  # slurmctld learns QOS and association changes from slurmdbd a moment later.
  [[ " $special" == *" qos:"* || " $special" == *" passoc:"* || " $special" == *" newqos:"* ]] && sleep 2
  local d="$OUT/$shape-$name" h read_as=
  rm -rf "$d"; mkdir -p "$d"
  for what in $special; do
    [[ "$what" == private:* ]] && private_data "${what#private:}" && read_as=as-user
  done
  # Reservations first, so that holders may ask for one; the rest once the holders hold.
  for what in $special; do
    case "$what" in
      maint:*) reserve yj-maint "$what" users=root flags=maint,ignore_jobs ;;
      reserved:*) reserve yj-other "$what" users=nobody flags=ignore_jobs ;;
      lab:*) reserve yj-lab "$what" users=root flags=ignore_jobs ;;
      cores:*) reserve yj-cores "${what%:*}" users=nobody corecnt="${what##*:}" ;;
      labcores:*) reserve yj-cores "${what%:*}" users=root corecnt="${what##*:}" ;;
    esac
  done
  # oversubscribe:VALUE: the request's partition shares CPUs (YES:N, FORCE:N) before the
  # holders start, as Slurm decides sharing when a job starts.
  for what in $special; do
    [[ "$what" == oversubscribe:* ]] &&
      scontrol update partitionname="$(request_partition $request)" oversubscribe="${what#oversubscribe:}"
  done
  IFS=';' read -ra hs <<< "$holders"
  for h in "${hs[@]}"; do
    # shellcheck disable=SC2086
    [ -n "${h// /}" ] && hold $h
  done
  for what in $special; do
    case "$what" in
      drain | down) scontrol update nodename=localhost state="$what" reason=maintenance ;;
      drain:*) scontrol update nodename="${what#drain:}" state=drain reason=maintenance ;;
      # The controller marks an idle node with an active reservation RESERVED within a minute.
      shown-reserved) for ((i = 0; i < 120; i++)); do
          sinfo -h -n localhost -o %T | grep -q '^reserved$' && break; sleep 1
        done ;;
      # The backfill scheduler (every 30 s) gives each job waiting for resources its
      # expected start (StartTime) and nodes (SchedNodes).
      planned) for ((i = 0; i < 90; i++)); do
          squeue -h -t PD -o '%r|%S' | grep -E '^(Resources|Priority)\|N/A$' -q || break; sleep 1
        done ;;
      partition:*=*) scontrol update partitionname="$(request_partition $request)" "${what#partition:}" ;;
      partition:*) scontrol update partitionname="$(request_partition $request)" state="${what#partition:}" ;;
    esac
  done
  echo "$request" > "$d/request.txt"
  local user=root kv
  for kv in $request; do [[ $kv == user=* ]] && user=${kv#*=}; done
  snapshot "$d" "$user" $read_as
  # shellcheck disable=SC2086
  test_only $request > "$d/test-only.txt"
  for what in $special; do
    # shellcheck disable=SC2086
    [[ "$what" == begin:* ]] && BEGIN=${what#begin:} test_only $request > "$d/test-only-${what/:/-}.txt"
  done
  # shellcheck disable=SC2086
  outcome $request > "$d/slurm.txt"
  waits_for_nodes "$(cat "$d/slurm.txt")" && planned_start "$(cat "$d/slurm.txt")" > "$d/planned.txt"
  [[ " $special " == *" starts "* ]] && task_starts > "$d/starts.txt"
  log "$shape-$name: $(cat "$d/slurm.txt")"
  clear_queue
  [[ "$special" == assoc:* ]] && assoc_limits MaxJobs=-1 MaxSubmit=-1 GrpTRES=gres/gpu=-1 MaxTRES=cpu=-1 MaxWall=-1 \
    GrpTRESMins=gres/gpu=-1 GrpTRESRunMins=gres/gpu=-1 MaxTRESMins=gres/gpu=-1 GrpWall=-1
  [[ "$special" == account:* ]] && account_limits GrpJobs=-1 GrpSubmit=-1 GrpTRES=gres/gpu=-1 \
    GrpTRESMins=gres/gpu=-1 GrpTRESRunMins=gres/gpu=-1 GrpWall=-1
  for what in $special; do
    [[ "$what" == qos:* ]] && qos_limit "$what" undo
    [[ "$what" == passoc:* ]] && partition_assoc "$what" undo
    [[ "$what" == newqos:* ]] && new_qos "$what" undo
  done
  [[ " $special" == *" qos:"* || " $special" == *" passoc:"* || " $special" == *" newqos:"* ]] && sleep 2
  [ -n "$read_as" ] && private_data ""
  for what in $special; do
    [[ "$what" == weight:*=* ]] && what=${what#weight:} && set_weight "${what%%=*}" ""
  done
  return 0
}

# private_data WHAT: slurm.conf's PrivateData=WHAT (none for ""), read again by slurmctld.
private_data() {
  sed -i '/^PrivateData=/d' /etc/slurm/slurm.conf
  [ -n "$1" ] && echo "PrivateData=$1" >> /etc/slurm/slurm.conf
  scontrol reconfigure
}


R='partition=gpu cpus=1 time=10:00'
# --- plain: untyped GPUs, QOS gpu (MaxTRESPU gres/gpu=4, MaxJobsPU 2, MaxSubmitPU 4), EnforcePartLimits=NO
scenario plain starts "" "$R gpus=1"
scenario plain unknown-partition "" "partition=nosuch gpus=1 cpus=1 time=10:00"
scenario plain more-gpus-than-a-node "" "$R gpus=5"
scenario plain more-cpus-than-a-node "" "partition=gpu gpus=1 cpus=10 time=1:00:00"
scenario plain over-partition-time "" "partition=gpu gpus=1 cpus=1 time=2-00:00:00"
scenario plain more-memory-than-a-node "" "$R gpus=1 mem=30000M"
scenario plain qos-not-allowed "" "$R gpus=1 qos=restricted"
scenario plain gpu-type-not-on-any-node "" "$R gpus=a30:1"
scenario plain node-busy "partition=normal cpus=2 time=10:00" "partition=gpu gpus=1 cpus=2 time=10:00"
scenario plain gpus-per-user "$R gpus=3" "$R gpus=2"
scenario plain jobs-per-user "$R gpus=1; $R gpus=1" "$R gpus=1"
scenario plain jobs-and-gpus-per-user "$R gpus=2; $R gpus=2" "$R gpus=1"
scenario plain submit-limit "$R gpus=1; $R gpus=1; $R gpus=1; $R gpus=1" "$R gpus=1"
# Jobs queued ahead waiting for the node: a job that would hold one up waits (Priority), one
# that ends before it is expected to start, or leaves it room, is started by backfill.
AHEAD='user=nobody partition=normal cpus=1 time=10:00; user=nobody partition=gpu gpus=1 cpus=2 time=10:00'
scenario plain queue-ahead-held-up "$AHEAD" "$R gpus=1 settle=40"
scenario plain queue-ahead-backfilled "$AHEAD" "partition=gpu gpus=1 cpus=1 time=5:00 settle=40"
# The same, once backfill has planned the job ahead: its start and nodes are Slurm's.
scenario plain queue-ahead-planned-held-up "$AHEAD" "$R gpus=1 settle=40" planned
scenario plain queue-ahead-planned-backfilled "$AHEAD" "partition=gpu gpus=1 cpus=1 time=5:00 settle=40" planned
# A partition with a higher PriorityTier is scheduled first: a job there is not held up by
# jobs queued in a lower tier, even without preemption.
BEHIND='user=nobody partition=normal cpus=1 time=10:00; user=nobody partition=normal cpus=2 time=10:00'
scenario plain queue-ahead-lower-tier "$BEHIND" "$R gpus=1 settle=40" partition:PriorityTier=2
scenario plain queue-ahead-same-tier "$BEHIND" "$R gpus=1 settle=40"
scenario plain queue-ahead-room-beside "user=nobody partition=gpu gpus=3 cpus=1 time=10:00; partition=gpu gpus=2 cpus=1 time=10:00" "partition=gpu gpus=1 cpus=1 time=30:00 settle=40"
scenario plain node-drained "" "$R gpus=1" drain
scenario plain node-down "" "$R gpus=1" down
scenario plain node-drained-and-gpus-per-user "$R gpus=3" "$R gpus=2" drain
scenario plain node-busy-and-gpus-per-user "partition=gpu cpus=2 time=10:00 gpus=3" "$R gpus=2"
# PrivateData=jobs: the user sees the node's GPUs in use, but not the jobs of others using them.
scenario plain private-jobs-hidden-holder "$R gpus=3" "user=nobody $R gpus=2" private:jobs
scenario plain private-jobs-own-job-ends-first "$R gpus=3; user=nobody partition=gpu cpus=1 time=5:00 gpus=1" "user=nobody $R gpus=1" private:jobs
# ...and the limits root's hidden job counts toward, which the controller's counts show.
scenario plain private-group-gpus-hidden "$R gpus=2" "user=nobody $R gpus=2" "qos:gpu:GrpTRES=gres/gpu=3 private:jobs"
scenario plain private-account-jobs-hidden "$R gpus=1" "user=nobody $R gpus=1" "account:GrpJobs=1 private:jobs"
# PrivateData=usage too: the controller shows the user no account's counts, only their own
# association's; the account's GrpJobs that root's job fills cannot be weighed.
scenario plain private-usage-account-jobs-hidden "$R gpus=1" "user=nobody $R gpus=1" "account:GrpJobs=1 private:jobs,usage"
# PrivateData=reservations: a maintenance window ahead is not shown to nobody.
scenario plain private-reservations-maint-ahead "" "user=nobody partition=gpu gpus=1 cpus=1 time=2:00:00" "maint:60:60 private:reservations"
# ...the same arrays: test-only asked when the second task is expected (--begin) finds the
# window; asked now, it finds it in the way of the first, and then none in the second's.
scenario plain private-reservations-maint-array-next-task "" "user=nobody partition=gpu gpus=1 cpus=2 time=40:00 tasks=2" "maint:60:60 private:reservations begin:40"
scenario plain private-reservations-maint-array-waits "" "user=nobody partition=gpu gpus=1 cpus=2 time=1:30:00 tasks=2" "maint:60:60 private:reservations begin:210"
# Root's job waits for the node queued ahead, hidden: held up (Priority), or backfilled.
scenario plain private-queue-ahead-held-up "partition=normal cpus=1 time=10:00; partition=gpu gpus=1 cpus=2 time=10:00" "user=nobody $R gpus=1 settle=40" private:jobs
scenario plain private-queue-ahead-backfilled "partition=normal cpus=1 time=10:00; partition=gpu gpus=1 cpus=2 time=10:00" "user=nobody partition=gpu gpus=1 cpus=1 time=5:00 settle=40" private:jobs
# ...and a QOS's limits per account, counted under its "Account Limits".
scenario plain private-qos-account-gpus-hidden "$R gpus=2" "user=nobody $R gpus=2" "qos:gpu:MaxTRESPA=gres/gpu=3 private:jobs"
scenario plain private-qos-account-jobs-hidden "$R gpus=1" "user=nobody $R gpus=1" "qos:gpu:MaxJobsPA=1 private:jobs"
scenario plain private-qos-account-submit-hidden "$R gpus=1" "user=nobody $R gpus=1" "qos:gpu:MaxSubmitJobsPerAccount=1 private:jobs"
scenario plain partition-down "" "$R gpus=1" partition:down
scenario plain partition-down-more-gpus-than-a-node "" "$R gpus=5" partition:down
scenario plain partition-drain "" "$R gpus=1" partition:drain
scenario plain partition-drain-more-gpus-than-a-node "" "$R gpus=5" partition:drain
scenario plain partition-drain-qos-not-allowed "" "$R gpus=1 qos=restricted" partition:drain
scenario plain partition-inactive "" "$R gpus=1" partition:inactive
scenario plain partition-down-more-cpus-than-a-node "" "partition=gpu gpus=1 cpus=10 time=1:00:00" partition:down
scenario plain partition-down-jobs-per-user "$R gpus=1; $R gpus=1" "$R gpus=1" partition:down
scenario plain partition-down-node-busy "partition=normal cpus=2 time=10:00" "partition=gpu gpus=1 cpus=2 time=10:00" partition:down
scenario plain partition-down-over-partition-time "" "partition=gpu gpus=1 cpus=1 time=2-00:00:00" partition:down
scenario plain partition-down-more-memory-than-a-node "" "$R gpus=1 mem=30000M" partition:down
scenario plain partition-down-gpus-per-user "$R gpus=3" "$R gpus=2" partition:down
scenario plain partition-down-node-drained "" "$R gpus=1" "drain partition:down"
scenario plain over-max-mem-per-node "" "$R gpus=1 mem=6000M" partition:MaxMemPerNode=4000
scenario plain under-max-mem-per-node "" "$R gpus=1 mem=3000M" partition:MaxMemPerNode=4000
scenario plain over-max-mem-per-node-by-default "" "partition=gpu gpus=1 cpus=2 time=10:00" partition:MaxMemPerNode=1500
scenario plain over-max-mem-per-node-and-time "" "partition=gpu gpus=1 cpus=1 time=2-00:00:00 mem=6000M" partition:MaxMemPerNode=4000
scenario plain over-max-mem-per-node-and-cpus "" "partition=gpu gpus=1 cpus=10 time=10:00 mem=6000M" partition:MaxMemPerNode=4000
scenario plain over-max-mem-per-node-and-jobs-per-user "$R gpus=1; $R gpus=1" "$R gpus=1 mem=6000M" partition:MaxMemPerNode=4000
# A partition's node counts, its RootOnly, ReqResv, DisableRootJobs, and nodes it gives whole
# (OverSubscribe=EXCLUSIVE) or to one user at a time (ExclusiveUser).
scenario plain partition-min-nodes "" "$R gpus=1" partition:MinNodes=2
scenario plain partition-max-nodes-zero "" "$R gpus=1" partition:MaxNodes=0
scenario plain partition-root-only "" "user=nobody $R gpus=1" partition:RootOnly=YES
scenario plain partition-root-only-root "" "$R gpus=1" partition:RootOnly=YES
scenario plain partition-needs-reservation "" "$R gpus=1" partition:ReqResv=YES
scenario plain partition-needs-reservation-in-one "" "$R gpus=1 reservation=yj-lab" "lab:0:60 partition:ReqResv=YES"
scenario plain partition-no-root-jobs "" "$R gpus=1" partition:DisableRootJobs=YES
# Which of them sbatch says first.
scenario plain partition-needs-reservation-group-not-allowed "" "user=nobody $R gpus=1" "partition:ReqResv=YES partition:AllowGroups=daemon"
scenario plain partition-root-only-group-not-allowed "" "user=nobody $R gpus=1" "partition:RootOnly=YES partition:AllowGroups=daemon"
scenario plain partition-needs-reservation-root-only "" "user=nobody $R gpus=1" "partition:ReqResv=YES partition:RootOnly=YES"
scenario plain partition-needs-reservation-drained "" "$R gpus=1" "partition:ReqResv=YES partition:drain"
scenario plain partition-root-only-drained "" "user=nobody $R gpus=1" "partition:RootOnly=YES partition:drain"
scenario plain partition-needs-reservation-unknown-qos "" "$R gpus=1 qos=nosuch" "partition:ReqResv=YES"
scenario plain partition-needs-reservation-more-gpus-than-a-node "" "$R gpus=5" "partition:ReqResv=YES"
scenario plain partition-min-nodes-more-gpus-than-a-node "" "$R gpus=5" partition:MinNodes=2
scenario plain partition-min-nodes-jobs-per-user "$R gpus=1; $R gpus=1" "$R gpus=1" partition:MinNodes=2
scenario plain over-partition-time-more-gpus-than-a-node "" "partition=gpu gpus=5 cpus=1 time=2-00:00:00"
scenario plain partition-max-nodes-zero-more-gpus-than-a-node "" "$R gpus=5" partition:MaxNodes=0
scenario plain partition-min-nodes-over-partition-time "" "partition=gpu gpus=1 cpus=1 time=2-00:00:00" partition:MinNodes=2
scenario plain partition-no-root-jobs-nobody "" "user=nobody $R gpus=1" partition:DisableRootJobs=YES
scenario plain partition-exclusive-node-busy "partition=normal cpus=1 time=10:00" "$R gpus=1" partition:OverSubscribe=EXCLUSIVE
scenario plain partition-exclusive-node-free "" "$R gpus=1" partition:OverSubscribe=EXCLUSIVE
# OverSubscribe=FORCE:N: up to N jobs of the partition share each CPU, and GPUs and memory are
# still each job's own; YES:N shares only among jobs that ask for it (--oversubscribe), which
# yenjob's do not. Jobs of other partitions keep their CPUs to themselves.
N='partition=normal time=10:00'
scenario plain force-shares-cpus "$N cpus=2" "$N cpus=1" oversubscribe:FORCE:2
scenario plain force-shares-cpus-twice "$N cpus=2; $N cpus=1" "$N cpus=1" oversubscribe:FORCE:2
scenario plain force-every-cpu-shared "$N cpus=2; $N cpus=2" "$N cpus=1" oversubscribe:FORCE:2
scenario plain force-other-partition-keeps-cpus "partition=gpu cpus=2 time=10:00" "$N cpus=1" oversubscribe:FORCE:2
scenario plain force-gpus-not-shared "user=nobody $R cpus=1 gpus=4" "$R gpus=1" oversubscribe:FORCE:2
scenario plain force-gpu-beside "$R cpus=2 gpus=1" "$R gpus=1" oversubscribe:FORCE:2
scenario plain force-memory-not-shared "$N cpus=2 mem=20000M" "$N cpus=1 mem=8000M" oversubscribe:FORCE:2
scenario plain force-array "$N cpus=2" "$N cpus=1 tasks=3" oversubscribe:FORCE:2
scenario plain yes-needs-the-jobs-consent "$N cpus=2" "$N cpus=1" oversubscribe:YES:2
scenario plain partition-exclusive-user-other-user "user=nobody partition=normal cpus=1 time=10:00" "$R gpus=1" partition:ExclusiveUser=YES
scenario plain partition-exclusive-user-same-user "partition=normal cpus=1 time=10:00" "$R gpus=1" partition:ExclusiveUser=YES
# The first run out: the other user's job of a minute ends, and the request starts then.
scenario plain partition-exclusive-user-other-user-run-out "user=nobody partition=normal cpus=1 time=1:00" "$R gpus=1" "partition:ExclusiveUser=YES planned starts"
# A job that asks for a whole node itself (--exclusive).
scenario plain exclusive-node-free "" "$R gpus=1 exclusive=yes"
scenario plain exclusive-node-busy "partition=normal cpus=1 time=10:00" "$R gpus=1 exclusive=yes"
scenario plain max-mem-per-cpu-raises-cpus "" "$R gpus=1 mem=1500M" partition:MaxMemPerCPU=1000
scenario plain max-mem-per-cpu-raised-over-a-node "" "$R gpus=1 mem=3000M" partition:MaxMemPerCPU=1000
scenario plain max-mem-per-cpu-raised-cpus-busy "partition=normal cpus=1 time=10:00" "$R gpus=1 mem=1500M" partition:MaxMemPerCPU=1000
G='partition:AllowGroups=daemon'
scenario plain group-not-allowed "" "user=nobody $R gpus=1" "$G"
scenario plain group-allowed "" "user=nobody $R gpus=1" partition:AllowGroups=nogroup
scenario plain group-not-allowed-root "" "$R gpus=1" "$G"
scenario plain group-not-allowed-drained-partition "" "user=nobody $R gpus=1" "$G partition:drain"
scenario plain group-not-allowed-more-gpus-than-a-node "" "user=nobody $R gpus=5" "$G"
scenario plain group-not-allowed-qos-not-allowed "" "user=nobody $R gpus=1 qos=restricted" "$G"
scenario plain group-not-allowed-unknown-account "" "user=nobody $R gpus=1 account=nosuch" "$G"
scenario plain maint-ahead-job-ends-before "" "partition=gpu gpus=1 cpus=1 time=30:00" maint:60:60
scenario plain maint-ahead-job-runs-into-it "" "partition=gpu gpus=1 cpus=1 time=2:00:00" maint:60:60
scenario plain maint-now "" "$R gpus=1" maint:0:60
scenario plain maint-ahead-and-jobs-per-user "$R gpus=1; $R gpus=1" "partition=gpu gpus=1 cpus=1 time=2:00:00" maint:60:60
scenario plain maint-ahead-and-gpus-per-user "$R gpus=3" "partition=gpu gpus=2 cpus=1 time=2:00:00" maint:60:60
scenario plain maint-ahead-node-busy "partition=normal cpus=2 time=10:00" "partition=gpu gpus=1 cpus=1 time=2:00:00" maint:60:60
# An array's tasks of the node's CPUs around a maintenance window in an hour: the second of
# 40 minutes would run into it and is planned at its end; tasks of 90 minutes all wait for it.
scenario plain maint-ahead-array-next-task-after-it "" "partition=gpu gpus=1 cpus=2 time=40:00 tasks=2" maint:60:60
scenario plain maint-ahead-array-waits-for-it "" "partition=gpu gpus=1 cpus=2 time=1:30:00 tasks=2" maint:60:60
# Run out, in minutes: backfill plans the waiting task when the first ends, into the window
# (planned.txt), and the scheduler starts it when the window ends (starts.txt).
scenario plain maint-soon-array-next-task-runs-after-it "" "partition=gpu gpus=1 cpus=2 time=2:00 tasks=2" "maint:3:3 starts"
scenario plain reserved-ahead-job-runs-into-it "" "partition=gpu gpus=1 cpus=1 time=2:00:00" reserved:60:60
scenario plain reserved-now "" "$R gpus=1" reserved:0:60
scenario plain in-reservation-now "" "$R gpus=1 reservation=yj-lab" lab:0:60
scenario plain in-reservation-ahead "" "$R gpus=1 reservation=yj-lab" lab:60:60
scenario plain in-reservation-longer-than-it "" "partition=gpu gpus=1 cpus=1 time=2:00:00 reservation=yj-lab" lab:0:60
scenario plain in-unknown-reservation "" "$R gpus=1 reservation=nosuch"
scenario plain in-unknown-reservation-qos-not-allowed "" "$R gpus=1 reservation=nosuch qos=restricted"
scenario plain in-unknown-reservation-more-gpus-than-a-node "" "$R gpus=5 reservation=nosuch"
scenario plain in-unknown-reservation-drained-partition "" "$R gpus=1 reservation=nosuch" partition:drain
scenario plain in-reservation-not-mine "" "user=nobody $R gpus=1 reservation=yj-lab" lab:0:60
scenario plain in-reservation-others-kept-out "partition=normal cpus=2 time=10:00" "$R gpus=1 reservation=yj-lab" lab:0:60
# Part of the node's cores reserved: the rest stays open to everyone.
scenario plain cores-reserved-job-fits "" "$R gpus=1" cores:0:60:1
scenario plain cores-reserved-job-too-big "" "partition=gpu gpus=1 cpus=2 time=10:00" cores:0:60:1
scenario plain cores-reserved-and-held "partition=normal cpus=1 time=10:00" "$R gpus=1" cores:0:60:1
scenario plain cores-reserved-ahead-job-ends-before "" "partition=gpu gpus=1 cpus=2 time=30:00" cores:60:60:1
scenario plain cores-reserved-ahead-job-runs-into-it "" "partition=gpu gpus=1 cpus=2 time=2:00:00" cores:60:60:1
scenario plain cores-reserved-shown-job-fits "" "$R gpus=1" "cores:0:60:1 shown-reserved"
scenario plain cores-reserved-shown-job-too-big "" "partition=gpu gpus=1 cpus=2 time=10:00" "cores:0:60:1 shown-reserved"
scenario plain in-core-reservation "" "$R gpus=1 reservation=yj-cores" labcores:0:60:1
scenario plain in-core-reservation-shown "" "$R gpus=1 reservation=yj-cores" "labcores:0:60:1 shown-reserved"
scenario plain in-core-reservation-too-big "" "partition=gpu gpus=1 cpus=2 time=10:00 reservation=yj-cores" labcores:0:60:1
scenario plain in-core-reservation-used "$R gpus=1 reservation=yj-cores" "$R gpus=1 reservation=yj-cores" labcores:0:60:1
scenario plain beside-core-reservation-used "$R gpus=1 reservation=yj-cores" "$R gpus=1" labcores:0:60:1
scenario plain in-reservation-jobs-per-user "$R gpus=1 reservation=yj-lab; $R gpus=1 reservation=yj-lab" "$R gpus=1 reservation=yj-lab" lab:0:60
scenario plain account-gpus "user=nobody $R gpus=2" "$R gpus=1" account:GrpTRES=gres/gpu=2
scenario plain account-gpus-alone "" "$R gpus=2" account:GrpTRES=gres/gpu=1
scenario plain account-jobs "user=nobody $R gpus=1" "$R gpus=1" account:GrpJobs=1
scenario plain account-submit "user=nobody $R gpus=1" "$R gpus=1" account:GrpSubmit=1
scenario plain account-gpus-fits "user=nobody $R gpus=1" "$R gpus=1" account:GrpTRES=gres/gpu=2
# QOS limits per account (root and nobody are both in account yenlab), on the whole queue,
# on TRES-minutes, and minimums; QOS gpu is partition gpu's QOS.
Q='qos:gpu'
scenario plain qos-account-gpus "user=nobody $R gpus=2" "$R gpus=1" "$Q:MaxTRESPA=gres/gpu=2"
scenario plain qos-account-gpus-fits "user=nobody $R gpus=1" "$R gpus=1" "$Q:MaxTRESPA=gres/gpu=2"
scenario plain qos-account-gpus-alone "" "$R gpus=3" "$Q:MaxTRESPA=gres/gpu=2"
scenario plain qos-account-gpus-and-gpus-per-user "$R gpus=3" "$R gpus=2" "$Q:MaxTRESPA=gres/gpu=4"
scenario plain qos-account-jobs "user=nobody $R gpus=1" "$R gpus=1" "$Q:MaxJobsPA=1"
scenario plain qos-account-jobs-and-jobs-per-user "$R gpus=1; $R gpus=1" "$R gpus=1" "$Q:MaxJobsPA=2"
scenario plain qos-account-submit "user=nobody $R gpus=1" "$R gpus=1" "$Q:MaxSubmitJobsPerAccount=1"
scenario plain qos-account-submit-and-submit-per-user "$R gpus=1; $R gpus=1; $R gpus=1; $R gpus=1" "$R gpus=1" "$Q:MaxSubmitJobsPerAccount=4"
scenario plain qos-group-submit "user=nobody $R gpus=1" "$R gpus=1" "$Q:GrpSubmit=1"
scenario plain qos-group-submit-and-submit-per-user "$R gpus=1; $R gpus=1; $R gpus=1; $R gpus=1" "$R gpus=1" "$Q:GrpSubmit=4"
scenario plain qos-min-gpus "" "partition=gpu cpus=1 time=10:00" "$Q:MinTRES=gres/gpu=1"
scenario plain qos-min-gpus-met "" "$R gpus=1" "$Q:MinTRES=gres/gpu=1"
scenario plain qos-gpu-minutes "" "partition=gpu gpus=2 cpus=1 time=2:00:00" "$Q:MaxTRESMins=gres/gpu=120"
scenario plain qos-gpu-minutes-fits "" "partition=gpu gpus=1 cpus=1 time=2:00:00" "$Q:MaxTRESMins=gres/gpu=120"
scenario plain qos-cpu-minutes "" "partition=gpu gpus=1 cpus=2 time=1:00:00" "$Q:MaxTRESMins=cpu=60"
scenario plain qos-run-minutes-alone "" "partition=gpu gpus=2 cpus=1 time=1:00:00" "$Q:GrpTRESRunMins=gres/gpu=100"
scenario plain qos-grp-minutes-alone "" "partition=gpu gpus=2 cpus=1 time=1:00:00" "$Q:GrpTRESMins=gres/gpu=100"
scenario plain qos-grp-minutes-spent "" "$R gpus=1" "$Q:GrpTRESMins=gres/gpu=0"
scenario plain qos-grp-minutes-spent-cpu-only "" "partition=gpu cpus=1 time=10:00" "$Q:GrpTRESMins=gres/gpu=0"
scenario plain qos-deny-grp-minutes-alone "" "partition=gpu gpus=2 cpus=1 time=1:00:00" "$Q:Flags=DenyOnLimit $Q:GrpTRESMins=gres/gpu=100"
F='partition=normal qos=yj-fresh gpus=1 cpus=1'
scenario plain qos-run-minutes "user=nobody $F time=1:00:00" "$F time=1:00:00" "newqos:yj-fresh:GrpTRESRunMins=gres/gpu=100"
scenario plain qos-run-minutes-fits "user=nobody $F time=30:00" "$F time=1:00:00" "newqos:yj-fresh:GrpTRESRunMins=gres/gpu=100"
# The same run out, with time limits of two minutes under a limit of 3 GPU-minutes: when the
# other user's job (2 GPU-minutes) lets the request (2 more) in: once it has run down to 1
# GPU-minute left, or only when it ends (priority/basic decays no running minutes).
scenario plain qos-run-minutes-run-out "user=nobody $F time=2:00" "$F time=2:00" "newqos:yj-fresh:GrpTRESRunMins=gres/gpu=3 starts"
scenario plain qos-deny-account-gpus-alone "" "$R gpus=3" "$Q:Flags=DenyOnLimit $Q:MaxTRESPA=gres/gpu=2"
scenario plain qos-deny-account-gpus "user=nobody $R gpus=2" "$R gpus=1" "$Q:Flags=DenyOnLimit $Q:MaxTRESPA=gres/gpu=2"
scenario plain qos-deny-min-gpus "" "partition=gpu cpus=1 time=10:00" "$Q:Flags=DenyOnLimit $Q:MinTRES=gres/gpu=1"
scenario plain qos-deny-gpu-minutes "" "partition=gpu gpus=2 cpus=1 time=2:00:00" "$Q:Flags=DenyOnLimit $Q:MaxTRESMins=gres/gpu=120"
scenario plain qos-deny-run-minutes-alone "" "partition=gpu gpus=2 cpus=1 time=1:00:00" "$Q:Flags=DenyOnLimit $Q:GrpTRESRunMins=gres/gpu=100"
scenario plain qos-min-gpus-partition-down "" "partition=gpu cpus=1 time=10:00" "$Q:MinTRES=gres/gpu=1 partition:down"
# Association limits count the jobs of that association only: root's jobs under its other
# account (root), or in a partition with an association of its own, count apart. (In
# partition gpu, QOS gpu's MaxJobsPU and MaxSubmitPU take the place of the association's.)
P='partition=normal cpus=1 time=10:00'
scenario plain association-jobs-other-account "$P account=root" "$P" "assoc:MaxJobs=1"
scenario plain association-jobs-same-account "$P" "$P" "assoc:MaxJobs=1"
scenario plain partition-association-jobs "$P" "$P" "passoc:normal:MaxJobs=1"
scenario plain partition-association-jobs-elsewhere "$R" "$P" "passoc:normal:MaxJobs=1"
scenario plain partition-association-other-partition "$P" "$R gpus=1" "passoc:normal:MaxJobs=1"
scenario plain partition-association-qos-limits-first "$R gpus=1" "$R gpus=1" "passoc:gpu:MaxJobs=1"
scenario plain partition-association-submit "$P" "$P" "passoc:normal:MaxSubmit=1"
scenario plain partition-association-submit-elsewhere "$R" "$P" "passoc:normal:MaxSubmit=1"
scenario plain partition-association-gpus "$R gpus=1" "$R gpus=1" "passoc:gpu:GrpTRES=gres/gpu=1"
scenario plain partition-association-gpus-elsewhere "partition=normal gpus=1 cpus=1 time=10:00" "$R gpus=1" "passoc:gpu:GrpTRES=gres/gpu=1"
# TRES-minutes limits of the association and of the account (a partition's association is
# made for its scenario, so its running-minutes count starts at zero).
scenario plain association-run-minutes-alone "" "partition=gpu gpus=2 cpus=1 time=1:00:00" "assoc:GrpTRESRunMins=gres/gpu=100"
scenario plain association-gpu-minutes "" "partition=gpu gpus=2 cpus=1 time=2:00:00" "assoc:MaxTRESMins=gres/gpu=120"
scenario plain association-grp-minutes-spent "" "$R gpus=1" "assoc:GrpTRESMins=gres/gpu=0"
scenario plain account-run-minutes-alone "" "partition=gpu gpus=2 cpus=1 time=1:00:00" "account:GrpTRESRunMins=gres/gpu=100"
scenario plain account-grp-minutes-spent "" "$R gpus=1" "account:GrpTRESMins=gres/gpu=0"
scenario plain partition-association-run-minutes "partition=gpu gpus=1 cpus=1 time=1:00:00" "partition=gpu gpus=1 cpus=1 time=1:00:00" "passoc:gpu:GrpTRESRunMins=gres/gpu=100"
scenario plain partition-association-run-minutes-fits "partition=gpu gpus=1 cpus=1 time=30:00" "partition=gpu gpus=1 cpus=1 time=1:00:00" "passoc:gpu:GrpTRESRunMins=gres/gpu=100"
# GrpWall: a budget of wall time used, which only the controller counts; 0 is spent.
scenario plain qos-grp-wall-spent "" "$R gpus=1" "$Q:GrpWall=0"
scenario plain qos-deny-grp-wall "" "partition=gpu gpus=1 cpus=1 time=1:00:00" "$Q:Flags=DenyOnLimit $Q:GrpWall=30"
scenario plain association-grp-wall-spent "" "partition=normal cpus=1 time=10:00" "assoc:GrpWall=0"
scenario plain account-grp-wall-spent "" "partition=normal cpus=1 time=10:00" "account:GrpWall=0"
scenario plain partition-drain-array-over-max-array-size "" "$R gpus=1 tasks=1002 throttle=2" partition:drain
# Job arrays; QOS sweep (MaxJobsPU 2, MaxSubmitPU 10, MaxTRESPU gres/gpu=4) in partition normal.
A='partition=normal qos=sweep gpus=1 cpus=1 time=10:00'
scenario plain array-fits "" "$A tasks=2"
scenario plain array-throttled "" "$A tasks=6 throttle=2"
scenario plain array-unthrottled-jobs-per-user "" "$A tasks=6"
scenario plain array-waits-on-jobs-per-user "$A" "$A tasks=6 throttle=2"
# The same with time limits of a minute, run out: a task starts each time one of the user's
# jobs under the QOS ends.
A1='partition=normal qos=sweep gpus=1 cpus=1 time=1:00'
scenario plain array-waits-on-jobs-per-user-run-out "$A1" "$A1 tasks=4 throttle=2" starts
# The association's MaxJobs 2 instead (QOS normal has no limits), run out the same way.
N1='partition=normal gpus=1 cpus=1 time=1:00'
scenario plain array-waits-on-association-jobs-run-out "$N1" "$N1 tasks=4 throttle=2" "assoc:MaxJobs=2 starts"
# A job a limit holds, run out: Slurm gives it no start (`sbatch --test-only` says now, and
# the backfill scheduler plans no job a limit holds); it starts once enough of the jobs under
# the limit have ended. QOS gpu's MaxJobsPU 2: the first holder's end lets it in.
G1='partition=gpu cpus=1 time=1:00 gpus=1'
scenario plain jobs-per-user-run-out "$G1; partition=gpu cpus=1 time=2:00 gpus=1" "$G1" starts
# The same with a job of the user's queued first, held by MaxJobsPU too: it takes the first
# holder's place, and the request waits for the next to end.
scenario plain jobs-per-user-behind-queued-run-out "$G1; partition=gpu cpus=1 time=2:00 gpus=1; $G1" "$G1" starts
# Both holders end together and let in the user's job queued first and the request, but the
# job queued first takes both CPUs of the node: the request waits for it to end.
scenario plain jobs-per-user-let-in-takes-the-node-run-out "$G1; $G1; partition=gpu cpus=2 time=2:00 gpus=1" "$G1" starts
# QOS lab's MaxTRESPU gres/gpu=2 (and GrpTRES gres/gpu=3) in partition normal, which has no
# QOS of its own: 2 GPUs asked, so the first holder's end frees too few, the second's enough.
L1='partition=normal qos=lab cpus=1 time=1:00'
scenario plain gpus-per-user-run-out "$L1 gpus=1; partition=normal qos=lab cpus=1 time=2:00 gpus=1" "$L1 gpus=2" starts
# The user's job queued first waits under QOS lab's MaxTRESPU gres/gpu=2 and for the node's
# two CPUs; once the first holder ends it is let in and takes the node, and the request waits
# for it to end, with the reason Priority: Slurm's main scheduler finds no nodes for the job
# queued first, and gives the jobs behind it Priority before it weighs their own TRES limits.
scenario plain gpus-per-user-queued-first-no-room-run-out "$L1 gpus=2; partition=normal qos=lab cpus=2 time=2:00 gpus=1" "$L1 gpus=1" "planned starts"
# The same for an array: its waiting tasks, one record to Slurm, kept their limit's reason.
scenario plain gpus-per-user-queued-first-no-room-array "$L1 gpus=2; partition=normal qos=lab cpus=2 time=2:00 gpus=1" "$L1 gpus=1 tasks=2" planned
# A job count (QOS lab's MaxJobsPU, 2 here) behind another user's job that finds no room (it
# waits for the node's two CPUs), run out: which reason Slurm shows, and when it starts (after
# that job, which takes the node once the user's two jobs end).
scenario plain jobs-per-user-behind-a-failed-partition-run-out "$L1 gpus=1; $L1 gpus=1; user=nobody partition=normal cpus=2 time=2:00" "$L1 gpus=1" "qos:lab:MaxJobsPU=2 starts"
# A limit shared with another user (QOS gpu's GrpJobs 1): nobody's job ending lets it in.
scenario plain qos-group-jobs-run-out "user=nobody $G1" "$G1" "qos:gpu:GrpJobs=1 starts"
scenario plain array-waits-for-cpus "" "partition=normal qos=sweep gpus=1 cpus=2 time=10:00 tasks=3 throttle=2"
# An array behind a job queued ahead: no task starts until that job has run.
scenario plain array-behind-queued "$AHEAD" "partition=gpu gpus=1 cpus=1 time=30:00 tasks=3 throttle=2 settle=40" planned
# The same with time limits of a minute or two, run out to see when each task really starts:
# the scheduler starts two side by side where backfill planned them one after another.
scenario plain array-side-by-side "user=nobody partition=normal cpus=1 time=1:00; user=nobody partition=gpu gpus=1 cpus=2 time=1:00" \
  "partition=gpu gpus=1 cpus=1 time=2:00 tasks=3 throttle=2" "planned starts"
scenario plain array-over-submit-limit "" "$A tasks=11"
scenario plain array-over-partition-submit-limit "" "$R gpus=1 tasks=6"
scenario plain array-over-max-array-size "" "$A tasks=1002 throttle=2"
scenario plain qos-account-jobs-array "" "$A tasks=4" "qos:sweep:MaxJobsPA=1"
scenario plain qos-account-submit-array "" "$A tasks=4" "qos:sweep:MaxSubmitJobsPerAccount=3"
scenario plain qos-account-gpus-array "user=nobody $A" "$A tasks=4" "qos:sweep:MaxTRESPA=gres/gpu=2"

# --- typed: gpu:a30:4, 8 CPUs, QOS lab on partition gpu (MaxTRESPU cpu=4,mem=4000M,gres/gpu=2,
# MaxJobsPU 3, MaxSubmitPU 5, GrpTRES gres/gpu=3), partition short (30:00, AllowQos normal,deny),
# QOS deny (DenyOnLimit, MaxTRESPU gres/gpu=1, MaxWall 2:00:00), EnforcePartLimits=ALL
scenario typed starts-typed "" "$R gpus=a30:1"
# A partition's node counts under EnforcePartLimits=ALL.
scenario typed partition-min-nodes "" "$R gpus=a30:1" partition:MinNodes=2
scenario typed partition-max-nodes-zero "" "$R gpus=a30:1" partition:MaxNodes=0
scenario typed unknown-gpu-type "" "$R gpus=v100:1"
scenario typed more-typed-gpus-than-a-node "" "$R gpus=a30:5"
scenario typed over-max-cpus-per-node "" "partition=gpu gpus=1 cpus=7 time=10:00"
scenario typed over-partition-time "" "partition=gpu gpus=1 cpus=1 time=2-00:00:00"
scenario typed over-short-time "" "partition=short cpus=1 time=1:00:00"
scenario typed partition-down-over-partition-time "" "partition=gpu gpus=1 cpus=1 time=2-00:00:00" partition:down
scenario typed partition-down-over-max-cpus-per-node "" "partition=gpu gpus=1 cpus=7 time=10:00" partition:down
scenario typed partition-down-gpus-per-job "" "partition=normal cpus=1 time=10:00 qos=perjob gpus=2" partition:down
scenario typed partition-down-deny-on-limit-gpus "" "partition=short qos=deny gpus=2 cpus=1 time=10:00" partition:down
scenario typed partition-down-cpus-per-user "partition=gpu cpus=3 time=10:00" "partition=gpu gpus=1 cpus=2 time=10:00" partition:down
scenario typed partition-down-gpus-busy "partition=normal gpus=4 cpus=1 time=10:00" "$R gpus=1" partition:down
scenario typed over-max-mem-per-node "" "$R gpus=1 mem=6000M" partition:MaxMemPerNode=4000
scenario typed over-max-mem-per-node-and-time "" "partition=gpu gpus=1 cpus=1 time=2-00:00:00 mem=6000M" partition:MaxMemPerNode=4000
scenario typed max-mem-per-cpu-raised-over-cpus-per-user "partition=gpu cpus=1 time=10:00 mem=500M" "$R gpus=1 mem=3500M" partition:MaxMemPerCPU=1000
scenario typed max-mem-per-cpu-raised-over-max-cpus-per-node "" "$R gpus=1 mem=7000M" partition:MaxMemPerCPU=1000
scenario typed group-not-allowed-qos-not-allowed-in-partition "" "user=nobody partition=short qos=lab cpus=1 time=10:00" partition:AllowGroups=daemon
# AllowGroups alone under EnforcePartLimits=ALL: refused by 22.05 and 24.11 alike (under NO,
# 24.11 queues it: plain-group-not-allowed).
scenario typed group-not-allowed "" "user=nobody $R gpus=a30:1" partition:AllowGroups=daemon
scenario typed partition-inactive-over-partition-time "" "partition=gpu gpus=1 cpus=1 time=2-00:00:00" partition:inactive
scenario typed more-memory-than-a-node "" "$R mem=20000M"
scenario typed typed-gpus-counted-once "$R gpus=a30:1; $R gpus=1" "$R gpus=1"
scenario typed cpus-per-user "partition=gpu cpus=3 time=10:00" "partition=gpu gpus=1 cpus=2 time=10:00"
scenario typed memory-per-user "$R mem=3000M" "$R gpus=1 mem=2000M"
scenario typed cpus-and-gpus-per-user "partition=gpu gpus=2 cpus=3 time=10:00" "partition=gpu gpus=1 cpus=2 time=10:00"
scenario typed alone-over-gpus-per-user "" "$R gpus=3"
scenario typed group-gpus "user=nobody $R gpus=2" "$R gpus=2"
scenario typed group-and-user-gpus "user=nobody $R gpus=1; $R gpus=2" "$R gpus=1"
scenario typed jobs-per-user "$R; $R; $R" "$R"
scenario typed deny-on-limit-gpus "" "partition=short qos=deny gpus=2 cpus=1 time=10:00"
scenario typed deny-on-limit-wall "" "partition=normal qos=deny cpus=1 time=3:00:00"
scenario typed deny-on-limit-in-use "partition=short qos=deny gpus=1 cpus=1 time=10:00" "partition=short qos=deny gpus=1 cpus=1 time=10:00"
scenario typed qos-not-allowed-in-partition "" "partition=short qos=lab cpus=1 time=10:00"
scenario typed gpus-busy "partition=normal gpus=4 cpus=1 time=10:00" "$R gpus=1"
N='partition=normal cpus=1 time=10:00'
scenario typed gpus-per-job "" "$N qos=perjob gpus=2"
scenario typed cpus-per-node "" "partition=normal qos=perjob cpus=3 time=10:00"
scenario typed group-jobs "user=nobody $N qos=perjob; user=nobody $N qos=perjob" "$N qos=perjob"
scenario typed unknown-account "" "$N account=nosuch"
scenario typed association-jobs "$N" "$N" "assoc:MaxJobs=1 MaxSubmit=2"
scenario typed association-submit "$N; $N" "$N" "assoc:MaxJobs=1 MaxSubmit=2"
scenario typed association-gpus "$N gpus=1" "$N gpus=1" "assoc:GrpTRES=gres/gpu=1"
scenario typed association-wall "" "partition=normal cpus=1 time=2:00:00" "assoc:MaxWall=1:00:00"
scenario typed association-cpus-per-job "" "partition=normal cpus=3 time=10:00" "assoc:MaxTRES=cpu=2"
scenario typed association-cpus-per-job-deny-on-limit "" "partition=normal qos=deny cpus=3 time=10:00" "assoc:MaxTRES=cpu=2"
scenario typed association-wall-deny-on-limit "" "partition=normal qos=deny cpus=1 time=1:30:00" "assoc:MaxWall=1:00:00"
scenario typed association-gpus-deny-on-limit "" "partition=normal qos=deny gpus=1 cpus=1 time=10:00" "assoc:GrpTRES=gres/gpu=0"
# A whole node (--exclusive) gives the job all 8 of the node's CPUs: limits count those.
scenario typed exclusive-starts "" "partition=normal gpus=1 cpus=1 time=10:00 exclusive=yes"
scenario typed exclusive-cpus-per-user "" "partition=gpu gpus=1 cpus=1 time=10:00 exclusive=yes"
scenario typed exclusive-cpus-per-node "" "partition=normal qos=perjob gpus=1 cpus=1 time=10:00 exclusive=yes"
scenario typed exclusive-cpus-per-user-held "partition=normal cpus=1 time=10:00" "partition=gpu gpus=1 cpus=1 time=10:00 exclusive=yes"

# --- preempt: plain with PreemptType=preempt/partition_prio, PreemptMode=REQUEUE; partition gpu
# (PriorityTier 2) requeues the jobs of partition normal (PriorityTier 1)
scenario preempt preempts-lower-tier "user=nobody partition=normal cpus=2 time=10:00" "$R gpus=1"
scenario preempt preempts-lower-tier-gpus "user=nobody partition=normal cpus=1 time=10:00 gpus=4" "$R gpus=1"
scenario preempt same-tier-busy "user=nobody partition=gpu cpus=2 time=10:00 gpus=1" "$R gpus=1"
scenario preempt lower-tier-waits "user=nobody partition=gpu cpus=2 time=10:00 gpus=1" "partition=normal cpus=1 time=10:00"
scenario preempt preempts-part-of-what-it-needs "user=nobody partition=normal cpus=1 time=10:00; user=nobody partition=gpu cpus=1 time=10:00 gpus=1" "partition=gpu gpus=1 cpus=2 time=10:00"
scenario preempt preempts-but-gpus-per-user "$R gpus=3; user=nobody partition=normal cpus=1 time=10:00" "$R gpus=2"
scenario preempt preemptable-starts "" "partition=normal cpus=1 time=10:00"
scenario preempt array-preempts "user=nobody partition=normal cpus=2 time=10:00" "$R gpus=1 tasks=3"
scenario preempt array-preempts-one-of-two "user=nobody partition=normal cpus=1 time=10:00; user=nobody partition=gpu cpus=1 time=10:00 gpus=1" "$R gpus=1 tasks=3"


# --- preempt-qos: plain with PreemptType=preempt/qos, PreemptMode=REQUEUE; QOS lab preempts
# QOS normal in the scenarios that say so
QP=qos:lab:Preempt=normal
scenario preempt-qos preempts-named-qos "user=nobody partition=normal cpus=2 time=10:00" "$R gpus=1 qos=lab" "$QP"
scenario preempt-qos preempts-nothing-unnamed "user=nobody partition=normal cpus=2 time=10:00" "$R gpus=1 qos=lab"
scenario preempt-qos preempts-not-other-qos "user=nobody partition=normal cpus=2 time=10:00 qos=sweep" "$R gpus=1 qos=lab" "$QP"
scenario preempt-qos preemptable-starts "" "partition=normal cpus=1 time=10:00" "$QP"
# Two nodes of 2 GPUs each. A job of both nodes, 2 GPUs on each, waits for one that a job (of
# partition normal, outside the gpu QOS that would count both against user nobody)
# holds for 10 minutes: a job of 30 minutes on the other node's free GPUs would hold it up,
# one of 5 minutes leaves it alone; before and after backfill has planned it.
TWO='user=nobody partition=normal gpus=2 cpus=1 time=10:00; user=nobody partition=gpu nodes=2 gpus=2 cpus=1 time=10:00'
scenario multi two-nodes-ahead-held-up "$TWO" "partition=gpu gpus=1 cpus=1 time=30:00 settle=40"
scenario multi two-nodes-ahead-backfilled "$TWO" "partition=gpu gpus=1 cpus=1 time=5:00 settle=40"
scenario multi two-nodes-ahead-planned-held-up "$TWO" "partition=gpu gpus=1 cpus=1 time=30:00 settle=40" planned
scenario multi two-nodes-ahead-planned-backfilled "$TWO" "partition=gpu gpus=1 cpus=1 time=5:00 settle=40" planned
# Node features (yj1: ampere,ib; yj2: hopper,ib) asked for with --constraint. A job of
# partition normal holds both GPUs of yj1 (AMP) or of yj2 (HOP).
AMP='user=nobody partition=normal gpus=2 cpus=1 time=10:00 constraint=ampere'
HOP='user=nobody partition=normal gpus=2 cpus=1 time=10:00 constraint=hopper'
C='partition=gpu gpus=1 cpus=1 time=10:00'
scenario multi constraint-starts "" "$C constraint=ampere"
scenario multi constraint-comma-is-and "" "$C constraint=ampere,ib"
scenario multi constraint-unknown-feature "" "$C constraint=nosuch"
scenario multi constraint-unknown-feature-in-or "" "$C constraint=ampere|nosuch"
scenario multi constraint-unknown-feature-over-partition-time "" "partition=gpu gpus=1 cpus=1 time=2-00:00:00 constraint=nosuch"
scenario multi constraint-no-node-has-all "" "$C constraint=ampere&hopper"
scenario multi constraint-no-node-has-all-over-partition-time "" "partition=gpu gpus=1 cpus=1 time=2-00:00:00 constraint=ampere&hopper"
scenario multi constraint-more-gpus-than-its-nodes "" "partition=gpu gpus=3 cpus=1 time=10:00 constraint=ampere"
scenario multi constraint-node-busy "$AMP" "$C constraint=ampere"
scenario multi constraint-other-node-free "$AMP" "$C constraint=hopper"
scenario multi constraint-or-other-node-free "$AMP" "$C constraint=ampere|hopper"
scenario multi constraint-grouped "$HOP" "$C constraint=(ampere|hopper)&ib"
# Slurm reads & and | left to right: (ib|ampere)&hopper, so only yj2, whose GPUs are held.
scenario multi constraint-left-to-right "$HOP" "$C constraint=ib|ampere&hopper"
scenario multi constraint-node-drained "" "$C constraint=ampere" drain:yj1
scenario multi no-constraint-other-node-up "" "$C" drain:yj1
# A job queued ahead that needs yj1 (held for 10 minutes) leaves yj2 to a longer job.
AHEAD='user=nobody partition=gpu gpus=2 cpus=1 time=10:00 constraint=ampere'
scenario multi constraint-ahead-needs-the-other-node "$AMP; $AHEAD" "partition=gpu gpus=1 cpus=1 time=30:00 settle=40"
scenario multi constraint-ahead-needs-the-other-node-planned "$AMP; $AHEAD" "partition=gpu gpus=1 cpus=1 time=30:00 settle=40" planned
# The same for a job ahead that asks for its feature on a count of its nodes (`ampere*1`, as
# jobs of several nodes do): of one node, that node needs the feature (as captured here).
AHEAD_COUNTED='user=nobody partition=gpu gpus=2 cpus=1 time=10:00 constraint=ampere*1'
scenario multi counted-constraint-ahead-needs-the-other-node "$AMP; $AHEAD_COUNTED" "partition=gpu gpus=1 cpus=1 time=30:00 settle=40"
scenario multi counted-constraint-ahead-needs-the-other-node-planned "$AMP; $AHEAD_COUNTED" "partition=gpu gpus=1 cpus=1 time=30:00 settle=40" planned
# Node Weight (set in slurm.conf): of the nodes that free at the same time, Slurm plans a job
# queued ahead on the lightest, and on the first listed of equals. A job of partition normal holds one GPU of each
# node for 10 minutes; the job queued ahead waits for both GPUs of one node.
BOTH1='user=nobody partition=normal nodes=2 gpus=1 cpus=1 time=10:00'
AHEAD2='user=nobody partition=gpu gpus=2 cpus=1 time=10:00'
W='partition=gpu gpus=1 cpus=1 time=30:00 settle=40'
scenario multi weight-equal-ahead-on-the-first-node "$BOTH1; $AHEAD2" "$W nodelist=yj1"
scenario multi weight-equal-the-second-node-free "$BOTH1; $AHEAD2" "$W nodelist=yj2"
scenario multi weight-ahead-on-the-lighter-node "$BOTH1; $AHEAD2" "$W nodelist=yj2" weight:yj1=10
scenario multi weight-the-heavier-node-free "$BOTH1; $AHEAD2" "$W nodelist=yj1" weight:yj1=10
scenario multi weight-the-heavier-node-free-planned "$BOTH1; $AHEAD2" "$W nodelist=yj1" "weight:yj1=10 planned"
# Two jobs queued ahead of one shape, waiting for either node: backfill plans the second
# around the first, on the other node, so a job that would run into either start waits.
scenario multi two-ahead-one-shape-held-up "$BOTH1; $AHEAD2; $AHEAD2" "$W"
scenario multi two-ahead-one-shape-backfilled "$BOTH1; $AHEAD2; $AHEAD2" "partition=gpu gpus=1 cpus=1 time=5:00 settle=40"
scenario multi two-ahead-one-shape-planned-held-up "$BOTH1; $AHEAD2; $AHEAD2" "$W" planned
# The same for a job ahead that keeps yj2 off (--exclude; read with squeue -o %x).
AHEAD_X='user=nobody partition=gpu gpus=2 cpus=1 time=10:00 exclude=yj2'
scenario multi exclude-ahead-needs-the-other-node "$AMP; $AHEAD_X" "partition=gpu gpus=1 cpus=1 time=30:00 settle=40"
# No room for the request, behind that job: on its node, or on neither node.
scenario multi constraint-ahead-same-node-held-up "$AMP; $AHEAD" "partition=gpu gpus=1 cpus=1 time=30:00 constraint=ampere settle=40"
scenario multi constraint-ahead-no-room-anywhere "$AMP; $HOP; $AHEAD" "partition=gpu gpus=1 cpus=1 time=30:00 settle=40"
# The same for a job ahead that asks for yj1's GPU type.
TYPED_AHEAD='user=nobody partition=normal gpus=a30:2 cpus=1 time=10:00; user=nobody partition=gpu gpus=a30:2 cpus=1 time=10:00'
scenario multi typed-ahead-needs-the-other-node "$TYPED_AHEAD" "partition=gpu gpus=1 cpus=1 time=30:00 settle=40"
scenario multi typed-ahead-needs-the-other-node-typed "$TYPED_AHEAD" "partition=gpu gpus=h100:1 cpus=1 time=30:00 settle=40"
scenario multi typed-ahead-same-type-held-up "$TYPED_AHEAD" "partition=gpu gpus=a30:1 cpus=1 time=30:00 settle=40"
scenario multi constraint-array-on-one-node "" "partition=normal qos=sweep gpus=2 cpus=1 time=10:00 tasks=3 constraint=ampere"
# Nodes named (--nodelist, one node for a yenjob job) or kept off (--exclude).
scenario multi nodelist-starts "" "$C nodelist=yj2"
scenario multi nodelist-unknown-node "" "$C nodelist=yj9"
scenario multi nodelist-unknown-node-unknown-partition "" "partition=nosuch gpus=1 cpus=1 time=10:00 nodelist=yj9"
scenario multi nodelist-unknown-node-array-too-large "" "partition=gpu gpus=1 cpus=1 time=10:00 tasks=2000 nodelist=yj9"
scenario multi exclude-unknown-node "" "$C exclude=yj[2-3]"
scenario multi nodelist-excluded-too "" "$C nodelist=yj1 exclude=yj1"
scenario multi exclude-every-node "" "$C exclude=yj[1-2]"
scenario multi exclude-every-node-over-partition-time "" "partition=gpu gpus=1 cpus=1 time=2-00:00:00 exclude=yj[1-2]"
scenario multi nodelist-not-in-partition "" "$C nodelist=yj2" partition:Nodes=yj1
scenario multi nodelist-other-gpu-type "" "partition=gpu gpus=h100:1 cpus=1 time=10:00 nodelist=yj1"
scenario multi nodelist-without-the-feature "" "$C nodelist=yj1 constraint=hopper"
scenario multi exclude-leaves-no-node-with-the-feature "" "$C exclude=yj2 constraint=hopper"
scenario multi nodelist-more-gpus-than-its-node "" "partition=gpu gpus=3 cpus=1 time=10:00 nodelist=yj1"
scenario multi nodelist-node-busy "$AMP" "$C nodelist=yj1"
scenario multi nodelist-other-node-free "$AMP" "$C nodelist=yj2"
scenario multi exclude-leaves-the-busy-node "$AMP" "$C exclude=yj2"
scenario multi exclude-leaves-the-free-node "$AMP" "$C exclude=yj1"
scenario multi nodelist-node-drained "" "$C nodelist=yj1" drain:yj1
scenario multi exclude-leaves-the-drained-node "" "$C exclude=yj2" drain:yj1
scenario multi nodelist-array-on-one-node "" "partition=normal qos=sweep gpus=2 cpus=1 time=10:00 tasks=3 nodelist=yj1"
scenario multi exclusive-other-node-free "$AMP" "$C exclusive=yes"
# Root holds yj1's 2 GPUs under a QOS of 3 GPUs a user: one more GPU fits, but a node of its
# own gives the job yj2's 2.
F='partition=normal qos=yj-fresh cpus=1 time=10:00'
scenario multi exclusive-gpus-per-user "$F gpus=2 constraint=ampere" "$F gpus=1 exclusive=yes" newqos:yj-fresh:MaxTRESPU=gres/gpu=3
scenario multi not-exclusive-gpus-per-user "$F gpus=2 constraint=ampere" "$F gpus=1" newqos:yj-fresh:MaxTRESPU=gres/gpu=3
scenario multi exclusive-both-nodes-busy "$AMP; user=nobody partition=normal cpus=1 time=10:00 constraint=hopper" "$C exclusive=yes"
# A job queued ahead that named yj1 (held for 10 minutes) leaves yj2 to a longer job.
NAMED_AHEAD='user=nobody partition=gpu gpus=2 cpus=1 time=10:00 nodelist=yj1'
scenario multi nodelist-ahead-needs-the-other-node "$AMP; $NAMED_AHEAD" "partition=gpu gpus=1 cpus=1 time=30:00 settle=40"
scenario multi nodelist-ahead-needs-the-other-node-planned "$AMP; $NAMED_AHEAD" "partition=gpu gpus=1 cpus=1 time=30:00 settle=40" planned
scenario multi nodelist-ahead-same-node-held-up "$AMP; $NAMED_AHEAD" "partition=gpu gpus=1 cpus=1 time=30:00 nodelist=yj1 settle=40"
scenario multi nodelist-ahead-no-room-anywhere "$AMP; $HOP; $NAMED_AHEAD" "partition=gpu gpus=1 cpus=1 time=30:00 settle=40"
scenario multi nodelist-ahead-no-room-on-the-named-node "$AMP; $HOP; $NAMED_AHEAD" "partition=gpu gpus=1 cpus=1 time=30:00 nodelist=yj2 settle=40"
# Slurm passes a job that named its nodes by without holding up its partition: it keeps those
# nodes from the jobs behind it (a job there that names them too waits for ReqNodeNotAvail),
# and a job behind that finds no room elsewhere waits for Resources, not Priority.
scenario multi nodelist-ahead-constraint-behind "$AMP; $NAMED_AHEAD" "partition=gpu gpus=1 cpus=1 time=30:00 constraint=ampere settle=40"
AMP1='user=nobody partition=normal gpus=1 cpus=1 time=10:00 constraint=ampere'
scenario multi nodelist-ahead-room-beside-held-up "$AMP1; $NAMED_AHEAD" "partition=gpu gpus=1 cpus=1 time=30:00 nodelist=yj1 settle=40"
scenario multi nodelist-ahead-room-beside-backfilled "$AMP1; $NAMED_AHEAD" "partition=gpu gpus=1 cpus=1 time=5:00 nodelist=yj1 settle=40"
scenario multi nodelist-ahead-room-beside-unnamed-held-up "$AMP1; $HOP; $NAMED_AHEAD" "partition=gpu gpus=1 cpus=1 time=30:00 settle=40"
# When a job that waits for running jobs to end starts: yenjob's expected start must match
# Slurm's answers in each scenario's test-only.txt and planned.txt.
NB='user=nobody partition=normal'
scenario plain when-the-later-job-ends "$NB cpus=1 time=10:00; $NB cpus=1 time=20:00" "partition=gpu gpus=1 cpus=2 time=10:00"
scenario plain when-the-first-job-ends "user=nobody partition=gpu gpus=3 cpus=1 time=5:00; user=nobody partition=gpu gpus=1 cpus=1 time=20:00" "$R gpus=2"
scenario plain when-a-cpu-frees "$NB cpus=1 time=5:00; $NB cpus=1 time=25:00" "$R gpus=1"
scenario plain when-exclusive-needs-every-job-to-end "$NB cpus=1 time=5:00; $NB cpus=1 time=25:00" "$R gpus=1 exclusive=yes"
scenario plain when-memory-frees "$NB cpus=1 mem=20G time=15:00" "$R gpus=1 mem=4G"
scenario plain when-no-time-limit "$NB cpus=2 time=UNLIMITED" "$R gpus=1"
scenario typed when-typed-gpus-free "$NB gpus=a30:4 cpus=1 time=15:00" "$R gpus=a30:1"
scenario multi when-the-first-node-frees "$NB gpus=2 cpus=1 time=20:00 constraint=ampere; $NB gpus=2 cpus=1 time=10:00 constraint=hopper" "$C"
scenario multi when-the-named-node-frees "$NB gpus=2 cpus=1 time=20:00 constraint=ampere; $NB gpus=2 cpus=1 time=10:00 constraint=hopper" "$C nodelist=yj1"
# --- mixed: one node with GPUs of two types (gpu:a30:2,gpu:h100:2): a typed job waits for its
# own type alone, and an untyped one for any; a running job's TRES names the type it holds.
scenario mixed typed-starts "" "$R gpus=a30:1"
scenario mixed typed-other-type-busy "$NB gpus=h100:2 cpus=1 time=10:00" "$R gpus=a30:2"
scenario mixed typed-more-than-its-type "" "$R gpus=a30:3"
scenario mixed when-typed-gpus-free "$NB gpus=a30:2 cpus=1 time=15:00" "$R gpus=a30:1"
scenario mixed when-its-type-frees "$NB gpus=a30:2 cpus=1 time=20:00; $NB gpus=h100:2 cpus=1 time=5:00" "$R gpus=a30:1"
scenario mixed when-untyped-gpus-free "$NB gpus=a30:2 cpus=1 time=20:00; $NB gpus=h100:1 cpus=1 time=5:00" "$R gpus=2"
scenario mixed when-an-untyped-holder-ends "$NB gpus=2 cpus=1 time=15:00" "$R gpus=a30:1"
# A job queued ahead for an a30 waits for the a30 holder (15 min), not for a GPU of any
# type: a 10-minute job for an h100 ends before it starts, and backfill starts that one.
TYPED_AHEAD_MIXED="$NB gpus=a30:2 cpus=1 time=15:00; $NB gpus=a30:1 cpus=1 time=10:00 partition=gpu"
scenario mixed typed-ahead-backfilled "$TYPED_AHEAD_MIXED" "$R gpus=h100:1 settle=40"
scenario mixed typed-ahead-held-up "$TYPED_AHEAD_MIXED" "partition=gpu cpus=1 time=30:00 gpus=h100:1 settle=40"
scenario mixed private-other-type-hidden "$R gpus=a30:2" "user=nobody $R gpus=h100:1" private:jobs
scenario mixed private-same-type-hidden "$R gpus=a30:2" "user=nobody $R gpus=a30:1" private:jobs
log "back to the plain shape"
bash scripts/cluster-start.sh plain >/dev/null
