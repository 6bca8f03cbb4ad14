"""Checkout over HTTP: priced lines, stock and coupons, the cart, free orders, cancelling,
lists and details, and who may see which order."""

from __future__ import annotations

import base64
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from models.commerce.cart import Cart, CartItem
from models.commerce.orders import OrderEvent
from server.keys import RUNTIME
from tests.helpers.orders import (
    ADDRESS,
    checkout,
    coupon,
    order_count,
    product,
    stock_of,
    used_count,
)
from tests.helpers.people import Person, call


async def test_an_order_prices_its_lines_now_and_waits_for_payment(
    api: TestClient, buyer: Person, creator: Person
) -> None:
    pack = await product(api, price=600)
    mug = await product(
        api,
        kind="physical",
        title="马克杯",
        price=2500,
        stock=5,
        credits=None,
        creator_id=creator.id,
    )
    order = await checkout(api, buyer, [(pack, 1), (mug, 2)])
    assert order["status"] == "pending_payment"
    assert (order["subtotal"], order["discount"], order["total"]) == (5600, 0, 5600)
    assert order["user_id"] == buyer.id and order["currency"] == "CNY"
    assert len(order["number"]) == 20 and order["expires_at"] is not None
    lines = {item["product_id"]: item for item in order["items"]}
    assert lines[mug]["unit_price"] == 2500 and lines[mug]["amount"] == 5000
    assert lines[mug]["creator_id"] == creator.id and lines[mug]["title"] == "马克杯"
    assert [e["to_status"] for e in order["history"]] == ["pending_payment"]
    assert await stock_of(api, mug) == 3


async def test_a_coupon_is_shared_out_over_the_lines_it_covers(
    api: TestClient, buyer: Person, creator: Person, admin: Person
) -> None:
    mine = await product(api, price=1000, creator_id=creator.id)
    theirs = await product(api, price=3000)
    code = await coupon(
        api, creator.id, code="CREATOR30", kind="percent", value=30, creator_id=creator.id
    )
    order = await checkout(api, buyer, [(mine, 1), (theirs, 1)], coupon_code="creator30")
    assert (order["subtotal"], order["discount"], order["total"]) == (4000, 300, 3700)
    amounts = {item["product_id"]: item["amount"] for item in order["items"]}
    assert amounts == {mine: 700, theirs: 3000}
    assert await used_count(api, code) == 1


async def test_an_unusable_coupon_or_product_refuses_the_order_and_changes_nothing(
    api: TestClient, buyer: Person, admin: Person
) -> None:
    mug = await product(api, kind="physical", price=2500, stock=1, credits=None)
    draft = await product(api, status="draft")
    await coupon(api, admin.id, code="BIG", min_amount=100_000)
    error = await checkout(api, buyer, [(mug, 1)], 422, coupon_code="BIG")
    assert error["error"]["code"] == "coupons.invalid"
    error = await checkout(api, buyer, [(mug, 2)], 409)
    assert error["error"]["code"] == "catalog.out_of_stock"
    error = await checkout(api, buyer, [(mug, 1), (draft, 1)], 409)
    assert error["error"]["code"] == "catalog.unavailable"
    assert await stock_of(api, mug) == 1 and await order_count(api) == 0


async def test_the_body_names_either_the_cart_or_items(api: TestClient, buyer: Person) -> None:
    pack = await product(api)
    bodies: list[dict[str, Any]] = [
        {},
        {"from_cart": True, "items": [{"product_id": pack}]},
        {"items": []},
        {"items": [{"product_id": pack, "quantity": 0}]},
        {"items": [{"product_id": -1}]},
    ]
    for body in bodies:
        error = await call(api, "POST", "/orders", buyer, 422, json=body)
        assert error["error"]["code"] == "request.validation", body
    error = await call(api, "POST", "/orders", buyer, 422, json={"from_cart": True})
    assert error["error"]["code"] == "orders.empty_cart"
    error = await checkout(api, buyer, [(pack, 2)], 422)
    assert error["error"]["code"] == "catalog.invalid_quantity"


async def test_ordering_the_cart_takes_the_ordered_products_out_of_it(
    api: TestClient, buyer: Person
) -> None:
    pack = await product(api)
    mug = await product(api, kind="physical", price=2500, stock=None, credits=None)
    async with api.app[RUNTIME].db.unit_of_work() as uow:
        cart = Cart(user_id=buyer.id)
        uow.session.add(cart)
        await uow.session.flush()
        uow.session.add_all(
            [
                CartItem(cart_id=cart.id, product_id=pack, quantity=1),
                CartItem(cart_id=cart.id, product_id=mug, quantity=3),
            ]
        )
    body = {"from_cart": True, "shipping_address": ADDRESS}
    order = await call(api, "POST", "/orders", buyer, 201, json=body)
    assert order["total"] == 600 + 3 * 2500
    assert sorted(i["product_id"] for i in order["items"]) == sorted([pack, mug])
    async with api.app[RUNTIME].db.read() as session:
        assert (await session.scalars(select(CartItem))).all() == []


async def test_a_free_order_is_paid_and_fulfilled_at_once(api: TestClient, buyer: Person) -> None:
    gift = await product(api, price=0, credits=5)
    order = await checkout(api, buyer, [(gift, 1)])
    assert order["status"] == "fulfilled" and order["total"] == 0
    assert order["paid_at"] is not None and order["fulfilled_at"] is not None
    assert [e["to_status"] for e in order["history"]] == ["pending_payment", "paid", "fulfilled"]
    assert order["items"][0]["fulfilled_at"] is not None
    wallet = await call(api, "GET", "/wallet", buyer, 200)
    assert wallet["balance"] == 5


async def test_cancelling_gives_back_stock_and_coupon_once(
    api: TestClient, buyer: Person, admin: Person
) -> None:
    mug = await product(api, kind="physical", price=2500, stock=2, credits=None)
    code = await coupon(api, admin.id)
    order = await checkout(api, buyer, [(mug, 2)], coupon_code="SAVE100")
    assert await stock_of(api, mug) == 0 and await used_count(api, code) == 1
    cancelled = await call(api, "POST", f"/orders/{order['id']}/cancel", buyer, 200)
    assert cancelled["status"] == "cancelled" and cancelled["cancelled_at"] is not None
    assert cancelled["history"][-1]["reason"] == "cancelled by buyer"
    again = await call(api, "POST", f"/orders/{order['id']}/cancel", buyer, 200)
    assert again["history"] == cancelled["history"]
    assert await stock_of(api, mug) == 2 and await used_count(api, code) == 0


async def test_a_paid_order_cannot_be_cancelled(api: TestClient, buyer: Person) -> None:
    gift = await product(api, price=0)
    order = await checkout(api, buyer, [(gift, 1)])
    error = await call(api, "POST", f"/orders/{order['id']}/cancel", buyer, 409)
    assert error["error"]["code"] == "orders.illegal_transition"
    async with api.app[RUNTIME].db.read() as session:
        events = (await session.scalars(select(OrderEvent.to_status))).all()
    assert "cancelled" not in events


def raw_cursor(position: bytes) -> str:
    return base64.urlsafe_b64encode(position).rstrip(b"=").decode()


async def test_my_orders_page_newest_first_and_filter_by_status(
    api: TestClient, buyer: Person, other: Person
) -> None:
    pack = await product(api)
    mine = [(await checkout(api, buyer, [(pack, 1)]))["id"] for _ in range(5)]
    await checkout(api, other, [(pack, 1)])
    await call(api, "POST", f"/orders/{mine[1]}/cancel", buyer, 200)
    first = await call(api, "GET", "/orders?limit=3", buyer, 200)
    assert [o["id"] for o in first["items"]] == mine[::-1][:3]
    rest = await call(api, "GET", f"/orders?limit=3&cursor={first['next_cursor']}", buyer, 200)
    assert [o["id"] for o in rest["items"]] == mine[::-1][3:] and rest["next_cursor"] is None
    cancelled = await call(api, "GET", "/orders?status=cancelled", buyer, 200)
    assert [o["id"] for o in cancelled["items"]] == [mine[1]]
    error = await call(api, "GET", "/orders?status=lost", buyer, 422)
    assert error["error"]["code"] == "request.validation"
    odd = (b'{"id": 1180591620717411303424}', b'{"id": -1}', b'{"id": "1"}', b"[1]")
    for cursor in ("bm9wZQ", *map(raw_cursor, odd)):
        error = await call(api, "GET", f"/orders?cursor={cursor}", buyer, 400)
        assert error["error"]["code"] == "pagination.invalid_cursor"


async def test_foreign_orders_do_not_exist_for_anyone_but_their_buyer_and_admins(
    api: TestClient, buyer: Person, other: Person, creator: Person, admin: Person
) -> None:
    mine = await product(api, creator_id=creator.id)
    order = await checkout(api, buyer, [(mine, 1)])
    path = f"/orders/{order['id']}"
    for who in (other, creator, admin):
        error = await call(api, "GET", path, who, 404)
        assert error["error"]["code"] == "orders.not_found"
        error = await call(api, "POST", f"{path}/cancel", who, 404)
        assert error["error"]["code"] == "orders.not_found"
        assert (await call(api, "GET", "/orders", who, 200))["items"] == []
    for who in (buyer, other, creator):
        await call(api, "GET", f"/admin{path}", who, 403)
        await call(api, "GET", "/admin/orders", who, 403)
    await call(api, "GET", path, None, 401)
    seen = await call(api, "GET", f"/admin{path}", admin, 200)
    assert seen["id"] == order["id"] and seen["items"] == order["items"]
    assert (await call(api, "GET", path, buyer, 200))["status"] == "pending_payment"
    await call(api, "GET", "/admin/orders/999999999", admin, 404)


async def test_admins_list_every_order_by_buyer_and_status(
    api: TestClient, buyer: Person, other: Person, admin: Person
) -> None:
    pack = await product(api)
    a = await checkout(api, buyer, [(pack, 1)])
    b = await checkout(api, other, [(pack, 1)])
    listed = await call(api, "GET", "/admin/orders", admin, 200)
    assert [o["id"] for o in listed["items"]] == [b["id"], a["id"]]
    theirs = await call(api, "GET", f"/admin/orders?user_id={other.id}", admin, 200)
    assert [o["id"] for o in theirs["items"]] == [b["id"]]
    paid = await call(api, "GET", "/admin/orders?status=paid", admin, 200)
    assert paid["items"] == []
