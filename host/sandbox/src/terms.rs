//! The terms one call runs under.

use crate::lane::Lane;
use taskbox_model::{Grants, Limits};

/// What one call runs under: its limits, the capabilities granted to it,
/// and the lane (tenant and job) it is scheduled and accounted in.
#[derive(Debug, Clone, Default)]
pub struct Terms {
    /// Memory, CPU time, result and log caps.
    pub limits: Limits,
    /// Directories, environment, wall clock and randomness granted.
    pub grants: Grants,
    /// Whom the call runs for.
    pub lane: Lane,
}

impl Terms {
    /// `limits`, nothing granted, the unmetered lane.
    pub fn new(limits: Limits) -> Terms {
        Terms {
            limits,
            ..Terms::default()
        }
    }
}

impl From<Limits> for Terms {
    fn from(limits: Limits) -> Terms {
        Terms::new(limits)
    }
}
