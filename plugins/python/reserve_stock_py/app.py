"""The `reserve-stock` task in Python, step 1 of the order saga: holds stock
for an order and provides the `reservation`. Reverting releases the stock.

The same task as the Rust plugin in plugins/saga/reserve-stock: the same
arguments, result, failure kind and logs.
"""

from taskbox_sdk import Failure, info, task

# Most units of one SKU a single order may reserve.
MAX_QUANTITY = 100


@task(provides="reservation")
def reserve_stock(sku: str, quantity: int) -> dict:
    """Reserves `quantity` units of `sku` for an order.

    Fails with `stock.unavailable` when the quantity is 0 or more than 100.
    """
    if not 1 <= quantity <= MAX_QUANTITY:
        raise Failure(
            "stock.unavailable",
            f"cannot reserve {quantity} x {sku}: orders take 1 to {MAX_QUANTITY} units",
            {"sku": sku, "quantity": quantity, "max": MAX_QUANTITY},
        )
    reservation = {"reservation_id": f"rsv-{sku}-{quantity}", "sku": sku, "quantity": quantity}
    info(f"reserved {quantity} x {sku} as {reservation['reservation_id']}")
    return reservation


@reserve_stock.revert
def release(result: dict | None) -> None:
    """Releases the stock `execute` held, if it held any."""
    if result is None:
        info("no reservation to release")
        return
    info(
        f"released reservation {result['reservation_id']}: "
        f"{result['quantity']} x {result['sku']} back in stock"
    )
