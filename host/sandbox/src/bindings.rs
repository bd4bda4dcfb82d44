//! Generated bindings of the `task` and `retry` worlds; private to this crate.

wasmtime::component::bindgen!({
    world: "task",
    path: "../../wit",
    exports: { default: async },
});

/// The `retry` world, sharing the `types` and `host` interfaces above.
pub(crate) mod retry {
    wasmtime::component::bindgen!({
        world: "retry",
        path: "../../wit",
        exports: { default: async },
        with: {
            "taskbox:plugin/types": super::taskbox::plugin::types,
            "taskbox:plugin/host": super::taskbox::plugin::host,
        },
    });
}
