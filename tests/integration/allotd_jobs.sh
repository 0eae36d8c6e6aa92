# allotd runs real processes on simulated GPUs: the environment they see,
# exit codes, preemption (SIGTERM, grace, SIGKILL) when the inference
# workspace claims GPUs (PAI, seed 001), requeue, cancel, metrics and
# malformed requests.
source "$ALLOT_SOURCE_DIR/tests/integration/fixtures/allotd_common.sh"
PLAN="$WORK/plan.toml"
make_plan allotd-pai.allot "$PLAN"
start_daemon
grep -q "simulating the node's GPUs" "$DAEMON_LOG" || fail "no log line about simulated GPUs"
cd "$WORK"

# A short job: the environment it saw, its exit code.
id=$(submit_id --queue workspace-b/dlc --gpus 1 -- sh -c 'echo "$CUDA_VISIBLE_DEVICES|$NVIDIA_VISIBLE_DEVICES|$ALLOT_JOB_ID" > env1; exit 3')
[ "$id" = 1 ] || fail "first job id is $id"
wait_for 10 job_state_is 1 failed || fail "job 1 did not end as failed: $(job_field 1 2)"
[ "$(cat env1)" = "0|0|1" ] || fail "job 1 saw $(cat env1)"
[ "$(job_field 1 8)" = 3 ] || fail "exit code of job 1 is $(job_field 1 8)"

# Two training jobs fill the node; one ignores SIGTERM.
submit_id --queue workspace-b/dlc --gpus 2 -- sh -c 'echo "$CUDA_VISIBLE_DEVICES" >> train2; trap "echo term >> train2; exit 143" TERM; while :; do sleep 0.1; done' >/dev/null
submit_id --queue workspace-b/dlc/default-queue --gpus 2 -- sh -c 'echo "$CUDA_VISIBLE_DEVICES" >> train3; trap "" TERM; while :; do sleep 0.1; done' >/dev/null
wait_for 10 job_state_is 2 running || fail "job 2 not running"
wait_for 10 job_state_is 3 running || fail "job 3 not running"
wait_for 5 test -s train2 && wait_for 5 test -s train3 || fail "training jobs did not start"
[ "$(sort -u train2 train3 | tr '\n' ' ')" = "0,1 2,3 " ] || fail "training jobs share GPUs: $(cat train2 train3)"

# Inference claims 2 GPUs: child preemption of Quota1 takes them from training.
"$ALLOTD" submit --queue workspace-a/eas --gpus 2 -- sh -c 'echo "$CUDA_VISIBLE_DEVICES" > infer; while :; do sleep 0.1; done' >/dev/null
wait_for 10 job_state_is 4 running || fail "inference job 4 did not run: $("$ALLOTD" ps --all)"
grep -q "preempted by job 4 (child_preemption)" "$DAEMON_LOG" || fail "no preemption logged"
victim=""
for j in 2 3; do if job_state_is "$j" pending; then victim=$j; fi; done
[ -n "$victim" ] || fail "no training job went back to pending: $("$ALLOTD" ps --all)"
[ "$(cat infer)" = "$(head -1 "train$victim")" ] || fail "inference got $(cat infer), victim had $(head -1 "train$victim")"
if [ "$victim" = 2 ]; then
  grep -q term train2 || fail "job 2 did not see SIGTERM"
else
  grep -q "job 3: grace period over, SIGKILL" "$DAEMON_LOG" || fail "job 3 ignored SIGTERM but was not killed"
fi
"$ALLOTD" ps --all --json | grep -q '"reason":"requeued after preempted by job 4' || fail "requeue reason missing"

# Cancelling the inference job gives the GPUs back: the victim runs again.
"$ALLOTD" cancel 4 | grep -q "stopping job 4" || fail "cancel of job 4"
wait_for 10 job_state_is 4 cancelled || fail "job 4 not cancelled"
wait_for 10 job_state_is "$victim" running || fail "requeued job $victim did not run again"
wait_for 15 test "$(wc -l < "train$victim")" -ge 2 || fail "job $victim did not start a second time: $("$ALLOTD" ps --all)"

# Refusals say why.
if "$ALLOTD" submit --queue workspace-b/dlc --gpus 5 -- true 2>"$WORK/err"; then fail "5 GPUs accepted"; fi
grep -q "error\[refused\]" "$WORK/err" || fail "no refusal: $(cat "$WORK/err")"
if "$ALLOTD" submit --queue nowhere --gpus 1 -- true 2>"$WORK/err"; then fail "unknown queue accepted"; fi
grep -q "unknown_queue" "$WORK/err" || fail "$(cat "$WORK/err")"
if "$ALLOTD" cancel 999 2>/dev/null; then fail "cancel of an unknown job succeeded"; fi

# Status and metrics.
"$ALLOTD" status > status.txt
grep -Eq '^Quota1 +quota +4 +4 +4 ' status.txt || fail "status: $(cat status.txt)"
grep -q "journal: healthy" status.txt || fail "journal not healthy"
wait_for 5 grep -q 'allot_scope_used{scope="Quota1",kind="quota",resource="gpu"} 4' metrics.prom || fail "metrics file: $(head -5 metrics.prom)"
grep -Eq 'allot_scope_preemptions_total\{scope="Quota1_1",kind="quota"\} [1-9]' metrics.prom || fail "no preemption counted"

# Malformed and oversized requests get an error or a closed connection, never a crash.
if command -v python3 >/dev/null; then
  python3 - "$ALLOT_SOCKET" <<'PY'
import socket, sys
def exchange(data):
    s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(data); s.shutdown(socket.SHUT_WR)
    out = b""
    while True:
        chunk = s.recv(65536)
        if not chunk: break
        out += chunk
    return out
for bad in [b"not json\n", b'{"op":"submit"}\n', b'{"op":"cancel","id":-1}\n', b"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\n", b"\xff\xfe\n"]:
    reply = exchange(bad)
    assert b'"ok":false' in reply and b"bad_request" in reply, (bad, reply)
try:
    reply = exchange(b"x" * (70 * 1024))
except (BrokenPipeError, ConnectionResetError):
    reply = b""
assert reply == b"", reply
PY
fi
"$ALLOTD" status >/dev/null || fail "allotd died on malformed input"
echo "ok"
