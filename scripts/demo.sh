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
echo "== the daemon: jobs posted from another process, SIGKILL mid-run, restart"
jobs_db=target/demo/jobs.redb
serve_log=target/demo/serve.log
rm -f "$jobs_db"
start_daemon() {
    "$taskbox" serve --plugins target/plugins --db "$jobs_db" --listen 127.0.0.1:0 --slots 2 "$@" 2>>"$serve_log" &
    daemon=$!
    for _ in $(seq 600); do
        if url=$(grep -o 'listening on http://[0-9.:]*' "$serve_log" | tail -1 | cut -d' ' -f3) && [ -n "$url" ]; then
            export TASKBOX_SERVER=$url
            return
        fi
        sleep 0.1
    done
    echo "the daemon did not start; see $serve_log" >&2
    exit 1
}
: >"$serve_log"
start_daemon
echo "daemon at $TASKBOX_SERVER (pid $daemon)"
"$taskbox" post examples/saga.toml --wait
for i in $(seq 2 20); do
    country=NL
    [ $((i % 5)) -eq 0 ] && country=JP
    "$taskbox" post examples/saga.toml --store "country=$country" --name "order-$i" >/dev/null
done
kill -9 "$daemon"
wait "$daemon" 2>/dev/null || true
echo "killed the daemon with 19 jobs posted; restarting it on the same database"
: >"$serve_log"
start_daemon
until "$taskbox" jobs ls --state unclaimed | grep -q '^no jobs' &&
    "$taskbox" jobs ls --state claimed | grep -q '^no jobs'; do
    sleep 0.2
done
"$taskbox" jobs ls
"$taskbox" jobs show 5
kill -TERM "$daemon"
wait "$daemon"

echo
echo "== two tenants on one daemon: tokens, isolation, plugin namespaces, usage"
token_line() { "$taskbox" tenants token | sed -n "$1p"; }
acme=$(token_line 1); acme_hash=$(printf '%s' "$acme" | "$taskbox" tenants hash)
globex=$(token_line 1); globex_hash=$(printf '%s' "$globex" | "$taskbox" tenants hash)
cat >target/demo/tenants.toml <<TOML
public_plugins = ["reserve_stock", "charge_payment", "ship_order"]

[tenants.acme]
token_sha256 = "$acme_hash"
limits = { memory = "32MiB", timeout = "2s", job_cpu = "10s", concurrent_atoms = 2, queued_jobs = 50 }

[tenants.globex]
token_sha256 = "$globex_hash"
limits = { concurrent_atoms = 2 }
TOML
jobs_db=target/demo/tenants.redb
rm -f "$jobs_db"
: >"$serve_log"
start_daemon --tenants target/demo/tenants.toml
echo "without a token:"
"$taskbox" jobs ls 2>&1 | sed 's/^/  /' || true
TASKBOX_TOKEN=$acme "$taskbox" post examples/saga.toml --name acme-order --wait
TASKBOX_TOKEN=$globex "$taskbox" post examples/saga.toml --store country=JP --name globex-order --wait || true
echo "globex asks for acme's job 1:"
TASKBOX_TOKEN=$globex "$taskbox" jobs show 1 2>&1 | sed 's/^/  /' || true
echo "acme tries a plugin that is neither its own nor public (add):"
TASKBOX_TOKEN=$acme "$taskbox" post examples/arithmetic.toml 2>&1 | sed 's/^/  /' || true
TASKBOX_TOKEN=$acme "$taskbox" jobs ls
TASKBOX_TOKEN=$acme "$taskbox" usage
kill -TERM "$daemon"
wait "$daemon"

echo
echo "demo finished: one saga succeeded, one reverted, one flow failed over; 20 jobs through a killed and restarted daemon; two tenants kept apart"
