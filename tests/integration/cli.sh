#!/usr/bin/env bash
# The `allot` binary as a user runs it: exit codes, output formats, inputs.
set -u
: "${ALLOT:?path of the allot binary}" "${ALLOT_SOURCE_DIR:?source tree}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0

expect_exit() {  # expect_exit NAME CODE CMD...
  local name=$1 want=$2
  shift 2
  "$@" >"$tmp/out" 2>"$tmp/err"
  local got=$?
  if [ "$got" -eq "$want" ]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL $name: exit $got, want $want"
    cat "$tmp/out" "$tmp/err" | head -20
  fi
}

expect_grep() {  # expect_grep NAME PATTERN FILE
  if grep -q -- "$2" "$3"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL $1: no '$2' in $(basename "$3")"
    head -20 "$3"
  fi
}

cd "$ALLOT_SOURCE_DIR"
expect_exit "quickstart checks clean" 0 "$ALLOT" check examples/quickstart/
expect_grep "clean run says ok" "^ok: " "$tmp/out"
# Each file of policies/ is an independent policy: check them one by one.
for policy in policies/*.allot; do
  expect_exit "$policy checks clean" 0 "$ALLOT" check --deny-warnings "$policy"
done
expect_exit "no arguments is a usage error" 2 "$ALLOT"
expect_exit "check without files is a usage error" 2 "$ALLOT" check
expect_exit "unknown option is a usage error" 2 "$ALLOT" check --bogus examples/quickstart/
expect_exit "missing file is an I/O error" 2 "$ALLOT" check "$tmp/nope.allot"
expect_grep "missing file is named" "nope.allot" "$tmp/err"
expect_exit "directory without policies is a usage error" 2 "$ALLOT" check "$tmp"

printf 'pool p {\n  type = dedicated\n' >"$tmp/broken.allot"
expect_exit "syntax error exits 1" 1 "$ALLOT" check "$tmp/broken.allot"
expect_grep "syntax error has a location" "broken.allot:3:1: error\[E0004\]" "$tmp/err"
expect_exit "json output" 1 "$ALLOT" check --format=json "$tmp/broken.allot"
expect_grep "json has the code" '"code": "E0004"' "$tmp/out"
expect_grep "json has the line" '"line": 3' "$tmp/out"
python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$tmp/out" 2>/dev/null && passed=$((passed + 1)) ||
  { failed=$((failed + 1)); echo "FAIL json output does not parse"; }

printf 'import "b.allot"\n' >"$tmp/a.allot"
printf 'import "a.allot"\n' >"$tmp/b.allot"
expect_exit "cyclic import exits 1" 1 "$ALLOT" check "$tmp/a.allot"
expect_grep "cyclic import is reported" "E0010" "$tmp/err"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
