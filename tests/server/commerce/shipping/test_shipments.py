"""Shipping physical goods: the address at checkout, one shipment per seller once paid, shipped
by the seller, confirmed by the buyer or by the sweep, and returns before refunds."""

from __future__ import annotations

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from jobs import shipping as jobs
from models.commerce.shipping import OrderAddress
from models.notify.notifications import Notification
from server.runtime import Runtime
from tests.helpers.orders import ADDRESS, RecordingEvents, checkout, order_count, product, stock_of
from tests.helpers.people import Person, call
from tests.helpers.subscriptions import MovableClock

from .helpers import act, goods, paid_order, ship


async def test_checkout_of_goods_needs_an_address_and_keeps_it_sealed(
    api: TestClient, runtime: Runtime, buyer: Person, seller: Person
) -> None:
    book = await goods(api, seller)
    missing = await checkout(api, buyer, [(book, 1)], status=422, shipping_address=None)
    assert missing["error"]["code"] == "shipping.address_required"
    assert set(missing["error"]["fields"]) == {"body.shipping_address"}
    bad = await checkout(
        api, buyer, [(book, 1)], status=422, shipping_address={**ADDRESS, "phone": "call me"}
    )
    assert set(bad["error"]["fields"]) == {"body.shipping_address.phone"}
    blank = await checkout(
        api, buyer, [(book, 1)], status=422, shipping_address={**ADDRESS, "city": "  "}
    )
    assert set(blank["error"]["fields"]) == {"body.shipping_address.city"}
    assert await order_count(api) == 0 and await stock_of(api, book) == 20

    order = await checkout(api, buyer, [(book, 2)])
    assert order["shipping_address"] == ADDRESS and order["shipments"] == []
    async with runtime.db.read() as session:
        sealed = await session.scalar(select(OrderAddress.sealed))
    assert sealed is not None and ADDRESS["phone"] not in sealed and "张三" not in sealed

    # An order of no physical goods needs none, and keeps none it is sent.
    pack = await product(api)
    digital = await checkout(api, buyer, [(pack, 1)])
    assert digital["shipping_address"] is None
    bare = await checkout(api, buyer, [(pack, 1)], shipping_address=None)
    assert bare["shipping_address"] is None


async def test_a_paid_order_opens_one_shipment_per_seller(
    api: TestClient,
    buyer: Person,
    seller: Person,
    second_seller: Person,
    events: RecordingEvents,
) -> None:
    book, mug = await goods(api, seller), await goods(api, seller, price=1500)
    pen = await goods(api, second_seller, price=500)
    pack = await product(api)
    order = await paid_order(api, buyer, [(book, 1), (mug, 2), (pen, 1), (pack, 1)])

    assert order["status"] == "fulfilled"
    fulfilled = {item["product_id"]: item["fulfilled_at"] is not None for item in order["items"]}
    assert fulfilled == {book: False, mug: False, pen: False, pack: True}
    shipments = {s["seller_id"]: s for s in order["shipments"]}
    assert set(shipments) == {seller.id, second_seller.id}
    assert all(s["status"] == "pending" and s["buyer_id"] == buyer.id for s in order["shipments"])
    assert [(i["product_id"], i["quantity"]) for i in shipments[seller.id]["items"]] == [
        (book, 1),
        (mug, 2),
    ]
    assert [i["product_id"] for i in shipments[second_seller.id]["items"]] == [pen]

    to_send = await call(api, "GET", "/me/shipments?status=pending", seller, 200)
    assert [s["id"] for s in to_send["items"]] == [shipments[seller.id]["id"]]
    assert to_send["items"][0]["shipping_address"] == ADDRESS
    assert (await call(api, "GET", "/me/shipments?status=shipped", seller, 200))["items"] == []
    theirs = await call(api, "GET", "/me/shipments", second_seller, 200)
    assert [s["id"] for s in theirs["items"]] == [shipments[second_seller.id]["id"]]
    assert (await call(api, "GET", "/me/shipments", buyer, 200))["items"] == []

    opened = [e for e in events.of("shipment.updated") if buyer.id in e.user_ids]
    assert sorted(e.data["id"] for e in opened) == sorted(s["id"] for s in order["shipments"])
    assert all(e.data["status"] == "pending" for e in opened)


async def test_the_seller_ships_and_the_buyer_confirms(
    api: TestClient, runtime: Runtime, buyer: Person, seller: Person, events: RecordingEvents
) -> None:
    book = await goods(api, seller)
    order = await paid_order(api, buyer, [(book, 1)])
    shipment_id = order["shipments"][0]["id"]

    await ship(api, seller, shipment_id, status=422, tracking_number="no spaces please")
    sent = await ship(api, seller, shipment_id, carrier="  中通 ", tracking_number="ZT-778899")
    assert (sent["status"], sent["carrier"], sent["tracking_number"]) == (
        "shipped",
        "中通",
        "ZT-778899",
    )
    assert sent["shipped_at"] is not None and sent["delivered_at"] is None
    again = await ship(api, seller, shipment_id, status=409)
    assert again["error"]["code"] == "shipping.illegal_transition"

    seen = await call(api, "GET", f"/orders/{order['id']}", buyer, 200)
    assert seen["shipments"][0]["tracking_number"] == "ZT-778899"
    assert seen["items"][0]["fulfilled_at"] is None
    assert (await call(api, "GET", f"/shipments/{shipment_id}", buyer, 200))["status"] == "shipped"
    async with runtime.db.read() as session:
        notice = (
            await session.scalars(select(Notification).where(Notification.user_id == buyer.id))
        ).all()
    shipped = [n for n in notice if n.type == "shipment.shipped"]
    assert len(shipped) == 1 and "ZT-778899" in shipped[0].body
    assert shipped[0].data["shipment_id"] == shipment_id

    await act(api, seller, f"{shipment_id}/confirm", status=404)  # only the buyer confirms
    confirmed = await act(api, buyer, f"{shipment_id}/confirm")
    assert confirmed["status"] == "delivered" and confirmed["delivered_at"] is not None
    late = await act(api, buyer, f"{shipment_id}/confirm", status=409)
    assert late["error"]["code"] == "shipping.illegal_transition"
    seen = await call(api, "GET", f"/orders/{order['id']}", buyer, 200)
    assert seen["items"][0]["fulfilled_at"] == confirmed["delivered_at"]

    moves = [e.data["status"] for e in events.of("shipment.updated") if buyer.id in e.user_ids]
    assert moves == ["pending", "shipped", "delivered"]
    assert all(
        seller.id in e.user_ids for e in events.of("shipment.updated")
    )  # the seller follows along


async def test_unconfirmed_shipments_are_confirmed_after_the_auto_confirm_days(
    api: TestClient, runtime: Runtime, clock: MovableClock, buyer: Person, seller: Person
) -> None:
    first = await paid_order(api, buyer, [(await goods(api, seller), 1)])
    second = await paid_order(api, buyer, [(await goods(api, seller), 1)])
    await ship(api, seller, first["shipments"][0]["id"])
    days = runtime.settings.order_auto_confirm_days
    assert days == 10
    clock.move(days=days - 1)
    await ship(api, seller, second["shipments"][0]["id"])
    ctx = {"runtime": runtime, "job_try": 1}
    assert await jobs.auto_confirm_due(ctx) == 0

    clock.move(days=1, seconds=1)
    assert await jobs.auto_confirm_due(ctx) == 1
    assert await jobs.auto_confirm_due(ctx) == 0  # a second sweep finds nothing more
    done = await call(api, "GET", f"/shipments/{first['shipments'][0]['id']}", buyer, 200)
    assert done["status"] == "delivered"
    assert done["delivered_at"] is not None
    waiting = await call(api, "GET", f"/shipments/{second['shipments'][0]['id']}", buyer, 200)
    assert waiting["status"] == "shipped"
    seen = await call(api, "GET", f"/orders/{first['id']}", buyer, 200)
    assert seen["items"][0]["fulfilled_at"] is not None

    clock.move(days=days)
    assert await jobs.auto_confirm_due(ctx) == 1


async def test_other_people_get_404(
    api: TestClient,
    buyer: Person,
    stranger: Person,
    seller: Person,
    second_seller: Person,
) -> None:
    order = await paid_order(api, buyer, [(await goods(api, seller), 1)])
    shipment_id = order["shipments"][0]["id"]
    for who in (stranger, second_seller, buyer):
        missing = await ship(api, who, shipment_id, status=404)
        assert missing["error"]["code"] == "shipping.not_found"
        await act(api, who, f"{shipment_id}/return/accept", status=404)
        await act(api, who, f"{shipment_id}/return/refuse", status=404)
    for who in (stranger, second_seller, seller):
        await act(api, who, f"{shipment_id}/confirm", status=404)
        await act(api, who, f"{shipment_id}/return", status=404, reason="不想要了")
    for who in (stranger, second_seller):
        await call(api, "GET", f"/shipments/{shipment_id}", who, 404)
        await call(api, "GET", f"/orders/{order['id']}", who, 404)
    assert (await call(api, "GET", f"/shipments/{shipment_id}", seller, 200))["id"] == shipment_id
    await ship(api, seller, 987654321, status=404)
    await call(api, "GET", "/shipments/987654321", buyer, 404)
    # Nothing moved.
    assert (await call(api, "GET", f"/shipments/{shipment_id}", buyer, 200))["status"] == "pending"


async def test_admins_send_the_platforms_goods(
    api: TestClient, buyer: Person, seller: Person, admin: Person
) -> None:
    order = await paid_order(
        api, buyer, [(await goods(api, None), 1), (await goods(api, seller), 1)]
    )
    ours = next(s for s in order["shipments"] if s["seller_id"] is None)
    await ship(api, seller, ours["id"], status=404)
    listed = await call(api, "GET", "/admin/shipments?status=pending&limit=1", admin, 200)
    assert len(listed["items"]) == 1 and listed["next_cursor"]
    rest = await call(api, "GET", f"/admin/shipments?cursor={listed['next_cursor']}", admin, 200)
    assert {s["id"] for s in listed["items"] + rest["items"]} == {
        s["id"] for s in order["shipments"]
    }
    await call(api, "GET", "/admin/shipments", seller, 403)
    bad = await call(api, "GET", "/admin/shipments?cursor=eyJpZCI6ImEifQ", admin, 400)
    assert bad["error"]["code"]
    assert (await ship(api, admin, ours["id"]))["status"] == "shipped"
    theirs = next(s for s in order["shipments"] if s["seller_id"] == seller.id)
    await ship(api, admin, theirs["id"], status=404)  # a creator's goods are the creator's


async def test_a_free_order_of_goods_opens_its_shipment_at_checkout(
    api: TestClient, buyer: Person, seller: Person
) -> None:
    gift = await goods(api, seller, price=0)
    order = await checkout(api, buyer, [(gift, 1)])
    assert order["status"] == "fulfilled"
    assert [s["status"] for s in order["shipments"]] == ["pending"]


async def test_a_seller_pages_through_shipments_newest_first(
    api: TestClient, buyer: Person, seller: Person
) -> None:
    for _ in range(3):
        await paid_order(api, buyer, [(await goods(api, seller), 1)])
    first = await call(api, "GET", "/me/shipments?limit=2", seller, 200)
    second = await call(
        api, "GET", f"/me/shipments?limit=2&cursor={first['next_cursor']}", seller, 200
    )
    ids = [s["id"] for s in first["items"] + second["items"]]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 3
    assert second["next_cursor"] is None
    await call(api, "GET", "/me/shipments?status=lost", seller, 422)
