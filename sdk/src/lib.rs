//! Write taskbox tasks in Rust and build them as WebAssembly components.
//!
//! A task is one unit of work and the way to undo it. Each task is its own
//! component implementing the `taskbox:plugin/task` world: the host asks it to
//! `describe` itself, to `execute` with a JSON object of arguments and, when
//! the flow it ran in fails later, to `revert`. The only powers the host grants
//! are [logging](log) and [progress reports](progress); there is no file
//! system, network, clock, randomness or environment.
//!
//! # Writing a task
//!
//! Put [`#[task]`](task) on the function that executes the task. Its
//! parameters are the task's arguments, decoded by name from the JSON the host
//! passes; its return value, serialized as JSON, is the task's result.
//!
//! ```no_run
//! use taskbox_sdk::prelude::*;
//!
//! /// Divides two integers.
//! #[task(provides = "quotient")]
//! fn divide(numerator: i64, denominator: i64) -> Result<i64, Failure> {
//!     if denominator == 0 {
//!         return Err(Failure::new("math.division-by-zero", "cannot divide by zero"));
//!     }
//!     info(&format!("dividing {numerator} by {denominator}"));
//!     Ok(numerator / denominator)
//! }
//! # fn main() {}
//! ```
//!
//! A task that can be undone is an inline module holding `fn execute` and
//! `fn revert`. Besides arguments, `revert` may take `result`, the execute
//! result (`None` when execute failed or never returned), and
//! `flow_failures`, the failures that made the flow revert:
//!
//! ```no_run
//! use taskbox_sdk::prelude::*;
//!
//! #[derive(Serialize, Deserialize)]
//! pub struct Reservation {
//!     pub id: String,
//!     pub quantity: u32,
//! }
//!
//! /// Reserves stock for an order.
//! #[task(provides = "reservation")]
//! mod reserve_stock {
//!     use super::*;
//!
//!     pub fn execute(sku: String, quantity: u32) -> Result<Reservation, Failure> {
//!         Ok(Reservation { id: format!("rsv-{sku}"), quantity })
//!     }
//!
//!     pub fn revert(
//!         sku: String,
//!         result: Option<Reservation>,
//!         flow_failures: Vec<AtomFailure>,
//!     ) -> Result<(), Failure> {
//!         if let Some(reservation) = result {
//!             info(&format!("released {} for {sku} after {} failure(s)",
//!                 reservation.id, flow_failures.len()));
//!         }
//!         Ok(())
//!     }
//! }
//! # fn main() {}
//! ```
//!
//! # What the macro derives
//!
//! - **name**: the function's or module's name with `_` replaced by `-`
//!   (`reserve_stock` → `reserve-stock`), or `name = "..."`.
//! - **version**: the task crate's `CARGO_PKG_VERSION`, or `version = "..."`.
//! - **description**: the item's doc comment, or empty.
//! - **requires** / **optional**: execute's parameters whose type is not /
//!   is written `Option<..>`. A missing optional argument (or `null`) is
//!   `None`; a missing required one fails the call with kind
//!   `invalid-arguments`, as does an argument that does not decode.
//! - **provides**: `provides = "name"` stores the whole result under `name`;
//!   `provides = ["a", "b"]` stores the elements of a result array (a tuple
//!   or `Vec`) under `a` and `b`; no `provides` stores nothing.
//!
//! Execute returns a `T: Serialize` or `Result<T, E>` with `E: Into<Failure>`;
//! `()` becomes the JSON `null`. Revert returns `()` or `Result<(), E>`; a task
//! without `revert` reverts successfully doing nothing. A result that does not
//! serialize fails with kind `invalid-result`. A panic traps the component, and
//! the host reports kind `trap`.
//!
//! A component holds exactly one task, so a crate has one `#[task]`.
//!
//! # Building
//!
//! A task crate is a `cdylib` depending on `taskbox-sdk` (and `serde` for its
//! own types):
//!
//! ```toml
//! [lib]
//! crate-type = ["cdylib"]
//!
//! [dependencies]
//! taskbox-sdk = { path = "../sdk" }
//! serde = { version = "1", features = ["derive"] }
//! ```
//!
//! Build it for the `wasm32-wasip2` target, which produces a component
//! directly (install the target once with `rustup target add wasm32-wasip2`):
//!
//! ```sh
//! cargo build --target wasm32-wasip2 --release
//! # target/wasm32-wasip2/release/<crate_name>.wasm
//! ```
//!
//! The stack of a component lives in its linear memory, which the host
//! limits. Link with a 64 KiB stack instead of the default 1 MiB so that it
//! does not eat into the task's memory budget. Put this in
//! `.cargo/config.toml` in the directory you run `cargo` from (cargo reads
//! configuration from the current directory and its parents, not from the
//! manifest's directory), or pass the same flags in
//! `CARGO_TARGET_WASM32_WASIP2_RUSTFLAGS`:
//!
//! ```toml
//! [target.wasm32-wasip2]
//! rustflags = ["-C", "link-arg=-zstack-size=65536"]
//! ```
//!
//! A release profile with `opt-level = "s"`, `lto = true`,
//! `codegen-units = 1`, `panic = "abort"` and `strip = true` keeps components
//! small.
//!
//! # Outside a component
//!
//! The crate also compiles for native targets, so task functions can be unit
//! tested with a plain `cargo test`: there, logging writes to standard error
//! and progress reports are dropped.

extern crate self as taskbox_sdk;

mod failure;
mod host;

#[doc(hidden)]
pub mod __private;

pub use failure::{AtomFailure, Failure};
pub use host::{Level, debug, error, info, log, progress, trace, warn};

/// Turns a function or an inline module into the task a component exports.
///
/// On a function, the function is the task's `execute`:
///
/// ```no_run
/// use taskbox_sdk::prelude::*;
///
/// /// Adds two numbers.
/// #[task(provides = "sum")]
/// fn add(x: i64, y: i64) -> i64 {
///     x + y
/// }
/// # fn main() {}
/// ```
///
/// On an inline module, the module's `fn execute` is the task's execute and
/// its optional `fn revert` the task's revert (see the [crate] docs).
///
/// Options, all optional: `name = "..."`, `version = "..."` and
/// `provides = "name"` or `provides = ["first", "second"]`.
///
/// Mistakes are compile errors:
///
/// ```compile_fail
/// use taskbox_sdk::prelude::*;
///
/// #[task(provides = 3)]
/// fn add(x: i64, y: i64) -> i64 {
///     x + y
/// }
/// # fn main() {}
/// ```
///
/// ```compile_fail
/// use taskbox_sdk::prelude::*;
///
/// #[task]
/// mod nothing_to_run {
///     pub fn revert() {}
/// }
/// # fn main() {}
/// ```
pub use taskbox_sdk_macros::task;

/// What a task crate usually needs: `use taskbox_sdk::prelude::*;`.
pub mod prelude {
    pub use crate::{
        AtomFailure, Failure, Level, debug, error, info, log, progress, task, trace, warn,
    };
    pub use serde::{Deserialize, Serialize};
}
