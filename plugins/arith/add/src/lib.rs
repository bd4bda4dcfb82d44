//! The `add` task: adds two integers and provides their `sum`.

use taskbox_sdk::prelude::*;

/// Adds `x` and `y`.
///
/// Fails with `math.overflow` when the sum does not fit in 64 bits.
#[task(provides = "sum")]
fn add(x: i64, y: i64) -> Result<i64, Failure> {
    x.checked_add(y)
        .ok_or_else(|| Failure::new("math.overflow", format!("{x} + {y} overflows")))
}
