"""Refunds of shipped goods: goods with the buyer come back (a return the seller accepts) before
their money does; what was never sent is simply cancelled by a full refund."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from models.commerce.shipping import Shipment
from server.runtime import Runtime
from tests.helpers.orders import RecordingEvents, stock_of
from tests.helpers.people import Person, call
from tests.helpers.subscriptions import MovableClock

from .helpers import act, goods, paid_order, refund, ship


async def test_shipped_goods_are_refunded_after_an_accepted_return(
    api: TestClient, buyer: Person, seller: Person
) -> None:
    book = await goods(api, seller)
    order = await paid_order(api, buyer, [(book, 1)])
    shipment_id = order["shipments"][0]["id"]
    early = await act(api, buyer, f"{shipment_id}/return", status=409, reason="不想要了")
    assert early["error"]["code"] == "shipping.illegal_transition"  # nothing sent yet
    await ship(api, seller, shipment_id)

    blocked = await refund(api, buyer, order["id"], status=409, reason="不想要了")
    assert blocked["error"]["code"] == "shipping.return_required"
    await act(api, buyer, f"{shipment_id}/confirm")
    await refund(api, buyer, order["id"], status=409, reason="不想要了")

    asked = await act(api, buyer, f"{shipment_id}/return", reason="  尺寸不对 ")
    assert (asked["status"], asked["return_reason"]) == ("return_requested", "尺寸不对")
    await act(api, buyer, f"{shipment_id}/return", status=422, reason="")
    await refund(api, buyer, order["id"], status=409, reason="尺寸不对")
    await act(api, buyer, f"{shipment_id}/return/accept", status=404)  # the seller decides

    refused = await act(api, seller, f"{shipment_id}/return/refuse")
    assert refused["status"] == "delivered"  # back where it was
    await act(api, seller, f"{shipment_id}/return/accept", status=409)
    await act(api, buyer, f"{shipment_id}/return", reason="尺寸不对")
    assert await stock_of(api, book) == 19
    accepted = await act(api, seller, f"{shipment_id}/return/accept")
    assert accepted["status"] == "returned" and accepted["returned_at"] is not None
    assert await stock_of(api, book) == 20  # back on the shelf
    await act(api, seller, f"{shipment_id}/return/refuse", status=409)

    done = await refund(api, buyer, order["id"], reason="尺寸不对")
    assert (done["status"], done["amount"]) == ("pending", order["total"])
    seen = await call(api, "GET", f"/orders/{order['id']}", buyer, 200)
    assert seen["status"] == "refunding" and seen["shipments"][0]["status"] == "returned"


async def test_a_return_refused_before_arrival_goes_back_to_shipped(
    api: TestClient, buyer: Person, seller: Person
) -> None:
    order = await paid_order(api, buyer, [(await goods(api, seller), 1)])
    shipment_id = order["shipments"][0]["id"]
    await ship(api, seller, shipment_id)
    await act(api, buyer, f"{shipment_id}/return", reason="买错了")
    refused = await act(api, seller, f"{shipment_id}/return/refuse")
    assert refused["status"] == "shipped" and refused["delivered_at"] is None


async def test_a_full_refund_cancels_what_was_not_sent(
    api: TestClient, runtime: Runtime, buyer: Person, seller: Person, events: RecordingEvents
) -> None:
    book = await goods(api, seller)
    order = await paid_order(api, buyer, [(book, 2)])
    shipment_id = order["shipments"][0]["id"]
    await refund(api, buyer, order["id"], reason="不想要了")
    assert await stock_of(api, book) == 20  # never sent: back in stock
    seen = await call(api, "GET", f"/orders/{order['id']}", buyer, 200)
    assert seen["shipments"][0]["status"] == "cancelled"
    assert seen["shipments"][0]["cancelled_at"] is not None
    late = await ship(api, seller, shipment_id, status=409)
    assert late["error"]["code"] == "shipping.illegal_transition"
    cancelled = [e for e in events.of("shipment.updated") if e.data["status"] == "cancelled"]
    assert [list(e.user_ids) for e in cancelled] == [[buyer.id, seller.id]]
    assert (await call(api, "GET", "/me/shipments?status=pending", seller, 200))["items"] == []


async def test_a_partial_refund_leaves_the_shipment_but_holds_it_while_refunding(
    api: TestClient, runtime: Runtime, buyer: Person, seller: Person
) -> None:
    order = await paid_order(api, buyer, [(await goods(api, seller), 1)])
    shipment_id = order["shipments"][0]["id"]
    await refund(api, buyer, order["id"], amount=100, reason="少了赠品")
    held = await ship(api, seller, shipment_id, status=409)
    assert held["error"]["code"] == "shipping.refund_in_progress"
    async with runtime.db.read() as session:
        shipment = await session.get(Shipment, shipment_id)
        assert shipment is not None and shipment.status == "pending"


async def test_admins_may_refund_shipped_goods(
    api: TestClient, buyer: Person, seller: Person, admin: Person
) -> None:
    order = await paid_order(api, buyer, [(await goods(api, seller), 1)])
    await ship(api, seller, order["shipments"][0]["id"])
    await refund(api, buyer, order["id"], status=409, reason="没收到")
    done = await refund(api, admin, order["id"], reason="快递丢件")
    assert done["amount"] == order["total"]
    seen = await call(api, "GET", f"/orders/{order['id']}", buyer, 200)
    assert seen["shipments"][0]["status"] == "shipped"  # what was sent stays as it was


async def test_an_order_refunded_in_full_cannot_be_sent(
    api: TestClient, runtime: Runtime, buyer: Person, seller: Person
) -> None:
    from server.commerce.orders import service as orders

    book = await goods(api, seller)
    order = await paid_order(api, buyer, [(book, 1)])
    shipment_id = order["shipments"][0]["id"]
    # Refunded at the gateway's own dashboard: no request went through the shipping check.
    for _ in range(2):  # and its notice again: nothing changes the second time
        async with runtime.db.unit_of_work() as uow:
            await orders.complete_refund(
                uow, order_id=order["id"], amount=order["total"], refund_ref="dashboard-1"
            )
    seen = await call(api, "GET", f"/orders/{order['id']}", buyer, 200)
    assert seen["shipments"][0]["status"] == "cancelled"
    assert await stock_of(api, book) == 20
    late = await ship(api, seller, shipment_id, status=409)
    assert late["error"]["code"] == "shipping.illegal_transition"


async def test_a_return_opens_the_refund_window_again(
    api: TestClient,
    runtime: Runtime,
    clock: MovableClock,
    buyer: Person,
    seller: Person,
) -> None:
    window = runtime.settings.refund_window_days
    late = await paid_order(api, buyer, [(await goods(api, seller), 1)])
    order = await paid_order(api, buyer, [(await goods(api, seller), 1)])
    for shipped in (late, order):
        await ship(api, seller, shipped["shipments"][0]["id"])
        await act(api, buyer, f"{shipped['shipments'][0]['id']}/confirm")
    clock.move(days=window, seconds=1)
    # Past the window after delivery: no return.
    passed = await act(api, buyer, f"{late['shipments'][0]['id']}/return", 409, reason="晚了")
    assert passed["error"]["code"] == "shipping.return_window_passed"

    clock.move(seconds=-2)
    shipment_id = order["shipments"][0]["id"]
    await act(api, buyer, f"{shipment_id}/return", reason="坏了")
    clock.move(days=2)
    await act(api, seller, f"{shipment_id}/return/accept")
    clock.move(days=window - 1)  # more than the window after payment, within it after the return
    done = await refund(api, buyer, order["id"], reason="坏了")
    assert done["amount"] == order["total"]
