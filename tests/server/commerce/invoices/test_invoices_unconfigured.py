"""Without an e-invoice provider, invoice requests are refused and nothing is stored."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from tests.helpers.commerce import paid_order, product
from tests.helpers.people import Person, call


async def test_no_provider_answers_503(api: TestClient, creator: Person, reader: Person) -> None:
    goods = await product(api, creator, kind="physical", price=100)
    order = await paid_order(api, reader, (goods["id"], 1))
    body = {"title_type": "personal", "title": "张三", "email": "z@example.com"}
    error = await call(api, "POST", f"/orders/{order.id}/invoice", reader, 503, json=body)
    assert error["error"]["code"] == "invoices.unavailable"
    await call(api, "GET", f"/orders/{order.id}/invoice", reader, 404)
