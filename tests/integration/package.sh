#!/usr/bin/env bash
# The install rules and the Debian package, from the binaries already built:
# `cmake --install` into a scratch prefix and `cpack` into a scratch
# directory, the .deb unpacked into a scratch root (no root, no network), and
# there the installed `allot` checks and compiles the quick start, `allotd`
# answers --help and runs the example settings file, and the systemd unit
# passes `systemd-analyze verify`. Exits 77 (skipped) without cpack or dpkg-deb.
set -euo pipefail
: "${ALLOT:?ALLOT must name the allot binary}"
: "${ALLOT_BINARY_DIR:?ALLOT_BINARY_DIR must name the build directory}"
for tool in cmake cpack dpkg-deb; do
  command -v "$tool" >/dev/null || { echo "skip: needs $tool"; exit 77; }
done
work="$(mktemp -d)"
daemon=""
cleanup() {
  if [ -n "$daemon" ]; then kill -9 "$daemon" 2>/dev/null || true; wait "$daemon" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
version="$("$ALLOT" version | awk '{print $2}')"
[ -n "$version" ] || fail "no version from $ALLOT version"

# Runs the installed tree under $1 (a prefix: bin/, share/doc/allot/...).
check_tree() {
  local prefix=$1 name=$2
  local doc="$prefix/share/doc/allot"
  [ "$("$prefix/bin/allot" version)" = "allot $version" ] || fail "$name: allot version: $("$prefix/bin/allot" version)"
  "$prefix/bin/allot" check "$doc/examples/quickstart/" >"$work/check.out" 2>&1 || fail "$name: check: $(cat "$work/check.out")"
  grep -q "^ok: 1 file checked" "$work/check.out" || fail "$name: check said: $(cat "$work/check.out")"
  "$prefix/bin/allot" compile "$doc/examples/quickstart/cluster.allot" -o "$work/$name-plan.toml" >/dev/null 2>&1 ||
    fail "$name: compile failed"
  grep -q '^format_version' "$work/$name-plan.toml" || fail "$name: no plan written"
  # The client commands load no compiler: `allot` links neither Z3 nor ANTLR
  # and runs the compiler binary from libexec/allot for the commands above.
  [ -x "$prefix/libexec/allot/allot-compiler" ] || fail "$name: no libexec/allot/allot-compiler"
  if command -v ldd >/dev/null && ldd "$prefix/bin/allot" | grep -q libz3; then fail "$name: bin/allot links libz3"; fi
  "$prefix/bin/allotd" --help >"$work/help.out" 2>&1 || fail "$name: allotd --help: $(cat "$work/help.out")"
  grep -q "^usage: allotd" "$work/help.out" || fail "$name: allotd --help said: $(cat "$work/help.out")"
  for page in README.md language.md diagnostics.md runtime-api.md examples/allotd.toml; do
    [ -s "$doc/$page" ] || fail "$name: $doc/$page missing"
  done
  ls "$doc/examples/policies/"*.allot >/dev/null || fail "$name: no example policies"
  local unit="$prefix/lib/systemd/system/allotd.service"
  [ -f "$unit" ] || fail "$name: no systemd unit"
  for line in '^LimitNOFILE=[0-9]' '^StateDirectory=allot$' '^RuntimeDirectory=allot$' ' --socket-group allot( |$)'; do
    grep -Eq "$line" "$unit" || fail "$name: unit lacks $line"
  done
  # Completions exist exactly when the binary can print them.
  if "$prefix/bin/allot" completion bash >/dev/null 2>&1; then
    [ -s "$prefix/share/bash-completion/completions/allot" ] || fail "$name: no bash completion"
    [ -s "$prefix/share/zsh/vendor-completions/_allot" ] || fail "$name: no zsh completion"
  fi
}

# 1. cmake --install into a prefix: the unit names that prefix's binary.
cmake --install "$ALLOT_BINARY_DIR" --prefix "$work/prefix" >"$work/install.log" 2>&1 ||
  fail "cmake --install: $(tail -20 "$work/install.log")"
check_tree "$work/prefix" install
grep -q "^ExecStart=$work/prefix/bin/allotd --config $work/prefix/etc/allot/allotd.toml " \
  "$work/prefix/lib/systemd/system/allotd.service" || fail "install: unit ExecStart: $(grep ExecStart "$work/prefix/lib/systemd/system/allotd.service")"

# 2. The .deb, unpacked into a scratch root.
cpack --config "$ALLOT_BINARY_DIR/CPackConfig.cmake" -B "$work/pkg" >"$work/cpack.log" 2>&1 ||
  fail "cpack: $(tail -20 "$work/cpack.log")"
deb="$work/pkg/allot_${version}_$(dpkg --print-architecture 2>/dev/null || echo amd64).deb"
[ -f "$deb" ] || fail "no package $deb: $(ls "$work/pkg")"
[ "$(dpkg-deb -f "$deb" Version)" = "$version" ] || fail "package version $(dpkg-deb -f "$deb" Version), allot says $version"
depends="$(dpkg-deb -f "$deb" Depends)"
for lib in libz3 libfmt libstdc++6; do
  [[ "$depends" == *"$lib"* ]] || fail "Depends lacks $lib: $depends"
done
# Every dependency is a package of this distribution (Debian 12 where CI runs).
if command -v dpkg-query >/dev/null; then
  for dep in $(echo "$depends" | tr ',' '\n' | sed -E 's/^ *([^ (]+).*/\1/'); do
    dpkg-query -W "$dep" >/dev/null 2>&1 || fail "dependency $dep is not an installed package here"
  done
fi
dpkg-deb --ctrl-tarfile "$deb" | tar -t | grep -q '^./postinst$' || fail "no postinst (the allot group)"
mkdir "$work/root"
dpkg-deb -x "$deb" "$work/root"
check_tree "$work/root/usr" deb
unit="$work/root/usr/lib/systemd/system/allotd.service"
grep -q '^ExecStart=/usr/bin/allotd --config /etc/allot/allotd.toml ' "$unit" || fail "deb: unit ExecStart: $(grep ExecStart "$unit")"
if command -v systemd-analyze >/dev/null; then
  sed "s|/usr/bin/allotd|$work/root/usr/bin/allotd|" "$unit" >"$work/allotd.service"
  systemd-analyze verify "$work/allotd.service" >"$work/verify.out" 2>&1 || fail "systemd-analyze: $(cat "$work/verify.out")"
  [ ! -s "$work/verify.out" ] || fail "systemd-analyze: $(cat "$work/verify.out")"
fi

# 3. The example settings file runs the quick start's plan (the unit's own
# flags replaced by scratch paths).
mkdir "$work/etc"
sed -e "s|^plan = .*|plan = \"$work/deb-plan.toml\"|" -e "s|^metrics_file = .*|metrics_file = \"$work/metrics.prom\"|" \
  "$work/root/usr/share/doc/allot/examples/allotd.toml" >"$work/etc/allotd.toml"
export ALLOT_SOCKET="$work/allotd.sock"
"$work/root/usr/bin/allotd" --config "$work/etc/allotd.toml" --socket "$ALLOT_SOCKET" --state-dir "$work/state" \
  --simulate-gpus >"$work/allotd.log" 2>&1 &
daemon=$!
for _ in $(seq 100); do
  [ -S "$ALLOT_SOCKET" ] && break
  kill -0 "$daemon" 2>/dev/null || fail "allotd exited: $(cat "$work/allotd.log")"
  sleep 0.1
done
"$work/root/usr/bin/allot" status >"$work/status.out" 2>&1 || fail "status: $(cat "$work/status.out") $(cat "$work/allotd.log")"
grep -q "research" "$work/status.out" || fail "status said: $(cat "$work/status.out")"
echo "ok: $(basename "$deb") ($(du -k "$deb" | cut -f1) KiB) installs and runs"
