"""Drafts, autosave, review and publishing: every transition, and the illegal ones refused."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from models.notify.notifications import Notification
from tests.helpers.content import draft, publish
from tests.helpers.people import Person, call


async def test_a_reader_cannot_start_a_draft(api, reader: Person) -> None:
    body = {"kind": "article", "title": "t"}
    data = await call(api, "POST", "/contents", reader, 403, json=body)
    assert data["error"]["code"] == "auth.forbidden"


async def test_a_draft_is_private_until_published(api, creator: Person, reader: Person) -> None:
    item = await draft(api, creator, body="# Hello\n\nWorld\n")
    assert item["status"] == "draft" and item["revision"] == 1
    assert item["author_id"] == creator.id
    await call(api, "GET", f"/contents/{item['id']}", reader, 404)
    await call(api, "GET", f"/contents/{item['id']}", None, 404)
    await call(api, "GET", f"/contents/{item['id']}/draft", reader, 404)
    mine = await call(api, "GET", "/me/contents", creator, 200)
    assert [i["id"] for i in mine["items"]] == [item["id"]]


async def test_autosave_bumps_the_revision_and_refuses_a_stale_one(api, creator: Person) -> None:
    item = await draft(api, creator)
    path = f"/contents/{item['id']}/draft"
    saved = await call(api, "PUT", path, creator, 200, json={"revision": 1, "body": "v2"})
    assert saved["revision"] == 2
    stale = await call(api, "PUT", path, creator, 409, json={"revision": 1, "body": "lost?"})
    assert stale["error"]["code"] == "content.revision_conflict"
    assert "2" in stale["error"]["fields"]["body.revision"]
    current = await call(api, "GET", path, creator, 200)
    assert current["body"] == "v2" and current["revision"] == 2


async def test_another_author_cannot_save_my_draft(api, creator: Person) -> None:
    from tests.helpers.people import person

    other = await person(api, "creator")
    item = await draft(api, creator)
    path = f"/contents/{item['id']}/draft"
    await call(api, "PUT", path, other, 404, json={"revision": 1, "body": "mine now"})
    assert (await call(api, "GET", path, creator, 200))["body"] == "Free part.\n"


async def test_submit_review_and_publish(
    api, creator: Person, moderator: Person, reader: Person, engine: AsyncEngine
) -> None:
    item = await draft(api, creator, body="Hello **world**\n")
    submitted = await call(api, "POST", f"/contents/{item['id']}/submit", creator, 200, json={})
    assert submitted["status"] == "in_review"
    queue = await call(api, "GET", "/moderation/contents", moderator, 200)
    assert [i["id"] for i in queue["items"]] == [item["id"]]
    await call(api, "GET", "/moderation/contents", reader, 403)
    await call(api, "GET", f"/contents/{item['id']}", reader, 404)

    approved = await call(
        api, "POST", f"/moderation/contents/{item['id']}/approve", moderator, 200, json={}
    )
    assert approved["status"] == "published" and approved["published_version"] == 1
    seen = await call(api, "GET", f"/contents/{item['id']}", reader, 200)
    assert seen["html"] == "<p>Hello <strong>world</strong></p>\n"
    assert seen["can_read"] is True and seen["preview"] is False
    assert seen["author"]["id"] == creator.id
    async with engine.connect() as conn:
        types = (
            await conn.scalars(select(Notification.type).where(Notification.user_id == creator.id))
        ).all()
    assert "content.published" in types


async def test_approving_twice_or_what_was_never_submitted_is_refused(
    api, creator: Person, moderator: Person
) -> None:
    item = await draft(api, creator)
    path = f"/moderation/contents/{item['id']}/approve"
    assert (await call(api, "POST", path, moderator, 409, json={}))["error"]["code"] == (
        "content.illegal_transition"
    )
    await call(api, "POST", f"/contents/{item['id']}/submit", creator, 200, json={})
    await call(api, "POST", path, moderator, 200, json={})
    await call(api, "POST", path, moderator, 409, json={})


async def test_a_rejected_draft_comes_back_with_the_reason_and_can_be_resubmitted(
    api, creator: Person, moderator: Person, engine: AsyncEngine
) -> None:
    item = await draft(api, creator)
    await call(api, "POST", f"/contents/{item['id']}/submit", creator, 200, json={})
    missing = await call(
        api, "POST", f"/moderation/contents/{item['id']}/reject", moderator, 422, json={}
    )
    assert "body.reason" in missing["error"]["fields"]
    rejected = await call(
        api,
        "POST",
        f"/moderation/contents/{item['id']}/reject",
        moderator,
        200,
        json={"reason": "Cite your sources."},
    )
    assert rejected["status"] == "rejected" and rejected["review_note"] == "Cite your sources."
    async with engine.connect() as conn:
        body = await conn.scalar(
            select(Notification.body).where(Notification.type == "content.rejected")
        )
    assert body == "Cite your sources."
    again = await call(api, "POST", f"/contents/{item['id']}/submit", creator, 200, json={})
    assert again["status"] == "in_review"


async def test_an_update_of_published_content_waits_for_review_while_readers_see_the_old(
    api, creator: Person, moderator: Person, reader: Person
) -> None:
    item = await publish(api, creator, moderator, body="first\n")
    await call(
        api,
        "PUT",
        f"/contents/{item['id']}/draft",
        creator,
        200,
        json={"revision": item["revision"], "body": "second\n"},
    )
    pending = await call(api, "POST", f"/contents/{item['id']}/submit", creator, 200, json={})
    assert pending["status"] == "published"
    seen = await call(api, "GET", f"/contents/{item['id']}", reader, 200)
    assert seen["html"] == "<p>first</p>\n"
    await call(api, "POST", f"/moderation/contents/{item['id']}/approve", moderator, 200, json={})
    seen = await call(api, "GET", f"/contents/{item['id']}", reader, 200)
    assert seen["html"] == "<p>second</p>\n"


async def test_archive_and_restore(api, creator: Person, moderator: Person, reader: Person) -> None:
    item = await publish(api, creator, moderator)
    archived = await call(api, "POST", f"/contents/{item['id']}/archive", creator, 200)
    assert archived["status"] == "archived"
    await call(api, "GET", f"/contents/{item['id']}", reader, 404)
    await call(api, "POST", f"/contents/{item['id']}/archive", creator, 409)
    saved = await call(
        api,
        "PUT",
        f"/contents/{item['id']}/draft",
        creator,
        409,
        json={"revision": archived["revision"], "body": "x"},
    )
    assert saved["error"]["code"] == "content.illegal_transition"
    restored = await call(api, "POST", f"/contents/{item['id']}/restore", creator, 200)
    assert restored["status"] == "published"
    await call(api, "GET", f"/contents/{item['id']}", reader, 200)
    await call(api, "POST", f"/contents/{item['id']}/restore", creator, 409)


async def test_only_never_published_drafts_can_be_deleted(
    api, creator: Person, moderator: Person
) -> None:
    item = await draft(api, creator)
    await call(api, "DELETE", f"/contents/{item['id']}", creator, 204)
    await call(api, "GET", f"/contents/{item['id']}/draft", creator, 404)
    published = await publish(api, creator, moderator)
    data = await call(api, "DELETE", f"/contents/{published['id']}", creator, 409)
    assert data["error"]["code"] == "content.illegal_transition"


async def test_an_empty_article_cannot_be_submitted(api, creator: Person) -> None:
    item = await draft(api, creator, body="   ")
    data = await call(api, "POST", f"/contents/{item['id']}/submit", creator, 422, json={})
    assert data["error"]["code"] == "request.validation"


async def test_with_review_off_submitting_publishes(
    make_client, auth_settings, database_url
) -> None:
    from tests.helpers.env import make_settings
    from tests.helpers.people import person

    api = await make_client(make_settings(database_url=database_url, content_review_required=False))
    author = await person(api, "creator")
    item = await draft(api, author)
    done = await call(api, "POST", f"/contents/{item['id']}/submit", author, 200, json={})
    assert done["status"] == "published"
    await call(api, "GET", f"/contents/{item['id']}", None, 200)


async def test_bad_input_is_refused_with_fields(api, creator: Person) -> None:
    cases = [
        ({"kind": "poem", "title": "t"}, "body.kind"),
        ({"kind": "article", "title": ""}, "body.title"),
        ({"kind": "article", "title": "t", "access": "paid", "price_cents": 0}, "body"),
        ({"kind": "article", "title": "t", "price_cents": -1}, "body.price_cents"),
        (
            {"kind": "article", "title": "t", "tags": ["x"] * 3 + [str(i) for i in range(11)]},
            "body.tags",
        ),
        ({"kind": "article", "title": "t", "cover_url": "javascript:alert(1)"}, "body.cover_url"),
        ({"kind": "article", "title": "t", "category_id": 999999}, "body.category_id"),
        ({"kind": "article", "title": "t", "parent_id": 999999}, "body.parent_id"),
        ({"kind": "article", "title": "t", "surprise": 1}, "body.surprise"),
    ]
    for body, field in cases:
        data = await call(api, "POST", "/contents", creator, 422, json=body)
        assert any(k.startswith(field) for k in data["error"]["fields"]), (body, data)


async def test_paid_content_needs_a_price(api, creator: Person) -> None:
    data = await call(
        api,
        "POST",
        "/contents",
        creator,
        422,
        json={"kind": "article", "title": "t", "access": "paid"},
    )
    assert "body.price_cents" in data["error"]["fields"]


async def test_a_long_chinese_body_is_kept_whole_and_a_longer_one_refused(
    api, creator: Person
) -> None:
    body = "知识付费" * 37_500  # 150,000 characters, 450 KB of UTF-8
    item = await draft(api, creator, body=body)
    assert (await call(api, "GET", f"/contents/{item['id']}/draft", creator, 200))["body"] == body
    data = await call(
        api,
        "POST",
        "/contents",
        creator,
        422,
        json={"kind": "article", "title": "t", "body": "a" * 200_001},
    )
    assert "body.body" in data["error"]["fields"]
