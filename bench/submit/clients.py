#!/usr/bin/env python3
"""Runs one command TOTAL times from CLIENTS concurrent clients, each client a
process that starts the command, waits for it and starts it again; prints one
JSON line: the rate, the latency of one call (p50, p99), the CPU time of the
called processes (from wait4) and failures. Not their peak RSS: a process
exec'd from this one reports at least this Python's (Linux carries the
high-water mark across exec), so run.sh measures it under /usr/bin/time.

usage: clients.py CLIENTS TOTAL -- CMD [ARG...]
The command's standard output goes to /dev/null; a call that exits non-zero
counts as a failure (its standard error is kept, the first one is printed)."""
import json
import os
import sys
import tempfile
import time


def client(calls, argv, out_path, go_fd, err_path):
    os.read(go_fd, 1)
    actions = [
        (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
        (os.POSIX_SPAWN_OPEN, 2, err_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600),
    ]
    rows = []
    for _ in range(calls):
        t0 = time.perf_counter_ns()
        pid = os.posix_spawnp(argv[0], argv, os.environ, file_actions=actions)
        _, status, usage = os.wait4(pid, 0)
        t1 = time.perf_counter_ns()
        cpu_us = int((usage.ru_utime + usage.ru_stime) * 1e6)
        rows.append(f"{t1 - t0} {cpu_us} {1 if os.waitstatus_to_exitcode(status) else 0}\n")
    with open(out_path, "w") as f:
        f.writelines(rows)


def percentile(sorted_values, q):
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def main():
    if len(sys.argv) < 5 or sys.argv[3] != "--":
        sys.exit(__doc__)
    clients, total, argv = int(sys.argv[1]), int(sys.argv[2]), sys.argv[4:]
    if clients < 1 or total < clients:
        sys.exit("clients.py: need 1 <= CLIENTS <= TOTAL")
    work = tempfile.mkdtemp(prefix="allot-submit-bench.")
    go_r, go_w = os.pipe()
    pids = []
    for c in range(clients):
        calls = total // clients + (1 if c < total % clients else 0)
        pid = os.fork()
        if pid == 0:
            os.close(go_w)
            try:
                client(calls, argv, f"{work}/client-{c}", go_r, f"{work}/stderr")
            finally:
                os._exit(0)
        pids.append(pid)
    os.close(go_r)
    time.sleep(0.2)  # every client waits at the pipe
    start = time.perf_counter()
    os.write(go_w, b"g" * clients)
    for pid in pids:
        os.waitpid(pid, 0)
    wall = time.perf_counter() - start
    latency, cpu, failures = [], [], 0
    for c in range(clients):
        with open(f"{work}/client-{c}") as f:
            for line in f:
                ns, cpu_us, failed = map(int, line.split())
                latency.append(ns / 1e6)
                cpu.append(cpu_us / 1e3)
                failures += failed
    first_error = ""
    if os.path.exists(f"{work}/stderr"):
        with open(f"{work}/stderr", errors="replace") as f:
            first_error = f.readline().strip()
    for name in os.listdir(work):
        os.unlink(f"{work}/{name}")
    os.rmdir(work)
    latency.sort()
    cpu.sort()
    print(json.dumps({
        "clients": clients, "calls": len(latency), "failures": failures, "wall_s": round(wall, 3),
        "rate": round(len(latency) / wall, 1), "p50_ms": round(percentile(latency, 0.5), 2),
        "p99_ms": round(percentile(latency, 0.99), 2), "cpu_ms_p50": round(percentile(cpu, 0.5), 2),
        "first_error": first_error,
    }))


if __name__ == "__main__":
    main()
