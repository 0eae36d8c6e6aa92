#!/usr/bin/env bash
# Developer entry point. Installs what is missing (Debian 12), configures,
# builds, and then:
#   scripts/dev.sh quickstart   check the shipped example policy and compile its plan
#   scripts/dev.sh test         run the whole test suite, then again under
#                               AddressSanitizer and UndefinedBehaviorSanitizer
#   scripts/dev.sh test --fast  run the test suite once, without sanitizers
#   scripts/dev.sh build        only build (into build/)
#   scripts/dev.sh fuzz [SECS]  build the libFuzzer harnesses (clang, ASan+UBSan,
#                               into build-fuzz/) and run each for SECS seconds
#                               (default 20); `test` does this too (fuzz/README.md)
#   scripts/dev.sh tidy [FILES] clang-tidy (.clang-tidy) on FILES, else on the C++
#                               files changed against main (or HEAD~1 on main);
#                               `test` does this too
#   scripts/dev.sh package      build the Debian package into build/ (cpack)
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(g++ cmake ninja-build pkg-config antlr4 libantlr4-runtime-dev libtomlplusplus-dev libfmt-dev
          libz3-dev catch2 default-jre-headless python3 clang-format libjemalloc-dev nlohmann-json3-dev
          libcli11-dev libexpected-dev
          clang-tidy dpkg-dev                              # scripts/dev.sh tidy; the package's dependencies
          clang libfuzzer-14-dev                           # the fuzz harnesses (fuzz/)
          python3-yaml python3-jsonschema                  # the Kueue manifest test
          slurm-wlm slurmdbd mariadb-server munge)         # the real-Slurm tests (tests/integration/slurm_*.sh)

install_missing() {
  local missing=()
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

jobs=$(nproc 2>/dev/null || echo 2)

build() {  # build DIR [cmake args...] [--target TARGET]
  local dir=$1
  shift
  local args=() target=()
  while [ $# -gt 0 ]; do
    if [ "$1" = --target ]; then target=(--target "$2"); shift 2; else args+=("$1"); shift; fi
  done
  cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "${args[@]}" >/dev/null
  cmake --build "$dir" -j "$jobs" "${target[@]}"
}

run_tests() {  # run_tests DIR [CTEST ARGS...]
  local dir=$1
  shift
  ctest --test-dir "$dir" --output-on-failure -j "$jobs" "$@"
}

# fuzz SECONDS: every harness of fuzz/ for SECONDS each, from its committed
# seed corpus; new inputs go to build-fuzz/corpus/, crashes to
# build-fuzz/artifacts/ (and fail the run).
fuzz() {
  local seconds=$1
  build build-fuzz -DALLOT_SANITIZE=ON -DALLOT_FUZZ=ON -DCMAKE_CXX_COMPILER=clang++ --target fuzzers
  mkdir -p build-fuzz/artifacts
  for harness in policy state plan api trace lsp; do
    mkdir -p "build-fuzz/corpus/$harness"
    echo "== fuzz_$harness for ${seconds} s"
    ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 "build-fuzz/fuzz/fuzz_$harness" \
      -max_total_time="$seconds" -seed="${ALLOT_FUZZ_SEED:-1}" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="build-fuzz/artifacts/$harness-" "build-fuzz/corpus/$harness" "fuzz/corpus/$harness" \
      2>"build-fuzz/fuzz_$harness.log" || { tail -60 "build-fuzz/fuzz_$harness.log"; return 1; }
    grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb" "build-fuzz/fuzz_$harness.log" | tr '\n' ' '
    echo
  done
}

# tidy_base: the commit `tidy` compares with: the merge base with main (or
# origin/main in a CI clone), or
# HEAD~1 when HEAD is main; nothing outside a git checkout.
tidy_base() {
  git rev-parse --git-dir >/dev/null 2>&1 || return 0
  local base=""
  local main
  for main in main origin/main; do
    if git rev-parse --verify -q "$main" >/dev/null; then
      base=$(git merge-base HEAD "$main" 2>/dev/null || true)
      break
    fi
  done
  if [ -z "$base" ] || [ "$base" = "$(git rev-parse HEAD)" ]; then base=$(git rev-parse -q --verify HEAD~1 || true); fi
  echo "$base"
}

# compiled FILES...: those of FILES that build/compile_commands.json compiles
# (fuzz/ is built only with ALLOT_FUZZ, headers through the files that include
# them).
compiled() {
  local f
  for f in "$@"; do
    if grep -qF "\"file\": \"$PWD/$f\"" build/compile_commands.json; then echo "$f"; fi
  done
}

# tidy [FILES...]: clang-tidy (.clang-tidy) on the whole of FILES; without
# FILES, on the lines changed (committed or not) since tidy_base, so that a
# change answers for what it touches (clang-tidy-diff).
tidy() {
  local files=()
  if [ $# -gt 0 ]; then
    mapfile -t files < <(compiled "$@")
    [ ${#files[@]} -gt 0 ] || { echo "tidy: none of the files is compiled by build/"; return 0; }
    printf '%s\n' "${files[@]}" | xargs -P "$jobs" -n 1 clang-tidy -p build --quiet
    return
  fi
  command -v clang-tidy-diff >/dev/null || { echo "tidy: clang-tidy-diff is missing (package clang-tidy)" >&2; return 1; }
  local base
  base=$(tidy_base)
  [ -n "$base" ] || { echo "tidy: not in a git checkout with history, skipped"; return 0; }
  mapfile -t files < <(compiled $(git diff --name-only --diff-filter=d "$base" -- '*.cpp'))
  [ ${#files[@]} -gt 0 ] || { echo "tidy: no changed C++ files"; return 0; }
  echo "== clang-tidy on the changed lines of ${#files[@]} file(s) since $(git rev-parse --short "$base")"
  local regex
  regex=$(printf '%s\n' "${files[@]}" | sed 's/[.+]/\\&/g' | paste -sd'|')
  # clang-tidy-diff exits 0 whatever it finds: its output decides.
  git diff -U0 "$base" -- "${files[@]}" |
    clang-tidy-diff -p1 -path build -quiet -j "$jobs" -regex "($regex)" >build/tidy.log 2>&1 || true
  if grep -qE ': (warning|error): ' build/tidy.log; then
    cat build/tidy.log
    return 1
  fi
}

command=${1:-quickstart}
install_missing
case "$command" in
  build)
    build build
    ;;
  quickstart)
    build build
    echo "+ build/allot check examples/quickstart/"
    build/allot check examples/quickstart/
    echo "+ build/allot compile examples/quickstart/cluster.allot -o build/quickstart-plan.toml"
    build/allot compile examples/quickstart/cluster.allot -o build/quickstart-plan.toml
    echo "+ build/allot plan examples/quickstart/cluster.allot"
    build/allot plan examples/quickstart/cluster.allot
    ;;
  test)
    build build -DALLOT_WERROR=ON
    if [ "${2:-}" = "--fast" ]; then
      run_tests build
      tidy
      exit 0
    fi
    run_tests build -E '^integration/slurm_'
    tidy
    # The real-Slurm tests spend minutes waiting on Slurm's scheduler passes
    # and grace periods, using little CPU: they run (one after the other,
    # in their own process group) beside the sanitizer build and tests.
    echo "== the real-Slurm tests, in the background: build/slurm-tests.log"
    setsid ctest --test-dir build --output-on-failure -R '^integration/slurm_' >build/slurm-tests.log 2>&1 &
    slurm_tests=$!
    trap 'kill -TERM -- "-$slurm_tests" 2>/dev/null || true' EXIT
    echo "== again under AddressSanitizer and UndefinedBehaviorSanitizer"
    build build-sanitize -DALLOT_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
    # The real-Slurm tests check Slurm's behaviour with the files allot
    # writes; they run with the normal build, and the emission itself runs
    # here through its golden and unit tests.
    ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 run_tests build-sanitize -E '^integration/slurm_'
    echo "== fuzzing, ${ALLOT_FUZZ_SECONDS:-20} s per harness"
    fuzz "${ALLOT_FUZZ_SECONDS:-20}"
    echo "== the real-Slurm tests"
    slurm_status=0
    wait "$slurm_tests" || slurm_status=$?
    trap - EXIT
    cat build/slurm-tests.log
    [ "$slurm_status" = 0 ] || { echo "the real-Slurm tests failed (exit status $slurm_status)" >&2; exit 1; }
    ;;
  fuzz)
    fuzz "${2:-20}"
    ;;
  tidy)
    build build
    shift
    tidy "$@"
    ;;
  package)
    build build
    (cd build && cpack)
    ;;
  *)
    echo "usage: scripts/dev.sh [quickstart|test [--fast]|build|fuzz [SECONDS]|tidy [FILES]|package]" >&2
    exit 2
    ;;
esac
