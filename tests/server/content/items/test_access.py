"""The access policy matrix: anonymous, reader, buyer, subscriber, member, author, moderator,
on detail, lists and content rooms; previews never leak what is past the paywall."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncEngine

from models.content.items import Entitlement, PlanContent
from server.content.items import access
from server.content.items.queries import room_check
from server.http.guards import Principal
from server.keys import RUNTIME
from tests.helpers.content import publish
from tests.helpers.people import Person, call, person

BODY = "Free intro.\n\n<!-- paywall -->\n\nThe secret sauce.\n"
SECRET = "secret sauce"


async def grant(api, admin: Person, user: Person, subject_type: str, subject_id: int, **extra):
    body = {"user_id": user.id, "subject_type": subject_type, "subject_id": subject_id, **extra}
    return await call(api, "POST", "/admin/entitlements", admin, 201, json=body)


async def body_of(api, item_id: int, who: Person | None) -> dict:
    return await call(api, "GET", f"/contents/{item_id}", who, 200)


@pytest.fixture
async def paid(api, creator: Person, moderator: Person) -> dict:
    return await publish(
        api, creator, moderator, body=BODY, access="paid", price_cents=990, tags=["AI", "写作"]
    )


async def test_without_entitlement_a_paid_item_shows_only_its_preview(
    api, paid: dict, reader: Person
) -> None:
    for who in (None, reader):
        seen = await body_of(api, paid["id"], who)
        assert seen["preview"] is True and seen["can_read"] is False
        assert seen["html"] == "<p>Free intro.</p>\n"
        assert SECRET not in str(seen)
        assert seen["price_cents"] == 990 and seen["currency"] == "CNY"
        assert seen["tags"] == ["ai", "写作"]


async def test_author_moderator_and_buyer_read_it_all(
    api, paid: dict, creator: Person, moderator: Person, admin: Person, reader: Person
) -> None:
    await grant(api, admin, reader, "content", paid["id"])
    for who in (creator, moderator, admin, reader):
        seen = await body_of(api, paid["id"], who)
        assert seen["can_read"] is True and SECRET in seen["html"], who


async def test_an_expired_or_revoked_entitlement_no_longer_counts(
    api, paid: dict, admin: Person, reader: Person, engine: AsyncEngine
) -> None:
    granted = await grant(api, admin, reader, "content", paid["id"])
    assert (await body_of(api, paid["id"], reader))["can_read"] is True
    past = datetime.now(UTC) - timedelta(seconds=1)
    async with engine.begin() as conn:
        await conn.execute(
            update(Entitlement).where(Entitlement.id == granted["id"]).values(ends_at=past)
        )
    assert (await body_of(api, paid["id"], reader))["can_read"] is False
    again = await grant(api, admin, reader, "content", paid["id"])
    assert (await body_of(api, paid["id"], reader))["can_read"] is True
    async with api.app[RUNTIME].db.unit_of_work() as uow:
        revoked = await access.revoke(
            uow.session, source="admin", source_id=again["source_id"], now=datetime.now(UTC)
        )
    assert revoked == 1
    assert (await body_of(api, paid["id"], reader))["can_read"] is False


async def test_a_subscription_plan_that_includes_the_item_opens_it(
    api, creator: Person, moderator: Person, admin: Person, reader: Person, engine: AsyncEngine
) -> None:
    item = await publish(api, creator, moderator, body=BODY, access="subscription")
    async with engine.begin() as conn:
        await conn.execute(insert(PlanContent).values(plan_id=7, content_id=item["id"]))
    await grant(api, admin, reader, "plan", 8)
    assert (await body_of(api, item["id"], reader))["can_read"] is False, "another plan"
    await grant(api, admin, reader, "plan", 7)
    assert (await body_of(api, item["id"], reader))["can_read"] is True


async def test_members_only_items_open_to_any_membership(
    api, creator: Person, moderator: Person, admin: Person, reader: Person
) -> None:
    item = await publish(api, creator, moderator, body=BODY, access="members")
    assert (await body_of(api, item["id"], reader))["can_read"] is False
    await grant(api, admin, reader, "membership", 0)
    assert (await body_of(api, item["id"], reader))["can_read"] is True


async def test_a_membership_does_not_open_paid_items(
    api, paid: dict, admin: Person, reader: Person
) -> None:
    await grant(api, admin, reader, "membership", 0)
    assert (await body_of(api, paid["id"], reader))["can_read"] is False


async def test_buying_a_course_opens_its_paid_chapters(
    api, creator: Person, moderator: Person, admin: Person, reader: Person
) -> None:
    course = await publish(
        api, creator, moderator, kind="course", access="paid", price_cents=9900, body=""
    )
    chapters = [
        await publish(
            api,
            creator,
            moderator,
            parent_id=course["id"],
            position=n,
            title=f"第{n}章",
            body=BODY,
            access="paid" if n else "free",
            price_cents=100 if n else None,
        )
        for n in (1, 0)
    ]
    outline = await body_of(api, course["id"], reader)
    assert [c["title"] for c in outline["chapters"]] == ["第0章", "第1章"]
    assert [c["can_read"] for c in outline["chapters"]] == [True, False]
    await grant(api, admin, reader, "content", course["id"])
    outline = await body_of(api, course["id"], reader)
    assert [c["can_read"] for c in outline["chapters"]] == [True, True]
    assert SECRET in (await body_of(api, chapters[0]["id"], reader))["html"]


async def test_buyers_keep_archived_items_that_others_no_longer_find(
    api, paid: dict, creator: Person, admin: Person, reader: Person
) -> None:
    buyer = await person(api)
    await grant(api, admin, buyer, "content", paid["id"])
    await call(api, "POST", f"/contents/{paid['id']}/archive", creator, 200)
    assert SECRET in (await body_of(api, paid["id"], buyer))["html"]
    await call(api, "GET", f"/contents/{paid['id']}", reader, 404)
    await call(api, "GET", f"/contents/{paid['id']}", None, 404)
    listed = await call(api, "GET", "/contents", None, 200)
    assert paid["id"] not in [i["id"] for i in listed["items"]]


async def test_only_admins_grant_and_only_to_what_exists(
    api, paid: dict, admin: Person, reader: Person
) -> None:
    body = {"user_id": reader.id, "subject_type": "content", "subject_id": paid["id"]}
    await call(api, "POST", "/admin/entitlements", reader, 403, json=body)
    for bad, field in (
        ({**body, "user_id": 999999}, "body.user_id"),
        ({**body, "subject_id": 999999}, "body.subject_id"),
        ({**body, "ends_at": "2000-01-01T00:00:00Z"}, "body.ends_at"),
    ):
        data = await call(api, "POST", "/admin/entitlements", admin, 422, json=bad)
        assert field in data["error"]["fields"]


async def test_granting_from_the_same_source_twice_keeps_one_row(
    api, paid: dict, reader: Person
) -> None:
    runtime = api.app[RUNTIME]
    now = datetime.now(UTC)
    ids = []
    for _ in range(2):
        async with runtime.db.unit_of_work() as uow:
            ids.append(
                await access.grant(
                    uow.session,
                    user_id=reader.id,
                    subject_type="content",
                    subject_id=paid["id"],
                    source="order_item",
                    source_id="42",
                    starts_at=now,
                )
            )
    assert ids[0] == ids[1]
    async with runtime.db.unit_of_work() as uow:
        assert await access.revoke(uow.session, source="order_item", source_id="42", now=now) == 1
    assert (await body_of(api, paid["id"], reader))["can_read"] is False


async def test_content_rooms_follow_the_policy(
    api, paid: dict, creator: Person, moderator: Person, reader: Person
) -> None:
    from tests.helpers.content import draft

    check = room_check(lambda: api.app[RUNTIME])
    later = datetime.now(UTC) + timedelta(minutes=5)

    def principal(who: Person, *roles: str) -> Principal:
        return Principal(who.id, 1, frozenset({"reader", *roles}), later)

    hidden = await draft(api, creator)
    assert await check(principal(reader), str(paid["id"])) is True, "a preview is visible"
    assert await check(principal(reader), str(hidden["id"])) is False
    assert await check(principal(creator, "creator"), str(hidden["id"])) is True
    assert await check(principal(moderator, "moderator"), str(hidden["id"])) is True
    for bad in ("999999", "abc", "1" * 30, ""):
        assert await check(principal(reader), bad) is False
