#!/usr/bin/env bash
# cluster-start.sh — install, configure and start a REAL single-node Slurm cluster
# (Debian 12 bookworm packages: Slurm 22.05.8, MUNGE 0.5.15, MariaDB 10.11) on this host.
#
#   * no systemd needed: every daemon is started directly and writes a pid file
#   * runs as root; slurmctld/slurmdbd run as the Debian "slurm" user (SlurmUser=slurm),
#     slurmd runs as root (it must), mariadbd drops to "mysql"
#   * node "localhost" (127.0.0.1) with the real CPU/memory of this machine and 4 FAKE GPUs
#     (gres.conf File= points at dummy char devices made with mknod, no NVIDIA driver needed)
#   * partitions: normal (default) and gpu (partition QOS "gpu")
#   * accounting through slurmdbd+MariaDB, AccountingStorageEnforce=associations,limits,qos
#   * memory enforced through accounting (JobAcctGatherParams=OverMemoryKill, every 2 s)
#   * QOS gpu: MaxTRESPerUser=gres/gpu=4 MaxJobsPerUser=2 MaxSubmitJobsPerUser=4 MaxWall=1-00:00:00
#   * account "yenlab" with users root and nobody (an existing non-root user)
#
# Six shapes, chosen by the first argument (default plain):
#   plain  the above: untyped GPUs (gpu:4), the node's real CPUs and memory, EnforcePartLimits=NO
#   typed  the shape many real sites have: typed GPUs (gpu:a30:4, gres/gpu:a30 tracked), a node
#          of 8 CPUs and 16000 MiB (config_overrides: Slurm believes slurm.conf, so limits can be
#          hit before the machine's 2 real CPUs are), EnforcePartLimits=ALL, partition gpu under
#          QOS "lab" (MaxTRESPU cpu=4,mem=4000M,gres/gpu=2, MaxJobsPU 3, MaxSubmitPU 5,
#          GrpTRES gres/gpu=3, MaxCPUsPerNode 6), a third partition "short" (MaxTime 30:00,
#          AllowQos normal,deny) and QOS "deny" (Flags=DenyOnLimit, MaxTRESPU gres/gpu=1,
#          MaxWall 2:00:00), QOS "perjob" (MaxTRESPerJob gres/gpu=1, MaxTRESPerNode cpu=2,
#          GrpJobs 2). QOS
#          "restricted" exists in both shapes and no user may use it. QOS "sweep" (both shapes,
#          for job arrays in partition normal, which has no partition QOS): MaxJobsPU 2,
#          MaxSubmitPU 10, MaxTRESPU gres/gpu=4.
#   preempt plain, with PreemptType=preempt/partition_prio and PreemptMode=REQUEUE: partition
#          gpu (PriorityTier 2) requeues the jobs of partition normal (PriorityTier 1).
#   preempt-qos plain, with PreemptType=preempt/qos and PreemptMode=REQUEUE: a QOS requeues
#          the jobs of the QOS its Preempt list names (none does by itself).
#   multi  plain, as two nodes of this machine's CPUs and memory, one slurmd per node
#          (Debian's Slurm is built with MULTIPLE_SLURMD): yj1 with 2 fake a30 GPUs and the
#          features ampere,ib, yj2 with 2 fake h100 GPUs and hopper,ib (gres/gpu:a30 and
#          gres/gpu:h100 tracked): for jobs of several nodes, GPU types and constraints.
#   mixed  plain, with GPUs of two types on the one node (gpu:a30:2,gpu:h100:2, both tracked),
#          as on sites that put unlike cards in one box: a typed job waits only for its type.
# Switching shape restarts slurmctld and slurmd (jobs are cancelled first); the accounting
# database, the QOS and the job ids are kept.
#
# Idempotent: re-running only starts what is not running, rewrites the config and changes
# accounting only where it differs from what this script sets.
# Stop with cluster-stop.sh (kills by pid file only).
set -euo pipefail

SHAPE=${1:-plain}
case "$SHAPE" in plain|typed|preempt|preempt-qos|multi|mixed) ;; *) echo "usage: $0 [plain|typed|preempt|preempt-qos|multi|mixed]" >&2; exit 2 ;; esac

CLUSTER=yen
NODE=localhost
ACCOUNT=yenlab
USERS="root nobody"            # nobody exists on every Debian system; add your own test user here
NGPUS=4
DB_PASS=slurmdbpass              # local-only MariaDB password for the slurm DB user
SPOOL=/var/spool/slurm           # state, pid files, fake GPU device nodes
LOGDIR=/var/log/slurm
ETC=/etc/slurm

log() { echo "[cluster-start $(date +%T)] $*"; }
. "$(dirname "${BASH_SOURCE[0]}")/pidfile.sh"   # alive PIDFILE NAME
wait_for() {   # wait_for SECONDS DESCRIPTION CMD...
  local t=$1 what=$2; shift 2
  for ((i = 0; i < t * 5; i++)); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  echo "timed out after ${t}s waiting for: $what" >&2; return 1
}

# ---------------------------------------------------------------- 1. packages
PKGS="munge slurmctld slurmd slurm-client slurmdbd mariadb-server"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
  log "installing:$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # postinst scripts try invoke-rc.d; without an init system (or with a policy-rc.d that
  # says 101) nothing is started, which is what we want: we start everything below.
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

# ---------------------------------------------------------------- 2. config
install -d -o slurm -g slurm -m 0755 "$SPOOL" "$SPOOL/ctld" "$LOGDIR"
install -d -o root -g root -m 0755 "$SPOOL/d" "$SPOOL/fakegpu"

# Fake GPUs: Slurm 22.05 drops GPUs without File= ("Removing file-less GPU gpu:(null) from
# final GRES list") and rejects regular files ("... is not a valid character or block device,
# fix your gres.conf"), so make char devices (NVIDIA major 195). They need not live in /dev.
for ((g = 0; g < NGPUS; g++)); do
  [ -c "$SPOOL/fakegpu/nvidia$g" ] || mknod -m 666 "$SPOOL/fakegpu/nvidia$g" c 195 "$g"
done

# Real topology of this machine, as slurmd sees it (e.g. CPUs=2 ... RealMemory=24105)
HW=$(slurmd -C | head -1 | sed -e 's/^NodeName=[^ ]* //')

if [ "$SHAPE" = typed ]; then
  TRES=gres/gpu,gres/gpu:a30
  EXTRA="EnforcePartLimits=ALL
SlurmdParameters=config_overrides"
  NODE_HW="CPUs=8 Boards=1 SocketsPerBoard=1 CoresPerSocket=8 ThreadsPerCore=1 RealMemory=16000"
  NODE_GRES=gpu:a30:$NGPUS
  GRES_TYPE=" Type=a30"
  PARTITIONS="PartitionName=normal Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=$NODE Default=NO DefaultTime=01:00:00 MaxTime=1-00:00:00 MaxCPUsPerNode=6 QOS=lab State=UP
PartitionName=short Nodes=$NODE Default=NO DefaultTime=10:00 MaxTime=30:00 AllowQos=normal,deny State=UP"
else
  TRES=gres/gpu
  EXTRA="EnforcePartLimits=NO"
  NODE_HW=$HW
  NODE_GRES=gpu:$NGPUS
  GRES_TYPE=""
  PARTITIONS="PartitionName=normal Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=$NODE Default=NO DefaultTime=01:00:00 MaxTime=1-00:00:00 QOS=gpu State=UP"
  if [ "$SHAPE" = preempt ]; then
    # Jobs of a partition with a higher PriorityTier requeue those of a lower one.
    EXTRA="EnforcePartLimits=NO
PreemptType=preempt/partition_prio
PreemptMode=REQUEUE"
    PARTITIONS="PartitionName=normal Nodes=$NODE Default=YES MaxTime=INFINITE PriorityTier=1 State=UP
PartitionName=gpu Nodes=$NODE Default=NO DefaultTime=01:00:00 MaxTime=1-00:00:00 QOS=gpu PriorityTier=2 State=UP"
  fi
  if [ "$SHAPE" = preempt-qos ]; then
    # Jobs of a QOS requeue those of the QOS in its Preempt list (set per scenario).
    EXTRA="EnforcePartLimits=NO
PreemptType=preempt/qos
PreemptMode=REQUEUE"
  fi
fi

# The nodes, their slurmd files and GPUs: one node, or the multi shape's two on this machine
# (each slurmd with its own port, spool, pid file and log, named by %n).
SLURMD_FILES="SlurmdSpoolDir=$SPOOL/d
SlurmdPidFile=$SPOOL/slurmd.pid
SlurmdLogFile=$LOGDIR/slurmd.log"
NODE_LINES="NodeName=$NODE NodeAddr=127.0.0.1 $NODE_HW Gres=$NODE_GRES State=UNKNOWN"
GRES_LINES="NodeName=$NODE Name=gpu$GRES_TYPE File=$SPOOL/fakegpu/nvidia[0-$((NGPUS - 1))]"
NODES=$NODE
if [ "$SHAPE" = multi ]; then
  NODES="yj1 yj2"
  SLURMD_FILES="SlurmdSpoolDir=$SPOOL/d-%n
SlurmdPidFile=$SPOOL/slurmd-%n.pid
SlurmdLogFile=$LOGDIR/slurmd-%n.log"
  TRES=gres/gpu,gres/gpu:a30,gres/gpu:h100
  NODE_LINES="NodeName=yj1 NodeHostname=localhost NodeAddr=127.0.0.1 Port=17001 $HW Gres=gpu:a30:2 Features=ampere,ib State=UNKNOWN
NodeName=yj2 NodeHostname=localhost NodeAddr=127.0.0.1 Port=17002 $HW Gres=gpu:h100:2 Features=hopper,ib State=UNKNOWN"
  GRES_LINES="NodeName=yj1 Name=gpu Type=a30 File=$SPOOL/fakegpu/nvidia[0-1]
NodeName=yj2 Name=gpu Type=h100 File=$SPOOL/fakegpu/nvidia[2-3]"
  PARTITIONS=${PARTITIONS//Nodes=$NODE/Nodes=yj[1-2]}
  for n in $NODES; do install -d -o root -g root -m 0755 "$SPOOL/d-$n"; done
fi
if [ "$SHAPE" = mixed ]; then
  TRES=gres/gpu,gres/gpu:a30,gres/gpu:h100
  NODE_LINES="NodeName=$NODE NodeAddr=127.0.0.1 $NODE_HW Gres=gpu:a30:2,gpu:h100:2 State=UNKNOWN"
  GRES_LINES="NodeName=$NODE Name=gpu Type=a30 File=$SPOOL/fakegpu/nvidia[0-1]
NodeName=$NODE Name=gpu Type=h100 File=$SPOOL/fakegpu/nvidia[2-3]"
fi

cat > "$ETC/slurm.conf" <<EOF
ClusterName=$CLUSTER
SlurmctldHost=localhost
SlurmUser=slurm
AuthType=auth/munge
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=$SPOOL/ctld
SlurmctldPidFile=$SPOOL/slurmctld.pid
SlurmctldLogFile=$LOGDIR/slurmctld.log
$SLURMD_FILES
SlurmctldDebug=info
SlurmdDebug=info
# no cgroups / systemd needed
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
# Memory is enforced as most sites do, without cgroups: accounting samples each step every 2 s
# and kills one that uses more than the job asked for ("StepId=N.0 exceeded memory limit
# (USED > LIMIT), being killed"; the job ends FAILED, not OUT_OF_MEMORY, as cgroups would say).
JobAcctGatherFrequency=2
JobAcctGatherParams=OverMemoryKill
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# without a default, a job without --mem gets the whole node's memory
DefMemPerCPU=1024
GresTypes=gpu
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStorageTRES=$TRES
AccountingStorageEnforce=associations,limits,qos
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=60
InactiveLimit=0
MinJobAge=300
KillWait=5
Waittime=0
$EXTRA
# MailProg left at default (/bin/mail, absent): slurmctld logs "Configured MailProg is invalid"
$NODE_LINES
$PARTITIONS
EOF

cat > "$ETC/gres.conf" <<EOF
AutoDetect=off
$GRES_LINES
EOF

cat > "$ETC/slurmdbd.conf" <<EOF
AuthType=auth/munge
DbdHost=localhost
DbdPort=6819
SlurmUser=slurm
DebugLevel=info
LogFile=$LOGDIR/slurmdbd.log
PidFile=$SPOOL/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=3306
StorageUser=slurm
StoragePass=$DB_PASS
StorageLoc=slurm_acct_db
EOF
# Slurm 23.02 and later start the cgroup plugin in slurmd whatever ProctrackType says, and
# fail without a cgroup file system ("Unable to initialize cgroup plugin"); 22.05 knows no
# "disabled".
if [ "$(slurmd -V | awk '{split($2, v, "."); print v[1]}')" -ge 23 ]; then
  echo "CgroupPlugin=disabled" > "$ETC/cgroup.conf"
  chmod 644 "$ETC/cgroup.conf"
fi
chmod 644 "$ETC/slurm.conf" "$ETC/gres.conf"
chown slurm:slurm "$ETC/slurmdbd.conf"; chmod 600 "$ETC/slurmdbd.conf"   # slurmdbd insists

# ---------------------------------------------------------------- 3. munge
[ -s /etc/munge/munge.key ] || { mungekey --create --keyfile=/etc/munge/munge.key; chown munge:munge /etc/munge/munge.key; chmod 400 /etc/munge/munge.key; }
install -d -o munge -g munge -m 0755 /run/munge
if ! alive /run/munge/munged.pid munged; then
  log "starting munged"
  runuser -u munge -- /usr/sbin/munged          # daemonizes, pid file /run/munge/munged.pid
fi
wait_for 10 munge bash -c 'munge -n | unmunge'

# ---------------------------------------------------------------- 4. MariaDB
install -d -o mysql -g mysql -m 0755 /run/mysqld
if ! alive /run/mysqld/mysqld.pid mariadbd; then
  log "starting mariadbd"
  setsid /usr/sbin/mariadbd --user=mysql --pid-file=/run/mysqld/mysqld.pid \
    --socket=/run/mysqld/mysqld.sock --bind-address=127.0.0.1 --port=3306 \
    --log-error=/var/lib/mysql/mariadbd.err --innodb-lock-wait-timeout=900 \
    </dev/null >/dev/null 2>&1 &
fi
wait_for 60 mariadb mariadb -uroot -e 'select 1'
mariadb -uroot <<EOF
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$DB_PASS';
CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '$DB_PASS';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
FLUSH PRIVILEGES;
EOF

# ---------------------------------------------------------------- 5. slurmdbd + accounting data
if ! alive "$SPOOL/slurmdbd.pid" slurmdbd; then
  log "starting slurmdbd"
  /usr/sbin/slurmdbd                            # daemonizes
fi
wait_for 60 slurmdbd sacctmgr -n -P show cluster

has() { [ -n "$(sacctmgr -n -P "$@" 2>/dev/null)" ]; }
# The QOS and cluster must exist before slurmctld reads "PartitionName=gpu ... QOS=gpu".
has show cluster "$CLUSTER" format=cluster || sacctmgr -i add cluster "$CLUSTER"
# Each sacctmgr call takes ~0.4 s: ask once, change only what differs (a shape switch runs
# this too).
known_qos=$(sacctmgr -n -P show qos format=name)
for q in gpu lab deny perjob sweep restricted; do
  grep -qx "$q" <<<"$known_qos" || sacctmgr -i add qos "$q"   # limits are set in step 7
done
has show account "$ACCOUNT" format=account || sacctmgr -i add account "$ACCOUNT" \
  Description="yenjob test lab" Organization=yen cluster="$CLUSTER"
for u in $USERS; do
  has show assoc where cluster="$CLUSTER" account="$ACCOUNT" user="$u" format=user ||
    sacctmgr -i add user "$u" account="$ACCOUNT" cluster="$CLUSTER"
  [ "$(sacctmgr -n -P show user "$u" format=defaultaccount)" = "$ACCOUNT" ] ||
    sacctmgr -i modify user "$u" set DefaultAccount="$ACCOUNT" >/dev/null || true   # rc 1 = unchanged
  # sacctmgr lists an association's QOS sorted by name.
  [ "$(sacctmgr -n -P show assoc where cluster="$CLUSTER" account="$ACCOUNT" user="$u" \
      format=qos,defaultqos)" = "deny,gpu,lab,normal,perjob,sweep|normal" ] ||
    sacctmgr -i modify user where name="$u" account="$ACCOUNT" cluster="$CLUSTER" \
      set qos=normal,gpu,lab,deny,perjob,sweep defaultqos=normal >/dev/null || true
done

# ---------------------------------------------------------------- 6. slurmctld + slurmd
# Another shape changes the node's GRES and CPUs: that needs both daemons restarted.
if [ "$(cat "$SPOOL/shape" 2>/dev/null || echo plain)" != "$SHAPE" ]; then
  if alive "$SPOOL/slurmctld.pid" slurmctld; then
    log "switching to shape $SHAPE: cancelling jobs, restarting slurmctld and slurmd"
    scancel --full -u root 2>/dev/null || true
    scancel --full -u nobody 2>/dev/null || true
    wait_for 30 "jobs gone" bash -c '[ -z "$(squeue -h -o %i)" ]' || true
  fi
  # All at once: each takes a second or more to save its state and go.
  stopping=()
  for pf in "$SPOOL"/slurmd.pid "$SPOOL"/slurmd-*.pid "$SPOOL"/slurmctld.pid; do
    name=$(basename "$pf" .pid)
    if alive "$pf" "${name%%-*}"; then
      pid=$(cat "$pf"); kill "$pid"; stopping+=("$pid:$name")
    fi
  done
  for stop in "${stopping[@]}"; do
    pid=${stop%%:*}
    wait_for 30 "${stop#*:} to stop" bash -c "! kill -0 $pid" || kill -9 "$pid" || true
  done
fi
echo "$SHAPE" > "$SPOOL/shape"
if ! alive "$SPOOL/slurmctld.pid" slurmctld; then
  log "starting slurmctld"
  /usr/sbin/slurmctld
else
  scontrol reconfigure                          # pick up a rewritten slurm.conf
fi
wait_for 60 slurmctld scontrol ping

for n in $NODES; do
  pf=$SPOOL/slurmd.pid; [ "$SHAPE" = multi ] && pf=$SPOOL/slurmd-$n.pid
  if ! alive "$pf" slurmd; then
    log "starting slurmd for node $n"
    /usr/sbin/slurmd -N "$n"                    # -N: node name != hostname
  fi
done

node_ready() { sinfo -h -n "$1" -o %T | grep -qE '^(idle|mixed|allocated)$'; }
for n in $NODES; do
  if ! wait_for 30 "node $n idle" node_ready "$n"; then
    # a node drained by an earlier bad config stays drained across restarts
    scontrol update nodename="$n" state=resume || true
    wait_for 30 "node $n idle" node_ready "$n"
  fi
done

# ---------------------------------------------------------------- 7. QOS limits
# TRES gres/gpu only exists in the database once slurmctld has registered with
# AccountingStorageTRES=gres/gpu; before that sacctmgr fails with
# "sacctmgr: error: slurmdb_format_tres_str: no TRES known by type gres/gpu".
wait_for 30 "TRES gres/gpu" has show tres where type=gres name=gpu format=id
# Unchanged since this script last set them (by this very script): leave them, since the
# seven sacctmgr calls take ~2 s and a test switches shapes a dozen times.
qos_limits() {
  md5sum < "${BASH_SOURCE[0]}" && sacctmgr -n -P show qos \
    format=name,MaxTRESPU,MaxJobsPU,MaxSubmitPU,GrpTRES,GrpJobs,MaxWall,Flags,MaxTRES,MaxTRESPerNode,MinTRES,GrpTRESMins,MaxTRESPA,Description
}
if ! limits=$(qos_limits) || [ "$limits" != "$(cat "$SPOOL/qos-limits" 2>/dev/null)" ]; then
  sacctmgr -i modify qos gpu set MaxTRESPerUser=gres/gpu=$NGPUS MaxJobsPerUser=2 \
    MaxSubmitJobsPerUser=4 MaxWall=1-00:00:00 Description="GPU partition QOS" >/dev/null || true
  [ "$(sacctmgr -n -P show qos gpu format=MaxTRESPU)" = "gres/gpu=$NGPUS" ] ||
    { echo "QOS gpu limits not applied" >&2; exit 1; }
  sacctmgr -i modify qos lab set MaxTRESPerUser=cpu=4,mem=4000M,gres/gpu=2 MaxJobsPerUser=3 \
    MaxSubmitJobsPerUser=5 GrpTRES=gres/gpu=3 MaxWall=1-00:00:00 \
    Description="typed shape: partition gpu" >/dev/null || true
  sacctmgr -i modify qos deny set Flags=DenyOnLimit MaxTRESPerUser=gres/gpu=1 MaxWall=02:00:00 \
    Description="typed shape: refuses at submit" >/dev/null || true
  sacctmgr -i modify qos perjob set MaxTRESPerJob=gres/gpu=1 MaxTRESPerNode=cpu=2 GrpJobs=2 \
    Description="typed shape: per-job and group job limits" >/dev/null || true
  sacctmgr -i modify qos sweep set MaxTRESPerUser=gres/gpu=$NGPUS MaxJobsPerUser=2 \
    MaxSubmitJobsPerUser=10 Description="job arrays: 2 running, 10 queued per user" >/dev/null || true
  [ "$(sacctmgr -n -P show qos deny format=Flags)" = "DenyOnLimit" ] ||
    { echo "QOS deny flags not applied" >&2; exit 1; }
  qos_limits > "$SPOOL/qos-limits" || rm -f "$SPOOL/qos-limits"
fi

log "cluster up (shape $SHAPE)"
sinfo
