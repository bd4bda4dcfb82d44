// The `charge-payment` task in JavaScript, step 2 of the order saga: charges
// the order's card and provides the `payment`. Reverting refunds it.
//
// The same task as the Rust plugin in plugins/saga/charge-payment: the same
// arguments, result, failure kinds and logs.

import { Failure, info, progress, task } from "taskbox-sdk";

// The test card number the payment provider always declines.
const DECLINED_CARD = "4000-0000-0000-0002";

// Largest amount one payment may charge: 5,000.00.
const LIMIT_CENTS = 500_000;

// `cents` as `units.cents`.
const money = (cents) => `${Math.floor(cents / 100)}.${String(cents % 100).padStart(2, "0")}`;

// The last four characters of a card number, for logs.
const last4 = (card) => card.slice(-4);

export default task({
  name: "charge-payment",
  description:
    "Charges `amount_cents` to `card` for a `reservation`.\n\n" +
    "Fails with `payment.declined` when the card is declined and with\n" +
    "`payment.limit-exceeded` above 5,000.00.",
  requires: ["reservation", "card", "amount_cents"],
  provides: "payment",

  // Authorizes, then captures, the payment.
  execute({ reservation, card, amount_cents }) {
    if (!Number.isInteger(amount_cents) || amount_cents < 0) {
      throw new Failure("invalid-arguments", `argument \`amount_cents\`: ${amount_cents} is not a whole number of cents`);
    }
    if (amount_cents > LIMIT_CENTS) {
      throw new Failure(
        "payment.limit-exceeded",
        `${money(amount_cents)} is over the limit of ${money(LIMIT_CENTS)}`,
        { amount_cents, limit_cents: LIMIT_CENTS },
      );
    }
    progress(0);
    if (card === DECLINED_CARD) {
      throw new Failure("payment.declined", "the card was declined", { card_last4: last4(card) });
    }
    progress(0.5);
    const payment = { payment_id: `pay-${reservation.reservation_id}`, amount_cents };
    info(`charged ${money(amount_cents)} to card ending ${last4(card)} as ${payment.payment_id}`);
    progress(1);
    return payment;
  },

  // Refunds the payment `execute` captured, if it captured one.
  revert(args, payment) {
    if (payment === null) {
      info("no payment to refund");
    } else {
      info(`refunded ${money(payment.amount_cents)} of payment ${payment.payment_id}`);
    }
  },
});
