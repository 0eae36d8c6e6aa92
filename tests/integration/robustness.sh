#!/usr/bin/env bash
# Hostile input: every file must yield diagnostics and exit 1 or 2 within a
# few seconds, never crash (exit >= 128), hang or overflow the stack.
set -u
: "${ALLOT:?path of the allot binary}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0

# A hang is what the limit catches; the sanitizer build under a loaded
# machine needs more than 20 s for the largest inputs (ROBUSTNESS_LIMIT_S).
limit=${ROBUSTNESS_LIMIT_S:-60}
survives() {  # survives NAME FILE: exit 1 or 2, at least one diagnostic, within $limit s
  local name=$1 file=$2
  timeout "$limit" "$ALLOT" check "$file" >"$tmp/out" 2>"$tmp/err"
  local got=$?
  if { [ "$got" -eq 1 ] || [ "$got" -eq 2 ]; } && grep -q "error\[E" "$tmp/err"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL $name: exit $got"
    head -c 600 "$tmp/err"
  fi
}

head -c 200000 /dev/urandom >"$tmp/junk.allot"
survives "binary junk" "$tmp/junk.allot"
printf 'pool p { description = "caf\xc3\x28" }\n' >"$tmp/utf8.allot"
survives "invalid UTF-8" "$tmp/utf8.allot"
printf 'pool p { description = "never closed }\n' >"$tmp/string.allot"
survives "unterminated string" "$tmp/string.allot"
python3 -c 'print("assert " + "(" * 100000 + "1")' >"$tmp/parens.allot"
survives "deep parentheses" "$tmp/parens.allot"
python3 -c 'print("quota q on p {" * 50000)' >"$tmp/blocks.allot"
survives "deep blocks" "$tmp/blocks.allot"
python3 -c 'print("assert 1" + " + 1" * 200000 + " == 1")' >"$tmp/chain.allot"
survives "long operator chain" "$tmp/chain.allot"
python3 -c 'print("assert " + "not " * 100000 + "1 == 1")' >"$tmp/unary.allot"
survives "long unary chain" "$tmp/unary.allot"
printf 'quota q on p { gpu = 99999999999999999999999999999 }\n' >"$tmp/huge.allot"
survives "huge number" "$tmp/huge.allot"
python3 -c 'import sys; sys.stdout.write("// " + "x" * (50 * 1024 * 1024) + "\n")' >"$tmp/big.allot"
survives "50 MB file" "$tmp/big.allot"
python3 -c 'print("pool p { x = [" + "1," * 300000 + "}")' >"$tmp/list.allot"
survives "unclosed long list" "$tmp/list.allot"
python3 -c 'print("@" * 100000)' >"$tmp/chars.allot"
survives "many bad characters" "$tmp/chars.allot"
printf '\xef\xbb\xbfpool p {' >"$tmp/bom.allot"
survives "byte order mark and truncation" "$tmp/bom.allot"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
