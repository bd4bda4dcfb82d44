//! The taskbox daemon's HTTP API.
//!
//! redb admits one process per database file, so the daemon that holds the
//! logbook and jobboard is how other processes reach them. [`router`]
//! serves, as JSON:
//!
//! | method and path            | does                                              |
//! |----------------------------|---------------------------------------------------|
//! | `GET /health`              | status, job counts by state, the conductor's work |
//! | `POST /jobs`               | posts a job payload (checked first); 201 + job    |
//! | `GET /jobs?state=S`        | jobs in posting order, optionally of one state    |
//! | `GET /jobs/{id}`           | one job with its flow's detail and atoms          |
//! | `POST /jobs/{id}/trash`    | `{"reason": …}`: moves it to the trash            |
//! | `POST /jobs/{id}/restore`  | puts a trashed job back on the board              |
//!
//! Errors are `{"error": text}` (plus `"field"` for a refused payload)
//! with 400 (bad payload or query), 404 (no such job), 409 (the job's
//! state or owner forbids it) or 500.

mod api;
mod error;

pub use api::{Daemon, JobDetail, router};
pub use error::ApiError;
