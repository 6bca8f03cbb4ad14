"""Shipping test helpers: goods of a seller, orders of them paid through the sandbox gateway,
the moves of a shipment over HTTP."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from server.keys import RUNTIME
from tests.helpers.orders import add_product, checkout, deliver_paid
from tests.helpers.payments import deliver, open_payment, sandbox
from tests.helpers.people import Person, call


async def goods(api: TestClient, seller: Person | None, price: int = 3000, **fields: Any) -> int:
    """A physical product of `seller` (None: the platform's)."""
    return await add_product(
        api.app[RUNTIME],
        kind="physical",
        title="纸质书",
        price=price,
        credits=None,
        stock=20,
        creator_id=seller.id if seller else None,
        **fields,
    )


async def paid_order(api: TestClient, buyer: Person, items: list[tuple[int, int]]) -> Any:
    """An order of `items` checked out by `buyer` (with the test address) and paid at the
    sandbox gateway, then delivered (the `orders.fulfil` job's work); the order as the buyer sees
    it then."""
    order = await checkout(api, buyer, items)
    payment = await open_payment(api, buyer, order["id"], "sandbox")
    gateway = sandbox(api.app[RUNTIME])
    body = gateway.paid_callback(payment["out_trade_no"], payment["amount"])
    assert (await deliver(api, "sandbox", gateway.sign(body), body)).status == 200
    await deliver_paid(api.app[RUNTIME])
    return await call(api, "GET", f"/orders/{order['id']}", buyer, 200)


async def ship(
    api: TestClient, who: Person, shipment_id: int, status: int = 200, **body: Any
) -> Any:
    body = {"carrier": "顺丰", "tracking_number": "SF1234567890", **body}
    return await call(api, "POST", f"/shipments/{shipment_id}/ship", who, status, json=body)


async def act(api: TestClient, who: Person, path: str, status: int = 200, **body: Any) -> Any:
    """POST /shipments/<path> (confirm, return, return/accept, return/refuse)."""
    return await call(api, "POST", f"/shipments/{path}", who, status, json=body)


async def refund(
    api: TestClient, who: Person, order_id: int, status: int = 201, **body: Any
) -> Any:
    return await call(api, "POST", f"/orders/{order_id}/refunds", who, status, json=body)
