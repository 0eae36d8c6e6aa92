#!/usr/bin/env bash
# The same job sequences through `allot simulate` (the scheduling core) and
# through a real Slurm enforcing the same policy compiled with `--target
# slurm` (tests/integration/slurm/pai-8gpu.allot on two 4-GPU nodes).
# Compared job by job once each phase of arrivals has settled: whether the
# job runs and how often it was preempted (Slurm: Restarts); so also the
# final running set and the preempted set. Where the two differ by design,
# the sequence names the jobs whose identity may differ and why; those are
# compared as a group: as many running, as many preemptions.
source "$ALLOT_SOURCE_DIR/tests/integration/slurm/common.sh"
DURATION=1000000
declare -A QUEUE=([a]=workspace-a/eas [b]=workspace-b/dlc [c]=workspace-c/dsw)
declare -A USER_OF=([a]=alice [b]=bob [c]=carol)
declare -A KIND=([a]=inference [b]=training [c]=development)

# A sequence: its name, phases of arrivals separated by `|`, then the jobs
# compared as a group (`-`: none); each arrival is TEAM+NUMBER, one GPU each
# (b3 is team B's third job).
# seq_A: team B fills its limit of 6 (3 guaranteed, 3 borrowed), then team C
#   asks for its guarantee of 5: both reclaim its 3 from B's borrowed jobs.
# seq_B: team B 6 and team C 2 fill the 8 GPUs, then team A's inference job
#   takes one by child_preemption. Expected difference: Allot preempts the
#   youngest job of the farthest borrower (b6); Slurm preempts the lowest
#   QOS priority, B's borrowed tier, but picks among b4 b5 b6 by its own
#   order (node, then start time; W0304): the victim's name may differ, not
#   its queue, tier or the count.
SEQUENCES=(
  "A|b1 b2 b3 b4 b5 b6|c1 c2 c3 c4 c5|-"
  "B|b1 b2 b3 b4 b5 b6 c1 c2|a1|b4 b5 b6"
)

# allot_state SEQ PHASES...: "name running preemptions" per job, from the
# simulator, after the last arrival. Phase k arrives at 100*k + i seconds.
allot_state() {
  local seq=$1 phase=0 t name
  shift
  {
    echo "submit_time,duration,queue,user,kind,priority,gpus"
    for p in "$@"; do
      t=$((phase * 100))
      for name in $p; do
        echo "$t,$DURATION,${QUEUE[${name:0:1}]}/default-queue,${USER_OF[${name:0:1}]},${KIND[${name:0:1}]},,1"
        t=$((t + 1))
      done
      phase=$((phase + 1))
    done
  } >"$WORK/$seq.csv"
  "$ALLOT" simulate --plan "$POLICY" --trace "$WORK/$seq.csv" -o "$WORK/sim-$seq" --progress=never >"$WORK/sim-$seq.txt" 2>&1 ||
    fail "allot simulate: $(cat "$WORK/sim-$seq.txt")"
  local last
  last=$(tail -n 1 "$WORK/$seq.csv" | cut -d, -f1)
  # A requeued job runs its whole duration again: its last start is
  # end - DURATION; it runs after the last arrival iff that is at or before it.
  local names=()
  for p in "$@"; do for name in $p; do names+=("$name"); done; done
  awk -F, -v d="$DURATION" -v last="$last" -v names="${names[*]}" 'BEGIN { split(names, n, " ") }
    NR > 1 {
      running = ($5 != "" && $6 - d <= last && $6 > last) ? "yes" : "no"
      print n[NR - 1], running, $8
    }' "$WORK/sim-$seq/jobs.csv" | sort
}

# slurm_snapshot SEQ: "name running restarts" per job of the sequence (its
# Slurm job names are SEQ-name).
slurm_snapshot() {
  scontrol -o show job 2>/dev/null |
    sed -n 's/.*JobName=\([^ ]*\) .*JobState=\([A-Z_]*\) .*Restarts=\([0-9]*\).*/\1 \2 \3/p' |
    awk -v p="$1-" 'index($1, p) == 1 { print substr($1, length(p) + 1), ($2 == "RUNNING" ? "yes" : "no"), $3 }' | sort
}
# settle SEQ: until nothing has changed for 25 s (the snapshot and the
# SIGTERMs the jobs logged: a preemption starts within a few scheduler
# passes, its grace period is 10 s), at most 180 s.
settle() {
  local prev="" cur stable=0 end=$(($(date +%s) + 180))
  while [ "$(date +%s)" -lt "$end" ]; do
    cur="$(slurm_snapshot "$1") $(cat "$JOBS"/"$1"-*.out 2>/dev/null | grep -c sigterm)"
    if [ "$cur" = "$prev" ]; then stable=$((stable + 1)); else stable=0; fi
    [ $stable -ge 25 ] && return 0
    prev=$cur
    sleep 1
  done
  fail "Slurm did not settle: $cur"
}

total_fail=0
for spec in "${SEQUENCES[@]}"; do
  IFS='|' read -r -a parts <<<"$spec"
  seq=${parts[0]}
  lossy=${parts[${#parts[@]} - 1]}
  phases=("${parts[@]:1:${#parts[@]}-2}")
  allot_state "$seq" "${phases[@]}" >"$WORK/allot-$seq.state"
  for p in "${phases[@]}"; do
    for name in $p; do
      id=$(submit "${USER_OF[${name:0:1}]}" "${QUEUE[${name:0:1}]}" 1 "$seq-$name")
      [ -n "$id" ] || fail "submit $name"
    done
    settle "$seq"
  done
  slurm_snapshot "$seq" >"$WORK/slurm-$seq.state"
  # Job by job outside the lossy group; the group by totals.
  result=$(join "$WORK/allot-$seq.state" "$WORK/slurm-$seq.state" | awk -v lossy="$lossy" '
    BEGIN { n = lossy == "-" ? 0 : split(lossy, l, " "); for (i = 1; i <= n; i++) group[l[i]] = 1 }
    {
      if ($1 in group) { ar += ($2 == "yes"); sr += ($4 == "yes"); ap += $3; sp += $5; members = members " " $1 ":" $2 "/" $3 "|" $4 "/" $5; next }
      if ($2 != $4 || $3 != $5) { print "DIFFER " $1 ": allot running=" $2 " preemptions=" $3 ", slurm running=" $4 " restarts=" $5; bad = 1 }
      else same = same " " $1
    }
    END {
      print "same:" same
      if (n > 0) {
        print "group" members " (allot|slurm running/preemptions)"
        if (ar != sr || ap != sp) { print "DIFFER group: running " ar " vs " sr ", preemptions " ap " vs " sp; bad = 1 }
      }
      exit bad
    }')
  status=$?
  [ "$(wc -l <"$WORK/allot-$seq.state")" = "$(wc -l <"$WORK/slurm-$seq.state")" ] || { result="$result
DIFFER: job count"; status=1; }
  echo "sequence $seq:"
  sed 's/^/  /' <<<"$result"
  echo "  allot running: $(awk '$2 == "yes" {printf "%s ", $1}' "$WORK/allot-$seq.state")"
  echo "  slurm running: $(awk '$2 == "yes" {printf "%s ", $1}' "$WORK/slurm-$seq.state")"
  echo "  allot preempted: $(awk '$3 > 0 {printf "%s(%s) ", $1, $3}' "$WORK/allot-$seq.state")"
  echo "  slurm preempted: $(awk '$3 > 0 {printf "%s(%s) ", $1, $3}' "$WORK/slurm-$seq.state")"
  [ $status = 0 ] || total_fail=1
  cancel_all
done
[ $total_fail = 0 ] || fail "Allot and Slurm differ beyond the stated differences"
echo "ok: every sequence agrees up to its stated differences"
