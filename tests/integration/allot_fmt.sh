#!/usr/bin/env bash
# `allot fmt`: rewrites in place, `--check` lists what it would change and
# exits 1, standard input to standard output, a file that does not parse is
# refused and left as it was; and on every policy of the repository the
# layout is stable and changes neither `allot check`'s verdict nor the
# compiled plan, less its source hashes.
set -euo pipefail
: "${ALLOT:?path to allot}" "${ALLOT_SOURCE_DIR:?source tree}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

printf 'quota   lab on pool\n{\ngpu=8 ,\n}\n' >"$work/messy.allot"
printf 'quota lab on pool {\n  gpu = 8\n}\n' >"$work/want.allot"

# --check: names the file, exits 1, changes nothing.
cp "$work/messy.allot" "$work/a.allot"
set +e
out=$("$ALLOT" fmt --check "$work/a.allot" 2>&1); rc=$?
set -e
[ "$rc" -eq 1 ] || fail "fmt --check on an unformatted file exited $rc"
grep -q "a.allot" <<<"$out" || fail "fmt --check did not name the file: $out"
cmp -s "$work/a.allot" "$work/messy.allot" || fail "fmt --check changed the file"

# In place, then --check is clean.
"$ALLOT" fmt "$work/a.allot"
cmp -s "$work/a.allot" "$work/want.allot" || { diff "$work/want.allot" "$work/a.allot"; fail "fmt wrote another layout"; }
"$ALLOT" fmt --check "$work/a.allot" || fail "fmt --check after fmt exited $?"

# Standard input to standard output.
"$ALLOT" fmt - <"$work/messy.allot" >"$work/b.allot"
cmp -s "$work/b.allot" "$work/want.allot" || fail "fmt - wrote another layout"

# A file that does not parse: an error at its line, exit 1, the file untouched.
printf 'quota lab {\n  gpu = \n' >"$work/broken.allot"
cp "$work/broken.allot" "$work/broken.orig"
set +e
out=$("$ALLOT" fmt "$work/broken.allot" 2>&1); rc=$?
set -e
[ "$rc" -eq 1 ] || fail "fmt on a broken file exited $rc"
grep -q "broken.allot:" <<<"$out" || fail "no located error: $out"
cmp -s "$work/broken.allot" "$work/broken.orig" || fail "fmt changed a file that does not parse"

# The example of docs/language.md: its first block, formatted, is its second.
python3 - "$ALLOT_SOURCE_DIR/docs/language.md" "$work" <<'PY'
import re, sys
text = open(sys.argv[1], encoding="utf-8").read()
section = text[text.index("## Layout (`allot fmt`)"):]
blocks = re.findall(r"```allot\n(.*?)```", section, re.S)
open(f"{sys.argv[2]}/doc-before.allot", "w", encoding="utf-8").write(blocks[0])
open(f"{sys.argv[2]}/doc-after.allot", "w", encoding="utf-8").write(blocks[1])
PY
"$ALLOT" fmt - <"$work/doc-before.allot" >"$work/doc-formatted.allot"
cmp -s "$work/doc-formatted.allot" "$work/doc-after.allot" ||
  { diff "$work/doc-after.allot" "$work/doc-formatted.allot"; fail "docs/language.md's fmt example is not what fmt writes"; }

# Every policy of the repository (and every golden case that parses).
checked=0
reformatted=0
cd "$ALLOT_SOURCE_DIR"
while IFS= read -r policy; do
  dir=$(dirname "$policy")
  copy="$work/copy/$dir"
  rm -rf "$work/copy" && mkdir -p "$copy"
  cp -r "$dir"/. "$copy"/  # imports stay beside it
  base=$(basename "$policy")
  if ! "$ALLOT" fmt "$copy/$base" >/dev/null 2>&1; then continue; fi  # does not parse: refused above
  "$ALLOT" fmt --check "$copy/$base" >/dev/null || fail "fmt of $policy is not stable"
  checked=$((checked + 1))
  # The same bytes mean the same verdict and plan; compare only what changed.
  if cmp -s "$copy/$base" "$policy"; then continue; fi
  set +e
  before=$("$ALLOT" check --format=json "$policy" 2>/dev/null | python3 -c 'import json,sys; print(sorted(d["code"] for d in json.load(sys.stdin)["diagnostics"]))'); rb=$?
  after=$("$ALLOT" check --format=json "$copy/$base" 2>/dev/null | python3 -c 'import json,sys; print(sorted(d["code"] for d in json.load(sys.stdin)["diagnostics"]))'); ra=$?
  set -e
  [ "$before" = "$after" ] || fail "fmt changed the verdict on $policy: $before -> $after"
  if "$ALLOT" compile "$policy" -o "$work/before.toml" >/dev/null 2>&1; then
    "$ALLOT" compile "$copy/$base" -o "$work/after.toml" >/dev/null 2>&1 || fail "the formatted $policy does not compile"
    # The plan less what names the source files: their paths and hashes.
    strip() { awk '/^\[\[sources\]\]/ { skip = 1; next } /^\[/ { skip = 0 } !skip && !/^source_sha256 = /' "$1"; }
    diff <(strip "$work/before.toml") <(strip "$work/after.toml") >/dev/null || fail "fmt changed the plan of $policy"
  fi
  reformatted=$((reformatted + 1))
done < <(find policies examples tests/golden -name '*.allot' | sort)
[ "$checked" -ge 30 ] || fail "only $checked policies checked"
[ "$reformatted" -ge 10 ] || fail "only $reformatted policies changed by fmt: too few to compare verdicts and plans"
echo "fmt: $checked policies stable; the $reformatted it changed keep their verdicts and plans"
