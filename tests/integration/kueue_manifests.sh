#!/usr/bin/env bash
# `allot compile --target kueue` for every policy in policies/ (both API
# versions) must validate against the Kueue CRDs in ../shared/data (relative
# to the repository root), and every deliberately wrong manifest in
# fixtures/kueue-bad/ must be caught with the error its `# expect:` lines name.
# Exits 77 (skipped) when the CRDs are not there.
set -euo pipefail
: "${ALLOT:?path of the allot binary}" "${ALLOT_SOURCE_DIR:?repository root}"
crds="$ALLOT_SOURCE_DIR/../shared/data/kueue-crds-v0.19.2"
if [ ! -d "$crds" ]; then
  echo "skipped: no Kueue CRDs at ../shared/data/kueue-crds-v0.19.2 (relative to the repository root)"
  exit 77
fi
validate="$ALLOT_SOURCE_DIR/tests/integration/kueue_validate.py"
python3 -c 'import jsonschema, yaml' || { echo "FAIL: python3-jsonschema and python3-yaml are needed (scripts/dev.sh installs them)"; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0 passed=0
# Every policy shipped, and one using every preemption option of the language.
for policy in "$ALLOT_SOURCE_DIR"/policies/*.allot "$ALLOT_SOURCE_DIR"/tests/golden/backend/kueue-options/case.allot; do
  for version in v1beta2 v1beta1; do
    out="$work/$(basename "$(dirname "$policy")")-$(basename "$policy" .allot)-$version"
    if ! "$ALLOT" compile "$policy" --target kueue --kueue-version "$version" -o "$out" >"$work/compile.log" 2>&1; then
      echo "FAIL: compile $policy ($version)"; cat "$work/compile.log"; fail=1; continue
    fi
    if python3 "$validate" --crds "$crds" "$out"/kueue.yaml "$out"/rbac.yaml >"$work/validate.log"; then
      passed=$((passed + 1))
    else
      echo "FAIL: $policy ($version) does not validate"; cat "$work/validate.log"; fail=1
    fi
  done
done
# The validator itself: every planted error is reported, and the exit status says so.
for bad in "$ALLOT_SOURCE_DIR"/tests/integration/fixtures/kueue-bad/*.yaml; do
  set +e
  out=$(python3 "$validate" --crds "$crds" "$bad")
  rc=$?
  set -e
  [ $rc = 1 ] || { echo "FAIL: $(basename "$bad"): exit status $rc, expected 1"; echo "$out"; fail=1; continue; }
  while IFS= read -r want; do
    grep -qF -- "$want" <<<"$out" || { echo "FAIL: $(basename "$bad"): missing error: $want"; echo "$out"; fail=1; }
  done < <(sed -n 's/^# expect: //p' "$bad")
  passed=$((passed + 1))
done
[ "$fail" = 0 ] || exit 1
echo "ok: $passed checks passed"
