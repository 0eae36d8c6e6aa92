# allotd counts the node's CPU and memory (the plan's, cut to the
# machine's): a job waits, with its reason, while the memory or CPU it asks
# is not free, and runs once it is. `status` (text and --json) and the
# metrics report the node's resources and its fragmented GPUs under both
# definitions: for the next request, and for the expected workload learnt
# from the jobs submitted (docs/runtime-api.md, "Fragmentation").
source "$ALLOT_SOURCE_DIR/tests/integration/fixtures/allotd_common.sh"
command -v python3 >/dev/null || { echo "skipped: python3 is needed to read the JSON replies"; exit 77; }
PLAN="$WORK/plan.toml"
make_plan allotd-node-capacity.allot "$PLAN"
"$ALLOTD" --plan "$PLAN" --node lab-pool-0001 --state-dir "$STATE" --metrics-file "$WORK/metrics.prom" \
  --simulate-gpus 2>>"$DAEMON_LOG" &
DAEMON_PID=$!
wait_for 10 "$ALLOTD" status || fail "allotd did not come up"
cd "$WORK"
Q=team/ml/default-queue
spin='while :; do sleep 0.1; done'
status_json() { "$ALLOTD" status --json; }
field() { status_json | python3 -c "import json, sys; r = json.load(sys.stdin); print($1)"; }

grep -q "serving node lab-pool-0001 (4 GPUs, simulated; .* MiB for jobs)" "$DAEMON_LOG" ||
  fail "no node resources in the start line: $(cat "$DAEMON_LOG")"
[ "$(field 'r["node_resources"]["memory_mib"]')" = 256 ] || fail "memory: $(status_json)"
cpu=$(field 'r["node_resources"]["cpu_milli"]')
[ "$cpu" -gt 0 ] && [ "$cpu" -le 1000 ] || fail "cpu: $cpu"
[ "$(field 'r["fragmentation"]["expected_workload"]["source"]')" = default ] || fail "workload before any job"
"$ALLOTD" status | grep -q "^node resources: cpu .* free, memory 256 of 256 MiB free$" ||
  fail "status text: $("$ALLOTD" status)"

# Memory: 200 of 256 MiB taken, a job asking 100 MiB waits and says why.
out=$("$ALLOTD" submit --queue "$Q" --gpus 1 --memory 200 -- sh -c "$spin")
[[ "$out" == "submitted job 1 "*"(running)" ]] || fail "job 1: $out"
out=$("$ALLOTD" submit --queue "$Q" --gpus 1 --memory 100 -- sh -c "$spin")
[[ "$out" == *"(pending: no capacity: the job needs 100 MiB on one node with room for its GPUs, node \`lab-pool-0001\` has 56 MiB free)" ]] ||
  fail "job 2: $out"
"$ALLOTD" ps --json | python3 -c '
import json, sys
jobs = {j["id"]: j for j in json.load(sys.stdin)["jobs"]}
assert jobs[2]["state"] == "pending", jobs[2]
w = jobs[2]["waiting"]
assert (w["kind"], w["resource"], w["free"]) == ("no_capacity", "memory", 56), w
' || fail "ps --json of job 2"
[ "$("$ALLOTD" ps | awk '$1 == 2 { print $9, $10 }')" = "capacity(56MiB free)" ] || fail "ps reason of job 2: $("$ALLOTD" ps)"
[ "$(field 'r["node_resources"]["memory_free_mib"]')" = 56 ] || fail "free memory: $(status_json)"

# CPU: more than the node counts waits too, whatever GPUs are free.
out=$("$ALLOTD" submit --queue "$Q" --gpus 0.5 --cpu 2 -- sh -c "$spin")
[[ "$out" == *"(pending: no capacity: the job needs 2 cpu on one node with room for its GPUs"* ]] || fail "job 3: $out"

# Job 1 ends: job 2 gets its memory and runs; job 3 still waits for CPU.
"$ALLOTD" cancel 1 >/dev/null
wait_for 10 job_state_is 2 running || fail "job 2 did not run after job 1: $("$ALLOTD" ps --all)"
job_state_is 3 pending || fail "job 3 ran without its CPU: $("$ALLOTD" ps --all)"

# Fragmentation: job 2 holds one GPU, a share of 0.5 holds half of another.
"$ALLOTD" cancel 3 >/dev/null
out=$("$ALLOTD" submit --queue "$Q" --gpus 0.5 -- sh -c "$spin")
[[ "$out" == *"(running)" ]] || fail "job 4: $out"
# The next request: 3 GPUs, more than the 2 fully free ones.
out=$("$ALLOTD" submit --queue "$Q" --gpus 3 -- sh -c "$spin")
[[ "$out" == *"(pending: "* ]] || fail "job 5: $out"
status_json | python3 -c '
import json, sys
f = json.load(sys.stdin)["fragmentation"]
assert (f["capacity_gpu_milli"], f["idle_gpu_milli"]) == (4000, 2500), f
n = f["next_request"]
assert (n["job"], n["gpu_milli"], n["fragmented_gpu_milli"]) == (5, 3000, 2500), n
w = f["expected_workload"]
# Requests with a GPU (jobs 1..5, the cancelled ones too): 1, 1, 0.5 with
# 2 CPU, 0.5, 3 GPUs: four types.
assert w["source"] == "history" and w["requests"] == 5, w
types = {(t["cpu_milli"], t["gpus"], t["milli_per_gpu"]): round(t["popularity"], 6) for t in w["types"]}
assert types == {(0, 1, 1000): 0.4, (0, 1, 500): 0.2, (2000, 1, 500): 0.2, (0, 3, 1000): 0.2}, types
# F_n(M): 1 GPU: the 500 left on the shared GPU; 0.5: nothing; 0.5 with 2
# CPU: more CPU than the node has, so all 2500 idle; 3 GPUs: only 2 fully
# free, all 2500 again. 0.4 * 500 + 0.2 * 2500 + 0.2 * 2500 = 1200.
assert w["fragmented_gpu_milli"] == 1200, w
' || fail "status --json fragmentation: $(status_json)"
"$ALLOTD" status > status.txt
grep -q "^gpus: 2.500 of 4 idle; fragmented: 2.500 for the next request (job 5, 3 gpu); 1.200 for the expected workload (4 types from 5 recent requests)$" status.txt ||
  fail "status text: $(cat status.txt)"
"$ALLOTD" metrics > metrics.txt
grep -q '^allot_node_gpus_fragmented{node="lab-pool-0001",definition="next_request"} 2.500$' metrics.txt ||
  fail "metrics: $(grep fragmented metrics.txt)"
grep -q '^allot_node_gpus_fragmented{node="lab-pool-0001",definition="expected_workload"} 1.200$' metrics.txt ||
  fail "metrics: $(grep fragmented metrics.txt)"
grep -q '^allot_node_gpus_idle{node="lab-pool-0001"} 2.500$' metrics.txt || fail "metrics: $(grep idle metrics.txt)"

# A restart rebuilds the same expected workload from the journaled jobs.
kill -TERM "$DAEMON_PID"; wait "$DAEMON_PID" || true
"$ALLOTD" --plan "$PLAN" --node lab-pool-0001 --state-dir "$STATE" --simulate-gpus 2>>"$DAEMON_LOG" &
DAEMON_PID=$!
wait_for 10 "$ALLOTD" status || fail "allotd did not come back"
[ "$(field 'r["fragmentation"]["expected_workload"]["requests"]')" = 5 ] || fail "after restart: $(status_json)"
echo "ok"
