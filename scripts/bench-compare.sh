#!/usr/bin/env bash
# `just bench-compare`: the same flows in TaskFlow (Python) and taskbox,
# alternating, with medians, the floors, a table (printed, CSV, JSON) and an
# SVG chart of the linear chains in target/bench-compare (or --out DIR).
#
# Sets up TaskFlow's virtualenv and redis-server first (bench/taskflow/setup.sh,
# idempotent), then runs the release-built comparison. Arguments go to it:
#   --reps N, --out DIR, --quick, --taskflow-long-chains (see --help).
set -euo pipefail
cd "$(dirname "$0")/.."
rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2
bash bench/taskflow/setup.sh
cargo bench -p taskbox-tests --bench compare -- "$@"
