#!/usr/bin/env bash
# The command lines of `allot` and `allotd`: `--opt=value` and `--opt value`
# alike, suggestions for misspelt commands and options, errors in the output
# format asked for, shell completions, and `allot metrics` against a daemon.
set -u
: "${ALLOT:?path of the allot binary}" "${ALLOT_SOURCE_DIR:?source tree}"
tmp=$(mktemp -d)
daemon_pid=""
cleanup() {
  if [ -n "$daemon_pid" ]; then kill -9 "$daemon_pid" 2>/dev/null; wait "$daemon_pid" 2>/dev/null; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
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

# both NAME CODE OPTION VALUE CMD...: the command with `OPTION=VALUE` and
# with `OPTION VALUE` (placed before CMD's own arguments) exits CODE both ways.
both() {
  local name=$1 code=$2 option=$3 value=$4
  shift 4
  local command=("$1" "$2")
  shift 2
  expect_exit "$name ($option=$value)" "$code" "${command[@]}" "$option=$value" "$@"
  expect_exit "$name ($option $value)" "$code" "${command[@]}" "$option" "$value" "$@"
}

cd "$ALLOT_SOURCE_DIR"
quick=examples/quickstart/cluster.allot

# allot check
both "check format" 0 --format json "$ALLOT" check "$quick"
expect_grep "check --format json writes JSON" '"diagnostics"' "$tmp/out"
both "check color" 0 --color always "$ALLOT" check "$quick"
both "check color" 0 --color never "$ALLOT" check "$quick"
both "check timeout" 0 --timeout-ms 5000 "$ALLOT" check "$quick"
both "check size limit" 0 --max-file-bytes 1000000 "$ALLOT" check "$quick"
both "check import root" 0 --import-root examples "$ALLOT" check "$quick"
both "check bad color" 2 --color sometimes "$ALLOT" check "$quick"
expect_grep "bad color is named" 'unknown color mode `sometimes`' "$tmp/err"
both "check bad timeout" 2 --timeout-ms 0 "$ALLOT" check "$quick"

# allot compile and plan
expect_exit "compile -o FILE" 0 "$ALLOT" compile "$quick" -o "$tmp/plan.toml"
both "compile output" 0 --output "$tmp/plan.toml" "$ALLOT" compile "$quick"
both "compile method" 0 --method exact "$ALLOT" compile "$quick" -o -
expect_grep "compile -o - writes the plan" "format_version" "$tmp/out"
both "compile method" 0 --method first-fit "$ALLOT" compile "$quick" -o -
both "compile budget" 0 --budget-ms 500 "$ALLOT" compile "$quick" -o -
both "compile target" 0 --target kueue "$ALLOT" compile "$quick" -o -
both "compile kueue version" 0 --kueue-version v1beta1 "$ALLOT" compile "$quick" --target kueue -o -
both "compile bad method" 2 --method magic "$ALLOT" compile "$quick" -o -
expect_grep "bad method is named" 'unknown placement method `magic`' "$tmp/err"
both "plan method" 0 --method heuristic "$ALLOT" plan "$quick"

# Suggestions
expect_exit "misspelt command" 2 "$ALLOT" chek "$quick"
expect_grep "misspelt command is named" 'unknown command `chek`' "$tmp/err"
expect_grep "misspelt command gets a suggestion" '^help: did you mean `check`$' "$tmp/err"
expect_exit "misspelt option" 2 "$ALLOT" check --deny-warning "$quick"
expect_grep "misspelt option is named" 'unknown option `--deny-warning`' "$tmp/err"
expect_grep "misspelt option gets a suggestion" '^help: did you mean `--deny-warnings`$' "$tmp/err"
expect_exit "misspelt option with a value" 2 "$ALLOT" compile --inventry=nodes.toml "$quick" -o -
expect_grep "option with a value gets a suggestion" 'did you mean `--inventory`' "$tmp/err"

# Errors in the output format asked for: JSON, never plain text.
for format in json sarif; do
  expect_exit "unreadable file in $format" 2 "$ALLOT" check --format "$format" "$tmp/missing.allot"
  python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$tmp/out" 2>/dev/null && passed=$((passed + 1)) ||
    { failed=$((failed + 1)); echo "FAIL unreadable file: $format output does not parse"; cat "$tmp/out"; }
  [ ! -s "$tmp/err" ] && passed=$((passed + 1)) || { failed=$((failed + 1)); echo "FAIL $format: text on stderr"; }
  expect_exit "bad option value in $format" 2 "$ALLOT" check --format="$format" --timeout-ms=soon "$quick"
  python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$tmp/out" 2>/dev/null && passed=$((passed + 1)) ||
    { failed=$((failed + 1)); echo "FAIL bad option: $format output does not parse"; cat "$tmp/out"; }
  expect_grep "bad option value in $format has its code" 'E0007' "$tmp/out"
done
expect_exit "unreadable file in json" 2 "$ALLOT" check --format json "$tmp/missing.allot"
expect_grep "unreadable file is E0008" '"code": "E0008"' "$tmp/out"

# allot simulate: a policy given with `--plan=` is compiled, as with `--plan`.
printf 'name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time\n' >"$tmp/trace.csv"
printf 'p0,1000,1000,1,1000,,BE,Running,0,100,0\np1,1000,1000,2,1000,,LS,Running,10,60,10\n' >>"$tmp/trace.csv"
both "simulate a policy" 0 --plan "$quick" "$ALLOT" simulate --trace "$tmp/trace.csv" --progress never
expect_grep "simulate names the policy" "cluster.allot" "$tmp/out"
"$ALLOT" compile "$quick" -o "$tmp/plan.toml" >/dev/null 2>&1
both "simulate a plan" 0 --trace "$tmp/trace.csv" "$ALLOT" simulate --plan "$tmp/plan.toml"
both "simulate samples" 0 --samples 10 "$ALLOT" simulate --plan "$tmp/plan.toml" --trace "$tmp/trace.csv"
both "simulate progress" 0 --progress never "$ALLOT" simulate --plan "$tmp/plan.toml" --trace "$tmp/trace.csv"
both "simulate bad samples" 2 --samples 0 "$ALLOT" simulate --plan "$tmp/plan.toml" --trace "$tmp/trace.csv"

# Client options, up to the connection (no daemon at this socket: exit 2).
both "ps socket" 2 --socket "$tmp/none.sock" "$ALLOT" ps --all
expect_grep "ps tries the socket given" "none.sock" "$tmp/err"
both "metrics socket" 2 --socket "$tmp/none.sock" "$ALLOT" metrics
expect_grep "metrics tries the socket given" "none.sock" "$tmp/err"
both "submit queue" 2 --queue a/b "$ALLOT" submit --gpus 1 --socket "$tmp/none.sock" -- true
expect_grep "submit tries the socket given" "none.sock" "$tmp/err"
both "submit bad gpus" 2 --gpus lots "$ALLOT" submit --queue a/b -- true
expect_grep "bad gpus is explained" 'needs an amount' "$tmp/err"

# Help and completions.
expect_exit "help" 0 "$ALLOT" help
expect_grep "help lists check's options" "--deny-warnings" "$tmp/out"
expect_exit "command help" 0 "$ALLOT" compile --help
expect_grep "command help lists its options" "--inventory FILE" "$tmp/out"
expect_exit "bash completion" 0 "$ALLOT" completion bash
cp "$tmp/out" "$tmp/allot.bash"
expect_grep "bash completion knows the commands" "check compile plan" "$tmp/allot.bash"
bash -n "$tmp/allot.bash" && passed=$((passed + 1)) || { failed=$((failed + 1)); echo "FAIL bash -n rejects it"; }
# The completion itself: `allot check --for<TAB>` and `allot compile --method <TAB>`.
complete_words() {
  bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); _allot; printf "%s\n" "${COMPREPLY[@]}"' \
    _ "$tmp/allot.bash" "$@"
}
complete_words allot check --for >"$tmp/words"
expect_grep "bash completes options" "^--format$" "$tmp/words"
complete_words allot compile --method "" >"$tmp/words"
expect_grep "bash completes values" "^first-fit$" "$tmp/words"
expect_exit "zsh completion" 0 "$ALLOT" completion zsh
expect_grep "zsh completion is a compdef" "^#compdef allot" "$tmp/out"
if command -v zsh >/dev/null; then
  zsh -n "$tmp/out" && passed=$((passed + 1)) || { failed=$((failed + 1)); echo "FAIL zsh -n rejects it"; }
fi
expect_exit "unknown shell" 2 "$ALLOT" completion fish

# allotd's own command line.
if [ -n "${ALLOTD:-}" ]; then
  expect_exit "allotd help" 0 "$ALLOTD" --help
  expect_grep "allotd help lists its flags" "--metrics-port PORT" "$tmp/out"
  printf 'plan = 3\n' >"$tmp/bad.toml"
  expect_exit "allotd bad config" 2 "$ALLOTD" --config="$tmp/bad.toml"
  expect_grep "allotd names the setting" 'setting `plan` has the wrong type' "$tmp/err"
  expect_exit "allotd bad config (space)" 2 "$ALLOTD" --config "$tmp/bad.toml"
  expect_exit "allotd missing config" 2 "$ALLOTD" --config "$tmp/none.toml"
  expect_grep "allotd names the file" 'none.toml' "$tmp/err"
  expect_exit "allotd bad port" 2 "$ALLOTD" --plan=p --node=n --metrics-port=0
  expect_grep "allotd explains the port" 'needs a port' "$tmp/err"
  expect_exit "allotd misspelt flag" 2 "$ALLOTD" --nod n
  expect_grep "allotd suggests" 'did you mean `--node`' "$tmp/err"

  # `allot metrics` against a running daemon.
  "$ALLOT" compile tests/integration/fixtures/allotd-pai.allot -o "$tmp/pai.toml" >/dev/null 2>&1 ||
    cp tests/integration/fixtures/allotd-pai.plan.toml "$tmp/pai.toml"
  "$ALLOTD" --plan="$tmp/pai.toml" --node pai-pool-0001 --state-dir="$tmp/state" --socket="$tmp/d.sock" \
    --simulate-gpus 2>"$tmp/allotd.log" &
  daemon_pid=$!
  for _ in $(seq 100); do "$ALLOT" status --socket "$tmp/d.sock" >/dev/null 2>&1 && break; sleep 0.1; done
  expect_exit "allot metrics" 0 "$ALLOT" metrics --socket="$tmp/d.sock"
  expect_grep "allot metrics prints metrics" "^# TYPE allot_" "$tmp/out"
  expect_exit "allot metrics (space)" 0 "$ALLOT" metrics --socket "$tmp/d.sock"
  expect_exit "allot ps --all" 0 "$ALLOT" ps --all --socket="$tmp/d.sock"
  expect_grep "ps prints its header" "STATE" "$tmp/out"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
