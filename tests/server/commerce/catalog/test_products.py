"""Products: kinds and their rules, ownership, the public list, plan contents."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient

from server.keys import RUNTIME
from tests.helpers.commerce import product
from tests.helpers.content import draft
from tests.helpers.people import Person, call


async def test_creator_sells_own_content_and_course(api: TestClient, creator: Person) -> None:
    # One price: a one-off product sells its item at the item's price (test_one_price.py).
    article = await draft(api, creator, access="paid", price_cents=990)
    course = await draft(
        api, creator, kind="course", title="课程", access="paid", price_cents=19900
    )
    item = await product(
        api,
        creator,
        kind="content",
        title="文章",
        price=990,
        content_id=article["id"],
        status="draft",
    )
    assert item["creator_id"] == creator.id and item["price"] == 990 and item["currency"] == "CNY"
    bundle = await product(
        api, creator, kind="course", price=19900, content_id=course["id"], status="draft"
    )
    assert bundle["kind"] == "course" and bundle["rating_average"] is None
    wrong = await call(
        api,
        "POST",
        "/products",
        creator,
        422,
        json={"kind": "course", "title": "x", "price": 1, "content_id": article["id"]},
    )
    assert wrong["error"]["code"] == "catalog.invalid" and "content_id" in wrong["error"]["fields"]


async def test_content_product_must_be_the_creators_own(
    api: TestClient, creator: Person, other_creator: Person
) -> None:
    theirs = await draft(api, other_creator)
    error = await call(
        api,
        "POST",
        "/products",
        creator,
        422,
        json={"kind": "content", "title": "x", "price": 1, "content_id": theirs["id"]},
    )
    assert error["error"]["fields"]["content_id"] == "Not a content item of yours."
    missing = await call(
        api,
        "POST",
        "/products",
        creator,
        422,
        json={"kind": "content", "title": "x", "price": 1},
    )
    assert "content_id" in missing["error"]["fields"]


async def test_kind_rules(api: TestClient, creator: Person) -> None:
    bad = [
        ({"kind": "credits", "title": "x", "price": 1}, "credits"),
        ({"kind": "credits", "title": "x", "price": 1, "credits": 0}, "body.credits"),
        ({"kind": "plan", "title": "x", "price": 1}, "interval"),
        ({"kind": "plan", "title": "x", "price": 1, "interval": "week"}, "body.interval"),
        ({"kind": "physical", "title": "x", "price": 1, "stock": -1}, "body.stock"),
        ({"kind": "physical", "title": "x", "price": 1, "credits": 5}, "credits"),
        (
            {"kind": "credits", "title": "x", "price": 1, "credits": 5, "trial_days": 3},
            "trial_days",
        ),
        ({"kind": "credits", "title": "x", "price": -1, "credits": 5}, "body.price"),
        ({"kind": "credits", "title": "x", "price": 1.5, "credits": 5}, "body.price"),
        (
            {"kind": "credits", "title": "x", "price": 1, "credits": 5, "currency": "rmb"},
            "body.currency",
        ),
        ({"kind": "credits", "title": " ", "price": 1, "credits": 5}, "body.title"),
        (
            {"kind": "credits", "title": "x", "price": 1, "credits": 5, "category_id": 999999},
            "category_id",
        ),
        ({"kind": "gift", "title": "x", "price": 1}, "body.kind"),
        (
            {
                "kind": "credits",
                "title": "x",
                "price": 1,
                "credits": 5,
                "cover_url": "javascript:x",
            },
            "body.cover_url",
        ),
    ]
    for body, field in bad:
        error = await call(api, "POST", "/products", creator, 422, json=body)
        assert field in error["error"]["fields"], (body, error)
    plan = await product(api, creator, kind="plan", price=3000, interval="month", trial_days=7)
    assert plan["interval"] == "month" and plan["trial_days"] == 7
    goods = await product(api, creator, kind="physical", title="笔记本", price=4500, stock=3)
    assert goods["stock"] == 3
    page = await call(api, "GET", "/me/products", creator, 200)
    assert {p["id"] for p in page["items"]} == {plan["id"], goods["id"]}


async def test_readers_cannot_sell_and_admins_make_platform_products(
    api: TestClient, reader: Person, admin: Person
) -> None:
    body = {"kind": "credits", "title": "x", "price": 1, "credits": 5}
    await call(api, "POST", "/products", reader, 403, json=body)
    await call(api, "POST", "/products", None, 401, json=body)
    platform = await product(api, admin)
    assert platform["creator_id"] is None


async def test_only_the_creator_or_an_admin_changes_a_product(
    api: TestClient, creator: Person, other_creator: Person, admin: Person
) -> None:
    item = await product(api, creator)
    path = f"/products/{item['id']}"
    error = await call(api, "PATCH", path, other_creator, 403, json={"price": 1})
    assert error["error"]["code"] == "catalog.not_owner"
    await call(api, "DELETE", path, other_creator, 403)
    hidden = await product(api, creator, status="draft")
    await call(api, "PATCH", f"/products/{hidden['id']}", other_creator, 404, json={"price": 1})
    await call(api, "GET", f"/products/{hidden['id']}", other_creator, 404)
    await call(api, "GET", f"/products/{hidden['id']}", None, 404)
    assert (await call(api, "GET", f"/products/{hidden['id']}", creator, 200))["status"] == "draft"
    cover = "https://cdn.example.com/p/1.jpg"
    changed = await call(
        api, "PATCH", path, creator, 200, json={"price": 1200, "title": "新", "cover_url": cover}
    )
    assert changed["price"] == 1200 and changed["title"] == "新" and changed["cover_url"] == cover
    cleared = await call(api, "PATCH", path, creator, 200, json={"cover_url": None})
    assert cleared["cover_url"] is None
    await call(api, "PATCH", path, creator, 422, json={"title": None})
    await call(api, "PATCH", path, creator, 422, json={"credits": None})
    await call(api, "PATCH", path, admin, 200, json={"status": "draft"})
    await call(api, "DELETE", path, creator, 204)
    assert (await call(api, "GET", path, creator, 200))["status"] == "archived"
    assert (await call(api, "GET", path, other_creator, 404))["error"][
        "code"
    ] == "catalog.not_found"
    await call(api, "GET", "/products/0", None, 422)


async def test_public_list_filters_and_pages(
    api: TestClient, creator: Person, other_creator: Person, admin: Person
) -> None:
    async with api.app[RUNTIME].db.unit_of_work() as uow:
        from models.content.items import Category

        category = Category(name="编程", slug="code-catalog")
        uow.session.add(category)
        await uow.session.flush()
        category_id = category.id
    a = await product(api, creator, price=100)
    b = await product(api, creator, price=500, category_id=category_id)
    c = await product(api, other_creator, kind="plan", price=3000, interval="year")
    await product(api, creator, status="draft")
    archived = await product(api, creator)
    await call(api, "DELETE", f"/products/{archived['id']}", creator, 204)

    async def ids(query: str) -> list[int]:
        page = await call(api, "GET", f"/products?{query}", None, 200)
        return [item["id"] for item in page["items"]]

    assert await ids("") == [c["id"], b["id"], a["id"]]
    assert await ids("kind=plan") == [c["id"]]
    assert await ids(f"category_id={category_id}") == [b["id"]]
    assert await ids(f"creator_id={creator.id}") == [b["id"], a["id"]]
    assert await ids("min_price=200&max_price=1000") == [b["id"]]
    first = await call(api, "GET", "/products?limit=2", None, 200)
    assert [i["id"] for i in first["items"]] == [c["id"], b["id"]] and first["next_cursor"]
    rest = await call(api, "GET", f"/products?limit=2&cursor={first['next_cursor']}", None, 200)
    assert [i["id"] for i in rest["items"]] == [a["id"]] and rest["next_cursor"] is None
    bad = await call(api, "GET", "/products?cursor=bm9wZQ", None, 400)
    assert bad["error"]["code"] == "pagination.invalid_cursor"
    await call(api, "GET", "/products?kind=gift", None, 422)
    await call(api, "GET", "/products?min_price=-1", None, 422)


async def test_plan_includes_only_the_creators_contents(
    api: TestClient, creator: Person, other_creator: Person
) -> None:
    mine = [await draft(api, creator, title=f"第{i}篇") for i in range(2)]
    theirs = await draft(api, other_creator)
    plan = await product(api, creator, kind="plan", price=3000, interval="month")
    path = f"/products/{plan['id']}/contents"
    result = await call(
        api, "PUT", path, creator, 200, json={"content_ids": [m["id"] for m in mine]}
    )
    assert [i["content_id"] for i in result["items"]] == [m["id"] for m in mine]
    error = await call(api, "PUT", path, creator, 422, json={"content_ids": [theirs["id"]]})
    assert str(theirs["id"]) in error["error"]["fields"]["content_ids"]
    await call(api, "PUT", path, other_creator, 403, json={"content_ids": [theirs["id"]]})
    listed = await call(api, "GET", path, None, 200)
    assert len(listed["items"]) == 2
    result = await call(api, "PUT", path, creator, 200, json={"content_ids": [mine[1]["id"]]})
    assert [i["content_id"] for i in result["items"]] == [mine[1]["id"]]
    pack = await product(api, creator)
    await call(
        api, "PUT", f"/products/{pack['id']}/contents", creator, 422, json={"content_ids": []}
    )


async def test_an_admin_changing_a_creators_product_is_audited(
    api: TestClient, creator: Person, admin: Person
) -> None:
    from sqlalchemy import select

    from models.audit import AdminLog

    item = await product(api, creator)
    await call(api, "PATCH", f"/products/{item['id']}", creator, 200, json={"price": 5})
    await call(api, "PATCH", f"/products/{item['id']}", admin, 200, json={"price": 7})
    await call(api, "DELETE", f"/products/{item['id']}", admin, 204)
    async with api.app[RUNTIME].db.read() as session:
        rows = (await session.scalars(select(AdminLog).order_by(AdminLog.id))).all()
    assert [(r.action, r.target_id, r.admin_id) for r in rows] == [
        ("product.updated", item["id"], admin.id),
        ("product.archived", item["id"], admin.id),
    ]
    assert rows[0].detail == {"fields": ["price"]}


async def test_a_list_page_costs_one_query_whatever_its_size(
    api: TestClient, creator: Person
) -> None:
    from typing import Any

    from sqlalchemy import event

    from server.commerce.catalog import queries
    from server.commerce.catalog.schemas import ProductQuery

    for _ in range(12):
        await product(api, creator)
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    engine = api.app[RUNTIME].db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        sizes = []
        for limit in (2, 11):
            statements.clear()
            async with api.app[RUNTIME].db.read() as session:
                page = await queries.list_products(session, query=ProductQuery(limit=limit))
            sizes.append((len(page.items), len(statements)))
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert sizes == [(2, 1), (11, 1)]


async def test_forged_cursors_are_refused(api: TestClient) -> None:
    import base64

    for position in ('{"id":9223372036854775809}', '{"id":"7"}', '{"id":true}', '{"id":-1}', "{}"):
        cursor = base64.urlsafe_b64encode(position.encode()).decode().rstrip("=")
        error = await call(api, "GET", f"/products?cursor={cursor}", None, 400)
        assert error["error"]["code"] == "pagination.invalid_cursor"


@pytest.mark.parametrize(
    "filters",
    [{}, {"kind": "plan"}, {"creator_id": 1}, {"category_id": 1}, {"min_price": 100}],
)
async def test_list_pages_read_an_index_in_order_without_sorting(
    api: TestClient, creator: Person, filters: dict[str, int | str]
) -> None:
    from sqlalchemy import text

    from models.commerce.catalog import Product
    from server.commerce.catalog import queries
    from server.commerce.catalog.schemas import ProductQuery

    for _ in range(3):
        await product(api, creator)
    statement = queries.products_statement(ProductQuery(**filters))  # type: ignore[arg-type]
    statement = statement.where(Product.id < 10**9).order_by(Product.id.desc()).limit(21)
    runtime = api.app[RUNTIME]
    compiled = statement.compile(runtime.db.engine, compile_kwargs={"literal_binds": True})
    async with runtime.db.read() as session:
        plan = (await session.execute(text(f"EXPLAIN {compiled}"))).mappings().all()
    row = next(row for row in plan if row["table"] == "products")
    assert "filesort" not in (row["Extra"] or ""), plan
    assert row["key"] is not None, plan
