# Sourced by scripts/plugin-py.sh, scripts/plugin-js.sh and
# scripts/build-polyglot.sh: where the Python and JavaScript toolchains live
# and how they are installed on first use.
#
# The toolchains are pinned by sdk/python/requirements.txt and by
# sdk/js/package.json + package-lock.json, and installed under
# target/polyglot/ (a venv and a node_modules). Each install records the
# hash of its pin file; a changed pin file reinstalls.

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
polyglot="$repo/target/polyglot"
venv="$polyglot/venv"
node_modules="$polyglot/node_modules"

# sha256 of standard input, or of the files named, as lines `digest  name`.
sha256() {
    if command -v sha256sum >/dev/null; then sha256sum "$@"; else shasum -a 256 "$@"; fi
}

# sha256 of the files named, as one hex digest.
hash_files() {
    cat "$@" | sha256 | cut -d' ' -f1
}

# Fails with a message naming what to install when command $1 is missing.
need() {
    if ! command -v "$1" >/dev/null; then
        echo "error: $1 not found; $2" >&2
        exit 1
    fi
}

# Installs componentize-py into $venv unless the pins are unchanged.
ensure_python_toolchain() {
    local pins="$repo/sdk/python/requirements.txt" stamp="$venv/.taskbox-pins"
    local want
    want="$(hash_files "$pins")"
    if [[ -x "$venv/bin/componentize-py" && "$(cat "$stamp" 2>/dev/null)" == "$want" ]]; then
        return
    fi
    need python3 "install Python 3.10 or newer (with venv and pip)"
    echo "installing the Python toolchain into $venv (pinned by $pins)" >&2
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$pins"
    echo "$want" >"$stamp"
}

# Installs componentize-js, jco and esbuild into $node_modules unless the
# pins are unchanged.
ensure_js_toolchain() {
    local stamp="$node_modules/.taskbox-pins" want
    want="$(hash_files "$repo/sdk/js/package.json" "$repo/sdk/js/package-lock.json")"
    if [[ -d "$node_modules/@bytecodealliance/componentize-js" && "$(cat "$stamp" 2>/dev/null)" == "$want" ]]; then
        return
    fi
    need node "install Node.js 20 or newer (with npm)"
    need npm "install npm (it comes with Node.js)"
    echo "installing the JavaScript toolchain into $node_modules (pinned by sdk/js/package-lock.json)" >&2
    mkdir -p "$polyglot"
    cp "$repo/sdk/js/package.json" "$repo/sdk/js/package-lock.json" "$polyglot/"
    (cd "$polyglot" && npm ci --no-audit --no-fund --loglevel=error)
    echo "$want" >"$stamp"
}

# The world a Python app.py implements: `retry` when it decorates with
# @retry, else `task`.
python_world() {
    if grep -Eq '^[[:space:]]*@[[:space:]]*(taskbox_sdk[[:space:]]*\.[[:space:]]*)?retry\b' "$1/app.py"; then
        echo retry
    else
        echo task
    fi
}

# Reads a plugin build's arguments, `DIR [OUT.wasm]` after $1, the file DIR
# must hold (app.py or app.js): sets $dir (absolute) and $out, by default
# target/plugins/<DIR's name>.wasm.
plugin_args() {
    local entry="$1"
    shift
    if [[ $# -lt 1 || $# -gt 2 ]]; then
        echo "usage: $0 DIR [OUT.wasm]   (DIR holds $entry)" >&2
        exit 2
    fi
    dir="$(cd "$1" && pwd)"
    if [[ ! -f "$dir/$entry" ]]; then
        echo "error: $dir/$entry not found: a plugin directory holds $entry (see docs/plugins.md)" >&2
        exit 2
    fi
    out="${2:-$repo/target/plugins/$(basename "$dir").wasm}"
}
