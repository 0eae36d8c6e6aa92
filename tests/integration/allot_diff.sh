#!/usr/bin/env bash
# `allot diff` on git revisions: a policy kept as a directory in a repository,
# changed by a refactor (reordering, `allot fmt`, a split into imports: exit
# 0) and then by a rebalance (exit 1, with the relation per team); the errors
# of a revision that does not exist, a revision without paths and a path
# missing at a revision (exit 2, named); colour only when asked for or on a
# terminal; and the temporary directories are removed.
set -euo pipefail
: "${ALLOT:?path to allot}" "${ALLOT_SOURCE_DIR:?source tree}"
command -v git >/dev/null || { echo "git is not installed"; exit 77; }
work=$(mktemp -d)
export TMPDIR="$work/tmp"
mkdir -p "$TMPDIR"
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
run() { set +e; out=$("$ALLOT" "$@" 2>&1); rc=$?; set -e; }

repo="$work/repo"
mkdir -p "$repo/policy"
cd "$repo"
git init -q .
git config user.email ci@example.com
git config user.name ci
cp "$ALLOT_SOURCE_DIR/policies/pai-quota-tree.allot" policy/main.allot
git add policy && git commit -qm "the policy"

# A refactor: the file formatted, then split into an imported part.
"$ALLOT" fmt policy/main.allot
python3 - policy <<'PY'
import sys, pathlib
d = pathlib.Path(sys.argv[1])
text = (d / "main.allot").read_text()
cut = text.index("quota Quota1 on")
(d / "hardware.allot").write_text(text[:cut])
(d / "main.allot").write_text('import "hardware.allot"\n\n' + text[cut:])
PY
git add policy && git commit -qm "split the hardware into its own file"
run diff HEAD~1 HEAD -- policy/
[ "$rc" -eq 0 ] || fail "a refactor exited $rc: $out"
grep -q "no semantic change" <<<"$out" || fail "a refactor was not reported as no semantic change: $out"

# The rebalance of team B and C.
sed -i 's/gpu = 48\.\./gpu = 56../; s/gpu = 80\.\./gpu = 72../' policy/main.allot
run diff HEAD policy/main.allot
[ "$rc" -eq 1 ] || fail "the rebalance against the working tree exited $rc: $out"
git commit -qam "rebalance"
run diff HEAD~2 HEAD -- policy/
[ "$rc" -eq 1 ] || fail "the rebalance exited $rc: $out"
grep -q "summary: stricter for \`Quota1_2\`, looser for \`Quota1_1\`" <<<"$out" || fail "wrong summary: $out"
grep -q "gpu: 48..128 gpu -> 56..128 gpu" <<<"$out" || fail "team B's bounds missing: $out"
grep -q "OLD waits, NEW admitted by preemption" <<<"$out" || fail "team B's witness job missing: $out"
if grep -q $'\x1b\[' <<<"$out"; then fail "colour without a terminal"; fi
run diff --color=always HEAD~2 HEAD -- policy/
grep -q $'\x1b\[' <<<"$out" || fail "no colour with --color=always"
run diff --format=markdown HEAD~2 HEAD -- policy/
grep -q "^| \`Quota1_1\` | quota | gpu | 48..128 gpu | 56..128 gpu | looser |" <<<"$out" || fail "markdown table: $out"
run diff --format=json HEAD~2 HEAD -- policy/
python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); assert d["changed"] and d["relation"]=="incomparable"' <<<"$out" ||
  fail "json: $out"

# From a subdirectory, paths are relative to it.
(cd policy && set +e && "$ALLOT" diff HEAD~2 HEAD -- . >/dev/null 2>&1; echo $? >"$work/rc")
[ "$(cat "$work/rc")" -eq 1 ] || fail "from a subdirectory exited $(cat "$work/rc")"

# Errors name what is wrong and exit 2.
run diff no-such-rev HEAD -- policy/
[ "$rc" -eq 2 ] && grep -q "cannot read \`no-such-rev\`" <<<"$out" || fail "unknown revision: $rc $out"
run diff HEAD~1 HEAD
[ "$rc" -eq 2 ] && grep -q "name the policy's files or directories after \`--\`" <<<"$out" || fail "no paths: $rc $out"
run diff HEAD~1 HEAD -- policy/missing.allot
[ "$rc" -eq 2 ] && grep -q "cannot read \`policy/missing.allot\` at \`HEAD~1\`: no such file or directory there" <<<"$out" || fail "missing path: $rc $out"
run diff HEAD~1 HEAD -- ../outside
[ "$rc" -eq 2 ] && grep -q "outside the git repository" <<<"$out" || fail "outside: $rc $out"
cd "$work" && run diff HEAD HEAD~1 -- policy/
[ "$rc" -eq 2 ] || fail "outside a repository exited $rc: $out"

# Every temporary directory is gone.
[ -z "$(ls -A "$TMPDIR")" ] || fail "temporary files left: $(ls -A "$TMPDIR")"
echo "ok"
