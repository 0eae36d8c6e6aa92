# Abusive clients against allotd, run as root (abusers act as other uids):
# a flooder that never reads its replies, thousands of connections from one
# uid and hundreds from many, slowloris, oversized and deeply nested lines,
# NUL bytes, out-of-range amounts. allotd runs with a soft and hard limit of
# 1,024 descriptors. Meanwhile a well-behaved user (uid 12345, not an admin)
# asks for `status` every 50 ms: every answer must come within 1 s
# (ALLOT_ABUSE_BOUND_MS), allotd's memory must not grow by more than 64 MiB,
# it must not spin, and a job submitted while it is crowded must start.
source "$ALLOT_SOURCE_DIR/tests/integration/fixtures/allotd_common.sh"
if [ "$(id -u)" != 0 ] || ! command -v python3 >/dev/null || ! getent group nogroup >/dev/null; then
  echo "skip: needs root, python3 and a nogroup group"
  exit 77
fi
PLAN="$WORK/plan.toml"
make_plan allotd-pai.allot "$PLAN"
sed -i 's/^roles = \["team-b"\]$/roles = []/' "$PLAN"  # anyone may submit to workspace-b: the good user too
cd "$WORK"
# Under AddressSanitizer freed memory waits in a quarantine (256 MiB by
# default) that would count as growth; a small one keeps the measure honest.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=16"
(
  ulimit -n 1024
  ulimit -Hn 1024
  exec "$ALLOTD" --plan "$PLAN" --node pai-pool-0001 --state-dir "$STATE" --socket-group nogroup \
    --idle-timeout-ms 3000 --request-timeout-ms 2000 --max-connections-per-uid 64 2>>"$DAEMON_LOG"
) &
DAEMON_PID=$!
wait_for 10 "$ALLOTD" status || fail "allotd did not come up"
mkdir -m 1777 "$WORK/out"  # what the clients, running as other uids, report

python3 - "$DAEMON_PID" "$ALLOT_SOCKET" "$WORK/out" "${ALLOT_ABUSE_BOUND_MS:-1000}" <<'EOF'
import json, os, signal, socket, sys, time

daemon_pid, sock_path, work, bound_ms = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
NOGROUP = 65534
GOOD_UID = 12345
children = []
stats = {"connections": 0, "refused": 0}


def fail(message):
    print(f"FAIL: {message}", file=sys.stderr)
    for pid in children:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    sys.exit(1)


def become(uid):
    os.setgroups([])
    os.setgid(NOGROUP)
    os.setuid(uid)


def as_uid(uid, body):
    """Runs body() in a child process as `uid`; returns its pid."""
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            become(uid)
            body()
        except BaseException as e:  # the child reports and leaves, never returns into the parent's code
            print(f"child {os.getpid()} (uid {uid}): {e!r}", file=sys.stderr)
            code = 1
        os._exit(code)
    children.append(pid)
    return pid


def connect(timeout=2.0):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(sock_path)
    return s


def read_line(s):
    data = b""
    while not data.endswith(b"\n"):
        chunk = s.recv(65536)
        if not chunk:
            return data or None
        data += chunk
    return data


def ask(obj_or_bytes, timeout=2.0):
    s = connect(timeout)
    try:
        line = obj_or_bytes if isinstance(obj_or_bytes, bytes) else json.dumps(obj_or_bytes).encode() + b"\n"
        s.sendall(line)
        reply = read_line(s)
        return json.loads(reply) if reply else None
    finally:
        s.close()


def rss_kib():
    for line in open(f"/proc/{daemon_pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_ticks():
    stat = open(f"/proc/{daemon_pid}/stat").read()
    fields = stat[stat.rindex(")") + 2:].split()
    return int(fields[11]) + int(fields[12])


def closed_within(s, seconds):
    """True if the daemon closes `s` within `seconds` (EOF or reset)."""
    s.settimeout(0.2)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if not s.recv(65536):
                return True
        except socket.timeout:
            continue
        except OSError:
            return True
    return False


# ---- the well-behaved user, all along
latencies = os.path.join(work, "latencies")


def good_client():
    out = open(latencies, "w")
    end = time.monotonic() + 3600
    while time.monotonic() < end and not os.path.exists(os.path.join(work, "good-stop")):
        t = time.monotonic()
        try:
            reply = ask({"op": "status"}, timeout=5.0)
            ok = bool(reply and reply.get("ok"))
        except OSError:
            ok = False
        out.write(f"{(time.monotonic() - t) * 1000:.1f} {int(ok)} {t:.3f}\n")
        out.flush()
        time.sleep(0.05)


good = as_uid(GOOD_UID, good_client)
phases = {"start": time.monotonic()}
time.sleep(0.5)
rss_before = rss_kib()

# ---- 1. flooders: `status` lines nonstop, replies never read
def flooder():
    s = connect()
    s.setblocking(False)
    line = b'{"op":"status"}\n' * 64
    end = time.monotonic() + 6
    while time.monotonic() < end:
        try:
            s.send(line)
        except BlockingIOError:
            time.sleep(0.001)  # allotd stopped reading: backpressure
        except OSError:
            return
    time.sleep(1)


phases["flood"] = time.monotonic()
flooders = [as_uid(65534, flooder) for _ in range(8)]
peak = 0
end = time.monotonic() + 7
while time.monotonic() < end:
    peak = max(peak, rss_kib())
    time.sleep(0.1)
for pid in flooders:
    os.waitpid(pid, 0)
    children.remove(pid)
growth_mib = (peak - rss_before) / 1024
print(f"flood: 8 clients for 6 s; allotd RSS {rss_before // 1024} MiB -> peak {peak // 1024} MiB")
if growth_mib > 64:
    fail(f"allotd grew by {growth_mib:.0f} MiB under a flood")


# ---- 2. thousands of connections from one uid, hundreds from many
def hoarder(uid, count, report):
    """Opens `count` connections and watches each to its end: a refused one
    gets an error line, then EOF; an accepted one stays silent until the
    idle timeout closes it. Writes "accepted refused still_open"."""
    def body():
        held, refused, accepted = [], 0, 0
        for _ in range(count):
            try:
                s = connect()
                s.setblocking(False)
                held.append(s)
            except OSError:
                refused += 1
        data = {s: b"" for s in held}
        open_now = set(held)
        deadline = time.monotonic() + 9
        while open_now and time.monotonic() < deadline:
            for s in list(open_now):
                try:
                    chunk = s.recv(4096)
                except BlockingIOError:
                    continue
                except OSError:
                    chunk = b""
                if chunk:
                    data[s] += chunk
                    continue
                open_now.discard(s)
                if b"too many connections" in data[s]:
                    refused += 1
                else:
                    accepted += 1
            time.sleep(0.05)
        open(report, "w").write(f"{accepted} {refused} {len(open_now)}\n")
    return as_uid(uid, body)


phases["hoard"] = time.monotonic()
reports = []
one = os.path.join(work, "hoard-one")
hoarders = [hoarder(65534, 3000, one)]
for k in range(10):
    r = os.path.join(work, f"hoard-{k}")
    reports.append(r)
    hoarders.append(hoarder(20001 + k, 64, r))
time.sleep(2.5)
ticks_before = cpu_ticks()
time.sleep(1.0)
cpu_share = (cpu_ticks() - ticks_before) / os.sysconf("SC_CLK_TCK")
# A job of the good user while allotd holds ~700 connections: its log opens.
job_reply = {}


def submit_job():
    r = ask({"op": "submit", "queue": "workspace-b/dlc", "gpu_milli": 1000, "cwd": "/",
             "env": {"PATH": os.environ["PATH"]}, "command": ["sh", "-c", "exit 0"]})
    open(os.path.join(work, "submitted"), "w").write(json.dumps(r))


os.waitpid(as_uid(GOOD_UID, submit_job), 0)
if not os.path.exists(os.path.join(work, "submitted")):
    fail("the good user's submit got no answer while allotd was crowded")
job_reply = json.load(open(os.path.join(work, "submitted")))
if not job_reply.get("ok"):
    fail(f"the good user's submit failed while allotd was crowded: {job_reply}")
job_id = job_reply["job"]["id"]
for pid in hoarders:
    os.waitpid(pid, 0)
    children.remove(pid)
accepted_one, refused_one, open_one = map(int, open(one).read().split())
many = [list(map(int, open(r).read().split())) for r in reports]
accepted_many = sum(m[0] for m in many)
open_many = sum(m[2] for m in many)
print(f"hoard: uid 65534 opened 3000: {accepted_one} accepted, {refused_one} refused; "
      f"10 uids x 64: {accepted_many} accepted; allotd CPU while holding them idle: {cpu_share * 100:.0f}%")
if accepted_one > 64:
    fail(f"one uid held {accepted_one} connections, more than its cap of 64")
if accepted_many < 10 * 64 * 0.9:
    fail(f"only {accepted_many} of 640 connections from 10 uids were accepted")
if cpu_share > 0.5:
    fail(f"allotd used {cpu_share * 100:.0f}% CPU holding idle connections")
if open_one or open_many:
    fail(f"{open_one + open_many} idle connections not closed by the idle timeout")
for _ in range(100):
    jobs = ask({"op": "ps", "all": True})["jobs"]
    state = next(j["state"] for j in jobs if j["id"] == job_id)
    if state not in ("pending", "running"):
        break
    time.sleep(0.1)
if state != "succeeded":
    fail(f"the good user's job ended {state}: {next(j for j in jobs if j['id'] == job_id)['reason']}")


# ---- 3. slowloris and bad lines (as nobody)
def bad_lines():
    # Slowloris: a byte every 300 ms, never a newline.
    slow = [connect() for _ in range(30)]
    t = time.monotonic()
    closed = 0
    pending = list(slow)
    while pending and time.monotonic() - t < 8:
        for s in list(pending):
            try:
                s.send(b"{")
            except OSError:
                pending.remove(s)
                closed += 1
        time.sleep(0.3)
        for s in list(pending):
            s.setblocking(False)
            try:
                if not s.recv(4096):
                    pending.remove(s)
                    closed += 1
            except BlockingIOError:
                pass
            except OSError:
                pending.remove(s)
                closed += 1
    slow_seconds = time.monotonic() - t
    if closed < 30:
        raise AssertionError(f"slowloris: {closed}/30 closed after {slow_seconds:.1f} s")
    results = [f"slowloris: 30 closed within {slow_seconds:.1f} s"]
    # Oversized: 200 KiB without a newline: the connection is closed.
    s = connect(5.0)
    try:
        s.sendall(b"x" * 200_000)
    except OSError:
        pass
    if not closed_within(s, 5):
        raise AssertionError("an oversized line did not close the connection")
    results.append("oversized line: closed")
    # Lines allotd answers with bad_request.
    for name, line in [
            ("deeply nested", b"[" * 60000 + b"\n"),
            ("deeply nested object", b'{"a":' * 10000 + b"\n"),
            ("NUL bytes", b'{"op":"st\x00atus"}\n'),
            ("raw NUL", b"\x00" * 1000 + b"\n"),
            ("NUL escape in command", b'{"op":"submit","queue":"workspace-b/dlc","cwd":"/","command":["a\\u0000b"]}\n'),
            ("huge cpu_milli", b'{"op":"submit","queue":"workspace-b/dlc","cwd":"/","command":["true"],'
                               b'"cpu_milli":9223372036854775000}\n'),
            ("invalid UTF-8", b'{"op":"\xff\xfe"}\n')]:
        reply = ask(line, timeout=5.0)
        if not reply or reply.get("ok") or reply["error"]["code"] != "bad_request":
            raise AssertionError(f"{name}: {reply}")
        results.append(f"{name}: bad_request")
    open(os.path.join(work, "bad-lines"), "w").write("\n".join(results) + "\n")


phases["slowloris and bad lines"] = time.monotonic()
pid = as_uid(65534, bad_lines)
_, status = os.waitpid(pid, 0)
children.remove(pid)
if status != 0:
    fail("slowloris or bad lines were not handled (see above)")
print(open(os.path.join(work, "bad-lines")).read(), end="")

# ---- the good user's view of it all
open(os.path.join(work, "good-stop"), "w").close()
os.waitpid(good, 0)
children.remove(good)
samples = [line.split() for line in open(latencies)]
answered = [float(ms) for ms, ok, _ in samples if ok == "1"]
slowest = max(samples, key=lambda s: float(s[0])) if samples else None
if slowest:
    phase = max((at, name) for name, at in phases.items() if at <= float(slowest[2]))[1]
    print(f"good user: slowest answer asked during: {phase}")
failed = len(samples) - len(answered)
worst = max(answered) if answered else 0
print(f"good user: {len(answered)} answers, {failed} failures, worst {worst:.0f} ms, bound {bound_ms} ms")
if failed or not answered or worst > bound_ms:
    fail("the well-behaved user was not served within the bound")
if ask({"op": "status"}) is None:
    fail("allotd does not answer after the abuse")
EOF
kill -0 "$DAEMON_PID" || fail "allotd died"
! grep -q "FATAL\|bad_alloc" "$DAEMON_LOG" || fail "allotd logged a fatal error"
echo ok
