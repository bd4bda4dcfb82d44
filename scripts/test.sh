#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs the wasm32-wasip2 target
# if missing (the tests build their guest components from source), then runs
# every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2
cargo test --workspace "$@"
