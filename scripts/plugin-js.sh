#!/usr/bin/env bash
# Builds a JavaScript taskbox plugin into a WebAssembly component.
#
# Usage: scripts/plugin-js.sh DIR [OUT.wasm]      (or: just plugin-js DIR)
#
# DIR holds app.js, an ES module whose default export is task({...}) or
# retry({...}) from "taskbox-sdk" (sdk/js/taskbox-sdk.js), and any modules
# it imports (packages from DIR/node_modules too). OUT defaults to
# target/plugins/<DIR's name>.wasm, next to the Rust example plugins. The
# first run installs componentize-js and esbuild (sdk/js/package-lock.json)
# into target/polyglot/node_modules. The build itself is sdk/js/build.mjs.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/polyglot-env.sh"

plugin_args app.js "$@"
ensure_js_toolchain

TASKBOX_NODE_MODULES="$node_modules" node "$repo/sdk/js/build.mjs" "$dir" "$out"
