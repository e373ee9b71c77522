#!/usr/bin/env bash
# A single-node SLURM cluster with accounting, for the tests marked `slurm` (tests/test_slurm.py).
#
#   .ci/slurm-cluster.sh start    # install if missing, write configs, start the daemons, wait for an idle node
#   .ci/slurm-cluster.sh status   # sinfo of the running cluster (exit 1 when none answers)
#   .ci/slurm-cluster.sh stop     # cancel its jobs, stop the daemons this script started (by their recorded PIDs)
#   export SLURM_CONF=$(.ci/slurm-cluster.sh conf)   # point sbatch/squeue/sacct at it
#
# For Debian/Ubuntu as root, without systemd or cgroups (containers, CI VMs): munge, slurmctld, slurmd, slurmdbd
# and a private MariaDB, everything under $TL_SLURM_DIR (default /tmp/tl_lightning-slurm). Process tracking is
# proctrack/linuxproc and tasks are not confined (task/none); memory limits are enforced by jobacct polling.
# A requeued job may start again after 30 s (AuthInfo cred_expire; SLURM's default is 120 s).
set -euo pipefail

dir="${TL_SLURM_DIR:-/tmp/tl_lightning-slurm}"
cluster="${TL_SLURM_CLUSTER:-tltest}"
db_port="${TL_SLURM_DB_PORT:-3307}"  # not 3306: leave a system MariaDB alone
packages=(slurmctld slurmd slurm-client munge slurmdbd mariadb-server)
conf="$dir/etc/slurm.conf"
export SLURM_CONF="$conf"

say() { echo "slurm-cluster: $*" >&2; }
die() { say "$*"; exit 1; }

alive() {  # pid file -> true when that process is still running
  [[ -s "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null
}

install_packages() {
  local missing=()
  for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  ((${#missing[@]} == 0)) && return 0
  command -v apt-get >/dev/null || die "apt-get not found: install ${missing[*]} by hand"
  say "installing ${missing[*]} (about a minute)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null || die "apt-get update failed"
  apt-get install -y -qq "${missing[@]}" >/dev/null || die "apt-get install ${missing[*]} failed"
}

write_configs() {
  local host node_line mem
  host="$(hostname -s)"
  mkdir -p "$dir"/{etc,state,spool,log,run,pids}
  # The node as slurmd sees it (CPUs, sockets, cores, memory), less 1 GB of memory for the daemons.
  node_line="$(slurmd -C | head -1)"
  mem="$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$node_line")"
  node_line="${node_line% RealMemory=*} RealMemory=$((mem - 1024))"
  cat >"$conf" <<EOF
# Written by .ci/slurm-cluster.sh
ClusterName=$cluster
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmctldPort=6817
SlurmdPort=6818
AuthType=auth/munge
AuthInfo=cred_expire=30
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=5
JobAcctGatherParams=OverMemoryKill
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=6819
ReturnToService=2
KillWait=10
MinJobAge=300
$node_line NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
  # slurmdbd has no -f: it reads slurmdbd.conf beside \$SLURM_CONF, and only when no one else can read it.
  (
    umask 077
    cat >"$dir/etc/slurmdbd.conf" <<EOF
# Written by .ci/slurm-cluster.sh
AuthType=auth/munge
DbdHost=localhost
DbdPort=6819
SlurmUser=root
LogFile=$dir/log/slurmdbd.log
PidFile=$dir/run/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$db_port
StorageUser=slurm
StoragePass=slurm
StorageLoc=slurm_acct_db
EOF
  )
  chmod 600 "$dir/etc/slurmdbd.conf"
}

# Start "$name" in the background (it must stay in the foreground) and record its PID.
launch() {
  local name="$1"
  shift
  setsid "$@" >>"$dir/log/$name.out" 2>&1 </dev/null &
  echo $! >"$dir/pids/$name.pid"
}

wait_for() {  # seconds, description, command...
  local seconds="$1" what="$2"
  shift 2
  for _ in $(seq "$((seconds * 2))"); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  die "$what did not come up within ${seconds}s (logs: $dir/log)"
}

start_munge() {
  if [[ -S /run/munge/munge.socket.2 ]] && munge -n </dev/null >/dev/null 2>&1; then
    return 0  # a running munged (ours or the system's)
  fi
  install -d -o munge -g munge -m 0755 /run/munge
  launch munged setpriv --reuid=munge --regid=munge --init-groups /usr/sbin/munged -F
  wait_for 15 munged munge -n
}

start_mariadb() {
  local data="$dir/mysql" sock="$dir/run/mysql.sock"
  if [[ ! -d "$data/mysql" ]]; then
    mariadb-install-db --no-defaults --user=root --datadir="$data" --auth-root-authentication-method=socket \
      >>"$dir/log/mariadb-install.out" 2>&1 || die "mariadb-install-db failed (log: $dir/log/mariadb-install.out)"
  fi
  launch mariadb /usr/sbin/mariadbd --no-defaults --user=root --datadir="$data" --socket="$sock" \
    --bind-address=127.0.0.1 --port="$db_port" --pid-file="$dir/run/mariadb.pid" --log-error="$dir/log/mariadb.log"
  wait_for 60 MariaDB mariadb --no-defaults --socket="$sock" -uroot -e "SELECT 1"
  mariadb --no-defaults --socket="$sock" -uroot -e "
    CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurm';
    CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'slurm';
    GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
    GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';"
}

start() {
  if status >/dev/null 2>&1; then
    say "already running (SLURM_CONF=$conf)"
    return 0
  fi
  [[ $(id -u) == 0 ]] || die "needs root (it installs packages and starts munged as the munge user)"
  install_packages
  write_configs
  start_munge
  start_mariadb
  launch slurmdbd /usr/sbin/slurmdbd -D
  wait_for 60 slurmdbd sacctmgr -n list cluster
  # The cluster must be known to the database before slurmctld registers with it.
  if ! sacctmgr -n -P list cluster format=cluster | grep -qx "$cluster"; then
    sacctmgr -i add cluster "$cluster" >/dev/null
  fi
  launch slurmctld /usr/sbin/slurmctld -D
  wait_for 30 slurmctld scontrol ping
  launch slurmd /usr/sbin/slurmd -D
  wait_for 60 "an idle node" node_idle
  say "up: export SLURM_CONF=$conf"
}

node_idle() {
  [[ "$(sinfo -h -o %t 2>/dev/null | head -1)" == idle ]]
}

status() {
  [[ -f "$conf" ]] || { say "no cluster under $dir"; return 1; }
  alive "$dir/pids/slurmctld.pid" || { say "slurmctld is not running"; return 1; }
  sinfo
}

stop() {
  if alive "$dir/pids/slurmctld.pid"; then
    # Jobs outlive slurmd (slurmstepd is its own process): end them while the scheduler can still do it.
    scancel --quiet --full --user=root 2>/dev/null || true
    for _ in $(seq 30); do
      [[ -z "$(squeue -h -t running,completing -o %A 2>/dev/null)" ]] && break
      sleep 1
    done
  fi
  for name in slurmd slurmctld slurmdbd mariadb munged; do
    local pidfile="$dir/pids/$name.pid"
    [[ -s "$pidfile" ]] || continue
    local pid
    pid="$(cat "$pidfile")"
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid"
      for _ in $(seq 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
      kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    fi
    rm -f "$pidfile"
  done
  say "stopped (logs and database kept under $dir)"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  conf) echo "$conf" ;;
  *) echo "usage: $0 start|stop|status|conf" >&2; exit 2 ;;
esac
