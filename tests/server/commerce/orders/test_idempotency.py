"""QUALITY 2 on checkout: one Idempotency-Key, one order, however often and concurrently it is
sent."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp.test_utils import TestClient

from tests.helpers.env import on_both_engines
from tests.helpers.orders import ADDRESS, order_count, product, stock_of
from tests.helpers.people import Person


async def post(api: TestClient, who: Person, key: str, body: dict[str, Any]) -> tuple[int, Any]:
    headers = {**who.headers, "Idempotency-Key": key}
    response = await api.post("/api/v1/orders", json=body, headers=headers)
    return response.status, await response.json()


@on_both_engines
async def test_the_same_key_and_body_twenty_times_at_once_make_one_order(
    api: TestClient, buyer: Person, other: Person
) -> None:
    mug = await product(api, kind="physical", price=2500, stock=50, credits=None)
    body = {"items": [{"product_id": mug, "quantity": 2}], "shipping_address": ADDRESS}
    answers = await asyncio.gather(*(post(api, buyer, "checkout-1", body) for _ in range(20)))
    created = [data for status, data in answers if status == 201]
    busy = [data for status, data in answers if status == 409]
    assert len(created) + len(busy) == 20 and created
    assert all(data == created[0] for data in created)
    assert {data["error"]["code"] for data in busy} <= {"idempotency.in_progress"}
    assert await order_count(api) == 1 and await stock_of(api, mug) == 48

    status, again = await post(api, buyer, "checkout-1", body)
    assert (status, again) == (201, created[0])
    status, error = await post(api, buyer, "checkout-1", {"items": [{"product_id": mug}]})
    assert status == 409 and error["error"]["code"] == "idempotency.mismatch"
    # Keys are the buyer's own: another buyer's same key is another order.
    status, theirs = await post(api, other, "checkout-1", body)
    assert status == 201 and theirs["id"] != created[0]["id"]
    assert await order_count(api) == 2 and await stock_of(api, mug) == 46
