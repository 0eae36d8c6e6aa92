# Plan changes and restarts while a preemption is in its grace period: the
# victims get one SIGTERM and keep their deadline, they are not preempted
# (nor counted) again, and the preemption counters survive apply and a
# crash. Also: status shows a bound workspace's guarantee, and a refused
# submit names no job and uses up no id.
source "$ALLOT_SOURCE_DIR/tests/integration/fixtures/allotd_common.sh"
PLAN="$WORK/plan.toml"
make_plan allotd-pai.allot "$PLAN"
sed -i 's/^grace_period_ms = 1000$/grace_period_ms = 4000/' "$PLAN"  # team B's grace: long enough to act in
cd "$WORK"
start_daemon

preemptions() { "$ALLOTD" status | awk -v s="$1" '$1 == s { print $8 }'; }
preemptions_are() { [ "$(preemptions "$1")" = "$2" ]; }
job_preemptions() {
  "$ALLOTD" ps --all --json | python3 -c 'import json, sys
for j in json.load(sys.stdin)["jobs"]:
    if j["id"] == int(sys.argv[1]): print(j["preemptions"])' "$1"
}

# A bound workspace shows the guarantee its quota gives it; workspace-a's
# quota gives all of its guarantee to its sub-quotas.
"$ALLOTD" status > status.txt
grep -Eq '^workspace-b +workspace +2 +4 ' status.txt || fail "workspace-b should show Quota1_1's 2 GPUs: $(cat status.txt)"
grep -Eq '^workspace-a +workspace +0 +4 ' status.txt || fail "workspace-a should show 0: $(cat status.txt)"
grep -q 'allot_scope_guaranteed{scope="workspace-c",kind="workspace",resource="gpu"} 2$' metrics.prom ||
  fail "metrics: $(grep guaranteed metrics.prom)"

# A refused submit names no job and leaves the next id to the next job.
if "$ALLOTD" submit --queue workspace-b/dlc --gpus 5 -- true 2>err; then fail "5 GPUs accepted"; fi
grep -q "error\[refused\]" err || fail "no refusal: $(cat err)"
if grep -q "job [0-9]" err; then fail "the refusal names a job: $(cat err)"; fi

# Team B fills the node with jobs that note each SIGTERM and keep running.
for i in 1 2 3 4; do
  id=$(submit_id --queue workspace-b/dlc --gpus 1 -- sh -c "trap 'echo term >> terms-\$ALLOT_JOB_ID' TERM; while :; do sleep 0.1; done")
  [ "$id" = "$i" ] || fail "job $i got id $id"
done
for j in 1 2 3 4; do wait_for 10 job_state_is "$j" running || fail "job $j not running"; done
sleep 0.3  # their traps are set

# Team A's inference takes 2 GPUs back: two victims stop (4 s of grace).
"$ALLOTD" submit --queue workspace-a/eas --gpus 2 -- sleep 600 >/dev/null
wait_for 10 preemptions_are Quota1_1 2 || fail "two preemptions expected: $("$ALLOTD" status)"
victims=$("$ALLOTD" ps | awk '$2 == "stopping" { print $1 }' | tr '\n' ' ')
[ "$(wc -w <<< "$victims")" = 2 ] || fail "two victims expected: $("$ALLOTD" ps)"

# Plan changes during the grace period change nothing of it.
"$ALLOTD" apply "$PLAN" >/dev/null || fail "apply failed"
"$ALLOTD" apply "$PLAN" >/dev/null || fail "apply failed"
[ "$(preemptions Quota1_1)" = 2 ] || fail "apply changed the preemption count: $(preemptions Quota1_1)"
[ "$(preemptions Quota1)" = 2 ] || fail "apply changed Quota1's preemption count: $(preemptions Quota1)"
for v in $victims; do [ "$(job_preemptions "$v")" = 1 ] || fail "job $v preempted $(job_preemptions "$v") times"; done

# So does a crash of allotd: the new one re-adopts the victims, keeps their
# deadline and sends no second SIGTERM.
kill -9 "$DAEMON_PID"; wait "$DAEMON_PID" 2>/dev/null || true
DAEMON_PID=""
start_daemon
for v in $victims; do wait_for 15 job_state_is "$v" pending || fail "victim $v not requeued: $("$ALLOTD" ps --all)"; done
wait_for 10 job_state_is 5 running || fail "inference did not run: $("$ALLOTD" ps --all)"
for v in $victims; do
  [ "$(wc -l < "terms-$v")" = 1 ] || fail "job $v got SIGTERM $(wc -l < "terms-$v") times"
  [ "$(grep -c "job $v: grace period over, SIGKILL" "$DAEMON_LOG")" = 1 ] || fail "job $v not killed exactly once"
done
[ "$(preemptions Quota1_1)" = 2 ] || fail "the crash lost preemptions: $(preemptions Quota1_1)"
[ "$(preemptions workspace-b/dlc/default-queue)" = 2 ] || fail "queue count: $("$ALLOTD" status)"
echo ok
