//! taskbox conductors, after TaskFlow's: a conductor claims a job from a
//! [`JobBoard`](taskbox_jobboard::JobBoard), builds the flow its
//! [`JobPayload`] names with the plugin directory ([`Workshop`]), runs it
//! recording every change in the logbook, and consumes the job on success
//! or abandons it on failure.
//!
//! A job whose flow is already linked in the logbook (its previous owner
//! died or was shut down) is resumed from there, so no completed atom runs
//! again. Abandons count attempts; the board trashes a job at its maximum
//! instead of cycling it forever.

mod conductor;
mod error;
mod payload;
mod tenants;
mod workshop;

pub use conductor::{Conductor, ConductorOptions, ConductorStatus, Ending};
pub use error::ConductorError;
pub use payload::{
    EngineChoice, EngineMode, FlowSource, JobPayload, PayloadError, PluginPin, SpecText,
};
pub use tenants::{Caller, Tenant, TenantLimits, Tenants, TenantsError, token_hash};
pub use workshop::{Checked, Workshop};
