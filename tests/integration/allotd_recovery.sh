# allotd survives kill -9: every accepted job comes back, processes still
# running are re-adopted (pid + start time), vanished ones are marked lost,
# GPUs are never assigned twice; a corrupt journal tail is reported and kept.
source "$ALLOT_SOURCE_DIR/tests/integration/fixtures/allotd_common.sh"
PLAN="$WORK/plan.toml"
make_plan allotd-pai.allot "$PLAN"
start_daemon
cd "$WORK"

wait_file='while [ ! -e "stop$ALLOT_JOB_ID" ]; do sleep 0.1; done'
for gpus in 2 2 1; do submit_id --queue workspace-b/dlc --gpus "$gpus" -- sh -c "$wait_file" >/dev/null; done
wait_for 10 job_state_is 1 running && wait_for 10 job_state_is 2 running || fail "jobs 1 and 2 not running"
job_state_is 3 pending || fail "job 3 should wait for GPUs"
pid1=$(job_field 1 7); dev1=$(job_field 1 6); pid2=$(job_field 2 7)

kill -9 "$DAEMON_PID"; wait "$DAEMON_PID" 2>/dev/null || true
kill -9 -- "-$pid2"  # job 2 dies while allotd is down
wait_for 5 bash -c "! kill -0 $pid2" || fail "job 2 did not die"
kill -0 "$pid1" || fail "job 1 did not survive the daemon"
start_daemon

grep -q "re-adopted job 1 (pid $pid1" "$DAEMON_LOG" || fail "job 1 not re-adopted"
job_state_is 1 running && [ "$(job_field 1 7)" = "$pid1" ] && [ "$(job_field 1 6)" = "$dev1" ] || fail "job 1 changed: $("$ALLOTD" ps --all)"
job_state_is 2 lost || fail "job 2 should be lost: $("$ALLOTD" ps --all)"
wait_for 10 job_state_is 3 running || fail "job 3 did not get job 2's GPUs"
submit_id --queue workspace-b/dlc --gpus 1 -- sh -c "$wait_file" >/dev/null
submit_id --queue workspace-b/dlc --gpus 1 -- sh -c "$wait_file" >/dev/null
wait_for 10 job_state_is 4 running || fail "job 4 did not run"
job_state_is 5 pending || fail "job 5 should wait: the node is full"
devices=$("$ALLOTD" ps | awk 'NR > 1 && $2 == "running" { print $6 }' | tr ',' '\n' | sort)
[ "$(echo "$devices" | tr '\n' ' ')" = "0 1 2 3 " ] || fail "GPUs assigned twice or lost: $devices"

# A re-adopted job that ends frees its GPUs (no exit status: not our child).
touch stop1
wait_for 10 job_state_is 1 exited || fail "job 1 end not noticed: $(job_field 1 2)"
wait_for 10 job_state_is 5 running || fail "job 5 did not run after job 1 ended"

# A torn or corrupt journal tail: reported, preserved, nothing accepted lost.
kill -9 "$DAEMON_PID"; wait "$DAEMON_PID" 2>/dev/null || true
journal=$(ls "$STATE"/journal-*.log | grep -v bad | head -1)
printf '\x40\x00\x00\x00\x01\x02\x03\x04torn' >> "$journal"
start_daemon
grep -q "JOURNAL PROBLEM: truncated journal tail" "$DAEMON_LOG" || fail "no log line about the torn tail"
"$ALLOTD" status | grep -q "journal: PROBLEM: truncated journal tail" || fail "status does not show the journal problem"
ls "$journal".bad-* >/dev/null 2>&1 || fail "bad tail not preserved"
[ "$(tail -c 4 "$(ls "$journal".bad-* | head -1)")" = torn ] || fail "side file does not hold the tail"
for j in 1 2 3 4 5; do [ -n "$(job_field "$j" 2)" ] || fail "job $j forgotten"; done
job_state_is 5 running || fail "job 5 not running after the second restart"
grep -q 'allot_journal_healthy 0' <("$ALLOTD" metrics) || fail "metrics do not flag the journal"
echo ok
