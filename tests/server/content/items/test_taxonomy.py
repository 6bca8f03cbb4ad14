"""Categories (an ordered tree) and tags."""

from __future__ import annotations

from tests.helpers.content import draft
from tests.helpers.people import Person, call


async def category(api, admin: Person, slug: str, **fields) -> dict:
    body = {"name": slug.title(), "slug": slug, **fields}
    return await call(api, "POST", "/categories", admin, 201, json=body)


async def test_the_tree_lists_parents_before_children_in_order(api, admin: Person) -> None:
    tech = await category(api, admin, "tech", position=2)
    life = await category(api, admin, "life", position=1)
    ai = await category(api, admin, "ai", parent_id=tech["id"], position=1)
    web = await category(api, admin, "web", parent_id=tech["id"], position=0)
    tree = await call(api, "GET", "/categories", None, 200)
    assert [c["slug"] for c in tree] == ["life", "tech", "web", "ai"]
    assert {c["id"]: c["parent_id"] for c in tree}[ai["id"]] == tech["id"]
    assert life["parent_id"] is None and web["position"] == 0


async def test_only_admins_manage_categories_and_slugs_are_unique(
    api, admin: Person, creator: Person
) -> None:
    await call(api, "POST", "/categories", creator, 403, json={"name": "X", "slug": "x"})
    await category(api, admin, "x")
    data = await call(api, "POST", "/categories", admin, 409, json={"name": "X2", "slug": "x"})
    assert data["error"]["code"] == "content.slug_taken"
    for bad in ({"name": "Y", "slug": "Has Spaces"}, {"name": "", "slug": "y"}):
        await call(api, "POST", "/categories", admin, 422, json=bad)
    data = await call(
        api, "POST", "/categories", admin, 422, json={"name": "Z", "slug": "z", "parent_id": 999}
    )
    assert "body.parent_id" in data["error"]["fields"]


async def test_only_empty_leaf_categories_can_be_deleted(
    api, admin: Person, creator: Person
) -> None:
    parent = await category(api, admin, "parent")
    child = await category(api, admin, "child", parent_id=parent["id"])
    used = await category(api, admin, "used")
    await draft(api, creator, category_id=used["id"])
    for busy in (parent, used):
        data = await call(api, "DELETE", f"/categories/{busy['id']}", admin, 409)
        assert data["error"]["code"] == "content.category_in_use"
    await call(api, "DELETE", f"/categories/{child['id']}", admin, 204)
    await call(api, "DELETE", f"/categories/{parent['id']}", admin, 204)
    await call(api, "DELETE", f"/categories/{parent['id']}", admin, 404)


async def test_tags_are_normalised_counted_and_found_by_prefix(api, creator: Person) -> None:
    await draft(api, creator, tags=["Python", "ＡＩ", " machine   learning "])
    await draft(api, creator, tags=["python"])
    tags = await call(api, "GET", "/tags", None, 200)
    assert tags[0] == {"name": "python", "count": 2}
    assert {t["name"] for t in tags} == {"python", "ai", "machine learning"}
    found = await call(api, "GET", "/tags?q=MA", None, 200)
    assert [t["name"] for t in found] == ["machine learning"]
    assert await call(api, "GET", "/tags?q=%25", None, 200) == []


async def test_changing_settings_replaces_tags_and_checks_the_category(
    api, creator: Person, admin: Person
) -> None:
    item = await draft(api, creator, tags=["a", "b"])
    cat = await category(api, admin, "books")
    changed = await call(
        api,
        "PATCH",
        f"/contents/{item['id']}",
        creator,
        200,
        json={"tags": ["b", "c"], "category_id": cat["id"], "access": "paid", "price_cents": 500},
    )
    assert changed["tags"] == ["b", "c"] and changed["category_id"] == cat["id"]
    assert changed["access"] == "paid" and changed["price_cents"] == 500
    await call(api, "PATCH", f"/contents/{item['id']}", creator, 422, json={})
    await call(api, "PATCH", f"/contents/{item['id']}", creator, 422, json={"category_id": 999999})
    await call(
        api,
        "PATCH",
        f"/contents/{item['id']}",
        creator,
        422,
        json={"access": "paid", "price_cents": 0},
    )
