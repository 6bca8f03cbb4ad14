"""The cart and a review on the embedded SQLite database (its own upsert and no row locks)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from server.app import create_app
from server.keys import RUNTIME
from tests.helpers.commerce import paid_order, product
from tests.helpers.env import migrated_embedded_settings
from tests.helpers.people import call, person


async def test_cart_and_reviews_work_on_sqlite(aiohttp_client: Any, tmp_path: Path) -> None:
    api = await aiohttp_client(create_app(await migrated_embedded_settings(tmp_path)))
    assert api.app[RUNTIME].db.engine.dialect.name == "sqlite"
    creator, reader = await person(api, "creator"), await person(api)
    goods = await product(api, creator, kind="physical", price=300, stock=4)
    for _ in range(2):
        cart = await call(api, "POST", "/cart/items", reader, 200, json={"product_id": goods["id"]})
    assert cart["items"][0]["quantity"] == 2 and cart["totals"] == {"CNY": 600}
    # The in-process runner is live here: give the order's timeout job no chance to run first.
    order = await paid_order(api, reader, (goods["id"], 1), timeout_seconds=3600)
    assert order.status in ("paid", "fulfilled"), order.status
    made = await call(
        api, "POST", f"/products/{goods['id']}/reviews", reader, 201, json={"rating": 4}
    )
    assert made["rating"] == 4
    assert (await call(api, "GET", f"/products/{goods['id']}/rating", None, 200))[
        "rating_count"
    ] == 1
