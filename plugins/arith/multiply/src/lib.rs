//! The `multiply` task: multiplies two integers and provides their `product`.

use taskbox_sdk::prelude::*;

/// Multiplies `x` by `y`.
///
/// Fails with `math.overflow` when the product does not fit in 64 bits.
#[task(provides = "product")]
fn multiply(x: i64, y: i64) -> Result<i64, Failure> {
    x.checked_mul(y)
        .ok_or_else(|| Failure::new("math.overflow", format!("{x} * {y} overflows")))
}
