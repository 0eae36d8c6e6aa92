# `allot simulate` and `allotd` share the scheduling core: fed the same jobs
# in the same order on the same plan and node, they must make the same
# decisions. One 8-GPU node, two teams guaranteed 4 GPUs each (limit 8,
# preemptible, requeue): team A borrows, team B reclaims (two preemptions),
# later jobs wait. Compared per job after the last arrival: running or not,
# and how many times it was preempted.
source "$ALLOT_SOURCE_DIR/tests/integration/fixtures/allotd_common.sh"
: "${ALLOT:?ALLOT must name the allot binary}"
cd "$WORK"

# The jobs, in submission order: team and GPUs. Submitted 1 s apart in
# simulated time, each running far longer than the test (nothing completes
# before the last arrival).
JOBS=("team-a 4" "team-a 2" "team-a 2" "team-b 2" "team-b 1" "team-b 1" "team-a 1" "team-a 1")
DURATION=1000000
LAST_SUBMIT=$(( ${#JOBS[@]} - 1 ))

"$ALLOT" compile "$FIXTURES/allotd-sim-agree.allot" -o plan.toml >/dev/null || fail "allot compile"
PLAN="$WORK/plan.toml"
NODE=agree-pool-0001
grep -q "name = \"$NODE\"" plan.toml || fail "the plan has no node $NODE"

# ---- the simulator ----
{
  echo "submit_time,duration,queue,user,kind,priority,gpus"
  for i in "${!JOBS[@]}"; do
    read -r team gpus <<< "${JOBS[$i]}"
    echo "$i,$DURATION,$team/train,root,training,,$gpus"
  done
} > trace.csv
"$ALLOT" simulate --plan plan.toml --trace trace.csv -o sim --progress=never > sim.txt || fail "allot simulate: $(cat sim.txt)"
[ -f sim/jobs.csv ] || fail "allot simulate wrote no jobs.csv"
[ "$(head -1 sim/jobs.csv)" = "id,queue,user,submit,first_start,end,outcome,preemptions,last_preemptor,last_rule,last_claim_scope,last_victim_scope" ] ||
  fail "jobs.csv header: $(head -1 sim/jobs.csv)"
[ "$(( $(wc -l < sim/jobs.csv) - 1 ))" = "${#JOBS[@]}" ] || fail "jobs.csv has not one row per job: $(cat sim/jobs.csv)"
# The replay runs until every job has ended, so the state after the last
# arrival is read back: a requeued job runs its full duration again, so a
# run ends at (its last start) + DURATION, and a job was running after the
# last arrival iff its last start, end - DURATION, is at or before it.
# Nothing may end before the last arrival, and no preemption may come after
# it (in this trace only team A waits then, so nothing is ever reclaimed).
awk -F, -v d="$DURATION" -v last="$LAST_SUBMIT" 'NR > 1 {
    if ($6 != "" && $6 + 0 <= last) { print "job " $1 " ended before the last arrival" > "/dev/stderr"; exit 1 }
    running = ($6 != "" && $6 - d <= last) ? "running" : "pending"
    print $1, running, $8
  }' sim/jobs.csv > sim.state || fail "jobs.csv: $(cat sim/jobs.csv)"

# ---- allotd ----
"$ALLOTD" --plan "$PLAN" --node "$NODE" --state-dir "$STATE" 2>>"$DAEMON_LOG" &
DAEMON_PID=$!
wait_for 10 "$ALLOTD" status || fail "allotd did not come up"

# snapshot: one line per job, "id state stop_intent preemptions", by id.
snapshot() {
  "$ALLOTD" ps --all --json | sed 's/{"id":/\n{"id":/g' | sed -n 's/^{"id":\([0-9]*\),.*"state":"\([a-z_]*\)".*"stop_intent":"\([a-z_]*\)".*"preemptions":\([0-9]*\),.*/\1 \2 \3 \4/p' |
    sort -n
}
deadline=$(( SECONDS + 30 ))  # for all the jobs together
for i in "${!JOBS[@]}"; do
  read -r team gpus <<< "${JOBS[$i]}"
  id=$(submit_id --queue "$team/train" --gpus "$gpus" -- sleep 100000)
  [ "$id" = "$(( i + 1 ))" ] || fail "job $(( i + 1 )) got id '$id'"
  until settled "$id"; do
    [ "$SECONDS" -lt "$deadline" ] || fail "allotd did not settle within 30 s, at job $id: $(snapshot)"
    sleep 0.1
  done
done
snapshot | awk '{ print $1, $2, $4 }' > allotd.state
grep -q "reclaim_guarantee" "$DAEMON_LOG" || fail "allotd logged no reclaim preemption"

# ---- compare ----
passed=0; failed=0
for i in "${!JOBS[@]}"; do
  id=$(( i + 1 ))
  s=$(awk -v n="$id" '$1 == n { print $2 " preempted " $3 }' sim.state)
  d=$(awk -v n="$id" '$1 == n { print $2 " preempted " $3 }' allotd.state)
  if [ -n "$s" ] && [ "$s" = "$d" ]; then
    passed=$(( passed + 1 ))
  else
    failed=$(( failed + 1 )); echo "job $id (${JOBS[$i]} GPUs): simulate: ${s:-missing}; allotd: ${d:-missing}" >&2
  fi
done
# The scenario must exercise what it claims: borrowing and a reclaim preemption.
if awk '$3 > 0 { p = 1 } END { exit !p }' sim.state; then passed=$(( passed + 1 )); else
  failed=$(( failed + 1 )); echo "the simulator preempted nothing: the scenario tests no reclaim" >&2; fi
echo "$passed passed, $failed failed"
if [ "$failed" -ne 0 ]; then
  echo "---- sim/jobs.csv"; cat sim/jobs.csv; echo "---- allotd ps"; "$ALLOTD" ps --all
  exit 1
fi
