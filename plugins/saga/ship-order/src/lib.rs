//! The `ship-order` task, step 3 of the order saga: ships the reserved and
//! paid-for goods and provides the `shipment`. Reverting cancels it.

use serde_json::json;
use taskbox_sdk::prelude::*;

/// Countries the carrier delivers to, as ISO 3166-1 alpha-2 codes.
const SUPPORTED_COUNTRIES: [&str; 5] = ["NL", "DE", "FR", "US", "GB"];

/// The reservation (from `reserve-stock`) holding the goods to ship.
#[derive(Debug, Deserialize)]
pub struct Reservation {
    /// The reservation being shipped.
    pub reservation_id: String,
    /// The product.
    pub sku: String,
    /// How many units.
    pub quantity: u32,
}

/// The part of the payment (from `charge-payment`) a shipment refers to.
#[derive(Debug, Deserialize)]
pub struct Payment {
    /// The payment that paid for the goods.
    pub payment_id: String,
}

/// A parcel handed to the carrier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shipment {
    /// The carrier's tracking number; derived from the reservation.
    pub tracking_number: String,
    /// Destination country.
    pub country: String,
}

/// Ships the goods held by `reservation` and paid by `payment` to `country`.
///
/// Fails with `shipping.unsupported-country` outside NL, DE, FR, US and GB.
#[task(provides = "shipment")]
mod ship_order {
    use super::*;

    /// Books the parcel with the carrier.
    pub fn execute(
        reservation: Reservation,
        payment: Payment,
        country: String,
    ) -> Result<Shipment, Failure> {
        if !SUPPORTED_COUNTRIES.contains(&country.as_str()) {
            return Err(Failure::new(
                "shipping.unsupported-country",
                format!("the carrier does not deliver to {country:?}"),
            )
            .with_details(json!({ "country": country, "supported": SUPPORTED_COUNTRIES })));
        }
        let shipment = Shipment {
            tracking_number: format!("TB-{country}-{}", reservation.reservation_id),
            country,
        };
        info(&format!(
            "shipping {} x {} (paid by {}) as {}",
            reservation.quantity, reservation.sku, payment.payment_id, shipment.tracking_number
        ));
        Ok(shipment)
    }

    /// Cancels the parcel `execute` booked, if it booked one, saying which
    /// failures made the order revert.
    pub fn revert(
        result: Option<Shipment>,
        flow_failures: Vec<AtomFailure>,
    ) -> Result<(), Failure> {
        let Some(shipment) = result else {
            info("no shipment to cancel");
            return Ok(());
        };
        let causes: Vec<String> = flow_failures.iter().map(ToString::to_string).collect();
        info(&format!(
            "cancelled shipment {} to {} because {}",
            shipment.tracking_number,
            shipment.country,
            if causes.is_empty() {
                "the order was undone".to_owned()
            } else {
                causes.join("; ")
            }
        ));
        Ok(())
    }
}
