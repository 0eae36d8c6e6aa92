#!/usr/bin/env bash
# Developer entry point. Installs what is missing (Debian 12), configures,
# builds, and then:
#   scripts/dev.sh quickstart   check the shipped example policy and compile its plan
#   scripts/dev.sh test         run the whole test suite, then again under
#                               AddressSanitizer and UndefinedBehaviorSanitizer
#   scripts/dev.sh test --fast  run the test suite once, without sanitizers
#   scripts/dev.sh build        only build (into build/)
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(g++ cmake ninja-build pkg-config antlr4 libantlr4-runtime-dev libtomlplusplus-dev libfmt-dev
          libz3-dev catch2 default-jre-headless python3 clang-format libjemalloc-dev
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

build() {  # build DIR [cmake args...]
  local dir=$1
  shift
  cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
  cmake --build "$dir" -j "$jobs"
}

run_tests() {  # run_tests DIR
  ctest --test-dir "$1" --output-on-failure -j "$jobs"
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
    run_tests build
    if [ "${2:-}" != "--fast" ]; then
      echo "== again under AddressSanitizer and UndefinedBehaviorSanitizer"
      build build-sanitize -DALLOT_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
      ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 run_tests build-sanitize
    fi
    ;;
  *)
    echo "usage: scripts/dev.sh [quickstart|test [--fast]|build]" >&2
    exit 2
    ;;
esac
