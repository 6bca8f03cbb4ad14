"""Shipping addresses and shipments in a buyer's export and erasure: goods checked out with an
address, paid and handed to their sellers, then the buyer's account closed."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from models.commerce.orders import Order
from models.commerce.shipping import OrderAddress, Shipment
from server.keys import RUNTIME
from tests.helpers.accounts import run_task
from tests.helpers.auth import PASSWORD
from tests.helpers.orders import ADDRESS, checkout, pay
from tests.helpers.people import Person, call, person
from tests.server.commerce.shipping.helpers import goods, ship

from .test_domains import build


async def bought(api: TestClient, buyer: Person, product_id: int) -> dict[str, Any]:
    """An order of one `product_id` checked out (with the test address) and paid; the order as
    the buyer sees it once its goods went to their seller."""
    order = await checkout(api, buyer, [(product_id, 1)])
    await pay(api.app[RUNTIME], order)
    return await call(api, "GET", f"/orders/{order['id']}", buyer, 200)


async def addresses(api: TestClient) -> set[int]:
    """The orders that still hold an address."""
    async with api.app[RUNTIME].db.read() as session:
        return set((await session.scalars(select(OrderAddress.order_id))).all())


async def seller_sees(api: TestClient, seller: Person, shipment_id: int) -> Any:
    return await call(api, "GET", f"/shipments/{shipment_id}", seller, 200)


async def test_the_export_gives_the_buyer_their_addresses_and_parcels(api: TestClient) -> None:
    buyer, seller = await person(api), await person(api, "creator")
    order = await bought(api, buyer, await goods(api, seller))
    [shipment] = order["shipments"]
    await ship(api, seller, shipment["id"])

    docs = await build(api, buyer.headers)
    [exported] = docs["orders.json"]
    assert exported["id"] == order["id"] and exported["shipping_address"] == ADDRESS
    [parcel] = docs["shipments.json"]
    assert parcel["id"] == shipment["id"] and parcel["order_id"] == order["id"]
    assert (parcel["status"], parcel["carrier"], parcel["tracking_number"]) == (
        "shipped",
        "顺丰",
        "SF1234567890",
    )
    assert parcel["seller_id"] == seller.id and parcel["shipped_at"] is not None
    assert parcel["delivered_at"] is None
    assert parcel["order_item_ids"] == [item["id"] for item in order["items"]]
    assert "sealed" not in str(docs["orders.json"])

    # The seller's export holds their own purchases only: not the parcels they send.
    seller_docs = await build(api, seller.headers)
    assert seller_docs["shipments.json"] == [] and seller_docs["orders.json"] == []


async def test_erasure_drops_addresses_of_sent_goods_and_keeps_the_rest_until_it_goes(
    api: TestClient,
) -> None:
    buyer = await person(api)
    seller, other = await person(api, "creator"), await person(api, "creator")
    sent = await bought(api, buyer, await goods(api, seller))
    waiting = await bought(api, buyer, await goods(api, other))
    [sent_parcel], [waiting_parcel] = sent["shipments"], waiting["shipments"]
    await ship(api, seller, sent_parcel["id"])
    assert await addresses(api) == {sent["id"], waiting["id"]}

    closed = await api.post(
        "/api/v1/me/delete", json={"password": PASSWORD, "confirm": "DELETE"}, headers=buyer.headers
    )
    assert closed.status == 202
    assert await run_task(api, "accounts.erase", user_id=buyer.id) is True

    # The shipped parcel's address is gone; the order and its shipment stay, and the seller
    # sees the address erased rather than an error.
    assert await addresses(api) == {waiting["id"]}
    seen = await seller_sees(api, seller, sent_parcel["id"])
    assert seen["shipping_address"] is None and seen["buyer_id"] == buyer.id
    assert (seen["status"], seen["tracking_number"]) == ("shipped", "SF1234567890")
    listed = await call(api, "GET", "/me/shipments", seller, 200)
    assert [(s["id"], s["shipping_address"]) for s in listed["items"]] == [
        (sent_parcel["id"], None)
    ]
    async with api.app[RUNTIME].db.read() as session:
        orders = await session.scalar(
            select(func.count()).select_from(Order).where(Order.user_id == buyer.id)
        )
        parcels = await session.scalar(
            select(func.count()).select_from(Shipment).where(Shipment.buyer_id == buyer.id)
        )
    assert (orders, parcels) == (2, 2)

    # Goods still to send keep their address until they go; then the daily sweep wipes it.
    to_send = await call(api, "GET", "/me/shipments?status=pending", other, 200)
    assert [s["shipping_address"] for s in to_send["items"]] == [ADDRESS]
    assert await run_task(api, "accounts.erase_due") == 0
    await ship(api, other, waiting_parcel["id"])
    assert await run_task(api, "accounts.erase_due") == 1
    assert await addresses(api) == set()
    assert (await seller_sees(api, other, waiting_parcel["id"]))["shipping_address"] is None
    assert await run_task(api, "accounts.erase_due") == 0


async def test_erasure_keeps_the_address_of_an_order_not_yet_paid(api: TestClient) -> None:
    buyer, seller = await person(api), await person(api, "creator")
    order = await checkout(api, buyer, [(await goods(api, seller), 1)])
    closed = await api.post(
        "/api/v1/me/delete", json={"password": PASSWORD, "confirm": "DELETE"}, headers=buyer.headers
    )
    assert closed.status == 202
    assert await run_task(api, "accounts.erase", user_id=buyer.id) is True
    # A payment may still arrive for it, and then the goods must go somewhere.
    assert await addresses(api) == {order["id"]}
    assert await run_task(api, "accounts.erase_due") == 0
