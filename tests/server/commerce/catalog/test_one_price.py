"""One price, the content item's: its one-off product follows it, and the catalog lists what
sells an item (`GET /products?content_id=`)."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.helpers.commerce import paid_order, product
from tests.helpers.content import draft, publish
from tests.helpers.people import Person, call
from tests.invariants import assert_money_invariants


async def sellers(api: TestClient, content_id: int, who: Person | None = None) -> list[Any]:
    page = await call(api, "GET", f"/products?content_id={content_id}", who, 200)
    return list(page["items"])


async def one_off(api: TestClient, creator: Person, content_id: int) -> dict[str, Any]:
    """The item's one-off product in any status, as its creator lists it."""
    page = await call(api, "GET", "/me/products?limit=100", creator, 200)
    found = [
        p
        for p in page["items"]
        if p["content_id"] == content_id and p["kind"] in ("content", "course")
    ]
    assert len([p for p in found if p["status"] != "archived"]) <= 1, found
    return found[0]


async def test_a_published_paid_item_is_sold_through_one_product_at_its_price(
    api: TestClient, creator: Person, moderator: Person, reader: Person, engine: AsyncEngine
) -> None:
    item = await publish(api, creator, moderator, access="paid", price_cents=990, title="文章")
    [sold] = await sellers(api, item["id"])
    assert (sold["kind"], sold["price"], sold["currency"], sold["status"]) == (
        "content",
        990,
        "CNY",
        "active",
    )
    assert sold["creator_id"] == creator.id and sold["title"] == "文章"
    shown = await call(api, "GET", f"/contents/{item['id']}", reader, 200)
    assert shown["product_id"] == sold["id"] and shown["price_cents"] == 990

    await call(api, "PATCH", f"/contents/{item['id']}", creator, 200, json={"price_cents": 1500})
    [repriced] = await sellers(api, item["id"])
    assert repriced["id"] == sold["id"] and repriced["price"] == 1500

    order = await paid_order(api, reader, (sold["id"], 1))
    assert order.total == 1500
    await assert_money_invariants(engine)


async def test_a_course_is_sold_through_a_course_product(
    api: TestClient, creator: Person, moderator: Person
) -> None:
    course = await publish(
        api, creator, moderator, kind="course", access="paid", price_cents=19900, body=""
    )
    [sold] = await sellers(api, course["id"])
    assert (sold["kind"], sold["price"]) == ("course", 19900)


async def test_a_product_at_another_price_or_a_second_one_is_refused(
    api: TestClient, creator: Person, moderator: Person, admin: Person
) -> None:
    item = await publish(api, creator, moderator, access="paid", price_cents=990)
    [sold] = await sellers(api, item["id"])
    body = {"kind": "content", "title": "x", "content_id": item["id"], "status": "draft"}
    cheap = await call(api, "POST", "/products", creator, 422, json={**body, "price": 1})
    assert cheap["error"]["code"] == "catalog.invalid"
    assert "990" in cheap["error"]["fields"]["price"]
    second = await call(api, "POST", "/products", creator, 409, json={**body, "price": 990})
    assert second["error"]["code"] == "catalog.content_has_product"
    path = f"/products/{sold['id']}"
    for who in (creator, admin):
        error = await call(api, "PATCH", path, who, 422, json={"price": 5000})
        assert "price" in error["error"]["fields"]
    await call(api, "PATCH", path, creator, 422, json={"currency": "USD"})
    assert (await call(api, "PATCH", path, creator, 200, json={"title": "新标题"}))["price"] == 990


async def test_only_a_published_paid_item_is_on_sale(
    api: TestClient, creator: Person, moderator: Person, reader: Person
) -> None:
    draft_item = await draft(api, creator, access="paid", price_cents=990)
    assert await sellers(api, draft_item["id"]) == []
    active = {
        "kind": "content",
        "title": "x",
        "price": 990,
        "content_id": draft_item["id"],
        "status": "active",
    }
    error = await call(api, "POST", "/products", creator, 422, json=active)
    assert "status" in error["error"]["fields"]

    item = await publish(api, creator, moderator, access="paid", price_cents=990)
    path = f"/contents/{item['id']}"
    [sold] = await sellers(api, item["id"])
    await call(api, "PATCH", path, creator, 200, json={"access": "free", "price_cents": 0})
    assert await sellers(api, item["id"]) == []
    off = await one_off(api, creator, item["id"])
    assert (off["id"], off["status"], off["price"]) == (sold["id"], "draft", 0)
    assert (await call(api, "GET", path, reader, 200))["product_id"] is None

    await call(api, "PATCH", path, creator, 200, json={"access": "paid", "price_cents": 800})
    [back] = await sellers(api, item["id"])
    assert (back["id"], back["price"], back["status"]) == (sold["id"], 800, "active")

    await call(api, "POST", f"{path}/archive", creator, 200, json={})
    assert await sellers(api, item["id"]) == []
    await call(api, "POST", f"{path}/restore", creator, 200, json={})
    assert [p["id"] for p in await sellers(api, item["id"])] == [sold["id"]]


async def test_deleting_a_draft_archives_its_product(api: TestClient, creator: Person) -> None:
    item = await draft(api, creator, access="paid", price_cents=990)
    made = await product(
        api,
        creator,
        kind="content",
        title="x",
        price=990,
        content_id=item["id"],
        status="draft",
    )
    await call(api, "DELETE", f"/contents/{item['id']}", creator, 204)
    assert (await call(api, "GET", f"/products/{made['id']}", creator, 200))["status"] == "archived"


async def test_the_list_filters_to_what_sells_an_item(
    api: TestClient, creator: Person, other_creator: Person, moderator: Person
) -> None:
    item = await publish(api, creator, moderator, access="subscription", title="订阅文章")
    other = await publish(api, creator, moderator, access="paid", price_cents=500)
    plan = await product(api, creator, kind="plan", price=3000, interval="month", title="专栏")
    unrelated = await product(api, creator, kind="plan", price=100, interval="month")
    await product(api, creator)  # a credit pack sells no content
    await call(
        api,
        "PUT",
        f"/products/{plan['id']}/contents",
        creator,
        200,
        json={"content_ids": [item["id"], other["id"]]},
    )
    await call(
        api, "PUT", f"/products/{unrelated['id']}/contents", creator, 200, json={"content_ids": []}
    )
    assert [p["id"] for p in await sellers(api, item["id"])] == [plan["id"]]
    [other_sold] = [p for p in await sellers(api, other["id"]) if p["kind"] == "content"]
    assert [p["id"] for p in await sellers(api, other["id"])] == [plan["id"], other_sold["id"]]
    await call(api, "DELETE", f"/products/{plan['id']}", creator, 204)
    assert await sellers(api, item["id"]) == []
    for bad in ("0", "-1", "abc", str(2**63)):
        error = await call(api, "GET", f"/products?content_id={bad}", None, 422)
        assert "content_id" in str(error["error"]["fields"]), error
