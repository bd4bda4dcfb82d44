//! The `divide` task: divides two integers and provides the `quotient`.

use taskbox_sdk::prelude::*;

/// Divides `numerator` by `denominator`, rounding towards zero.
///
/// Fails with `math.division-by-zero` when `denominator` is 0, and with
/// `math.overflow` for the one quotient that does not fit in 64 bits
/// (`i64::MIN / -1`).
#[task(provides = "quotient")]
fn divide(numerator: i64, denominator: i64) -> Result<i64, Failure> {
    if denominator == 0 {
        return Err(Failure::new(
            "math.division-by-zero",
            format!("cannot divide {numerator} by zero"),
        ));
    }
    numerator.checked_div(denominator).ok_or_else(|| {
        Failure::new(
            "math.overflow",
            format!("{numerator} / {denominator} overflows"),
        )
    })
}
