# taskbox entry points. `just` alone lists them.
default:
    @just --list

# Build the example plugins into target/plugins.
plugins:
    bash scripts/build-plugins.sh

# Build the Python plugin in DIR (app.py) into target/plugins/<DIR name>.wasm, or OUT.
[no-cd]
plugin-py DIR *OUT:
    bash "{{justfile_directory()}}/scripts/plugin-py.sh" {{DIR}} {{OUT}}

# Build the JavaScript plugin in DIR (app.js) into target/plugins/<DIR name>.wasm, or OUT.
[no-cd]
plugin-js DIR *OUT:
    bash "{{justfile_directory()}}/scripts/plugin-js.sh" {{DIR}} {{OUT}}

# Build the repository's Python and JavaScript plugins into target/polyglot/plugins (cached by source hash).
polyglot:
    bash scripts/build-polyglot.sh

# The order saga with Python, JavaScript and Rust steps (success, then a full revert).
mixed: plugins polyglot
    cargo build -p taskbox
    mkdir -p target/mixed
    cp target/plugins/*.wasm target/polyglot/plugins/*.wasm target/mixed/
    target/debug/taskbox run examples/mixed.toml --plugins target/mixed
    ! target/debug/taskbox run examples/mixed.toml --plugins target/mixed --store country=JP

# The saga demo end to end (success, then a full revert).
demo:
    bash scripts/demo.sh

# Every test (builds the guest components from source).
test:
    bash scripts/test.sh

# Per-task cost figures, then Rust vs Python vs JavaScript load and call costs; release build.
bench: polyglot
    rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2
    cargo bench -p taskbox-tests --bench bench
    TASKBOX_POLYGLOT_DIR="$PWD/target/polyglot/plugins" cargo bench -p taskbox-tests --bench polyglot

# The same flows in TaskFlow (Python, set up in target/taskflow-venv) and taskbox, side by side: a table and a chart in target/bench-compare.
bench-compare *ARGS:
    bash scripts/bench-compare.sh {{ARGS}}

# Fuzz the decoders of untrusted input (flow specs, job payloads, logbook records), SECONDS each; a panic saves its input in target/fuzz-crashes/.
fuzz SECONDS="60" *TARGETS:
    cargo run --release -p taskbox-fuzz -- --seconds {{SECONDS}} {{TARGETS}}

# What CI runs.
ci:
    bash .ci/run
