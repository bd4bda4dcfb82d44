#!/usr/bin/env bash
# Builds the repository's Python and JavaScript plugins into
# target/polyglot/plugins/, a plugin directory for the host (and the one
# tests/tests/polyglot.rs reads through TASKBOX_POLYGLOT_DIR).
#
# Usage: scripts/build-polyglot.sh      (from any directory)
#
# Plugins: every directory with an app.py or app.js under plugins/python/,
# plugins/js/, tests/guests-polyglot/ and the SDKs' templates
# (sdk/python/template/, sdk/js/template/); each builds to <dir name>.wasm.
# A plugin is rebuilt only when the hash of what it is built from changed:
# its directory's files, the language's SDK helper and build script, the
# toolchain pins and the WIT. The hash is stored next to the component as
# <name>.source-hash, so CI can cache target/polyglot by the same inputs and
# a warm run builds nothing. The Python and JavaScript plugins build at the
# same time (two processes); the toolchains are installed on first use.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/polyglot-env.sh"

out="$polyglot/plugins"
mkdir -p "$out"

# Prints the source hash of plugin directory $1 built with the files $2...
source_hash() {
    local dir="$1"
    shift
    {
        (cd "$dir" && find . -type f ! -path '*/node_modules/*' ! -path '*/__pycache__/*' \
            ! -name '*.wasm' -print0 | sort -z | while IFS= read -r -d '' file; do sha256 "$file"; done)
        (cd "$repo" && sha256 "$@")
    } | sha256 | cut -d' ' -f1
}

plugin_dirs=("$repo"/plugins/python/*/ "$repo"/plugins/js/*/ "$repo"/tests/guests-polyglot/*/
    "$repo"/sdk/python/template/*/ "$repo"/sdk/js/template/*/)
python_inputs=(sdk/python/taskbox_sdk.py sdk/python/requirements.txt scripts/plugin-py.sh
    scripts/polyglot-env.sh wit/types.wit wit/task.wit wit/retry.wit)
js_inputs=(sdk/js/taskbox-sdk.js sdk/js/build.mjs sdk/js/package.json sdk/js/package-lock.json
    scripts/plugin-js.sh scripts/polyglot-env.sh wit/types.wit wit/task.wit wit/retry.wit)

# Builds every plugin directory of language $1 (py or js) that changed.
build_language() {
    local lang="$1" entry inputs dir name hash
    if [[ "$lang" == py ]]; then
        entry=app.py
        inputs=("${python_inputs[@]}")
    else
        entry=app.js
        inputs=("${js_inputs[@]}")
    fi
    for dir in "${plugin_dirs[@]}"; do
        [[ -f "$dir/$entry" ]] || continue
        name="$(basename "$dir")"
        hash="$(source_hash "$dir" "${inputs[@]}")"
        if [[ -f "$out/$name.wasm" && "$(cat "$out/$name.source-hash" 2>/dev/null)" == "$hash" ]]; then
            echo "up to date: $name.wasm"
            continue
        fi
        rm -f "$out/$name.source-hash"
        bash "$repo/scripts/plugin-$lang.sh" "$dir" "$out/$name.wasm"
        echo "$hash" >"$out/$name.source-hash"
    done
}

# A component whose source directory is gone would linger as a plugin.
for hash_file in "$out"/*.source-hash; do
    [[ -e "$hash_file" ]] || continue
    name="$(basename "$hash_file" .source-hash)"
    found=no
    for dir in "${plugin_dirs[@]}"; do
        [[ "$(basename "$dir")" == "$name" ]] && found=yes
    done
    if [[ $found == no ]]; then
        echo "removing $name.wasm: its source is gone"
        rm -f "$out/$name.wasm" "$hash_file"
    fi
done

started=$SECONDS
(build_language py 2>&1 | sed 's/^/[py] /') &
py=$!
(build_language js 2>&1 | sed 's/^/[js] /') &
js=$!
status=0
wait "$py" || status=1
wait "$js" || status=1
if [[ $status -ne 0 ]]; then
    echo "building the polyglot plugins failed (see above)" >&2
    exit 1
fi
echo "polyglot plugins in $out ($((SECONDS - started))s)"
