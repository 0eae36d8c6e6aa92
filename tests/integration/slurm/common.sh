# Set-up shared by the real-Slurm tests (tests/integration/slurm_*.sh);
# sourced. Installs the packages when missing (exit 77, skipped, only when
# they cannot be installed), creates the policy's users, compiles the test
# policy for Slurm, starts the loopback stack and stops it on exit, also on
# failure.
set -uo pipefail
: "${ALLOT:?path of the allot binary}" "${ALLOT_SOURCE_DIR:?repository root}"
SLURM_DIR="$ALLOT_SOURCE_DIR/tests/integration/slurm"
source "$SLURM_DIR/stack.sh"

if [ "$(id -u)" != 0 ]; then
  if ! slurm_stack_packages_present; then
    echo "skipped: slurm-wlm slurmdbd mariadb-server munge are not installed and cannot be without root"
    exit 77
  fi
  echo "FAIL: the Slurm daemons of this test run as root"
  exit 1
fi
if ! slurm_stack_install; then
  echo "skipped: slurm-wlm slurmdbd mariadb-server munge cannot be installed here (apt-get failed)"
  exit 77
fi

WORK=$(mktemp -d /tmp/allot-slurm.XXXXXX)
chmod 755 "$WORK"
JOBS="$WORK/stack/jobs"
FAILED=0
cleanup() {
  slurm_stack_stop
  if [ "$FAILED" != 0 ] && [ -d "$WORK/stack/log" ]; then
    echo "--- slurmctld.log (tail)"
    tail -n 40 "$WORK/stack/log/slurmctld.log" 2>/dev/null
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
# Stopped from outside (a CI run that failed elsewhere): still stop the stack.
trap 'exit 143' TERM INT
fail() {
  FAILED=1
  echo "FAIL: $*"
  squeue -o "%.5i %.8u %.34q %.5j %.3t %.14r %b" 2>/dev/null
  exit 1
}
ok() { echo "ok: $*"; }

for u in alice bob carol; do
  id "$u" >/dev/null 2>&1 || useradd -M -s /bin/bash "$u" || fail "cannot create user $u"
done

POLICY="$SLURM_DIR/pai-8gpu.allot"
CONF="$WORK/conf"
"$ALLOT" compile "$POLICY" --target slurm -o "$CONF" >"$WORK/compile.log" 2>&1 || fail "compile: $(cat "$WORK/compile.log")"
MAP="$CONF/queues.toml"
T0=$(date +%s)
slurm_stack_start "$WORK/stack" "$CONF" pai-pool-0001 pai-pool-0002 || fail "the Slurm stack did not start"
echo "stack up in $(($(date +%s) - T0)) s"

# The batch script of every test job: logs its start and SIGTERM (the start
# of a grace period) and keeps running, so that Slurm preempts it at the end
# of the grace period (a job that exits on SIGTERM ends as completed and is
# not requeued).
cat >"$JOBS/job.sh" <<'SH'
#!/bin/bash
trap 'echo "$(date +%s) sigterm"' TERM
echo "$(date +%s) start restart=${SLURM_RESTART_COUNT:-0}"
while :; do sleep 1; done
SH
chmod 755 "$JOBS/job.sh"

# submit USER QUEUE GPUS NAME: prints the job id.
submit() {
  local out
  out=$(cd "$JOBS" && runuser -u "$1" -- "$ALLOT" submit --backend slurm --map "$MAP" --queue "$2" --gpus "$3" \
    --name "$4" --output "$JOBS/$4.out" -- "$JOBS/job.sh") || fail "submit $4: $out"
  awk '{print $3}' <<<"$out"
}
# wait_until SECONDS DESCRIPTION COMMAND...: polls every second.
wait_until() {
  local end=$(($(date +%s) + $1)) what=$2
  shift 2
  until "$@"; do
    [ "$(date +%s)" -lt "$end" ] || fail "timed out after ${what}"
    sleep 1
  done
}
running_names() { squeue -h -t R -o %j | sort | tr '\n' ' ' | sed 's/ $//'; }
field() { scontrol -o show job "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }  # field JOBID NAME
cancel_all() {
  scancel --full $(squeue -h -o %i) 2>/dev/null
  wait_until 60 "the jobs were cancelled" bash -c '[ -z "$(squeue -h -o %i)" ]'
}
