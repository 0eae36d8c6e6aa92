# Who may apply (docs/runtime-api.md, "apply"): a user with `admin` on a
# scope applies changes within that scope's subtree through `allot apply`,
# and is refused, with the scope named, for anything else. Runs as root
# with setpriv to act as `nobody`; skipped otherwise.
if [ "$(id -u)" != 0 ] || ! command -v setpriv >/dev/null || ! id nobody >/dev/null 2>&1; then
  echo "skip: needs root, setpriv and a nobody user"
  exit 77
fi
source "$ALLOT_SOURCE_DIR/tests/integration/fixtures/allotd_common.sh"
: "${ALLOT:?ALLOT must name the allot binary}"
cp "$FIXTURES"/live/admins*.allot "$WORK/"
chmod 644 "$WORK"/*.allot
PLAN="$WORK/plan.toml"
"$ALLOT" compile "$WORK/admins.allot" -o "$PLAN" >/dev/null || fail "cannot compile admins.allot"
start_daemon
chmod 666 "$ALLOT_SOCKET"  # nobody reaches the socket; the roles decide the rest
cd "$WORK"
as_nobody() { setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups env ALLOT_SOCKET="$ALLOT_SOCKET" TMPDIR=/tmp "$ALLOT" "$@"; }

# Outside workspace-b: refused at its first step (the shrink of Quota1_2), naming the scope.
if as_nobody apply --deployed admins.allot admins-outside.allot >"$WORK/out" 2>"$WORK/err"; then
  fail "nobody applied a change outside workspace-b"
fi
grep -q "user nobody may not apply this plan: it changes \`Quota1_2\`, which is outside the scopes user nobody administers (\`workspace-b\`)" \
  "$WORK/err" || fail "refusal: $(cat "$WORK/err")"
grep -q "refused apply from nobody (uid $(id -u nobody), pid [0-9]*)" "$DAEMON_LOG" || fail "refusal not logged"

# Within workspace-b: applied.
as_nobody apply --deployed admins.allot admins-inside.allot >"$WORK/out" 2>"$WORK/err" ||
  fail "nobody could not change workspace-b: $(cat "$WORK/err")"
grep -q "update queue \`workspace-b/dlc/batch\`: grace_period" "$WORK/out" || fail "$(cat "$WORK/out")"
grep -q "^ok: applied 1 step to node \`pai-pool-0001\`" "$WORK/out" || fail "$(cat "$WORK/out")"

# Root may apply anything.
"$ALLOT" apply --deployed admins-inside.allot admins-outside.allot >"$WORK/out" 2>"$WORK/err" ||
  fail "root refused: $(cat "$WORK/err")"
echo ok
