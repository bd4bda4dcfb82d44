//! The taskbox data model: flows, atoms, states, failures and limits.
//!
//! Pure data and validation of its own shape; no I/O and no execution. Flows
//! come from a spec file ([`FlowSpec::parse`]) or from the builder API
//! ([`Flow::linear`], [`Task::new`], ...). The engine compiles them into an
//! execution graph.

mod failure;
mod flow;
mod grants;
mod limits;
mod retry;
mod spec;
mod state;
mod units;
mod usage;

pub use failure::{AtomFailure, Failure, kinds};
pub use flow::{Flow, Node, Pattern, Provides, Task};
pub use grants::{Access, DirGrant, Grants, REDACTED};
pub use limits::{LimitOverrides, Limits};
pub use retry::{Attempt, Controller, Decision, Delay, History, Retry, VALUES_ARG};
pub use spec::{FlowSpec, SpecError, SpecFormat};
pub use state::{AtomState, FlowState, Intention, InvalidTransition};
pub use units::{UnitError, parse_duration, parse_size};
pub use usage::UsageSnapshot;
