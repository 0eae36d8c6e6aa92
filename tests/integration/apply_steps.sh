# `allot apply` carries out the migration one plan per step, and a step that
# fails stops it with a report of what is in force. A stand-in for allotd on a
# Unix socket (python3) answers `state`, installs the first step and refuses
# the second; the plans it is sent are kept to be read.
set -euo pipefail
: "${ALLOT:?}" "${ALLOT_SOURCE_DIR:?}"
command -v python3 >/dev/null || { echo "python3 is needed"; exit 77; }
WORK=$(mktemp -d)
SERVER=""
cleanup() {
  if [ -n "$SERVER" ]; then kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
cp "$ALLOT_SOURCE_DIR"/tests/integration/fixtures/live/{v1,rebalanced}.allot "$WORK/"
cd "$WORK"

python3 - "$WORK/fake.sock" "$WORK" <<'PY' &
import json, os, shutil, socket, sys
path, work = sys.argv[1], sys.argv[2]
server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
server.bind(path)
server.listen(8)
applied = 0
while True:
    conn, _ = server.accept()
    line = b""
    while not line.endswith(b"\n"):
        chunk = conn.recv(65536)
        if not chunk:
            break
        line += chunk
    request = json.loads(line)
    if request["op"] == "state":
        reply = {"ok": True, "node": {"name": "pai-pool-0001", "pool": "pai-pool", "status": "ready"},
                 "plan": {"path": "/nowhere/plan.toml", "fingerprint": "crc32:00000000/0", "source_sha256": "",
                          "sources": []},
                 "scopes": []}
    else:
        applied += 1
        shutil.copy(request["plan_path"], os.path.join(work, f"applied-{applied}.toml"))
        reply = ({"ok": True, "message": "applied plan"} if applied == 1 else
                 {"ok": False, "error": {"code": "invalid_plan", "message": "invalid plan: the journal cannot be written"}})
    conn.sendall((json.dumps(reply) + "\n").encode())
    conn.close()
PY
SERVER=$!
for _ in $(seq 50); do [ -S "$WORK/fake.sock" ] && break; sleep 0.1; done

# The plan in force names no files: the deployed policy must be given.
if "$ALLOT" apply --socket "$WORK/fake.sock" rebalanced.allot >out 2>err; then fail "apply without a deployed policy"; fi
grep -q "the plan in force names no policy files (\`\[\[sources\]\]\`); name the deployed policy with \`--deployed\`" err ||
  fail "$(cat err)"

if "$ALLOT" apply --socket "$WORK/fake.sock" --deployed v1.allot rebalanced.allot >out 2>err; then
  fail "a failed step went unreported"
fi
cat > expected <<'EOF'
migration: 2 steps
  1. shrink quota `Quota1_2`: gpu 4.. -> 3..
  2. grow quota `Quota1_1`: gpu 4.. -> 5..
step 1/2: shrink quota `Quota1_2`: gpu 4.. -> 3..: done
step 2/2: grow quota `Quota1_1`: gpu 4.. -> 5..: failed
EOF
diff expected out || fail "steps"
grep -q "allot: step 2 failed: allotd refused: invalid plan: the journal cannot be written (invalid_plan)" err ||
  fail "$(cat err)"
grep -q "allot: steps 1 to 1 of 2 are in force on node \`pai-pool-0001\`" err || fail "$(cat err)"

# Step 1's plan is the state between: Quota1_2 shrunk, Quota1_1 not yet grown.
python3 - applied-1.toml applied-2.toml <<'PY'
import sys, tomllib
def guarantees(path):
    plan = tomllib.load(open(path, "rb"))
    return {s["path"]: s["bounds"].get("gpu", {}).get("guarantee") for s in plan["scopes"]}
first, second = guarantees(sys.argv[1]), guarantees(sys.argv[2])
assert (first["Quota1_1"], first["Quota1_2"]) == (4000, 3000), first
assert (second["Quota1_1"], second["Quota1_2"]) == (5000, 3000), second
assert any(n["name"] == "pai-pool-0001" for n in tomllib.load(open(sys.argv[1], "rb"))["nodes"])
PY
echo ok
