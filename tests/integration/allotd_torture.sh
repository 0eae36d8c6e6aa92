# Crash torture: allotd is killed with SIGKILL at random points while clients
# submit and cancel short and long jobs, then restarted; after every restart:
#   - every job whose submission was acknowledged exists;
#   - no GPU belongs to two running or stopping jobs;
#   - no job's process was started twice (each job appends its id to
#     `starts` when it starts, and at most one live process carries its id);
#   - no job is marked lost while a process of it is alive.
# Bounded: ALLOT_TORTURE_SECONDS (default 40) or ALLOT_TORTURE_KILLS kills,
# whichever comes first; ALLOT_TORTURE_SEED repeats a run. docs/reliability.md
# has the bench settings.
source "$ALLOT_SOURCE_DIR/tests/integration/fixtures/allotd_common.sh"
command -v python3 >/dev/null || { echo "skip: needs python3"; exit 77; }
PLAN="$WORK/plan.toml"
make_plan allotd-pai.allot "$PLAN"
cleanup_all() {
  local status=$?
  if [ -f "$WORK/daemon.pid" ]; then kill -9 "$(cat "$WORK/daemon.pid")" 2>/dev/null || true; fi
  (exit "$status")
  cleanup
}
trap cleanup_all EXIT
cd "$WORK"

python3 - "$ALLOTD" "$PLAN" "$STATE" "$ALLOT_SOCKET" "$WORK" "$DAEMON_LOG" <<'EOF'
import json, os, random, signal, socket, subprocess, sys, threading, time

allotd, plan, state, sock_path, work, log_path = sys.argv[1:]
seconds = float(os.environ.get("ALLOT_TORTURE_SECONDS", "40"))
max_kills = int(os.environ.get("ALLOT_TORTURE_KILLS", "100000"))
seed = int(os.environ.get("ALLOT_TORTURE_SEED", str(time.time_ns() % 1_000_000_007)))
random.seed(seed)
MAX_JOBS = 900  # below allotd's retention of finished jobs (1000): every acknowledged job stays listed
log = open(log_path, "ab")
acked = set()
acked_lock = threading.Lock()
daemon = None


def fail(message):
    print(f"FAIL (seed {seed}): {message}", file=sys.stderr)
    sys.exit(1)


def request(obj, timeout=5.0):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(sock_path)
        s.sendall(json.dumps(obj).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(1 << 20)
            if not chunk:
                raise ConnectionError("closed")
            data += chunk
        return json.loads(data)
    finally:
        s.close()


def start_daemon(wait=True):
    global daemon
    daemon = subprocess.Popen(
        [allotd, "--plan", plan, "--node", "pai-pool-0001", "--state-dir", state, "--socket", sock_path,
         "--simulate-gpus"], stdout=log, stderr=log)
    open(os.path.join(work, "daemon.pid"), "w").write(str(daemon.pid))
    if not wait:
        return
    deadline = time.monotonic() + 40  # a restart may wait for an orphaned snapshot writer
    while time.monotonic() < deadline:
        if daemon.poll() is not None:
            fail(f"allotd exited with {daemon.returncode} while starting")
        try:
            if request({"op": "status"}, 1.0).get("ok"):
                return
        except (OSError, ValueError):
            pass
        time.sleep(0.02)
    fail("allotd did not come up")


def kill_daemon():
    daemon.send_signal(signal.SIGKILL)
    daemon.wait()


def tagged_processes():
    """job id -> live (not zombie) pids of this test's job processes."""
    out = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            env = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
            status = open(f"/proc/{pid}/status").read()
        except OSError:
            continue
        if f"ALLOT_TORTURE={work}".encode() not in env or "\nState:\tZ" in status:
            continue
        for e in env:
            if e.startswith(b"ALLOT_JOB_ID="):
                out.setdefault(int(e[13:]), []).append(int(pid))
    return out


def starts():
    counts = {}
    try:
        for line in open(os.path.join(work, "starts")):
            if line.strip():
                job = int(line.split()[0])
                counts[job] = counts.get(job, 0) + 1
    except FileNotFoundError:
        pass
    return counts


def client(stop):
    """Submits and cancels until allotd is gone or `stop` is set."""
    while not stop.is_set():
        with acked_lock:
            if len(acked) >= MAX_JOBS:
                return
        try:
            if acked and random.random() < 0.15:
                with acked_lock:
                    victim = random.choice(sorted(acked))
                request({"op": "cancel", "id": victim}, 2.0)
                continue
            long_job = random.random() < 0.1
            duration = random.uniform(1, 4) if long_job else random.uniform(0.02, 0.3)
            reply = request({
                "op": "submit", "queue": "workspace-b/dlc", "gpu_milli": random.choice([1000, 1000, 2000]),
                "cwd": work, "env": {"PATH": os.environ["PATH"], "ALLOT_TORTURE": work},
                "command": ["sh", "-c", f'echo "$ALLOT_JOB_ID $$" >> starts; exec sleep {duration:.2f}']}, 2.0)
            if reply.get("ok"):
                with acked_lock:
                    acked.add(reply["job"]["id"])
        except (OSError, ValueError, KeyError):
            return  # allotd is gone: whatever was not acknowledged may be lost
        time.sleep(random.uniform(0.02, 0.2))


def check(round_no):
    jobs = request({"op": "ps", "all": True}, 10.0)["jobs"]
    by_id = {j["id"]: j for j in jobs}
    with acked_lock:
        missing = sorted(acked - by_id.keys())
    if missing:
        fail(f"round {round_no}: acknowledged jobs forgotten: {missing[:10]}")
    held = {}
    for j in jobs:
        if j["state"] in ("running", "stopping"):
            for g in j["gpus"]:
                held[g["index"]] = held.get(g["index"], 0) + g["milli"]
    over = {gpu: milli for gpu, milli in held.items() if milli > 1000}
    if over:
        fail(f"round {round_no}: GPUs given to more than one job: {over}")
    twice = {job: n for job, n in starts().items() if n > 1}
    if twice:
        fail(f"round {round_no}: jobs started more than once: {twice}")
    live = tagged_processes()
    doubled = {job: pids for job, pids in live.items() if len(pids) > 1}
    if doubled:
        fail(f"round {round_no}: jobs with more than one process: {doubled}")
    for job, pids in live.items():
        if job in by_id and by_id[job]["state"] == "lost":
            fail(f"round {round_no}: job {job} is marked lost but its process {pids} is alive")


begin = time.monotonic()
kills = 0
start_daemon()
while time.monotonic() - begin < seconds and kills < max_kills:
    stop = threading.Event()
    clients = [threading.Thread(target=client, args=(stop,)) for _ in range(2)]
    for t in clients:
        t.start()
    time.sleep(random.uniform(0.01, 0.5))
    kill_daemon()
    kills += 1
    stop.set()
    for t in clients:
        t.join()
    if random.random() < 0.2:  # a kill during recovery, before it serves
        start_daemon(wait=False)
        time.sleep(random.uniform(0, 0.08))
        kill_daemon()
        kills += 1
    start_daemon()
    check(kills)
# The long jobs end; a last look once the node has drained somewhat.
time.sleep(1)
check(kills)
daemon.send_signal(signal.SIGTERM)
daemon.wait()
counts = starts()
print(f"torture: {kills} kills, {len(acked)} acknowledged jobs, {sum(counts.values())} starts, "
      f"no job started twice, seed {seed}")
EOF
echo ok
