//! Errors of loading plugins and setting up the sandbox.

use std::path::PathBuf;

/// The sandbox could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// wasmtime rejected the configuration.
    #[error("cannot configure the WebAssembly engine: {0}")]
    Engine(String),
    /// The plugin directory could not be read.
    #[error("cannot read plugin directory {path}: {source}")]
    PluginDir {
        /// The directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// A plugin could not be loaded. Every variant names the plugin.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("plugin {plugin}: cannot read {path}: {source}")]
    Io {
        /// Plugin name.
        plugin: String,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The bytes are not a WebAssembly binary at all, or are damaged.
    #[error("plugin {plugin}: corrupt WebAssembly: {message}")]
    Corrupt {
        /// Plugin name.
        plugin: String,
        /// What the validator said.
        message: String,
    },
    /// A core WebAssembly module rather than a component.
    #[error(
        "plugin {plugin}: this is a core WebAssembly module, not a component; build it for wasm32-wasip2 (or wrap it with `wasm-tools component new`)"
    )]
    NotAComponent {
        /// Plugin name.
        plugin: String,
    },
    /// The component imports something the host does not provide.
    #[error(
        "plugin {plugin}: imports `{import}`, which taskbox does not provide (only wasi:* and taskbox:plugin/host are available)"
    )]
    UnknownImport {
        /// Plugin name.
        plugin: String,
        /// The import's name.
        import: String,
    },
    /// The component implements neither the `task` nor the `retry` world.
    #[error(
        "plugin {plugin}: implements neither world taskbox:plugin/task nor taskbox:plugin/retry: {message}"
    )]
    WrongWorld {
        /// Plugin name.
        plugin: String,
        /// What does not match.
        message: String,
    },
    /// The component's imports could not be linked.
    #[error("plugin {plugin}: cannot link: {message}")]
    Link {
        /// Plugin name.
        plugin: String,
        /// wasmtime's explanation.
        message: String,
    },
    /// `describe` failed or returned nonsense.
    #[error("plugin {plugin}: describe() failed: {failure}")]
    Describe {
        /// Plugin name.
        plugin: String,
        /// The failure.
        failure: taskbox_model::Failure,
    },
}
