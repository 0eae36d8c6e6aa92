# A throw-away Slurm cluster on loopback, for the real-Slurm tests; sourced.
#   slurm_stack_start DIR CONF_DIR NODE... : munged, MariaDB, slurmdbd,
#     slurmctld and one slurmd per NODE (4 placeholder GPUs each), all state
#     under DIR, on free non-default ports; then CONF_DIR/qos.sacctmgr and
#     assoc.sacctmgr (from `allot compile --target slurm`) are applied and
#     CONF_DIR/allot.conf is included.
#   slurm_stack_stop : cancels the jobs, stops every daemon by its pid.
# Needs root and Debian's slurm-wlm slurmdbd mariadb-server munge. The GPUs
# are empty files: Slurm counts them, jobs get no real device.
# After start, SLURM_CONF is exported; slurm_stack_log says where the logs are.

SLURM_STACK_DIR=""
SLURM_STACK_PIDS=()

slurm_stack_packages_present() {
  local b
  for b in munged mariadbd mariadb-install-db slurmdbd slurmctld slurmd sacctmgr sbatch squeue; do
    command -v "$b" >/dev/null 2>&1 || return 1
  done
}

# Installs the packages when missing (root only). Returns 1 when they cannot be had.
slurm_stack_install() {
  slurm_stack_packages_present && return 0
  [ "$(id -u)" = 0 ] || return 1
  command -v apt-get >/dev/null 2>&1 || return 1
  echo "installing slurm-wlm slurmdbd mariadb-server munge"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      slurm-wlm slurmdbd mariadb-server munge; } >/dev/null 2>&1 || return 1
  slurm_stack_packages_present
}

_free_ports() {  # _free_ports N: N distinct free TCP ports on 127.0.0.1
  python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}

_wait_for() {  # _wait_for SECONDS WHAT COMMAND...
  local end=$(($(date +%s) + $1)) what=$2
  shift 2
  until timeout 5 "$@" >/dev/null 2>&1; do
    if [ "$(date +%s)" -ge "$end" ]; then
      echo "timed out waiting for $what" >&2
      return 1
    fi
    sleep 0.2
  done
}

_pid_of() { cat "$1" 2>/dev/null; }

slurm_stack_start() {
  local dir=$1 conf=$2
  shift 2
  local nodes=("$@") d i
  SLURM_STACK_DIR=$dir
  d=$dir
  mkdir -p "$d"/{etc,munge,db,ctld,log,run,dev,jobs}
  chmod 700 "$d/munge"
  chmod 1777 "$d/jobs"
  chmod 755 "$d" "$d/etc"
  local ports
  read -r -a ports <<<"$(_free_ports $((3 + ${#nodes[@]})))"
  local db_port=${ports[0]} dbd_port=${ports[1]} ctld_port=${ports[2]}

  dd if=/dev/urandom of="$d/munge/munge.key" bs=1024 count=1 status=none
  chmod 400 "$d/munge/munge.key"
  munged --force --socket="$d/munge/munge.sock" --key-file="$d/munge/munge.key" \
    --pid-file="$d/run/munged.pid" --log-file="$d/log/munged.log" --seed-file="$d/munge/seed" || return 1
  _wait_for 10 munged test -S "$d/munge/munge.sock" || return 1
  SLURM_STACK_PIDS+=("$(_pid_of "$d/run/munged.pid")")
  chmod 755 "$d/munge"  # users' sbatch talks to munged too

  mariadb-install-db --no-defaults --datadir="$d/db" --user=root --skip-test-db \
    --auth-root-authentication-method=normal >"$d/log/mariadb-install.log" 2>&1 || return 1
  mariadbd --no-defaults --user=root --datadir="$d/db" --socket="$d/run/mysql.sock" --port="$db_port" \
    --bind-address=127.0.0.1 --skip-name-resolve --pid-file="$d/run/mariadb.pid" \
    --log-error="$d/log/mariadb.log" --innodb-buffer-pool-size=64M >/dev/null 2>&1 &
  _wait_for 60 mariadb mariadb --no-defaults -S "$d/run/mysql.sock" -uroot -e 'select 1' || return 1
  SLURM_STACK_PIDS+=("$(_pid_of "$d/run/mariadb.pid")")
  mariadb --no-defaults -S "$d/run/mysql.sock" -uroot -e "
    CREATE USER 'slurm'@'127.0.0.1' IDENTIFIED BY 'allot-test';
    GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';" || return 1

  # cred_expire: a requeued job waits this long (plus one second) before it
  # may start again; 5 is Slurm's minimum.
  local auth="socket=$d/munge/munge.sock,cred_expire=5"
  cat >"$d/etc/slurmdbd.conf" <<CONF
AuthType=auth/munge
AuthInfo=$auth
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$dbd_port
SlurmUser=root
LogFile=$d/log/slurmdbd.log
PidFile=$d/run/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$db_port
StorageUser=slurm
StoragePass=allot-test
StorageLoc=slurm_acct_db
CONF
  chmod 600 "$d/etc/slurmdbd.conf"
  {
    cat <<CONF
ClusterName=allot-test
SlurmctldHost=$(hostname -s)(127.0.0.1)
SlurmctldPort=$ctld_port
AuthType=auth/munge
AuthInfo=$auth
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$d/ctld
SlurmdSpoolDir=$d/spool-%n
SlurmctldPidFile=$d/run/slurmctld.pid
SlurmdPidFile=$d/run/slurmd-%n.pid
SlurmctldLogFile=$d/log/slurmctld.log
SlurmdLogFile=$d/log/slurmd-%n.log
ProctrackType=proctrack/pgid
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
ReturnToService=2
SlurmdParameters=config_overrides
MessageTimeout=10
SlurmdTimeout=60
InactiveLimit=0
KillWait=5
MinJobAge=600
SchedulerType=sched/backfill
SchedulerParameters=bf_interval=1,sched_interval=2,sched_min_interval=500000
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
GresTypes=gpu
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=$dbd_port
AccountingStoragePass=socket=$d/munge/munge.sock
AccountingStorageTRES=gres/gpu
JobCompType=jobcomp/none
CONF
    for i in "${!nodes[@]}"; do
      echo "NodeName=${nodes[$i]} NodeHostname=${nodes[$i]} NodeAddr=127.0.0.1 Port=${ports[$((3 + i))]} CPUs=16 RealMemory=64000 Gres=gpu:4 State=UNKNOWN"
    done
    echo "Include $d/etc/allot.conf"
  } >"$d/etc/slurm.conf"
  cp "$conf/allot.conf" "$d/etc/allot.conf"
  echo "AutoDetect=off" >"$d/etc/gres.conf"
  for n in "${nodes[@]}"; do
    mkdir -p "$d/dev/$n" "$d/spool-$n"
    for i in 0 1 2 3; do : >"$d/dev/$n/nvidia$i"; done
    echo "NodeName=$n Name=gpu File=$d/dev/$n/nvidia[0-3]" >>"$d/etc/gres.conf"
  done
  # slurmd 22.05 always loads a cgroup plugin; nothing is constrained here.
  printf 'CgroupPlugin=autodetect\nIgnoreSystemd=yes\n' >"$d/etc/cgroup.conf"
  export SLURM_CONF="$d/etc/slurm.conf"

  slurmdbd || return 1  # reads slurmdbd.conf beside $SLURM_CONF
  _wait_for 60 slurmdbd sacctmgr -n list cluster || return 1
  SLURM_STACK_PIDS+=("$(_pid_of "$d/run/slurmdbd.pid")")
  sacctmgr -i add cluster allot-test >/dev/null || return 1
  slurmctld -f "$SLURM_CONF" || return 1
  _wait_for 60 slurmctld scontrol ping || return 1
  SLURM_STACK_PIDS+=("$(_pid_of "$d/run/slurmctld.pid")")
  # After slurmctld: it registers the gres/gpu TRES the QOS limits name.
  sh "$conf/qos.sacctmgr" >"$d/log/qos.log" 2>&1 || { cat "$d/log/qos.log" >&2; return 1; }
  sh "$conf/assoc.sacctmgr" >"$d/log/assoc.log" 2>&1 || { cat "$d/log/assoc.log" >&2; return 1; }
  for n in "${nodes[@]}"; do
    slurmd -f "$SLURM_CONF" -N "$n" || return 1
  done
  _wait_for 60 "nodes idle" bash -c "[ \$(sinfo -h -N -t idle -o %N | sort -u | wc -l) -ge ${#nodes[@]} ]" || return 1
  for n in "${nodes[@]}"; do SLURM_STACK_PIDS+=("$(_pid_of "$d/run/slurmd-$n.pid")"); done
}

slurm_stack_log() { echo "$SLURM_STACK_DIR/log"; }

# Stops the daemons in reverse order of start, each by its pid, and any job
# process left behind (in a process group of a slurmstepd that was started here).
slurm_stack_stop() {
  [ -n "$SLURM_STACK_DIR" ] || return 0
  local d=$SLURM_STACK_DIR pid i n
  if [ -n "${SLURM_CONF:-}" ] && scontrol ping >/dev/null 2>&1; then
    scancel --quiet --full $(squeue -h -o %i 2>/dev/null) 2>/dev/null
    for n in $(seq 1 50); do [ -z "$(squeue -h -o %i 2>/dev/null)" ] && break; sleep 0.2; done
  fi
  for f in "$d"/run/slurmd-*.pid "$d/run/slurmctld.pid" "$d/run/slurmdbd.pid" "$d/run/mariadb.pid" "$d/run/munged.pid"; do
    [ -f "$f" ] || continue
    pid=$(cat "$f")
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || continue
    kill -TERM "$pid" 2>/dev/null
    for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
  done
  # Job processes that outlived their slurmstepd: every process whose working
  # directory is in this stack's folder was started by it.
  for f in /proc/[0-9]*/cwd; do
    case "$(readlink "$f" 2>/dev/null)" in
      "$d"/*) pid=${f#/proc/}; kill -KILL "${pid%/cwd}" 2>/dev/null ;;
    esac
  done
  # Pids recorded at start that outlived their pid file.
  for pid in "${SLURM_STACK_PIDS[@]}"; do
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
  done
  SLURM_STACK_DIR=""
  SLURM_STACK_PIDS=()
}
