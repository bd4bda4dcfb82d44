//! The `charge-payment` task, step 2 of the order saga: charges the order's
//! card and provides the `payment`. Reverting refunds it.

use serde_json::json;
use taskbox_sdk::prelude::*;

/// The test card number the payment provider always declines.
const DECLINED_CARD: &str = "4000-0000-0000-0002";

/// Largest amount one payment may charge: 5,000.00.
const LIMIT_CENTS: u64 = 500_000;

/// The part of the reservation (from `reserve-stock`) a payment refers to.
#[derive(Debug, Deserialize)]
pub struct Reservation {
    /// The reservation being paid for.
    pub reservation_id: String,
}

/// A captured card payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    /// Identifies the payment; derived from the reservation.
    pub payment_id: String,
    /// The amount charged, in cents.
    pub amount_cents: u64,
}

/// Charges `amount_cents` to `card` for a `reservation`.
///
/// Fails with `payment.declined` when the card is declined and with
/// `payment.limit-exceeded` above 5,000.00.
#[task(provides = "payment")]
mod charge_payment {
    use super::*;

    /// Authorizes, then captures, the payment.
    pub fn execute(
        reservation: Reservation,
        card: String,
        amount_cents: u64,
    ) -> Result<Payment, Failure> {
        if amount_cents > LIMIT_CENTS {
            return Err(Failure::new(
                "payment.limit-exceeded",
                format!(
                    "{} is over the limit of {}",
                    money(amount_cents),
                    money(LIMIT_CENTS)
                ),
            )
            .with_details(json!({ "amount_cents": amount_cents, "limit_cents": LIMIT_CENTS })));
        }
        progress(0.0);
        if card == DECLINED_CARD {
            return Err(Failure::new("payment.declined", "the card was declined")
                .with_details(json!({ "card_last4": last4(&card) })));
        }
        progress(0.5);
        let payment = Payment {
            payment_id: format!("pay-{}", reservation.reservation_id),
            amount_cents,
        };
        info(&format!(
            "charged {} to card ending {} as {}",
            money(amount_cents),
            last4(&card),
            payment.payment_id
        ));
        progress(1.0);
        Ok(payment)
    }

    /// Refunds the payment `execute` captured, if it captured one.
    pub fn revert(result: Option<Payment>) -> Result<(), Failure> {
        match result {
            Some(payment) => info(&format!(
                "refunded {} of payment {}",
                money(payment.amount_cents),
                payment.payment_id
            )),
            None => info("no payment to refund"),
        }
        Ok(())
    }
}

/// `cents` as `units.cents`.
fn money(cents: u64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

/// The last four characters of a card number, for logs.
fn last4(card: &str) -> &str {
    let start = card.char_indices().rev().nth(3).map_or(0, |(i, _)| i);
    &card[start..]
}
