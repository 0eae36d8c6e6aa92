#!/usr/bin/env bash
# `allot graph`: the SVG of each shipped policy is well-formed XML with a
# box per scope, renders with rsvg-convert where it is installed, and is the
# same on every run; DOT by extension or `--format`; a policy with errors is
# not drawn.
set -euo pipefail
: "${ALLOT:?path to allot}" "${ALLOT_SOURCE_DIR:?source tree}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
cd "$ALLOT_SOURCE_DIR"
drawn=0
for policy in policies/*.allot examples/quickstart/cluster.allot; do
  "$ALLOT" check --quiet "$policy" >/dev/null 2>&1 || continue
  "$ALLOT" graph "$policy" -o "$work/a.svg"
  "$ALLOT" graph "$policy" >"$work/b.svg"
  cmp -s "$work/a.svg" "$work/b.svg" || fail "$policy: two runs drew different SVGs"
  python3 - "$work/a.svg" <<'PY' || fail "$policy: the SVG is not what it should be"
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
ns = {"s": "http://www.w3.org/2000/svg"}
boxes = [r for r in root.iter("{http://www.w3.org/2000/svg}rect") if "scope" in r.get("class", "")]
assert root.tag.endswith("svg") and len(boxes) > 0, "no scope boxes"
PY
  if command -v rsvg-convert >/dev/null; then
    rsvg-convert "$work/a.svg" -o "$work/a.png" || fail "$policy: rsvg-convert cannot render it"
    [ -s "$work/a.png" ] || fail "$policy: empty rendering"
  fi
  "$ALLOT" graph "$policy" -o "$work/t.dot"
  head -1 "$work/t.dot" | grep -q '^digraph policy {' || fail "$policy: -o t.dot is not DOT"
  "$ALLOT" graph --format dot "$policy" | cmp -s - "$work/t.dot" || fail "$policy: --format dot differs from -o t.dot"
  drawn=$((drawn + 1))
done
[ "$drawn" -ge 3 ] || fail "only $drawn policies drawn"
printf 'quota q on nowhere { gpu = 1 }\n' >"$work/bad.allot"
set +e
"$ALLOT" graph "$work/bad.allot" -o "$work/bad.svg" 2>"$work/err"; rc=$?
set -e
[ "$rc" -eq 1 ] || fail "graph of a policy with errors exited $rc"
grep -q 'error\[E0114\]' "$work/err" || fail "no diagnostic: $(cat "$work/err")"
[ ! -e "$work/bad.svg" ] || fail "a policy with errors was drawn"
echo "graph: $drawn policies drawn, rendered and stable"
