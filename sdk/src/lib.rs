//! Write taskbox tasks and retry controllers in Rust and build them as
//! WebAssembly components.
//!
//! A task is one unit of work and the way to undo it. Each task is its own
//! component implementing the `taskbox:plugin/task` world: the host asks it to
//! `describe` itself, to `execute` with a JSON object of arguments and, when
//! the flow it ran in fails later, to `revert`. A retry controller is a
//! component implementing the `taskbox:plugin/retry` world, which decides
//! what happens when an atom of the flow it is attached to fails (see
//! [below](#writing-a-retry-controller)). The only powers the host grants
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
//! # Writing a retry controller
//!
//! A retry controller is attached to a flow, its scope. Its `execute` runs
//! before each attempt of the scope and its result is provided to the scope's
//! atoms (say, the server to try next); when one of them fails, `on_failure`
//! decides whether to [retry](Decision::Retry) the scope, to
//! [revert](Decision::Revert) it or to [revert everything](Decision::RevertAll);
//! `revert` undoes the controller's own effects when its scope is reverted.
//!
//! Put [`#[retry]`](retry) on an inline module holding `fn execute`,
//! `fn on_failure` and optionally `fn revert`. Their parameters are decoded
//! from the controller's arguments as for a task, except `history`: the
//! [`History`] of attempts so far, each with what execute provided and the
//! failures of the scope's atoms. Because they are plain functions, they can
//! be unit tested natively:
//!
//! ```
//! use taskbox_sdk::prelude::*;
//!
//! /// Tries each server in turn.
//! #[retry(provides = "server")]
//! mod next_server {
//!     use super::*;
//!
//!     pub fn execute(history: &History, servers: Vec<String>) -> Result<String, Failure> {
//!         let attempt = history.attempts.len();
//!         servers.get(attempt).cloned().ok_or_else(|| {
//!             let message = format!("no server left for attempt {}", attempt + 1);
//!             Failure::new("retry.exhausted", message)
//!         })
//!     }
//!
//!     pub fn on_failure(history: &History, servers: Vec<String>) -> Decision {
//!         if history.attempts.len() < servers.len() {
//!             Decision::Retry
//!         } else {
//!             Decision::RevertAll
//!         }
//!     }
//!
//!     pub fn revert(history: &History) {
//!         info(&format!("gave up after {} attempt(s)", history.attempts.len()));
//!     }
//! }
//!
//! fn main() {
//!     let servers = vec!["10.0.0.1".to_owned(), "10.0.0.2".to_owned()];
//!     let mut history = History::default();
//!     assert_eq!(next_server::execute(&history, servers.clone()).as_deref(), Ok("10.0.0.1"));
//!     history.attempts.push(Attempt {
//!         value: "10.0.0.1".into(),
//!         failures: vec![AtomFailure {
//!             atom: "connect".to_owned(),
//!             failure: Failure::new("net.unreachable", "10.0.0.1 is down"),
//!         }],
//!     });
//!     assert_eq!(next_server::on_failure(&history, servers.clone()), Decision::Retry);
//!     assert_eq!(next_server::execute(&history, servers).as_deref(), Ok("10.0.0.2"));
//! }
//! ```
//!
//! # What the macros derive
//!
//! - **name**: the function's or module's name with `_` replaced by `-`
//!   (`reserve_stock` → `reserve-stock`), or `name = "..."`.
//! - **version**: the crate's `CARGO_PKG_VERSION`, or `version = "..."`.
//! - **description**: the item's doc comment, or empty.
//! - **requires** / **optional**: execute's parameters (but a retry's
//!   `history`) whose type is not / is written `Option<..>`. A missing
//!   optional argument (or `null`) is `None`; a missing required one fails
//!   the call with kind `invalid-arguments`, as does an argument that does
//!   not decode. The parameters of revert and on_failure must be parameters
//!   of execute, or one of their own special parameters.
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
//! A retry controller's execute and revert return the same, and its
//! `provides` names where execute's result goes. Its `on_failure` returns a
//! [`Decision`]; since `on-failure` cannot fail, arguments that do not decode
//! make it log an error and decide [`Decision::RevertAll`]. Every retry
//! function may take `history`, as `&History` or by value.
//!
//! A component holds exactly one task or one retry controller, so a crate has
//! one `#[task]` or one `#[retry]`, never both.
//!
//! # Building
//!
//! A task or retry crate is a `cdylib` depending on `taskbox-sdk` (and
//! `serde` for its own types):
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
//! The crate also compiles for native targets, so task and retry functions
//! can be unit tested with a plain `cargo test`: there, logging writes to standard error
//! and progress reports are dropped.

extern crate self as taskbox_sdk;

mod failure;
mod history;
mod host;

#[doc(hidden)]
pub mod __private;

pub use failure::{AtomFailure, Failure};
pub use history::{Attempt, Decision, History};
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

/// Turns an inline module into the retry controller a component exports.
///
/// The module holds `fn execute`, `fn on_failure` and optionally
/// `fn revert`; each may take `history` (a `&History`, or a `History` by
/// value) besides arguments, and `on_failure` returns a [`Decision`]:
///
/// ```no_run
/// use taskbox_sdk::prelude::*;
///
/// /// Tries the scope up to `times` times.
/// #[retry(provides = "attempt")]
/// mod times {
///     use super::*;
///
///     pub fn execute(history: &History, times: Option<u32>) -> usize {
///         history.attempts.len() + 1
///     }
///
///     pub fn on_failure(history: &History, times: Option<u32>) -> Decision {
///         let times = times.unwrap_or(3) as usize;
///         if history.attempts.len() < times { Decision::Retry } else { Decision::Revert }
///     }
/// }
/// # fn main() {}
/// ```
///
/// The options and the arguments are those of [`#[task]`](task) (see the
/// [crate] docs). Mistakes are compile errors:
///
/// ```compile_fail
/// use taskbox_sdk::prelude::*;
///
/// #[retry]
/// mod no_decision {
///     pub fn execute() {}
/// }
/// # fn main() {}
/// ```
///
/// ```compile_fail
/// use taskbox_sdk::prelude::*;
///
/// #[retry]
/// mod unknown_argument {
///     use super::*;
///
///     pub fn execute(history: &History) {}
///
///     pub fn on_failure(history: &History, times: u32) -> Decision {
///         Decision::Revert
///     }
/// }
/// # fn main() {}
/// ```
///
/// A component is a task or a retry controller, not both:
///
/// ```compile_fail
/// use taskbox_sdk::prelude::*;
///
/// #[task]
/// fn work() {}
///
/// #[retry]
/// mod again {
///     use super::*;
///
///     pub fn execute() {}
///
///     pub fn on_failure() -> Decision {
///         Decision::Retry
///     }
/// }
/// # fn main() {}
/// ```
pub use taskbox_sdk_macros::retry;

/// What a task or retry crate usually needs: `use taskbox_sdk::prelude::*;`.
pub mod prelude {
    pub use crate::{
        AtomFailure, Attempt, Decision, Failure, History, Level, debug, error, info, log, progress,
        retry, task, trace, warn,
    };
    pub use serde::{Deserialize, Serialize};
}
