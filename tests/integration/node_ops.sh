# What an operator does on a node with real jobs: see why a job waits
# (`ps` REASON, `explain`), cordon the node (nothing new is admitted, also
# after a restart of allotd), drain it (the running jobs stop after their
# grace period and are requeued or cancelled per their queue's on_preempt),
# uncordon it, watch a preemptor wait for its victims' grace period, and a
# pool that is not running admit nothing (PAI scenario, seed 001, on one
# 4-GPU node; seeds 002 and 003 for drain and pool status).
source "$ALLOT_SOURCE_DIR/tests/integration/fixtures/allotd_common.sh"
PLAN="$WORK/plan.toml"
make_plan allotd-pai.allot "$PLAN"
start_daemon
cd "$WORK"
NODE=pai-pool-0001
ps_reason() { "$ALLOTD" ps | awk -v id="$1" '$1 == id { print $9 }'; }

# Two jobs fill the node; both ignore SIGTERM, so a stop takes the whole
# grace period (1 s for workspace-b, 500 ms for workspace-c).
out=$("$ALLOTD" submit --queue workspace-b/dlc --gpus 2 -- sh -c 'trap "" TERM; while :; do sleep 0.1; done')
[[ "$out" == "submitted job 1 to workspace-b/dlc/default-queue (running)" ]] || fail "submit 1 printed: $out"
out=$("$ALLOTD" submit --queue workspace-c/dsw --gpus 2 -- sh -c 'trap "" TERM; while :; do sleep 0.1; done')
[[ "$out" == *"(running)" ]] || fail "submit 2 printed: $out"

# A third waits: Quota1 (limit 4) would go 2 GPUs over.
out=$("$ALLOTD" submit --queue workspace-b/dlc --gpus 2 -- sh -c 'trap "" TERM; while :; do sleep 0.1; done')
[[ "$out" == *"(pending: \`Quota1\` is at its gpu limit: 4 gpu used of 4 gpu, the job needs 2 gpu (2 gpu over))" ]] ||
  fail "submit 3 printed: $out"
[ "$(ps_reason 3)" = "limit:Quota1(+2gpu)" ] || fail "ps reason of job 3: $("$ALLOTD" ps)"
"$ALLOTD" ps | head -1 | grep -q "REASON" || fail "ps has no REASON column"
[ "$(ps_reason 1)" = "-" ] || fail "a running job has a reason: $("$ALLOTD" ps)"
"$ALLOTD" ps --json | python3 -c '
import json, sys
jobs = {j["id"]: j for j in json.load(sys.stdin)["jobs"]}
w = jobs[3]["waiting"]
assert w["kind"] == "scope_limit" and w["scope"] == "Quota1" and w["resource"] == "gpu", w
assert (w["limit"], w["used"], w["request"], w["over"]) == (4000, 4000, 2000, 2000), w
assert jobs[1]["waiting"] is None, jobs[1]
' || fail "ps --json waiting of job 3"
"$ALLOTD" explain 3 > explain.txt || fail "explain 3"
grep -q "^job 3 (\`workspace-b/dlc/default-queue\`, user .*, 2 gpu) is pending" explain.txt || fail "$(cat explain.txt)"
grep -q "quota Quota1: 4 gpu / 4 gpu / 4 gpu, 2 gpu pending  <- at its gpu limit" explain.txt || fail "$(cat explain.txt)"
grep -q "^preemption: no rule lets it preempt a running job now" explain.txt || fail "$(cat explain.txt)"
if [ -n "${ALLOT:-}" ]; then "$ALLOT" explain 3 | cmp -s - explain.txt || fail "allot explain differs from allotd's"; fi
if "$ALLOTD" explain 99 2>err; then fail "explain of an unknown job"; fi
grep -q "no job 99" err || fail "$(cat err)"

# A misspelt queue gets the closest one.
if "$ALLOTD" submit --queue workspace-b/dl --gpus 1 -- true 2>err; then fail "unknown queue accepted"; fi
grep -q "help: did you mean \`workspace-b/dlc/default-queue\`" err || fail "no suggestion: $(cat err)"
"$ALLOTD" submit --queue workspace-b/dlc --gpus 0 -- true | grep -q "submitted job 4 " || fail "the refusal used up an id"
wait_for 10 job_state_is 4 succeeded || fail "job 4: $("$ALLOTD" ps --all)"

# Cordon: nothing new is admitted, not even a job that needs no GPU.
"$ALLOTD" node cordon "$NODE" | grep -q "node $NODE cordoned" || fail "cordon"
out=$("$ALLOTD" submit --queue workspace-b/dlc --gpus 0 -- sh -c 'exit 0')
[[ "$out" == "submitted job 5 "*"(pending: node \`$NODE\` is cordoned)" ]] || fail "submit 5 printed: $out"
sleep 0.5
job_state_is 5 pending || fail "job 5 ran on a cordoned node"
[ "$(ps_reason 5)" = node_cordoned ] && [ "$(ps_reason 3)" = node_cordoned ] || fail "reasons: $("$ALLOTD" ps)"
job_state_is 1 running && job_state_is 2 running || fail "cordon stopped running jobs"
"$ALLOTD" status | grep -q "^node state: cordoned (by " || fail "status: $("$ALLOTD" status)"
"$ALLOTD" metrics | grep -q "^allot_node_cordoned{node=\"$NODE\",state=\"cordoned\"} 1" || fail "metrics"
if "$ALLOTD" node cordon other-node 2>err; then fail "cordon of another node"; fi
grep -q "this allotd runs node \`$NODE\`" err || fail "$(cat err)"

# The cordon is journaled: a restarted allotd keeps it (the jobs keep running).
kill -TERM "$DAEMON_PID"; wait "$DAEMON_PID" || true; DAEMON_PID=""
start_daemon
"$ALLOTD" status | grep -q "^node state: cordoned" || fail "cordon lost on restart: $("$ALLOTD" status)"
job_state_is 1 running && job_state_is 5 pending || fail "after restart: $("$ALLOTD" ps)"

# Drain: jobs 1 (requeue) and 2 (cancel) get SIGTERM, ignore it, are killed
# after their grace periods; the command waits for that.
start=$(date +%s%N)
"$ALLOTD" node drain "$NODE" > drain.txt || fail "drain: $(cat drain.txt)"
elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
grep -q "node $NODE draining: 2 jobs stopping" drain.txt && grep -q "^node $NODE drained$" drain.txt || fail "$(cat drain.txt)"
[ "$elapsed_ms" -ge 900 ] || fail "drain returned after $elapsed_ms ms, before the 1 s grace period"
grep -q "job 1: grace period over, SIGKILL" "$DAEMON_LOG" || fail "job 1 was not killed after its grace period"
job_state_is 1 pending || fail "job 1 not requeued: $("$ALLOTD" ps --all)"
job_state_is 2 cancelled || fail "job 2 not cancelled: $("$ALLOTD" ps --all)"
"$ALLOTD" ps --all --json | grep -q '"reason":"requeued: node pai-pool-0001 drained by' || fail "requeue reason"
[ "$(ps_reason 1)" = node_cordoned ] || fail "job 1 reason: $("$ALLOTD" ps)"
"$ALLOTD" status | grep -q "^node state: drained" || fail "status: $("$ALLOTD" status)"
"$ALLOTD" metrics | grep -q "^allot_node_draining{node=\"$NODE\"} 0" || fail "draining metric"

# Uncordon: the waiting jobs run again.
"$ALLOTD" node uncordon "$NODE" | grep -q "node $NODE uncordoned" || fail "uncordon"
wait_for 10 job_state_is 1 running || fail "job 1 did not run again: $("$ALLOTD" ps --all)"
wait_for 10 job_state_is 3 running || fail "job 3 did not run: $("$ALLOTD" ps --all)"
wait_for 10 job_state_is 5 succeeded || fail "job 5 did not run: $("$ALLOTD" ps --all)"
"$ALLOTD" status | grep -q "^node state: schedulable" || fail "status: $("$ALLOTD" status)"

# Inference claims 2 GPUs of Quota1 (R1): it waits for its victim's grace period.
out=$("$ALLOTD" submit --queue workspace-a/eas --gpus 2 -- sh -c 'while :; do sleep 0.1; done')
[[ "$out" =~ \(pending:\ waiting\ for\ job\ [13]\ to\ stop ]] || fail "submit 6 printed: $out"
[ "$(ps_reason 6)" = "grace:victims(1)" ] || [ "$(ps_reason 6)" = "grace:victims(3)" ] || job_state_is 6 running ||
  fail "reason of job 6: $("$ALLOTD" ps)"
wait_for 10 job_state_is 6 running || fail "job 6 did not run: $("$ALLOTD" ps --all)"

# A pool whose status in the plan is not running admits nothing.
sed '/^\[\[pools\]\]/{n;s/$/\nstatus = "abnormal"/}' "$PLAN" > abnormal.toml
grep -q '^status = "abnormal"' abnormal.toml || fail "could not write the abnormal plan"
"$ALLOTD" apply abnormal.toml >/dev/null || fail "apply of the abnormal plan"
out=$("$ALLOTD" submit --queue workspace-b/dlc --gpus 0 -- true)
[[ "$out" == *"(pending: pool \`pai-pool\` is abnormal, not running: nothing is admitted on it)" ]] || fail "submit 7: $out"
[ "$(ps_reason 7)" = pool_not_running ] || fail "reason of job 7: $("$ALLOTD" ps)"
"$ALLOTD" metrics | grep -q '^allot_pool_running{pool="pai-pool",status="abnormal"} 0' || fail "pool metric"
"$ALLOTD" apply "$PLAN" >/dev/null || fail "apply of the running plan"
wait_for 10 job_state_is 7 succeeded || fail "job 7 did not run once the pool runs: $("$ALLOTD" ps --all)"
echo "ok"
