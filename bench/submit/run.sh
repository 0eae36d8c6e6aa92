#!/usr/bin/env bash
# `allot submit ... -- true` against `sbatch --wrap=true`, measured in the
# same run: starts allotd on the 8-GPU PAI test policy (simulated GPUs) and,
# where it can (root, Debian's slurm-wlm slurmdbd mariadb-server munge), the
# loopback Slurm stack of the real-Slurm tests (tests/integration/slurm/) on
# the same policy compiled with `--target slurm`. Then, in ROUNDS rounds,
# each of `allot submit`, `allot-compiler submit` (the full binary, which runs
# `submit` itself as the single `allot` binary did before the split) and
# `sbatch` is run TOTAL times from 1 and from 16 clients (bench/submit/clients.py),
# each system drained of jobs before the next is measured. Prints one JSON line
# per measurement, then a table of medians: rates, the ratio to sbatch (the
# median of each round's ratio), p50/p99
# of one call, CPU per call, and peak RSS of the client process (under
# /usr/bin/time) and of the daemon (allotd, slurmctld: VmHWM).
#
# usage: bench/submit/run.sh [TOTAL=400] [ROUNDS=3]
# env: ALLOT, ALLOT_COMPILER, ALLOTD (default: build/allot, build/allot-compiler,
# build/allotd); ALLOT_BENCH_SLURM=0 skips Slurm.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
ALLOT=${ALLOT:-$ROOT/build/allot}
ALLOT_COMPILER=${ALLOT_COMPILER:-$ROOT/build/allot-compiler}
ALLOTD=${ALLOTD:-$ROOT/build/allotd}
TOTAL=${1:-400}
ROUNDS=${2:-3}
CLIENTS=(1 16)
QUEUE=workspace-b/dlc/default-queue
POLICY=$ROOT/tests/integration/slurm/pai-8gpu.allot
for b in "$ALLOT" "$ALLOTD"; do [ -x "$b" ] || { echo "run.sh: $b is not built" >&2; exit 2; }; done

WORK=$(mktemp -d /tmp/allot-submit-bench.XXXXXX)
chmod 755 "$WORK"
DAEMON_PID=""
SLURM=0
cleanup() {
  [ -n "$DAEMON_PID" ] && kill "$DAEMON_PID" 2>/dev/null && wait "$DAEMON_PID" 2>/dev/null
  [ "$SLURM" = 1 ] && slurm_stack_stop
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 143' TERM INT
die() { echo "run.sh: $*" >&2; exit 1; }

# ---- allotd -------------------------------------------------------------------
"$ALLOT" compile "$POLICY" -o "$WORK/plan.toml" >"$WORK/compile.log" 2>&1 || die "compile: $(cat "$WORK/compile.log")"
export ALLOT_SOCKET=$WORK/allotd.sock
"$ALLOTD" --plan "$WORK/plan.toml" --node pai-pool-0001 --state-dir "$WORK/state" 2>"$WORK/allotd.log" &
DAEMON_PID=$!
for _ in $(seq 100); do "$ALLOT" status >/dev/null 2>&1 && break; sleep 0.1; done
"$ALLOT" status >/dev/null || die "allotd did not start: $(cat "$WORK/allotd.log")"
allotd_idle() { [ "$("$ALLOT" ps | wc -l)" -le 1 ]; }  # the header only

# ---- Slurm, where it can be started -------------------------------------------
source "$ROOT/tests/integration/slurm/stack.sh"
if [ "${ALLOT_BENCH_SLURM:-1}" != 0 ] && [ "$(id -u)" = 0 ] && slurm_stack_packages_present; then
  "$ALLOT" compile "$POLICY" --target slurm -o "$WORK/conf" >"$WORK/compile-slurm.log" 2>&1 ||
    die "compile --target slurm: $(cat "$WORK/compile-slurm.log")"
  SLURM=1
  slurm_stack_start "$WORK/stack" "$WORK/conf" pai-pool-0001 pai-pool-0002 || die "the Slurm stack did not start"
  # The sbatch command `allot submit --backend slurm` would run for the queue.
  line=$("$ALLOT" submit --backend slurm --dry-run --map "$WORK/conf/queues.toml" --queue "$QUEUE" --gpus 1 -- true) ||
    die "submit --dry-run: $line"
  eval "SBATCH=($line)"
  SBATCH=("${SBATCH[@]:0:${#SBATCH[@]}-1}" --output=/dev/null "${SBATCH[-1]}")
  account=$(printf '%s\n' "${SBATCH[@]}" | sed -n 's/^--account=//p')
  # root (who runs this) as a user of the queue's account, with the QOS
  # the compiled associations give its users.
  grant=$(grep -m1 -E "^sacctmgr -i add user [^ ]+ Account=$account " "$WORK/conf/assoc.sacctmgr" |
    sed -E 's/^sacctmgr -i add user [^ ]+ /sacctmgr -i add user root /; s/ DefaultAccount=[^ ]+//')
  [ -n "$grant" ] || die "no user of account $account in the compiled associations"
  sh -c "$grant" >/dev/null || die "cannot add root to account $account: $grant"
  "${SBATCH[@]}" >/dev/null || die "sbatch refused the job: ${SBATCH[*]}"
  slurm_idle() { [ -z "$(squeue -h -o %i)" ]; }
else
  echo "note: no Slurm here (needs root and slurm-wlm slurmdbd mariadb-server munge): allotd's figures only"
fi

# ---- measurements -------------------------------------------------------------
drain() {  # drain NAME: waits (at most 60 s) until the system has no jobs
  for _ in $(seq 300); do "${1}_idle" && return 0; sleep 0.2; done
  echo "note: $1 still has jobs after 60 s" >&2
}
peak_rss_kib() {  # peak_rss_kib CMD...: the largest of 10 calls
  local max=0 kib
  for _ in $(seq 10); do
    kib=$(/usr/bin/time -f %M -o "$WORK/rss" "$@" >/dev/null 2>&1; cat "$WORK/rss")
    [ "$kib" -gt "$max" ] && max=$kib
  done
  echo "$max"
}
ALLOT_CMD=("$ALLOT" submit --queue "$QUEUE" --gpus 1 -- true)
OLD_CMD=("$ALLOT_COMPILER" submit --queue "$QUEUE" --gpus 1 -- true)
RESULTS=$WORK/results.jsonl
measure() {  # measure NAME DAEMON CLIENTS CMD...
  local name=$1 idle=$2 clients=$3
  shift 3
  drain "$idle"
  python3 "$ROOT/bench/submit/clients.py" "$clients" "$TOTAL" -- "$@" |
    python3 -c 'import json,sys; r=json.load(sys.stdin); r["system"]=sys.argv[1]; r["round"]=int(sys.argv[2]); print(json.dumps(r))' "$name" "$round" |
    tee -a "$RESULTS"
}
cd "$WORK"
for round in $(seq "$ROUNDS"); do
  for c in "${CLIENTS[@]}"; do
    measure allot allotd "$c" "${ALLOT_CMD[@]}"
    [ "$SLURM" = 1 ] && measure sbatch slurm "$c" "${SBATCH[@]}"
    [ -x "$ALLOT_COMPILER" ] && measure allot-compiler allotd "$c" "${OLD_CMD[@]}"
  done
done
drain allotd
RSS_ALLOT=$(peak_rss_kib "${ALLOT_CMD[@]}")
RSS_OLD=0
[ -x "$ALLOT_COMPILER" ] && RSS_OLD=$(peak_rss_kib "${OLD_CMD[@]}")
RSS_SBATCH=0 HWM_CTLD=0
if [ "$SLURM" = 1 ]; then
  RSS_SBATCH=$(peak_rss_kib "${SBATCH[@]}")
  HWM_CTLD=$(awk '/VmHWM/ {print $2}' "/proc/$(cat "$WORK/stack/run/slurmctld.pid")/status")
fi
HWM_ALLOTD=$(awk '/VmHWM/ {print $2}' "/proc/$DAEMON_PID/status")

python3 - "$RESULTS" "$RSS_ALLOT" "$RSS_OLD" "$RSS_SBATCH" "$HWM_ALLOTD" "$HWM_CTLD" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
rss = {"allot": int(sys.argv[2]), "allot-compiler": int(sys.argv[3]), "sbatch": int(sys.argv[4])}
daemon = {"allot": int(sys.argv[5]), "allot-compiler": int(sys.argv[5]), "sbatch": int(sys.argv[6])}
def med(system, clients, key):
    v = [r[key] for r in rows if r["system"] == system and r["clients"] == clients]
    return statistics.median(v) if v else None
failures = sum(r["failures"] for r in rows)
print(f"\nmedians of {max(1, len([r for r in rows if r['system'] == 'allot']) // 2)} rounds; "
      f"client peak RSS: allot {rss['allot'] / 1024:.1f} MiB, allot-compiler {rss['allot-compiler'] / 1024:.1f} MiB, "
      f"sbatch {rss['sbatch'] / 1024:.1f} MiB; daemon VmHWM: allotd {daemon['allot'] / 1024:.1f} MiB, "
      f"slurmctld {daemon['sbatch'] / 1024:.1f} MiB; failed calls: {failures}")
print("| clients | client | rate (submits/s) | vs sbatch | p50 | p99 | CPU per call | client peak RSS | daemon peak RSS |")
print("|---|---|---|---|---|---|---|---|---|")
for c in sorted({r["clients"] for r in rows}):
    for system in ("allot", "allot-compiler", "sbatch"):
        rate = med(system, c, "rate")
        if rate is None:
            continue
        # The ratio of each round (measured minutes apart at most), then their median.
        ratios = [r["rate"] / b["rate"] for r in rows for b in rows if r["system"] == system and r["clients"] == c
                  and b["system"] == "sbatch" and b["clients"] == c and b["round"] == r["round"]]
        ratio = f"{statistics.median(ratios):.2f}x" if ratios else "-"
        print(f"| {c} | `{system} submit`" if system != "sbatch" else f"| {c} | `sbatch`", end="")
        print(f" | {rate:.0f} | {ratio} | {med(system, c, 'p50_ms'):.2f} ms | {med(system, c, 'p99_ms'):.2f} ms"
              f" | {med(system, c, 'cpu_ms_p50'):.2f} ms | {rss[system] / 1024:.1f} MiB | {daemon[system] / 1024:.1f} MiB |")
PY
