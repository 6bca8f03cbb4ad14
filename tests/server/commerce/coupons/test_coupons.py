"""Coupons: kinds, windows, minimums, scope, limits under concurrency, release."""

from __future__ import annotations

import asyncio
import itertools
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from models.base import utcnow
from server.commerce.catalog import service as catalog
from server.commerce.coupons import service
from server.keys import RUNTIME
from tests.helpers.commerce import product
from tests.helpers.env import on_both_engines
from tests.helpers.people import Person, call

_orders = itertools.count(900_000)


async def coupon(api: TestClient, who: Person, **fields: Any) -> dict[str, Any]:
    body = {"code": f"C{next(_orders)}", "kind": "fixed", "value": 500, **fields}
    return await call(api, "POST", "/coupons", who, 201, json=body)


async def quote(
    api: TestClient, who: Person, code: str, *products: dict[str, Any], status: int = 200
) -> Any:
    items = [{"product_id": p["id"]} for p in products]
    return await call(
        api, "POST", "/coupons/quote", who, status, json={"code": code, "items": items}
    )


async def test_fixed_and_percentage_discounts(
    api: TestClient, creator: Person, reader: Person
) -> None:
    pack = await product(api, creator, price=3000)
    fixed = await coupon(api, creator, code=" save5 ", value=500)
    assert fixed["code"] == "SAVE5" and fixed["creator_id"] == creator.id
    result = await quote(api, reader, "save5", pack)
    assert (result["subtotal"], result["discount"], result["total"]) == (3000, 500, 2500)
    big = await coupon(api, creator, value=99999)
    assert (await quote(api, reader, big["code"], pack))["total"] == 0
    pct = await coupon(api, creator, kind="percent", value=15, max_discount=400)
    assert (await quote(api, reader, pct["code"], pack))["discount"] == 400
    pct2 = await coupon(api, creator, kind="percent", value=15)
    assert (await quote(api, reader, pct2["code"], pack))["discount"] == 450


async def test_invalid_coupon_definitions(api: TestClient, creator: Person, reader: Person) -> None:
    now = utcnow()
    bad = [
        {"kind": "percent", "value": 101},
        {"kind": "fixed", "value": 0},
        {"kind": "fixed", "value": 10, "max_discount": 5},
        {"kind": "fixed", "value": 10, "code": "no spaces!"},
        {"kind": "fixed", "value": 10, "code": "优惠"},
        {"kind": "fixed", "value": 10, "total_limit": 0},
        {"kind": "fixed", "value": 10, "starts_at": now.isoformat(), "ends_at": now.isoformat()},
        {"kind": "fixed", "value": 10, "ends_at": "2030-01-01T00:00:00"},
    ]
    for body in bad:
        error = await call(api, "POST", "/coupons", creator, 422, json={"code": "OK1", **body})
        assert error["error"]["code"] == "request.validation", body
    await call(
        api, "POST", "/coupons", reader, 403, json={"code": "OK1", "kind": "fixed", "value": 1}
    )
    await coupon(api, creator, code="TAKEN")
    error = await call(
        api, "POST", "/coupons", creator, 409, json={"code": "taken", "kind": "fixed", "value": 1}
    )
    assert error["error"]["code"] == "coupons.code_taken"


async def test_why_a_code_does_not_apply(
    api: TestClient, creator: Person, other_creator: Person, reader: Person
) -> None:
    now = utcnow()
    pack = await product(api, creator, price=3000)
    theirs = await product(api, other_creator, price=3000)
    cases = [
        ({"ends_at": (now - timedelta(seconds=1)).isoformat()}, "expired"),
        ({"starts_at": (now + timedelta(hours=1)).isoformat()}, "not valid yet"),
        ({"min_amount": 5000}, "at least 5000"),
        ({"currency": "USD"}, "does not apply"),
    ]
    for fields, reason in cases:
        made = await coupon(api, creator, **fields)
        error = await quote(api, reader, made["code"], pack, status=422)
        assert error["error"]["code"] == "coupons.invalid" and reason in error["error"]["message"]
    mine = await coupon(api, creator)
    error = await quote(api, reader, mine["code"], theirs, status=422)
    assert "does not apply" in error["error"]["message"]
    both = await quote(api, reader, mine["code"], pack, theirs)
    assert both["product_ids"] == [pack["id"]] and both["total"] == 5500
    error = await quote(api, reader, "NOSUCHCODE", pack, status=422)
    assert "No coupon" in error["error"]["message"]
    await call(api, "PATCH", f"/coupons/{mine['id']}", creator, 200, json={"status": "disabled"})
    error = await quote(api, reader, mine["code"], pack, status=422)
    assert "disabled" in error["error"]["message"]


async def test_platform_coupons_apply_to_every_product(
    api: TestClient, creator: Person, other_creator: Person, admin: Person, reader: Person
) -> None:
    a = await product(api, creator, price=1000)
    b = await product(api, other_creator, price=2000)
    platform = await coupon(api, admin, kind="percent", value=10)
    assert platform["creator_id"] is None
    result = await quote(api, reader, platform["code"], a, b)
    assert result["discount"] == 300 and sorted(result["product_ids"]) == sorted([a["id"], b["id"]])


async def test_coupon_management_is_scoped(
    api: TestClient, creator: Person, other_creator: Person, admin: Person
) -> None:
    mine = await coupon(api, creator)
    await coupon(api, other_creator)
    path = f"/coupons/{mine['id']}"
    await call(api, "PATCH", path, other_creator, 404, json={"status": "disabled"})
    listed = await call(api, "GET", "/coupons", creator, 200)
    assert [c["id"] for c in listed["items"]] == [mine["id"]]
    assert len((await call(api, "GET", "/coupons", admin, 200))["items"]) == 2
    changed = await call(
        api, "PATCH", path, admin, 200, json={"total_limit": 3, "status": "disabled"}
    )
    assert changed["total_limit"] == 3
    assert (await call(api, "GET", "/coupons?status=active", creator, 200))["items"] == []
    await call(api, "PATCH", path, creator, 422, json={"status": None})
    first = await call(api, "GET", "/coupons?limit=1", admin, 200)
    rest = await call(api, "GET", f"/coupons?limit=1&cursor={first['next_cursor']}", admin, 200)
    assert rest["items"][0]["id"] == mine["id"] and rest["next_cursor"] is None


async def _redeem(api: TestClient, coupon_id: int, user_id: int, order_id: int) -> bool:
    try:
        async with api.app[RUNTIME].db.unit_of_work() as uow:
            await service.redeem(
                uow.session, coupon_id=coupon_id, user_id=user_id, order_id=order_id, amount=500
            )
    except service.CouponInvalid:
        return False
    return True


@on_both_engines
async def test_total_limit_holds_under_concurrency(
    api: TestClient, creator: Person, reader: Person
) -> None:
    made = await coupon(api, creator, total_limit=5, per_user_limit=None)
    buyers = [creator.id, reader.id]
    results = await asyncio.gather(
        *(_redeem(api, made["id"], buyers[i % 2], next(_orders)) for i in range(20))
    )
    assert results.count(True) == 5
    listed = await call(api, "GET", "/coupons", creator, 200)
    assert listed["items"][0]["used_count"] == 5


@on_both_engines
async def test_per_user_limit_holds_under_concurrency(
    api: TestClient, creator: Person, reader: Person
) -> None:
    made = await coupon(api, creator, per_user_limit=2)
    results = await asyncio.gather(
        *(_redeem(api, made["id"], reader.id, next(_orders)) for _ in range(10))
    )
    assert results.count(True) == 2
    pack = await product(api, creator, price=3000)
    error = await quote(api, reader, made["code"], pack, status=422)
    assert "as often as it allows" in error["error"]["message"]


async def test_redeem_is_idempotent_per_order_and_release_frees_the_use(
    api: TestClient, creator: Person, reader: Person
) -> None:
    made = await coupon(api, creator, total_limit=1)
    order_id = next(_orders)
    assert await _redeem(api, made["id"], reader.id, order_id)
    assert await _redeem(api, made["id"], reader.id, order_id)
    assert not await _redeem(api, made["id"], reader.id, next(_orders))
    db = api.app[RUNTIME].db
    for _ in range(2):
        async with db.unit_of_work() as uow:
            await service.release(uow.session, order_id=order_id)
    assert (await call(api, "GET", "/coupons", creator, 200))["items"][0]["used_count"] == 0
    assert await _redeem(api, made["id"], reader.id, next(_orders))
    assert not await _redeem(api, 987654321, reader.id, next(_orders))


async def test_quote_in_a_session_uses_lines(
    api: TestClient, creator: Person, reader: Person
) -> None:
    pack = await product(api, creator, price=3000)
    made = await coupon(api, creator, value=700)
    async with api.app[RUNTIME].db.unit_of_work() as uow:
        lines = await catalog.lines_for_checkout(uow.session, items=[(pack["id"], 1)])
        discount = await service.quote(
            uow.session, user_id=reader.id, code=made["code"].lower(), lines=lines
        )
        assert discount == service.Discount(
            coupon_id=made["id"], amount=700, product_ids=(pack["id"],)
        )
        await service.redeem(
            uow.session, coupon_id=discount.coupon_id, user_id=reader.id, order_id=1, amount=700
        )
    expired = await coupon(api, creator, ends_at=(utcnow() + timedelta(seconds=60)).isoformat())
    async with api.app[RUNTIME].db.unit_of_work() as uow:
        with pytest.raises(service.CouponInvalid):
            await service.redeem(
                uow.session,
                coupon_id=expired["id"],
                user_id=reader.id,
                order_id=2,
                amount=1,
                now=utcnow() + timedelta(minutes=5),
            )
