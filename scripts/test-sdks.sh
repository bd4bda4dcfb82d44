#!/usr/bin/env bash
# Unit tests of the Python and JavaScript SDK helpers, natively: Python's
# unittest against componentize-py's generated bindings, Node's test runner.
# Installs the toolchains on first use, like the plugin builds.
#
# Usage: scripts/test-sdks.sh      (scripts/test.sh runs it)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/polyglot-env.sh"
ensure_python_toolchain
ensure_js_toolchain

bindings="$(mktemp -d)"
trap 'rm -rf "$bindings"' EXIT
"$venv/bin/componentize-py" --quiet -d "$repo/wit" -w retry bindings "$bindings"
echo "== Python SDK (sdk/python)"
(cd "$repo/sdk/python" && PYTHONDONTWRITEBYTECODE=1 PYTHONPATH="$bindings" "$venv/bin/python" -m unittest -q test_taskbox_sdk)
echo "== JavaScript SDK (sdk/js)"
node --test --test-reporter=spec "$repo/sdk/js/"
