# The rules of docs/scheduling.md through both runners of the core: the same
# jobs, in the same order, on the same plan and node, through `allot
# simulate` and a real `allotd` with real processes and grace periods. After
# the last arrival, per job: running or pending, how many times preempted,
# and by which job and rule. Two scenarios:
#   pai     seed 001's tree full at its children's guarantees; team A asks for
#           2 GPUs: two of C's development jobs give way (R1), nothing else moves
#   nested  a reclaim that needs a victim inside an ancestor (R2 at S vs U) and
#           one beside it (R2 at A vs T)
source "$ALLOT_SOURCE_DIR/tests/integration/fixtures/allotd_common.sh"
: "${ALLOT:?ALLOT must name the allot binary}"
cd "$WORK"
DURATION=1000000
passed=0
failed=0

# run_scenario NAME POLICY NODE EXPECTED_PREEMPTIONS "queue gpus"...
run_scenario() {
  local name=$1 policy=$2 node=$3 expected=$4
  shift 4
  local jobs=("$@")
  local dir="$WORK/$name"
  mkdir -p "$dir"
  "$ALLOT" compile "$FIXTURES/$policy" -o "$dir/plan.toml" >/dev/null || fail "$name: allot compile"

  # ---- the simulator: one arrival a second, nothing ends before the last ----
  {
    echo "submit_time,duration,queue,user,kind,priority,gpus"
    for i in "${!jobs[@]}"; do
      read -r queue gpus <<< "${jobs[$i]}"
      echo "$i,$DURATION,$queue,root,training,,$gpus"
    done
  } > "$dir/trace.csv"
  "$ALLOT" simulate --plan "$dir/plan.toml" --trace "$dir/trace.csv" -o "$dir/sim" --progress=never > "$dir/sim.txt" ||
    fail "$name: allot simulate: $(cat "$dir/sim.txt")"
  # id, running or pending after the last arrival, preemptions, last preemptor, last rule
  awk -F, -v d="$DURATION" -v last="$(( ${#jobs[@]} - 1 ))" 'NR > 1 {
      running = ($6 != "" && $6 - d <= last) ? "running" : "pending"
      rule = $10; sub(/^R[0-9] /, "", rule)
      print $1, running, $8, ($9 == "" ? "-" : $9), (rule == "" ? "-" : rule)
    }' "$dir/sim/jobs.csv" > "$dir/sim.state"

  # ---- allotd ----
  local state="$dir/state"
  export ALLOT_SOCKET="$dir/allotd.sock"
  "$ALLOTD" --plan "$dir/plan.toml" --node "$node" --state-dir "$state" 2>>"$DAEMON_LOG" &
  DAEMON_PID=$!
  wait_for 10 "$ALLOTD" status || fail "$name: allotd did not come up"
  local deadline=$(( SECONDS + 30 ))
  for i in "${!jobs[@]}"; do
    read -r queue gpus <<< "${jobs[$i]}"
    local id
    id=$(submit_id --queue "$queue" --gpus "$gpus" -- sleep 100000)
    [ "$id" = "$(( i + 1 ))" ] || fail "$name: job $(( i + 1 )) got id '$id'"
    until settled "$id"; do
      [ "$SECONDS" -lt "$deadline" ] || fail "$name: allotd did not settle within 30 s, at job $id: $(snapshot)"
      sleep 0.1
    done
  done
  snapshot | awk '{ print $1, $2, $4, $5, $6 }' > "$dir/allotd.state"
  kill -9 "$DAEMON_PID" 2>/dev/null || true
  wait "$DAEMON_PID" 2>/dev/null || true
  DAEMON_PID=""
  kill_jobs

  # ---- compare ----
  local total=0
  for i in "${!jobs[@]}"; do
    local id=$(( i + 1 )) s d
    s=$(awk -v n="$id" '$1 == n { print $2, "preempted", $3, "by", $4, $5 }' "$dir/sim.state")
    d=$(awk -v n="$id" '$1 == n { print $2, "preempted", $3, "by", $4, $5 }' "$dir/allotd.state")
    if [ -n "$s" ] && [ "$s" = "$d" ]; then
      passed=$(( passed + 1 ))
    else
      failed=$(( failed + 1 ))
      echo "$name: job $id (${jobs[$i]} GPUs): simulate: ${s:-missing}; allotd: ${d:-missing}" >&2
    fi
  done
  echo "$name (id state preemptions preemptor rule):"; sed "s/^/  /" "$dir/allotd.state"
  total=$(awk '{ n += $3 } END { print n + 0 }' "$dir/sim.state")
  if [ "$total" = "$expected" ]; then passed=$(( passed + 1 )); else
    failed=$(( failed + 1 )); echo "$name: $total preemptions in the simulator, expected $expected" >&2
    cat "$dir/sim/jobs.csv" >&2
  fi
}

# snapshot: "id state stop_intent preemptions preemptor rule" per job, by id.
# The preemptor and rule come from the reason of its last preemption.
snapshot() {
  "$ALLOTD" ps --all --json | sed 's/{"id":/\n{"id":/g' | sed -n 's/^{"id":\([0-9]*\),.*"state":"\([a-z_]*\)".*"stop_intent":"\([a-z_]*\)".*"preemptions":\([0-9]*\),.*/\1 \2 \3 \4 &/p' |
    awk '{ by = "-"; rule = "-"
           if (match($0, /preempted by job [0-9]+ \([a-z_]+\)/)) {
             split(substr($0, RSTART, RLENGTH), w, " "); by = w[4]; rule = w[5]; gsub(/[()]/, "", rule)
           }
           print $1, $2, $3, $4, by, rule }' | sort -n
}

run_scenario pai allotd-sim-pai.allot pai-pool-0001 2 \
  "workspace-b/dlc/default-queue 1" "workspace-b/dlc/default-queue 1" "workspace-b/dlc/default-queue 1" \
  "workspace-c/dsw/default-queue 1" "workspace-c/dsw/default-queue 1" "workspace-c/dsw/default-queue 1" \
  "workspace-c/dsw/default-queue 1" "workspace-c/dsw/default-queue 1" "workspace-a/eas/default-queue 2"
run_scenario nested allotd-sim-nested.allot nested-pool-0001 2 \
  "u/train/default-queue 1" "u/train/default-queue 1" "u/train/default-queue 1" \
  "t/train/default-queue 1" "t/train/default-queue 1" "t/train/default-queue 1" "t/train/default-queue 1" \
  "t/train/default-queue 1" "s/train/default-queue 2"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
