"""The cart: merging, changing, removing, current prices, and privacy."""

from __future__ import annotations

import asyncio

from aiohttp.test_utils import TestClient

from server.commerce.cart import service as cart_service
from server.keys import RUNTIME
from tests.helpers.commerce import product
from tests.helpers.people import Person, call


async def test_adding_merges_and_totals_follow_current_prices(
    api: TestClient, creator: Person, reader: Person
) -> None:
    goods = await product(api, creator, kind="physical", title="书", price=4500, stock=10)
    pack = await product(api, creator, price=1000)
    await call(
        api, "POST", "/cart/items", reader, 200, json={"product_id": goods["id"], "quantity": 2}
    )
    cart = await call(
        api, "POST", "/cart/items", reader, 200, json={"product_id": goods["id"], "quantity": 3}
    )
    assert cart["items"][0]["quantity"] == 5 and cart["totals"] == {"CNY": 22500}
    await call(
        api, "POST", "/cart/items", reader, 200, json={"product_id": pack["id"], "quantity": 4}
    )
    cart = await call(api, "POST", "/cart/items", reader, 200, json={"product_id": pack["id"]})
    assert [i["quantity"] for i in cart["items"]] == [5, 1] and cart["count"] == 6
    await call(api, "PATCH", f"/products/{pack['id']}", creator, 200, json={"price": 800})
    await call(api, "PATCH", f"/products/{goods['id']}", creator, 200, json={"status": "draft"})
    cart = await call(api, "GET", "/cart", reader, 200)
    assert cart["items"][0]["available"] is False and cart["items"][1]["unit_price"] == 800
    assert cart["totals"] == {"CNY": 800} and cart["count"] == 1
    async with api.app[RUNTIME].db.read() as session:
        items = await cart_service.checkout_items(session, user_id=reader.id)
    assert items == [(goods["id"], 5), (pack["id"], 1)]


async def test_change_and_remove(api: TestClient, creator: Person, reader: Person) -> None:
    goods = await product(api, creator, kind="physical", price=100, stock=3)
    path = f"/cart/items/{goods['id']}"
    await call(api, "PATCH", path, reader, 404, json={"quantity": 1})
    await call(api, "POST", "/cart/items", reader, 200, json={"product_id": goods["id"]})
    cart = await call(api, "PATCH", path, reader, 200, json={"quantity": 3})
    assert cart["totals"] == {"CNY": 300}
    error = await call(api, "PATCH", path, reader, 409, json={"quantity": 4})
    assert error["error"]["code"] == "catalog.out_of_stock"
    await call(api, "PATCH", path, reader, 422, json={"quantity": 0})
    await call(api, "PATCH", path, reader, 422, json={"quantity": "many"})
    cart = await call(api, "DELETE", path, reader, 200)
    assert cart == {"items": [], "totals": {}, "count": 0}
    await call(api, "DELETE", path, reader, 404)


async def test_unavailable_products_are_refused(
    api: TestClient, creator: Person, reader: Person
) -> None:
    hidden = await product(api, creator, status="draft")
    error = await call(api, "POST", "/cart/items", reader, 409, json={"product_id": hidden["id"]})
    assert error["error"]["code"] == "catalog.unavailable"
    await call(api, "POST", "/cart/items", reader, 409, json={"product_id": 123456789})
    await call(api, "POST", "/cart/items", reader, 422, json={"product_id": -1})
    await call(api, "GET", "/cart", None, 401)


async def test_carts_are_private(api: TestClient, creator: Person, reader: Person) -> None:
    from tests.helpers.people import person

    other = await person(api)
    pack = await product(api, creator)
    await call(api, "POST", "/cart/items", reader, 200, json={"product_id": pack["id"]})
    assert (await call(api, "GET", "/cart", other, 200))["items"] == []
    await call(api, "DELETE", f"/cart/items/{pack['id']}", other, 404)
    await call(api, "PATCH", f"/cart/items/{pack['id']}", other, 404, json={"quantity": 1})
    assert len((await call(api, "GET", "/cart", reader, 200))["items"]) == 1
    async with api.app[RUNTIME].db.unit_of_work() as uow:
        await cart_service.clear(uow.session, user_id=other.id, product_ids=[pack["id"]])
    assert len((await call(api, "GET", "/cart", reader, 200))["items"]) == 1
    async with api.app[RUNTIME].db.unit_of_work() as uow:
        await cart_service.clear(uow.session, user_id=reader.id, product_ids=[pack["id"]])
        await cart_service.clear(uow.session, user_id=reader.id, product_ids=[])
    assert (await call(api, "GET", "/cart", reader, 200))["items"] == []


async def test_concurrent_first_adds_make_one_cart(
    api: TestClient, creator: Person, reader: Person
) -> None:
    goods = await product(api, creator, kind="physical", price=100, stock=100)
    body = {"product_id": goods["id"], "quantity": 1}
    answers = await asyncio.gather(
        *(api.post("/api/v1/cart/items", json=body, headers=reader.headers) for _ in range(8))
    )
    assert [a.status for a in answers] == [200] * 8
    cart = await call(api, "GET", "/cart", reader, 200)
    assert cart["items"][0]["quantity"] == 8
