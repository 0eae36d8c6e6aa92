# The start protocol (docs/runtime-api.md, "Starting a job"): a job's
# process waits at a gate until its start is journaled. Recovery of a record
# still marked `starting`: a process still at the gate never ran the job (it
# is killed, the job runs once more), as a record without a pid (allotd
# stopped before the fork) never did; one past the gate is re-adopted, a
# vanished one is lost, never started again. Also: a plan change does not
# signal a job that is already stopping again.
source "$ALLOT_SOURCE_DIR/tests/integration/fixtures/allotd_common.sh"
command -v python3 >/dev/null || { echo "skip: needs python3"; exit 77; }
EXTRA_PIDS=""  # processes this test starts itself, killed on exit like the jobs
cleanup_all() {
  local status=$? p
  for p in $EXTRA_PIDS; do kill -9 "$p" 2>/dev/null || true; done
  (exit "$status")
  cleanup
}
trap cleanup_all EXIT
PLAN="$WORK/plan.toml"
make_plan allotd-pai.allot "$PLAN"
sed -i 's/^grace_period_ms = 1000$/grace_period_ms = 4000/' "$PLAN"
cd "$WORK"
start_daemon

# Four jobs that count their own starts.
runner='echo "$$" >> "starts-$ALLOT_JOB_ID"; exec sleep 600'
for _ in 1 2 3 4; do submit_id --queue workspace-b/dlc --gpus 1 -- sh -c "$runner" >/dev/null; done
for j in 1 2 3 4; do wait_for 10 job_state_is "$j" running || fail "job $j not running"; done
for j in 1 2 3 4; do wait_for 5 test -s "starts-$j" || fail "job $j did not start"; done
real_pids=$(for j in 1 2 3 4; do job_field "$j" 7; done)

# Stop allotd cleanly (its snapshot then holds every job), and put in place
# of the three processes what a crash between "starting" and the gate
# opening can leave: a process still at the gate, one past it, none; and for
# the fourth, a record of a job admitted but not yet forked (no pid).
kill -TERM "$DAEMON_PID"; wait "$DAEMON_PID" 2>/dev/null || true
DAEMON_PID=""
for p in $real_pids; do kill -9 -- "-$p" 2>/dev/null || true; done
cp /bin/sleep "$WORK/bin/allotd-gate"  # /proc/PID/comm of a process waiting at the gate
spawn() {  # a session leader, detached; prints its pid
  python3 -c 'import subprocess as s, sys; print(s.Popen(sys.argv[1:], start_new_session=True, stdin=s.DEVNULL,
    stdout=s.DEVNULL, stderr=s.DEVNULL).pid)' "$@"
}
gate_pid=$(spawn "$WORK/bin/allotd-gate" 600)
past_pid=$(spawn sleep 600)
gone_pid=$(spawn true)
EXTRA_PIDS="$gate_pid $past_pid"
wait_for 5 bash -c "[ \"\$(cat /proc/$gate_pid/comm)\" = allotd-gate ]" || fail "no gate process"
wait_for 5 bash -c "! kill -0 $gone_pid 2>/dev/null || grep -q '^State:.Z' /proc/$gone_pid/status" || fail "the gone process stayed"
python3 - "$STATE/snapshot.json" "$gate_pid" "$past_pid" "$gone_pid" <<'EOF'
import json, sys
path, pids = sys.argv[1], [int(p) for p in sys.argv[2:]]
def ticks(pid):
    try:
        stat = open(f"/proc/{pid}/stat").read()
        return int(stat[stat.rindex(")") + 2:].split()[19])
    except OSError:
        return 12345
snap = json.load(open(path))
for job in snap["jobs"]:
    if job["id"] in (1, 2, 3):
        pid = pids[job["id"] - 1]
        job.update(state="running", starting=True, pid=pid, start_ticks=ticks(pid))
    if job["id"] == 4:
        job.update(state="running", starting=True, pid=0, start_ticks=0)
json.dump(snap, open(path, "w"))
EOF
start_daemon

grep -q "job 1: its process $gate_pid never passed the start gate; pending again" "$DAEMON_LOG" ||
  fail "the process at the gate was not recognised"
wait_for 5 bash -c "! kill -0 $gate_pid 2>/dev/null || grep -q '^State:.Z' /proc/$gate_pid/status" ||
  fail "the process at the gate was not killed"
wait_for 10 job_state_is 1 running || fail "job 1 did not run again: $(job_field 1 2)"
wait_for 5 bash -c '[ "$(wc -l < starts-1)" = 2 ]' || fail "job 1 started $(wc -l < starts-1) times in all"
grep -q "job 4: allotd stopped before it spawned the job's process; pending again" "$DAEMON_LOG" ||
  fail "the record without a pid was not recognised"
wait_for 10 job_state_is 4 running || fail "job 4 did not run again: $(job_field 4 2)"
wait_for 5 bash -c '[ "$(wc -l < starts-4)" = 2 ]' || fail "job 4 started $(wc -l < starts-4) times in all"
job_state_is 2 running && [ "$(job_field 2 7)" = "$past_pid" ] || fail "job 2 not re-adopted: $("$ALLOTD" ps --all)"
job_state_is 3 lost || fail "job 3 should be lost: $(job_field 3 2)"
[ "$(wc -l < starts-2)" = 1 ] && [ "$(wc -l < starts-3)" = 1 ] || fail "jobs 2 or 3 were started again"
"$ALLOTD" ps --all | awk '$1 == 3' | grep -q . || fail "job 3 forgotten"
kill -9 "$past_pid" 2>/dev/null || true

# A job being stopped keeps its one SIGTERM and its deadline across plan
# changes (applying the plan used to signal it again each time).
"$ALLOTD" cancel 1 >/dev/null
"$ALLOTD" cancel 4 >/dev/null
wait_for 10 job_state_is 1 cancelled || fail "job 1 not cancelled"
wait_for 10 job_state_is 4 cancelled || fail "job 4 not cancelled"
submit_id --queue workspace-b/dlc --gpus 1 -- sh -c 'trap "echo term >> terms" TERM; while :; do sleep 0.1; done' >/dev/null
wait_for 10 job_state_is 5 running || fail "job 5 not running"
sleep 0.3  # its trap is set
"$ALLOTD" cancel 5 >/dev/null
"$ALLOTD" apply "$PLAN" >/dev/null || fail "apply failed"
"$ALLOTD" apply "$PLAN" >/dev/null || fail "apply failed"
wait_for 15 job_state_is 5 cancelled || fail "job 5 not stopped: $(job_field 5 2)"
[ "$(wc -l < terms)" = 1 ] || fail "job 5 got SIGTERM $(wc -l < terms) times"
[ "$(grep -c 'job 5: grace period over, SIGKILL' "$DAEMON_LOG")" = 1 ] || fail "job 5 was not killed exactly once"
echo ok
