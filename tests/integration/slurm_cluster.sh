#!/usr/bin/env bash
# The PAI policy on 8 GPUs (tests/integration/slurm/pai-8gpu.allot), compiled
# with `allot compile --target slurm` and enforced by a real Slurm (a loopback
# stack of two 4-GPU nodes): a child cannot exceed its limit; borrowing above
# a guarantee works and the owner reclaims it with requeue; inference
# preempts training after the grace period and the batch script sees
# SIGTERM; `allot state --from slurm` reads the cluster; `allot apply
# --target slurm` refuses an unsafe change and applies a safe one.
source "$ALLOT_SOURCE_DIR/tests/integration/slurm/common.sh"
B=workspace-b/dlc/default-queue
C=workspace-c/dsw/default-queue

# ---- a child cannot exceed its limit -----------------------------------------
# Quota1_1 (team B) is guaranteed 3 and limited to 6: three jobs run in the
# guaranteed tier, three borrow, the seventh waits on the account limit.
declare -A ID
for i in 1 2 3 4 5 6 7; do
  ID[b$i]=$(submit bob workspace-b/dlc 1 b$i)
  [ -n "${ID[b$i]}" ] || fail "submit b$i"
done
wait_until 60 "six of team B's jobs ran" bash -c '[ "$(squeue -h -t R -u bob | wc -l)" = 6 ]'
for i in 1 2 3; do [ "$(field "${ID[b$i]}" QOS)" = workspace-b.dlc.default-queue.g ] || fail "b$i not in the guaranteed tier"; done
for i in 4 5 6 7; do [ "$(field "${ID[b$i]}" QOS)" = workspace-b.dlc.default-queue.b ] || fail "b$i not in the borrowed tier"; done
sleep 3
[ "$(field "${ID[b7]}" JobState)" = PENDING ] || fail "b7 runs above Quota1_1's limit of 6"
[ "$(field "${ID[b7]}" Reason)" = AssocGrpGRES ] || fail "b7 waits for $(field "${ID[b7]}" Reason), not the account limit"
ok "Quota1_1 is held at its limit: b7 pends AssocGrpGRES with 6 gpu in use"

# ---- the live state ----------------------------------------------------------
"$ALLOT" state --from slurm --map "$MAP" --policy "$POLICY" -o "$WORK/state.toml" >/dev/null || fail "allot state"
grep -A2 -F "[scopes.\"$B\"]" "$WORK/state.toml" | grep -q "used = { gpu = 6 }" || fail "state: $(cat "$WORK/state.toml")"
grep -A3 -F "[scopes.\"$B\"]" "$WORK/state.toml" | grep -q "jobs = 7" || fail "state: $(cat "$WORK/state.toml")"
grep -q 'status = "running"' "$WORK/state.toml" || fail "state: pool not running: $(cat "$WORK/state.toml")"
"$ALLOT" check --state "$WORK/state.toml" "$POLICY" >/dev/null 2>&1 || fail "the state read from Slurm does not check"
ok "allot state --from slurm: 6 gpu and 7 jobs in $B"

# ---- an unsafe apply is refused -------------------------------------------------
sed 's/quota Quota1_1 { gpu = 3..6/quota Quota1_1 { gpu = 3..4/' "$POLICY" >"$WORK/shrunk.allot"
grep -q '3\.\.4' "$WORK/shrunk.allot" || fail "could not write the shrunk policy"
out=$("$ALLOT" apply --target slurm "$WORK/shrunk.allot" --deployed "$POLICY" --map "$MAP" 2>&1)
rc=$?
[ $rc = 1 ] || fail "unsafe apply: exit status $rc: $out"
grep -q "E0223" <<<"$out" || fail "unsafe apply: no E0223: $out"
grep -q "refused" <<<"$out" || fail "unsafe apply: not refused: $out"
sacctmgr -n -P show assoc where account=quota1_1 user= format=grptres | grep -qx "gres/gpu=6" ||
  fail "the refused apply changed Quota1_1: $(sacctmgr -n -P show assoc where account=quota1_1 format=grptres)"
ok "apply refused a limit cut below usage (E0223), the cluster unchanged"

# ---- borrowing is reclaimed by the owner, with requeue ---------------------------
# Team C (guaranteed 5) submits 5 jobs: two GPUs are idle, three come from
# team B's borrowed jobs, which are requeued; the guaranteed ones run on.
scancel "${ID[b7]}"
for i in 1 2 3 4 5; do
  ID[c$i]=$(submit carol workspace-c/dsw 1 c$i)
  [ -n "${ID[c$i]}" ] || fail "submit c$i"
done
wait_until 120 "team C's five jobs ran" bash -c '[ "$(squeue -h -t R -u carol | wc -l)" = 5 ]'
for i in 1 2 3; do
  [ "$(field "${ID[b$i]}" JobState)" = RUNNING ] && [ "$(field "${ID[b$i]}" Restarts)" = 0 ] ||
    fail "guaranteed b$i was preempted"
done
for i in 4 5 6; do
  [ "$(field "${ID[b$i]}" Restarts)" -ge 1 ] || fail "borrowed b$i was not requeued (Restarts $(field "${ID[b$i]}" Restarts))"
  [ "$(field "${ID[b$i]}" JobState)" = PENDING ] || fail "borrowed b$i is $(field "${ID[b$i]}" JobState)"
  grep -q sigterm "$JOBS/b$i.out" || fail "borrowed b$i got no SIGTERM: $(cat "$JOBS/b$i.out")"
done
ok "team C reclaimed its guarantee: b4 b5 b6 requeued, b1 b2 b3 untouched; running: $(running_names)"

# ---- inference preempts training after the grace period ---------------------------
# Team A's inference queue (on Quota1, child_preemption) takes a GPU; the
# victim is a training job, signalled at the start of its 10 s grace period.
cancel_all
for i in 1 2 3 4 5 6; do
  ID[t$i]=$(submit bob workspace-b/dlc 1 t$i)
  [ -n "${ID[t$i]}" ] || fail "submit t$i"
done
for i in 1 2; do
  ID[d$i]=$(submit carol workspace-c/dsw 1 d$i)
  [ -n "${ID[d$i]}" ] || fail "submit d$i"
done
wait_until 60 "eight jobs ran" bash -c '[ "$(squeue -h -t R | wc -l)" = 8 ]'
sleep 2
ID[a1]=$(submit alice workspace-a/eas 1 a1)
[ -n "${ID[a1]}" ] || fail "submit a1"
wait_until 120 "the inference job ran" bash -c "[ \"\$(squeue -h -j ${ID[a1]} -o %T)\" = RUNNING ]"
started=$(date -d "$(field "${ID[a1]}" StartTime)" +%s)
victims=""
for i in 1 2 3 4 5 6; do
  [ "$(field "${ID[t$i]}" Restarts)" -ge 1 ] || continue
  victims="$victims t$i"
  term=$(awk '/sigterm/ {print $1; exit}' "$JOBS/t$i.out")
  [ -n "$term" ] || fail "victim t$i got no SIGTERM: $(cat "$JOBS/t$i.out")"
  [ $((started - term)) -ge 10 ] || fail "t$i was signalled at $term, a1 started at $started: less than the 10 s grace period"
done
[ -n "$victims" ] || fail "the inference job started without preempting training"
for i in 1 2; do [ "$(field "${ID[d$i]}" Restarts)" = 0 ] || fail "d$i (guaranteed development) was preempted"; done
ok "inference preempted training:$victims, each signalled at least 10 s before a1 started"

# ---- a safe apply is applied --------------------------------------------------------
sed 's/quota Quota1_1 { gpu = 3..6/quota Quota1_1 { gpu = 3..7/' "$POLICY" >"$WORK/grown.allot"
out=$("$ALLOT" apply --target slurm "$WORK/grown.allot" --deployed "$POLICY" --map "$MAP" \
  --conf "$WORK/stack/etc/allot.conf" 2>&1) || fail "safe apply: $out"
sacctmgr -n -P show assoc where account=quota1_1 user= format=grptres | grep -qx "gres/gpu=7" ||
  fail "apply did not raise Quota1_1 to 7: $out"
scontrol ping >/dev/null || fail "slurmctld is gone after apply"
ok "apply raised Quota1_1's limit to 7"
echo "ok: all checks passed"
