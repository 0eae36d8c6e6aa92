#!/usr/bin/env bash
# `allot lsp` in a scripted editor session (lsp_session.py): diagnostics as
# `allot check` gives them, on open and change; hover, definition and
# completion; malformed input; shutdown and exit. Then the editor files:
# the VS Code manifest and the TextMate grammar parse as JSON.
set -euo pipefail
: "${ALLOT:?path to allot}" "${ALLOT_SOURCE_DIR:?source tree}"
command -v python3 >/dev/null || { echo "python3 is needed"; exit 77; }
python3 "$ALLOT_SOURCE_DIR/tests/integration/lsp_session.py" "$ALLOT" "$ALLOT_SOURCE_DIR"
"$ALLOT" completion bash | grep -qw lsp || { echo "FAIL: \`lsp\` is not in the bash completion"; exit 1; }
"$ALLOT" help lsp | grep -q -- '--timeout-ms' || { echo "FAIL: \`allot help lsp\`"; exit 1; }
# The grammar's patterns compile (Python's `re` reads the subset they use of Oniguruma's syntax).
python3 - "$ALLOT_SOURCE_DIR/editors/vscode/syntaxes/allot.tmLanguage.json" <<'PY'
import json, re, sys
def walk(o):
    if isinstance(o, dict):
        for k, v in o.items():
            if k in ("match", "begin", "end"):
                re.compile(v)
            walk(v)
    elif isinstance(o, list):
        for v in o:
            walk(v)
walk(json.load(open(sys.argv[1])))
PY
