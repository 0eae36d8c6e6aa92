# `allot apply` loads a new plan while jobs run: jobs still allowed keep
# running, the others are stopped with a reason and requeued per their
# queue; the applied plan stays in force across a restart.
source "$ALLOT_SOURCE_DIR/tests/integration/fixtures/allotd_common.sh"
PLAN="$WORK/plan.toml"
SHRUNK="$WORK/shrunk.toml"
make_plan allotd-pai.allot "$PLAN"
make_plan allotd-pai-shrunk.allot "$SHRUNK"
start_daemon
cd "$WORK"

loop='while :; do sleep 0.1; done'
for _ in 1 2 3; do submit_id --queue workspace-b/dlc --gpus 1 -- sh -c "$loop" >/dev/null; done  # B borrows a third GPU
submit_id --queue workspace-c/dsw --gpus 1 -- sh -c "$loop" >/dev/null
for j in 1 2 3 4; do wait_for 10 job_state_is "$j" running || fail "job $j not running"; done
pid4=$(job_field 4 7)

"$ALLOTD" apply "$SHRUNK" | grep -q "applied plan" || fail "apply failed"
wait_for 10 job_state_is 3 pending || fail "job 3 should be stopped and requeued: $("$ALLOTD" ps --all)"
job_state_is 1 running && job_state_is 2 running || fail "jobs 1 and 2 should keep running"
job_state_is 4 running && [ "$(job_field 4 7)" = "$pid4" ] || fail "job 4 should be untouched"
grep -q "job 3: SIGTERM .*no longer allowed by the plan (apply): it would exceed the gpu limit of [^ ]* (2)" "$DAEMON_LOG" ||
  fail "no reason logged"
# The new core does not hold the stopped job's GPU: nobody is placed until it is gone.
grep -q "scheduling waits for job 3 to release its GPUs" "$DAEMON_LOG" || fail "scheduling did not wait for job 3"
"$ALLOTD" status | grep -Eq '^Quota1_1 +quota +2 +2 +2 ' || fail "status: $("$ALLOTD" status)"

# The applied plan survives a restart with the same --plan.
kill -9 "$DAEMON_PID"; wait "$DAEMON_PID" 2>/dev/null || true
start_daemon
grep -q "using the plan applied at run time" "$DAEMON_LOG" || fail "applied plan not kept"
"$ALLOTD" status | grep -Eq '^Quota1_1 +quota +2 +2 +2 ' || fail "status after restart: $("$ALLOTD" status)"
job_state_is 3 pending || fail "job 3 should still wait"

# An invalid plan is refused and changes nothing.
echo 'format_version = 7' > "$WORK/bad.toml"
if "$ALLOTD" apply "$WORK/bad.toml" 2>"$WORK/err"; then fail "a bad plan was applied"; fi
grep -q "invalid_plan" "$WORK/err" || fail "$(cat "$WORK/err")"
echo ok
