"""A published item tells a reader how to buy it: its one-off product and the plans that
include it (or its course)."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from tests.helpers.commerce import product
from tests.helpers.content import publish
from tests.helpers.people import Person, call


async def test_an_item_shows_its_product_and_the_plans_that_include_it(
    api: TestClient, creator: Person, moderator: Person, reader: Person
) -> None:
    course = await publish(
        api, creator, moderator, kind="course", access="paid", price_cents=9900, body=""
    )
    chapter = await publish(
        api,
        creator,
        moderator,
        parent_id=course["id"],
        title="第一章",
        access="paid",
        price_cents=300,
    )
    free = await publish(api, creator, moderator, title="免费")
    monthly = await product(api, creator, kind="plan", price=3000, interval="month", title="月度")
    yearly = await product(api, creator, kind="plan", price=30000, interval="year", title="年度")
    draft_plan = await product(api, creator, kind="plan", price=1, interval="month", status="draft")
    for plan, contents in ((monthly, [course["id"]]), (yearly, [chapter["id"]])):
        await call(
            api,
            "PUT",
            f"/products/{plan['id']}/contents",
            creator,
            200,
            json={"content_ids": contents},
        )
    await call(
        api,
        "PUT",
        f"/products/{draft_plan['id']}/contents",
        creator,
        200,
        json={"content_ids": [chapter["id"]]},
    )
    sold = (
        await call(api, "GET", f"/products?content_id={chapter['id']}&kind=content", None, 200)
    )["items"]

    shown = await call(api, "GET", f"/contents/{chapter['id']}", reader, 200)
    assert shown["product_id"] == sold[0]["id"] and shown["price_cents"] == 300
    assert shown["plans"] == [
        {
            "id": monthly["id"],
            "title": "月度",
            "price": 3000,
            "currency": "CNY",
            "interval": "month",
        },
        {
            "id": yearly["id"],
            "title": "年度",
            "price": 30000,
            "currency": "CNY",
            "interval": "year",
        },
    ]
    outline = await call(api, "GET", f"/contents/{course['id']}", None, 200)
    assert outline["product_id"] is not None and outline["product_id"] != shown["product_id"]
    assert [p["id"] for p in outline["plans"]] == [monthly["id"]]
    plain = await call(api, "GET", f"/contents/{free['id']}", None, 200)
    assert plain["product_id"] is None and plain["plans"] == []
