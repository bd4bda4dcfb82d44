#!/usr/bin/env bash
# Set up the Python side of the TaskFlow benchmark.
#
# Creates a virtualenv at ${TASKFLOW_VENV:-target/taskflow-venv} (relative to
# the repo root) holding TaskFlow and the extras the scenarios need, and makes
# sure a redis-server binary is installed (for the conductor scenario).
# It never leaves a server running. Idempotent: a marker file in the venv
# records the installed package list, and pip is skipped when it matches.
#
# Usage: bench/taskflow/setup.sh
set -euo pipefail

cd "$(dirname "$0")/../.."

VENV="${TASKFLOW_VENV:-target/taskflow-venv}"
PACKAGES="taskflow SQLAlchemy alembic redis"
MARKER="$VENV/.taskflow-bench-installed"

log() { echo "[taskflow-setup] $*" >&2; }

apt_updated=0
apt_install() {
    if [ "$apt_updated" = 0 ]; then
        log "apt-get update"
        apt-get update -qq >&2
        apt_updated=1
    fi
    log "apt-get install -y $*"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
}

# 1. The virtualenv.
if [ ! -x "$VENV/bin/python" ]; then
    log "creating virtualenv $VENV"
    mkdir -p "$(dirname "$VENV")"
    if ! python3 -m venv "$VENV" >&2; then
        log "python3 -m venv failed; installing python3-venv and retrying"
        rm -rf "$VENV"
        apt_install python3-venv
        python3 -m venv "$VENV" >&2
    fi
else
    log "virtualenv $VENV exists"
fi

# 2. The Python packages.
if [ -f "$MARKER" ] && [ "$(cat "$MARKER")" = "$PACKAGES" ]; then
    log "packages already installed ($PACKAGES)"
else
    log "pip install $PACKAGES"
    # shellcheck disable=SC2086
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check $PACKAGES >&2
    echo "$PACKAGES" > "$MARKER"
fi
log "taskflow $("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("taskflow"))')"

# 3. A redis-server binary (not started here; scenarios.py starts its own).
if command -v redis-server >/dev/null 2>&1; then
    log "redis-server found at $(command -v redis-server)"
else
    log "redis-server missing"
    apt_install redis-server
    # Debian's package starts a system service on install; stop it so that
    # no server is left running (scenarios.py starts its own on demand).
    if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet redis-server 2>/dev/null; then
        log "stopping the redis-server service started by the package"
        systemctl stop redis-server >&2 || true
    fi
    if command -v service >/dev/null 2>&1; then
        service redis-server stop >/dev/null 2>&1 || true
    fi
    command -v redis-server >/dev/null 2>&1 || { log "redis-server still missing"; exit 1; }
fi
log "done: $VENV"
