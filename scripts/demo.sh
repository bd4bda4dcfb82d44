#!/usr/bin/env bash
# The saga demo end to end on a fresh machine: installs the wasm32-wasip2
# target if missing, builds the plugins and taskbox, then runs the order
# saga twice: once succeeding, once failing at shipping and reverting; then
# a parallel graph flow and a retry that fails over across servers.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/build-plugins.sh
cargo build -p taskbox
taskbox=target/debug/taskbox
# The demo's own logbook, fresh each time (the default is under ~/.local/share).
export TASKBOX_DB=target/demo/logbook.redb
rm -f "$TASKBOX_DB"

echo
echo "== plugins"
"$taskbox" plugins target/plugins

echo
echo "== order for the Netherlands: succeeds"
"$taskbox" run examples/saga.toml --plugins target/plugins

echo
echo "== order for Japan: shipping fails, payment and stock are reverted"
if "$taskbox" run examples/saga.toml --plugins target/plugins --store country=JP; then
    echo "expected the Japan order to fail" >&2
    exit 1
fi

echo
echo "== the logbook: every flow, and the reverted order's story"
"$taskbox" logbook ls
"$taskbox" logbook show 2

echo
echo "== arithmetic on the parallel engine"
"$taskbox" run examples/arithmetic.toml --plugins target/plugins --engine parallel --workers 2
echo
echo "== fail over across servers with a for_each retry (two are down)"
"$taskbox" run examples/failover.toml --plugins target/plugins

echo
echo "demo finished: one saga succeeded, one reverted, one flow failed over"
