# The plan's roles decide who may submit, list and cancel; everyone else is
# refused and logged. Jobs run as the user who submitted them. Needs root and
# setpriv to act as `nobody`; skipped otherwise.
source "$ALLOT_SOURCE_DIR/tests/integration/fixtures/allotd_common.sh"
if [ "$(id -u)" != 0 ] || ! command -v setpriv >/dev/null || ! id nobody >/dev/null 2>&1; then
  echo "skip: needs root, setpriv and a nobody user"
  exit 77
fi
PLAN="$WORK/plan.toml"
make_plan allotd-pai.allot "$PLAN"
start_daemon
[ "$(stat -c %a "$ALLOT_SOCKET")" = 660 ] || fail "socket mode is $(stat -c %a "$ALLOT_SOCKET")"
chmod 666 "$ALLOT_SOCKET"  # this test lets nobody reach the socket; the roles must still stop it
mkdir -m 777 "$WORK/nb"
cd "$WORK/nb"
as_nobody() { setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups env ALLOT_SOCKET="$ALLOT_SOCKET" "$ALLOTD" "$@"; }

# Team A's queue: nobody is not in team-a.
if as_nobody submit --queue workspace-a/eas --gpus 1 -- true 2>"$WORK/err"; then fail "nobody submitted to workspace-a"; fi
grep -q "error\[unauthorized\]: user nobody may not submit to queue workspace-a/eas/default-queue" "$WORK/err" || fail "$(cat "$WORK/err")"
grep -q "refused submit from nobody" "$DAEMON_LOG" || fail "refusal not logged"

# Team B's queue: nobody is in team-b; the job runs as nobody.
as_nobody submit --queue workspace-b/dlc --gpus 1 -- sh -c 'id -un > who' >/dev/null || fail "nobody may submit to workspace-b"
wait_for 10 job_state_is 1 succeeded || fail "job 1: $(job_field 1 2)"
[ "$(cat who)" = nobody ] || fail "job ran as $(cat who)"
[ "$(stat -c %U "$STATE/logs/job-1.log")" = nobody ] || fail "log not owned by nobody"

# root's inference job is invisible to nobody and cannot be cancelled by it.
"$ALLOTD" submit --queue workspace-a/eas --gpus 1 -- sh -c 'while :; do sleep 0.1; done' >/dev/null
wait_for 10 job_state_is 2 running || fail "job 2 not running"
as_nobody ps --all | awk 'NR > 1 { print $1 }' | grep -qx 2 && fail "nobody sees job 2"
if as_nobody cancel 2 2>/dev/null; then fail "nobody cancelled job 2"; fi
job_state_is 2 running || fail "job 2 stopped"
if as_nobody apply "$PLAN" 2>"$WORK/err"; then fail "nobody applied a plan"; fi
grep -q unauthorized "$WORK/err" || fail "$(cat "$WORK/err")"
echo ok
