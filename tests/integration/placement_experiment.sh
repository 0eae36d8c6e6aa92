#!/usr/bin/env bash
# `allot simulate --load --placement`: the fragmentation experiment on the
# openb cluster (docs/simulate.md, "Placement experiment"), two seeds, and its
# usage errors, and the pool property `placement` through compile and plan.
# The experiment is skipped when the openb data is not beside the repository.
set -u
: "${ALLOT:?path of the allot binary}" "${ALLOT_SOURCE_DIR:?source tree}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() {
  echo "FAIL $*"
  exit 1
}

# The pool's `placement` is recorded in the plan and explained by `allot plan`.
"$ALLOT" compile "$ALLOT_SOURCE_DIR/policies/openb-borrowing.allot" -o "$tmp/plan.toml" >/dev/null 2>"$tmp/err" ||
  fail "compile: $(cat "$tmp/err")"
grep -q '^placement = "fgd"$' "$tmp/plan.toml" || fail "the plan does not record the placement"
"$ALLOT" plan "$ALLOT_SOURCE_DIR/policies/openb-borrowing.allot" >"$tmp/out" 2>&1 || fail "plan: $(cat "$tmp/out")"
grep -q 'runtime placement on pool `venus`: fgd: ' "$tmp/out" || fail "allot plan: $(cat "$tmp/out")"
printf 'flavor f { gpus = 8 }\npool p {\n  type = dedicated\n  nodes = 2 x f\n  placement = tetris\n}\n' >"$tmp/bad.allot"
"$ALLOT" check "$tmp/bad.allot" >"$tmp/out" 2>&1
[ $? -eq 1 ] && grep -q 'unknown placement policy `tetris`' "$tmp/out" || fail "bad placement: $(cat "$tmp/out")"

data="$ALLOT_SOURCE_DIR/../shared/data/alibaba-gpu-v2023"
[ -f "$data/openb_pod_list_default.csv" ] && [ -f "$data/openb_node_list_gpu_node.csv" ] || {
  echo "the plan checks passed; skipped: no openb data in $data"
  exit 77
}
"$ALLOT" simulate --load --placement fgd,best_fit,first_fit,random --plan "$ALLOT_SOURCE_DIR/policies/openb-borrowing.allot" \
  --trace "$data/openb_pod_list_default.csv" --nodes "$data/openb_node_list_gpu_node.csv" --seeds 2 -o "$tmp/r" \
  >"$tmp/out" 2>"$tmp/err" || fail "experiment: exit $?: $(cat "$tmp/err")"
for f in placement.json placement.csv unallocated.svg fragmented.svg; do
  [ -s "$tmp/r/$f" ] || fail "no $f"
done
grep -q '1213 nodes, 6212 GPUs, 2 seed(s)' "$tmp/out" || fail "summary: $(cat "$tmp/out")"
# 4 policies x 2 seeds x 131 points (0..130%), and a header.
[ "$(wc -l <"$tmp/r/placement.csv")" -eq 1049 ] || fail "placement.csv has $(wc -l <"$tmp/r/placement.csv") lines"
grep -q '<polyline' "$tmp/r/unallocated.svg" || fail "no curve in unallocated.svg"
# At 100% arrived, fgd leaves fewer GPUs unallocated than best_fit, and random the most.
at100() { awk -F, -v p="$1" '$1 == p && $3 == 100 { s += $4; n++ } END { printf "%.3f", s / n }' "$tmp/r/placement.csv"; }
fgd=$(at100 fgd) best=$(at100 best_fit) rnd=$(at100 random)
awk -v f="$fgd" -v b="$best" -v r="$rnd" 'BEGIN { exit !(f < b && b < r) }' ||
  fail "unallocated at 100%: fgd $fgd, best_fit $best, random $rnd"
# Deterministic: the same run gives the same curves.
"$ALLOT" simulate --load --placement fgd,best_fit,first_fit,random --plan "$ALLOT_SOURCE_DIR/policies/openb-borrowing.allot" \
  --trace "$data/openb_pod_list_default.csv" --nodes "$data/openb_node_list_gpu_node.csv" --seeds 2 -o "$tmp/s" >/dev/null 2>&1
cmp -s "$tmp/r/placement.csv" "$tmp/s/placement.csv" || fail "placement.csv differs between two runs"

# Usage errors exit 2 with a message.
"$ALLOT" simulate --placement fgd --plan x --trace y >/dev/null 2>"$tmp/err"
[ $? -eq 2 ] && grep -q '`--placement` needs `--load`' "$tmp/err" || fail "--placement without --load: $(cat "$tmp/err")"
"$ALLOT" simulate --load --placement fgd,tetris --plan x --trace y >/dev/null 2>"$tmp/err"
[ $? -eq 2 ] && grep -q 'unknown placement policy `tetris`' "$tmp/err" || fail "unknown policy: $(cat "$tmp/err")"
"$ALLOT" simulate --load --seeds 3 --plan x --trace y >/dev/null 2>"$tmp/err"
[ $? -eq 2 ] && grep -q '`--seeds` needs `--placement`' "$tmp/err" || fail "--seeds alone: $(cat "$tmp/err")"
echo "ok"
