#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs the wasm32-wasip2 target
# if missing (the tests build their guest components from source), builds the
# Python and JavaScript plugins (scripts/build-polyglot.sh: installs their
# toolchains on first use, rebuilds only what changed) and runs the SDK
# helpers' own tests, then runs every test of the workspace, the polyglot
# ones reading the plugins from TASKBOX_POLYGLOT_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2
bash scripts/build-polyglot.sh
export TASKBOX_POLYGLOT_DIR="$PWD/target/polyglot/plugins"
bash scripts/test-sdks.sh
cargo test --workspace "$@"
