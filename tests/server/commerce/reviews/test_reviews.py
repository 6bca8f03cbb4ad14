"""Reviews: verified buyers only, one per order item, images of one's own, exact aggregates."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import update

from models.commerce.catalog import Product
from models.commerce.orders import Order
from models.content.media import Media
from server.keys import RUNTIME
from tests.helpers.commerce import order_item_ids, paid_order, product
from tests.helpers.people import Person, call, person


async def image(
    api: TestClient, owner: Person, *, status: str = "ready", kind: str = "image"
) -> int:
    """An uploaded image as the media job leaves it (processed, with its variants)."""
    async with api.app[RUNTIME].db.unit_of_work() as uow:
        media = Media(
            owner_id=owner.id,
            kind=kind,
            status=status,
            storage_key=f"media/{owner.id}/orig",
            content_type="image/jpeg",
            size_bytes=10,
            variants={"large": f"media/{owner.id}/large.jpg"},
            details={},
        )
        uow.session.add(media)
        await uow.session.flush()
        return media.id


async def review(
    api: TestClient, who: Person, product_id: int, status: int = 201, **fields: Any
) -> Any:
    body = {"rating": 5, "body": "很好", **fields}
    return await call(api, "POST", f"/products/{product_id}/reviews", who, status, json=body)


async def rating(api: TestClient, product_id: int) -> Any:
    return await call(api, "GET", f"/products/{product_id}/rating", None, 200)


async def test_only_buyers_review_once_per_purchase(
    api: TestClient, creator: Person, reader: Person
) -> None:
    goods = await product(api, creator, kind="physical", price=4500, stock=10)
    error = await review(api, reader, goods["id"], 403)
    assert error["error"]["code"] == "reviews.not_a_buyer"
    order = await paid_order(api, reader, (goods["id"], 1))
    assert order.status in ("paid", "fulfilled")
    first = await review(api, reader, goods["id"], rating=4)
    assert first["verified_purchase"] and first["author"]["id"] == reader.id
    assert first["order_item_id"] == (await order_item_ids(api, order.id))[0]
    again = await review(api, reader, goods["id"], 409)
    assert again["error"]["code"] == "reviews.already_reviewed"
    await paid_order(api, reader, (goods["id"], 2))
    await review(api, reader, goods["id"], rating=2)
    assert (await rating(api, goods["id"]))["distribution"] == {
        "1": 0,
        "2": 1,
        "3": 0,
        "4": 1,
        "5": 0,
    }
    detail = await call(api, "GET", f"/products/{goods['id']}", None, 200)
    assert detail["rating_count"] == 2 and detail["rating_average"] == 3.0


async def test_unpaid_and_refunded_orders_do_not_count(
    api: TestClient, creator: Person, reader: Person
) -> None:
    goods = await product(api, creator, kind="physical", price=4500)
    from server.commerce.orders import service as orders

    async with api.app[RUNTIME].db.unit_of_work() as uow:
        pending = await orders.create_order(uow, user_id=reader.id, items=[(goods["id"], 1)])
    await review(api, reader, goods["id"], 403)
    item_id = (await order_item_ids(api, pending.id))[0]
    async with api.app[RUNTIME].db.unit_of_work() as uow:
        await uow.session.execute(
            update(Order).where(Order.id == pending.id).values(status="refunded")
        )
    await review(api, reader, goods["id"], 403, order_item_id=item_id)


async def test_naming_someone_elses_purchase_is_refused(
    api: TestClient, creator: Person, reader: Person
) -> None:
    other = await person(api)
    goods = await product(api, creator, kind="physical", price=100)
    theirs = await paid_order(api, other, (goods["id"], 1))
    await paid_order(api, reader, (goods["id"], 1))
    item = (await order_item_ids(api, theirs.id))[0]
    await review(api, reader, goods["id"], 403, order_item_id=item)
    await review(api, reader, goods["id"], 201)
    await review(api, other, goods["id"], 201, order_item_id=item)


async def test_bad_inputs_are_refused(api: TestClient, creator: Person, reader: Person) -> None:
    other = await person(api)
    goods = await product(api, creator, kind="physical", price=100)
    await paid_order(api, reader, (goods["id"], 1))
    for fields in (
        {"rating": 0},
        {"rating": 6},
        {"rating": "five"},
        {"body": "x" * 2001},
        {"images": list(range(1, 11))},
    ):
        error = await review(api, reader, goods["id"], 422, **fields)
        assert error["error"]["code"] == "request.validation"
    theirs = await image(api, other)
    video = await image(api, reader, kind="video")
    for ids in ([theirs], [video], [123456789]):
        error = await review(api, reader, goods["id"], 422, images=ids)
        assert error["error"]["code"] == "reviews.invalid_images"
    await review(api, reader, 987654321, 404)
    assert (await rating(api, goods["id"]))["rating_count"] == 0


async def test_images_edit_delete_and_privacy(
    api: TestClient, creator: Person, reader: Person, admin: Person
) -> None:
    other = await person(api)
    goods = await product(api, creator, kind="physical", price=100)
    await paid_order(api, reader, (goods["id"], 1))
    await paid_order(api, reader, (goods["id"], 1))
    ready, processing = await image(api, reader), await image(api, reader, status="processing")
    made = await review(api, reader, goods["id"], rating=5, images=[ready, processing, ready])
    assert [i["id"] for i in made["images"]] == [ready, processing]
    assert "/files/media/" in made["images"][0]["url"] and made["images"][1]["url"] is None
    path = f"/reviews/{made['id']}"
    await call(api, "PATCH", path, other, 404, json={"rating": 1})
    await call(api, "DELETE", path, other, 404)
    await call(api, "PATCH", path, creator, 404, json={"rating": 1})
    await call(api, "PATCH", path, reader, 422, json={"rating": None})
    edited = await call(
        api, "PATCH", path, reader, 200, json={"rating": 3, "body": "一般", "images": []}
    )
    assert edited["rating"] == 3 and edited["images"] == [] and edited["body"] == "一般"
    second = await review(api, reader, goods["id"], rating=1)
    summary = await rating(api, goods["id"])
    assert (summary["rating_count"], summary["rating_average"]) == (2, 2.0)
    page = await call(api, "GET", f"/products/{goods['id']}/reviews", None, 200)
    assert [r["id"] for r in page["items"]] == [second["id"], made["id"]]
    only = await call(api, "GET", f"/products/{goods['id']}/reviews?rating=3", None, 200)
    assert [r["id"] for r in only["items"]] == [made["id"]]
    first = await call(api, "GET", f"/products/{goods['id']}/reviews?limit=1", None, 200)
    rest = await call(
        api,
        "GET",
        f"/products/{goods['id']}/reviews?limit=1&cursor={first['next_cursor']}",
        None,
        200,
    )
    assert rest["items"][0]["id"] == made["id"]
    await call(api, "DELETE", path, reader, 204)
    await call(api, "DELETE", f"/reviews/{second['id']}", admin, 204)
    summary = await rating(api, goods["id"])
    assert (summary["rating_count"], summary["rating_average"]) == (0, None)
    await call(api, "DELETE", path, reader, 404)


async def test_concurrent_reviews_keep_the_aggregate_exact(
    api: TestClient, creator: Person
) -> None:
    goods = await product(api, creator, kind="physical", price=100)
    buyers = [await person(api) for _ in range(3)]
    for buyer in buyers:
        await paid_order(api, buyer, (goods["id"], 1))
    answers = await asyncio.gather(
        *(
            api.post(
                f"/api/v1/products/{goods['id']}/reviews",
                json={"rating": 1 + i % 5},
                headers=b.headers,
            )
            for i, b in enumerate(buyers)
            for _ in range(2)
        )
    )
    assert sorted(a.status for a in answers) == [201] * 3 + [409] * 3
    async with api.app[RUNTIME].db.read() as session:
        row = await session.get(Product, goods["id"])
        assert row is not None and row.rating_count == 3
    summary = await rating(api, goods["id"])
    assert sum(summary["distribution"].values()) == 3
    assert summary["rating_average"] == 2.0


async def test_drafts_have_no_public_reviews(api: TestClient, creator: Person) -> None:
    hidden = await product(api, creator, status="draft")
    await call(api, "GET", f"/products/{hidden['id']}/reviews", None, 404)
    await call(api, "GET", f"/products/{hidden['id']}/rating", None, 404)


async def test_banned_words_are_refused_and_reviews_can_be_reported(
    api: TestClient, creator: Person, reader: Person
) -> None:
    goods = await product(api, creator, kind="physical", price=100)
    await paid_order(api, reader, (goods["id"], 1))
    error = await review(api, reader, goods["id"], 422, body="加我微信，刷单返利")
    assert error["error"]["code"] == "moderation.flagged" and "body" in error["error"]["fields"]
    made = await review(api, reader, goods["id"], body="好书")
    await call(api, "PATCH", f"/reviews/{made['id']}", reader, 422, json={"body": "信用卡套现"})
    report = {"target_type": "review", "target_id": made["id"], "reason": "spam"}
    await call(api, "POST", "/reports", creator, 201, json=report)
    await call(api, "POST", "/reports", reader, 422, json=report)
    await call(api, "POST", "/reports", creator, 404, json={**report, "target_id": 987654321})
