//! The `reserve-stock` task, step 1 of the order saga: holds stock for an
//! order and provides the `reservation`. Reverting releases the stock.

use serde_json::json;
use taskbox_sdk::prelude::*;

/// Most units of one SKU a single order may reserve.
const MAX_QUANTITY: u32 = 100;

/// Stock held for an order until it ships or the order is undone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    /// Identifies the reservation; derived from the SKU and quantity.
    pub reservation_id: String,
    /// The reserved product.
    pub sku: String,
    /// How many units are held.
    pub quantity: u32,
}

/// Reserves `quantity` units of `sku` for an order.
///
/// Fails with `stock.unavailable` when the quantity is 0 or more than 100.
#[task(provides = "reservation")]
mod reserve_stock {
    use super::*;

    /// Holds the stock.
    pub fn execute(sku: String, quantity: u32) -> Result<Reservation, Failure> {
        if quantity == 0 || quantity > MAX_QUANTITY {
            return Err(Failure::new(
                "stock.unavailable",
                format!("cannot reserve {quantity} x {sku}: orders take 1 to {MAX_QUANTITY} units"),
            )
            .with_details(json!({ "sku": sku, "quantity": quantity, "max": MAX_QUANTITY })));
        }
        let reservation = Reservation {
            reservation_id: format!("rsv-{sku}-{quantity}"),
            sku,
            quantity,
        };
        info(&format!(
            "reserved {} x {} as {}",
            reservation.quantity, reservation.sku, reservation.reservation_id
        ));
        Ok(reservation)
    }

    /// Releases the stock `execute` held, if it held any.
    pub fn revert(result: Option<Reservation>) -> Result<(), Failure> {
        match result {
            Some(reservation) => info(&format!(
                "released reservation {}: {} x {} back in stock",
                reservation.reservation_id, reservation.quantity, reservation.sku
            )),
            None => info("no reservation to release"),
        }
        Ok(())
    }
}
