# taskbox entry points. `just` alone lists them.
default:
    @just --list

# Build the example plugins into target/plugins.
plugins:
    bash scripts/build-plugins.sh

# The saga demo end to end (success, then a full revert).
demo:
    bash scripts/demo.sh

# Every test (builds the guest components from source).
test:
    bash scripts/test.sh

# Per-task cost figures; release build.
bench:
    rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2
    cargo bench -p taskbox-tests --bench bench

# What CI runs.
ci:
    bash .ci/run
