# The loop from an edited policy to a running node (docs/state.md), against a
# real allotd with real jobs: export the live state; an unsafe change (a busy
# queue removed) refused by `allot apply`; a rebalance of two quotas applied
# step by step, in order; a queue renamed without losing its jobs; the node
# drained; why a job waits; a forced change logged with the caller.
source "$ALLOT_SOURCE_DIR/tests/integration/fixtures/allotd_common.sh"
: "${ALLOT:?ALLOT must name the allot binary}"
LIVE="$FIXTURES/live"
# The policies are copied so that the plans' `[[sources]]` name files that
# stay as they were compiled.
cp "$LIVE"/*.allot "$WORK/"
PLAN="$WORK/plan.toml"
"$ALLOT" compile "$WORK/v1.allot" -o "$PLAN" >/dev/null || fail "cannot compile v1.allot"
start_daemon
cd "$WORK"
export ALLOT_SOCKET

loop='while :; do sleep 0.1; done'
submit_id --queue workspace-b/dlc/batch --gpus 1 -- sh -c "$loop" >/dev/null        # 1: non-preemptible
submit_id --queue workspace-b/dlc --gpus 1 -- sh -c "$loop" >/dev/null              # 2: preemptible
submit_id --queue workspace-c/dsw --gpus 1 --kind development -- sh -c "$loop" >/dev/null  # 3
for j in 1 2 3; do wait_for 10 job_state_is "$j" running || fail "job $j not running: $("$ALLOTD" ps --all)"; done
submit_id --queue workspace-b/dlc/batch --gpus 3 -- sh -c "$loop" >/dev/null        # 4: waits: batch may use 3
wait_for 5 job_state_is 4 pending || fail "job 4 should wait"
pid1=$(job_field 1 7)

# ---- 1. export the state; it checks clean against the policy it came from
"$ALLOT" state -o "$WORK/state.toml" | grep -q "wrote the live state" || fail "state export"
grep -q "^plan = \"" state.toml || fail "no plan fingerprint: $(cat state.toml)"
grep -q "policy = \[\"$WORK/v1.allot\"\]" state.toml || fail "deployed policy not named: $(cat state.toml)"
grep -q '{ id = 1, state = "running", kind = "training", preemptible = false }' state.toml ||
  fail "job 1 not exported: $(cat state.toml)"
grep -q '{ id = 4, state = "pending", kind = "training", preemptible = false }' state.toml ||
  fail "job 4 not exported: $(cat state.toml)"
grep -q '{ name = "pai-pool-0001", status = "ready" }' state.toml || fail "node not exported"
"$ALLOT" check --state state.toml v1.allot >"$WORK/out" 2>&1 || fail "round trip not clean: $(cat "$WORK/out")"
grep -q "no problems" "$WORK/out" || fail "round trip: $(cat "$WORK/out")"
# The same state, by hand-off to `check`, refuses what `apply` refuses below.
if "$ALLOT" check --state state.toml no-batch.allot >"$WORK/out" 2>&1; then fail "check passed a busy queue's removal"; fi
grep -q "error\[E0221\]: the change deletes queue \`workspace-b/dlc/batch\`" "$WORK/out" || fail "$(cat "$WORK/out")"

# ---- 2. an unsafe change is refused and nothing is applied
before=$("$ALLOTD" status --json | sed 's/.*"fingerprint":"\([^"]*\)".*/\1/')
if "$ALLOT" apply no-batch.allot >"$WORK/out" 2>"$WORK/err"; then fail "apply passed a busy queue's removal"; fi
grep -q "error\[E0221\]" "$WORK/err" || fail "no diagnostic: $(cat "$WORK/err")"
grep -q "refused: the change is not safe for the live state of node \`pai-pool-0001\`; nothing was applied" \
  "$WORK/err" || fail "no refusal: $(cat "$WORK/err")"
after=$("$ALLOTD" status --json | sed 's/.*"fingerprint":"\([^"]*\)".*/\1/')
[ "$before" = "$after" ] || fail "the plan changed after a refusal"
job_state_is 1 running || fail "job 1 should still run"

# ---- 3. a rebalance, step by step and in order
"$ALLOT" apply rebalanced.allot >"$WORK/out" 2>"$WORK/err" || fail "rebalance refused: $(cat "$WORK/err")"
cat > "$WORK/expected" <<'EOF'
migration: 2 steps
  1. shrink quota `Quota1_2`: gpu 4.. -> 3..
  2. grow quota `Quota1_1`: gpu 4.. -> 5..
step 1/2: shrink quota `Quota1_2`: gpu 4.. -> 3..: done
step 2/2: grow quota `Quota1_1`: gpu 4.. -> 5..: done
ok: applied 2 steps to node `pai-pool-0001`
EOF
diff "$WORK/expected" "$WORK/out" || fail "rebalance steps"
# `plan --state` prints the same steps for the same state.
"$ALLOT" plan --state state.toml rebalanced.allot | head -3 | diff <(head -3 "$WORK/expected") - ||
  fail "plan --state disagrees with apply"
[ "$(grep -c 'apply of .* requested by' "$DAEMON_LOG")" -eq 2 ] || fail "expected two installations"
"$ALLOTD" status | grep -Eq '^Quota1_1 +quota +5 ' || fail "status: $("$ALLOTD" status)"
"$ALLOTD" status | grep -Eq '^Quota1_2 +quota +3 ' || fail "status: $("$ALLOTD" status)"
for j in 1 2 3; do job_state_is "$j" running || fail "job $j stopped by the rebalance"; done
[ "$(job_field 1 7)" = "$pid1" ] || fail "job 1 was restarted"

# ---- 4. a queue renamed without losing its jobs
"$ALLOT" apply --deployed rebalanced.allot renamed.allot >"$WORK/out" 2>"$WORK/err" ||
  fail "rename refused: $(cat "$WORK/err") $(cat "$WORK/out")"
grep -q "update queue \`workspace-b/dlc/training\`: name" "$WORK/out" || fail "no rename step: $(cat "$WORK/out")"
job_state_is 1 running && [ "$(job_field 1 7)" = "$pid1" ] || fail "job 1 did not survive the rename"
[ "$(job_field 1 3)" = "workspace-b/dlc/training" ] || fail "job 1 not moved: $("$ALLOTD" ps)"
job_state_is 4 pending && [ "$(job_field 4 3)" = "workspace-b/dlc/training" ] || fail "job 4 not moved: $("$ALLOTD" ps)"
grep -q "job 1: moved from queue workspace-b/dlc/batch to workspace-b/dlc/training" "$DAEMON_LOG" || fail "no move logged"
"$ALLOTD" status | grep -Eq '^workspace-b/dlc/training +queue ' || fail "status: $("$ALLOTD" status)"

# ---- 5. drain the node: the running jobs stop after their grace periods,
#         requeued or cancelled per their queue; the export says so; uncordon
#         resumes scheduling
NODE=pai-pool-0001
"$ALLOT" node drain "$NODE" >"$WORK/out" 2>&1 || fail "drain: $(cat "$WORK/out")"
grep -q "^node $NODE drained$" "$WORK/out" || fail "drain: $(cat "$WORK/out")"
for j in 1 2 3; do job_state_is "$j" running && fail "job $j still runs on a drained node: $("$ALLOTD" ps --all)"; done
"$ALLOT" state --policy renamed.allot -o "$WORK/drained.toml" >/dev/null || fail "export of the drained node"
grep -q "{ name = \"$NODE\", status = \"draining\" }" "$WORK/drained.toml" || fail "drained node: $(cat "$WORK/drained.toml")"
"$ALLOT" status | grep -q "^node state: drained" || fail "status: $("$ALLOT" status)"

# ---- 6. why a job is pending: on the drained node, because it is cordoned;
#         once uncordoned, job 4 waits on its queue's limit (3 GPUs, job 1
#         holds one)
ps_reason() { "$ALLOT" ps | awk -v id="$1" '$1 == id { print $9 }'; }
[ "$(ps_reason 4)" = node_cordoned ] || fail "job 4's reason on a drained node: $("$ALLOT" ps)"
"$ALLOT" node uncordon "$NODE" >/dev/null || fail "uncordon"
wait_for 10 job_state_is 1 running || fail "job 1 not back after uncordon: $("$ALLOT" ps --all)"
wait_for 5 job_state_is 4 pending || fail "job 4 should still wait: $("$ALLOT" ps --all)"
[[ "$(ps_reason 4)" == limit:workspace-b/dlc/training* ]] || fail "job 4's reason: $("$ALLOT" ps)"
"$ALLOT" explain 4 >"$WORK/explain" || fail "explain 4"
grep -q "^job 4 (\`workspace-b/dlc/training\`, user .*, 3 gpu) is pending" "$WORK/explain" || fail "$(cat "$WORK/explain")"
grep -q "queue workspace-b/dlc/training: .* <- at its gpu limit" "$WORK/explain" || fail "$(cat "$WORK/explain")"
# Before the forced change below, which cancels jobs 1 and 4.

# ---- a forced change is applied and logged with the caller
"$ALLOT" state --policy renamed.allot -o "$WORK/state2.toml" >/dev/null || fail "second export"
if "$ALLOT" apply --deployed renamed.allot no-batch.allot >/dev/null 2>&1; then
  fail "removing the renamed busy queue should be refused"
fi
"$ALLOT" apply --force --deployed renamed.allot no-batch.allot >"$WORK/out" 2>"$WORK/err" ||
  fail "forced apply failed: $(cat "$WORK/err")"
grep -q "FORCED apply of .* by $(id -un) (uid $(id -u), pid [0-9]*) over the refusal: E0221: " "$DAEMON_LOG" ||
  fail "the override is not logged"
wait_for 10 job_state_is 1 cancelled || fail "job 1 should be stopped by the forced change: $("$ALLOTD" ps --all)"
echo ok
