//! Generated bindings of the `task` world; private to this crate.

wasmtime::component::bindgen!({
    world: "task",
    path: "../../wit",
});
