#!/usr/bin/env bash
# Builds the example taskbox plugins as WebAssembly components and copies them
# to target/plugins/, ready to be used as the host's plugin directory.
#
# Usage: scripts/build-plugins.sh      (from any directory)
#
# Builds the whole plugins/ workspace (which also holds the test guests in
# tests/guests/) into target/wasm/, the directory tests/build.rs uses too, and
# copies only the example plugins. Cargo runs from plugins/ because that is
# the only way plugins/.cargo/config.toml, which sets the 64 KiB stack link
# flag, applies: cargo reads configuration from its current directory, not
# from --manifest-path.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target=wasm32-wasip2
plugins=(add multiply divide reserve_stock charge_payment ship_order transient_retry connect flaky_fetch)

if ! command -v rustup >/dev/null; then
    echo "rustup not found; assuming the toolchain has the $target target" >&2
elif ! rustup target list --installed | grep -qx "$target"; then
    echo "installing the $target target"
    rustup target add "$target"
fi

cd "$repo/plugins"
cargo build --workspace --release --target "$target" --target-dir "$repo/target/wasm"

built="$repo/target/wasm/$target/release"
out="$repo/target/plugins"
mkdir -p "$out"
for plugin in "${plugins[@]}"; do
    cp "$built/$plugin.wasm" "$out/"
    printf '%-22s %8d bytes  -> %s\n' "$plugin.wasm" "$(wc -c < "$out/$plugin.wasm")" "$out/$plugin.wasm"
done
echo "copied ${#plugins[@]} plugins to $out"
