#!/usr/bin/env bash
# The front-end table of docs/benchmarks.md: `allot check` against the
# plain-Python anchor (anchor_check.py) on generated policies (gen_policy.py),
# CPU time (user + system, median of RUNS) and peak RSS of each.
#
#   bench/front_end/run.sh [--allot BIN] [--runs N] [--failing] [SIZES...]
#   (default: build/allot, 3 runs, sizes 1000 10000 100000)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
allot=build/allot
runs=3
failing=()
sizes=()
while [ $# -gt 0 ]; do
  case $1 in
    --allot) allot=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --failing) failing=(--failing); shift ;;
    *) sizes+=("$1"); shift ;;
  esac
done
[ ${#sizes[@]} -gt 0 ] || sizes=(1000 10000 100000)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# measure CMD...: prints "CPU_SECONDS PEAK_KIB" of the median run by CPU time.
measure() {
  local out=()
  for _ in $(seq "$runs"); do
    /usr/bin/time -f '%U %S %M' -o "$work/time" "$@" >/dev/null 2>&1 || true
    # The last line: a failing check (exit 1) adds a line before it.
    out+=("$(tail -1 "$work/time" | awk '{ printf "%.3f %d", $1 + $2, $3 }')")
  done
  printf '%s\n' "${out[@]}" | sort -n | sed -n "$(( (runs + 1) / 2 ))p"
}

printf '| quotas | bytes | allot check CPU | peak RSS | anchor CPU | anchor peak RSS | ratio |\n'
printf '|---:|---:|---:|---:|---:|---:|---:|\n'
for n in "${sizes[@]}"; do
  python3 "$here/gen_policy.py" "$n" "${failing[@]}" >"$work/p.allot"
  bytes=$(stat -c %s "$work/p.allot")
  # The 1M-quota policy is 45 MB, above the default 16 MiB file limit.
  read -r a_cpu a_kib < <(measure "$allot" check --quiet --max-file-bytes 500000000 "$work/p.allot")
  read -r p_cpu p_kib < <(measure python3 "$here/anchor_check.py" "$work/p.allot")
  printf '| %s | %s | %.2f s | %d MiB | %.2f s | %d MiB | %.2f |\n' "$n" "$bytes" "$a_cpu" $((a_kib / 1024)) \
    "$p_cpu" $((p_kib / 1024)) "$(awk -v a="$a_cpu" -v p="$p_cpu" 'BEGIN { print a / p }')"
done
