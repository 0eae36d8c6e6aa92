#!/usr/bin/env bash
# Every `allot` example in docs/language.md must be valid syntax with known
# kinds, properties, units and values. Examples are fragments, so references
# to names declared in other examples (pools, roles, quotas...) may fail.
set -u
: "${ALLOT:?path of the allot binary}" "${ALLOT_SOURCE_DIR:?source tree}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0
python3 - "$ALLOT_SOURCE_DIR/docs/language.md" "$tmp" <<'PY'
import re, sys
text = open(sys.argv[1], encoding="utf-8").read()
for i, block in enumerate(re.findall(r"```allot\n(.*?)```", text, re.S)):
    # The shape template and bare property lines are not declarations.
    if "KIND NAME" in block or block.lstrip().startswith("gpu ="):
        continue
    open(f"{sys.argv[2]}/example{i:02d}.allot", "w", encoding="utf-8").write(block)
PY
# Codes that mean the example itself is wrong, not just cut from its context.
wrong='error\[E(000[0-8]|0010|0101|0102|0103|0105|0106|0107|0108|0109|0110|0111|0112|0113|0121|0124|0125)\]'
for f in "$tmp"/example*.allot; do
  "$ALLOT" check "$f" >"$tmp/out" 2>&1
  if grep -qE "$wrong" "$tmp/out"; then
    failed=$((failed + 1))
    echo "FAIL $(basename "$f"):"
    grep -E "$wrong" "$tmp/out"
    cat "$f"
  else
    passed=$((passed + 1))
  fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 5 ] || exit 1

# docs/state.md: its state file, read against the repository's policies,
# refuses the PAI rebalance with the error the page shows, and checks clean
# against the deployed policy itself.
mkdir "$tmp/state"
python3 - "$ALLOT_SOURCE_DIR/docs/state.md" "$tmp/state" "$ALLOT_SOURCE_DIR" <<'PY'
import re, sys
text = open(sys.argv[1], encoding="utf-8").read()
state = re.findall(r"```toml\n(.*?)```", text, re.S)[0]
state = state.replace('policy = "policies/', f'policy = "{sys.argv[3]}/policies/')
open(f"{sys.argv[2]}/state.toml", "w", encoding="utf-8").write(state)
shown = re.search(r"```text\n(error\[E\d+\]: .*?)\n```", text, re.S).group(1)
open(f"{sys.argv[2]}/shown", "w", encoding="utf-8").write(shown.split("\n")[0] + "\n")
PY
status=0
if "$ALLOT" check --state "$tmp/state/state.toml" "$ALLOT_SOURCE_DIR/policies/pai-rebalanced.allot" >"$tmp/out" 2>&1; then
  echo "FAIL docs/state.md: the rebalance passed"; status=1
fi
grep -qF "$(cat "$tmp/state/shown")" "$tmp/out" || { echo "FAIL docs/state.md: not the error shown:"; cat "$tmp/out"; status=1; }
"$ALLOT" check --state "$tmp/state/state.toml" "$ALLOT_SOURCE_DIR/policies/pai-quota-tree.allot" >"$tmp/out" 2>&1 ||
  { echo "FAIL docs/state.md: the deployed policy against its own state:"; cat "$tmp/out"; status=1; }
[ "$status" -eq 0 ] && echo "docs/state.md: ok"
exit "$status"
