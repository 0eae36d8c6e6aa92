"""A scripted editor session with `allot lsp` (docs/editors.md).

Spawns the server, speaks LSP over its standard input and output and checks
each answer: initialize, diagnostics on open (the same codes as `allot check`
for every shipped policy), diagnostics on change, hover, go-to-definition,
completion, a malformed message, shutdown and exit; then the exit codes of an
`exit` without `shutdown` and of an oversized `Content-Length`.
"""
import json
import os
import subprocess
import sys
import time

ALLOT = sys.argv[1]
ROOT = sys.argv[2]


def fail(message):
    print(f"FAIL: {message}")
    sys.exit(1)


class Client:
    def __init__(self, *args):
        self.proc = subprocess.Popen([ALLOT, "lsp", *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.next_id = 0
        self.notifications = []

    def send_raw(self, data):
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def send(self, message):
        body = json.dumps(message).encode()
        self.send_raw(b"Content-Length: %d\r\n\r\n" % len(body) + body)

    def read(self):
        length = None
        while True:
            line = self.proc.stdout.readline()
            if not line:
                fail("the server closed its output")
            line = line.strip()
            if not line:
                break
            name, value = line.split(b":", 1)
            if name.lower() == b"content-length":
                length = int(value)
        if length is None:
            fail("a message without Content-Length")
        return json.loads(self.proc.stdout.read(length))

    def request(self, method, params):
        self.next_id += 1
        self.send({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params})
        while True:
            message = self.read()
            if message.get("id") == self.next_id:
                return message
            self.notifications.append(message)

    def notify(self, method, params):
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def diagnostics(self, uri):
        """The next diagnostics published for `uri`."""
        for i, message in enumerate(self.notifications):
            if message.get("method") == "textDocument/publishDiagnostics" and message["params"]["uri"] == uri:
                del self.notifications[i]
                return message["params"]
        while True:
            message = self.read()
            if message.get("method") == "textDocument/publishDiagnostics" and message["params"]["uri"] == uri:
                return message["params"]
            self.notifications.append(message)


def position(text, needle, skip=0):
    offset = text.index(needle) + skip
    line = text.count("\n", 0, offset)
    return {"line": line, "character": offset - (text.rfind("\n", 0, offset) + 1)}


def uri(path):
    return "file://" + os.path.abspath(path)


def at(path, pos):
    return {"textDocument": {"uri": uri(path)}, "position": pos}


client = Client("--timeout-ms", "10000")
init = client.request("initialize", {"processId": None, "rootUri": uri(ROOT), "capabilities": {}})
caps = init["result"]["capabilities"]
if caps["textDocumentSync"]["change"] != 1 or not caps["hoverProvider"] or not caps["definitionProvider"]:
    fail(f"capabilities: {caps}")
client.notify("initialized", {})

# Diagnostics on open: the codes `allot check` reports, for every shipped policy.
policies = sorted(os.path.join(ROOT, "policies", p) for p in os.listdir(os.path.join(ROOT, "policies"))
                  if p.endswith(".allot"))
for path in policies:
    text = open(path, encoding="utf-8").read()
    client.notify("textDocument/didOpen",
                  {"textDocument": {"uri": uri(path), "languageId": "allot", "version": 1, "text": text}})
    published = client.diagnostics(uri(path))
    check = subprocess.run([ALLOT, "check", "--format", "json", path], capture_output=True, text=True)
    expected = sorted(d["code"] for d in json.loads(check.stdout)["diagnostics"])
    got = sorted(d["code"] for d in published["diagnostics"])
    if got != expected:
        fail(f"{path}: the server reports {got}, `allot check` {expected}")
    client.notify("textDocument/didClose", {"textDocument": {"uri": uri(path)}})
    if client.diagnostics(uri(path))["diagnostics"]:
        fail(f"{path}: closing did not clear its diagnostics")

pai = os.path.join(ROOT, "policies", "pai-quota-tree.allot")
text = open(pai, encoding="utf-8").read()
client.notify("textDocument/didOpen", {"textDocument": {"uri": uri(pai), "languageId": "allot", "version": 1,
                                                        "text": text}})
opened = client.diagnostics(uri(pai))["diagnostics"]
if any(d["severity"] == 1 for d in opened):
    fail("the PAI policy has errors in the editor")
opened_codes = sorted(d["code"] for d in opened)

# A change that breaks it: the unknown pool is reported where it is written.
broken = text.replace("quota Quota1 on pai-pool", "quota Quota1 on pai-pol")
started = time.monotonic()
client.notify("textDocument/didChange", {"textDocument": {"uri": uri(pai), "version": 2},
                                         "contentChanges": [{"text": broken}]})
published = client.diagnostics(uri(pai))
elapsed = time.monotonic() - started
errors = [d for d in published["diagnostics"] if d["code"] == "E0114"]
if published["version"] != 2 or len(errors) != 1 or errors[0]["range"]["start"] != position(broken, "pai-pol {"):
    fail(f"diagnostics after the change: {published}")
started = time.monotonic()
client.notify("textDocument/didChange", {"textDocument": {"uri": uri(pai), "version": 3},
                                         "contentChanges": [{"text": text}]})
# Back to what was opened: the errors and warnings are gone, and notes
# (N0201: severity 3, information) are what they were on open.
restored = client.diagnostics(uri(pai))["diagnostics"]
if any(d["severity"] <= 2 for d in restored) or sorted(d["code"] for d in restored) != opened_codes:
    fail(f"the restored text has other diagnostics than on open: {restored}")
verified = time.monotonic() - started

# Hover over a scope: its effective guarantee and limit.
hover = client.request("textDocument/hover", at(pai, position(text, "Quota1_1 {", 2)))["result"]
value = hover["contents"]["value"]
if "`Quota1_1`" not in value or "| gpu | 48 | 128 (from `Quota1`) |" not in value:
    fail(f"hover on Quota1_1: {value}")

# Go to definition: `inference` in `priority = inference` is the priority class.
definition = client.request("textDocument/definition", at(pai, position(text, "priority = inference", 12)))["result"]
if len(definition) != 1 or definition[0]["range"]["start"] != position(text, "inference {"):
    fail(f"definition of `inference`: {definition}")

# Completion: the properties of a queue, and the roles after `roles = [`.
queue = position(text, "priority = inference")
items = client.request("textDocument/completion", at(pai, queue))["result"]
labels = {i["label"] for i in items}
if not {"priority", "preemptible", "accepts", "gpu"} <= labels or "child_preemption" in labels:
    fail(f"completion in a queue: {sorted(labels)}")
roles = position(text, "roles = [team-a]", 9)
labels = {i["label"] for i in client.request("textDocument/completion", at(pai, roles))["result"]}
if not {"team-a", "team-b", "team-c"} <= labels or "inference" in labels:
    fail(f"completion of roles: {sorted(labels)}")

# A malformed body gets a JSON-RPC parse error; the server goes on.
client.send_raw(b"Content-Length: 5\r\n\r\n{bad}")
reply = client.read()
if reply.get("error", {}).get("code") != -32700 or reply.get("id") is not None:
    fail(f"reply to bad JSON: {reply}")
if client.request("textDocument/hover", at(pai, position(text, "Quota1 on")))["result"] is None:
    fail("no hover after the malformed message")

if client.request("shutdown", None).get("result", "missing") is not None:
    fail("shutdown")
client.notify("exit", None)
if client.proc.wait(timeout=10) != 0:
    fail(f"exit after shutdown: status {client.proc.returncode}")

# `exit` without `shutdown` exits 1; so does an absurd Content-Length, after an error reply.
abrupt = Client()
abrupt.notify("exit", None)
if abrupt.proc.wait(timeout=10) != 1:
    fail(f"exit without shutdown: status {abrupt.proc.returncode}")
huge = Client()
huge.send_raw(b"Content-Length: 99999999999999\r\n\r\n")
reply = huge.read()
if "more than the limit" not in reply.get("error", {}).get("message", "") or huge.proc.wait(timeout=10) != 1:
    fail(f"oversized message: {reply}, status {huge.proc.returncode}")

print(f"lsp: {len(policies)} policies agree with `allot check`; diagnostics {elapsed * 1000:.0f} ms after a change "
      f"that breaks the policy, {verified * 1000:.0f} ms after one that restores it (verified)")
