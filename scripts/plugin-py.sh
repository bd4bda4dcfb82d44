#!/usr/bin/env bash
# Builds a Python taskbox plugin into a WebAssembly component.
#
# Usage: scripts/plugin-py.sh DIR [OUT.wasm]      (or: just plugin-py DIR)
#
# DIR holds app.py, which defines one @task or one @retry with the
# taskbox_sdk helper (sdk/python/taskbox_sdk.py), and any other modules it
# imports. OUT defaults to target/plugins/<DIR's name>.wasm, next to the Rust
# example plugins, so that `taskbox run FLOW --plugins target/plugins` finds
# both. The first run installs componentize-py (sdk/python/requirements.txt)
# into target/polyglot/venv.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/polyglot-env.sh"

plugin_args app.py "$@"
ensure_python_toolchain

world="$(python_world "$dir")"
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
# A copy, because componentize-py writes __pycache__ next to the sources.
mkdir "$stage/app" "$stage/sdk"
cp -R "$dir/." "$stage/app/"
cp "$repo/sdk/python/taskbox_sdk.py" "$stage/sdk/"
# componentize-py wants the class implementing the world in the module it
# is given; this one takes it from what app.py registered.
cat >"$stage/sdk/taskbox_entry.py" <<PY
import app  # noqa: F401 - registers the $world
import taskbox_sdk

WitWorld = taskbox_sdk._export("$world")
PY

mkdir -p "$(dirname "$out")"
# VIRTUAL_ENV unset and -p given: only the app and the SDK are on the path.
env -u VIRTUAL_ENV "$venv/bin/componentize-py" --quiet -d "$repo/wit" -w "$world" \
    componentize -p "$stage/app" -p "$stage/sdk" taskbox_entry -o "$out"
printf 'built %s %s -> %s (%d bytes)\n' "$world" "$(basename "$dir")" "$out" "$(wc -c <"$out")"
