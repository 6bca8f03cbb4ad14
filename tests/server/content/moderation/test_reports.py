"""Reports: anyone signed in files them, moderators work the queue, upheld content is archived."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from models.audit import AdminLog
from models.content.moderation import ModerationReport
from models.notify.notifications import Notification
from tests.helpers.content import draft, publish
from tests.helpers.people import Person, call, person


def report(target_id: int, target_type: str = "content", **extra: Any) -> dict[str, Any]:
    return {"target_type": target_type, "target_id": target_id, "reason": "spam", **extra}


async def test_a_reader_reports_content_once_while_it_is_open(
    api, creator: Person, moderator: Person, reader: Person
) -> None:
    item = await publish(api, creator, moderator)
    filed = await call(
        api, "POST", "/reports", reader, 201, json=report(item["id"], detail="  Ads.  ")
    )
    assert filed["status"] == "open" and filed["reporter_id"] == reader.id
    assert filed["detail"] == "Ads." and filed["resolved_by"] is None
    again = await call(api, "POST", "/reports", reader, 409, json=report(item["id"]))
    assert again["error"]["code"] == "moderation.already_reported"
    other = await person(api)
    await call(api, "POST", "/reports", other, 201, json=report(item["id"], reason="scam"))
    queue = await call(api, "GET", "/moderation/reports", moderator, 200)
    assert [r["reporter_id"] for r in queue["items"]] == [reader.id, other.id]


async def test_reporting_needs_an_account_and_a_valid_body(api, reader: Person) -> None:
    await call(api, "POST", "/reports", None, 401, json=report(1))
    bad = await call(api, "POST", "/reports", reader, 422, json=report(1, reason="boring"))
    assert "reason" in str(bad["error"]["fields"])
    await call(api, "POST", "/reports", reader, 422, json=report(1, target_type="planet"))
    await call(api, "POST", "/reports", reader, 422, json={**report(1), "extra": 1})
    await call(api, "POST", "/reports", reader, 422, json=report(0))


async def test_the_same_report_sent_twice_at_once_is_filed_once(
    api, creator: Person, moderator: Person, engine: AsyncEngine
) -> None:
    item = await publish(api, creator, moderator)
    reader = await person(api)
    for _ in range(3):
        responses = await asyncio.gather(
            *(
                api.post("/api/v1/reports", headers=reader.headers, json=report(item["id"]))
                for _ in range(2)
            )
        )
        statuses = sorted(r.status for r in responses)
        assert statuses == [201, 409], statuses
        body = await next(r for r in responses if r.status == 409).json()
        assert body["error"]["code"] == "moderation.already_reported"
        async with engine.begin() as conn:
            await conn.execute(delete(ModerationReport))


async def test_unknown_and_unpublished_targets_are_not_found(
    api, creator: Person, reader: Person
) -> None:
    missing = await call(api, "POST", "/reports", reader, 404, json=report(999999))
    assert missing["error"]["code"] == "moderation.target_not_found"
    private = await draft(api, creator)
    await call(api, "POST", "/reports", reader, 404, json=report(private["id"]))
    await call(api, "POST", "/reports", reader, 404, json=report(999999, "user"))


async def test_nobody_reports_themselves_or_their_own_content(
    api, creator: Person, moderator: Person
) -> None:
    item = await publish(api, creator, moderator)
    own = await call(api, "POST", "/reports", creator, 422, json=report(item["id"]))
    assert own["error"]["code"] == "moderation.own_target"
    await call(api, "POST", "/reports", creator, 422, json=report(creator.id, "user"))


async def test_a_user_can_be_reported(api, creator: Person, reader: Person) -> None:
    filed = await call(api, "POST", "/reports", reader, 201, json=report(creator.id, "user"))
    assert filed["target_type"] == "user" and filed["target_id"] == creator.id


async def test_kinds_without_a_check_yet_are_refused(api, reader: Person) -> None:
    from server.content.moderation import service

    kept = service._TARGETS.pop("comment", None)  # as before the comments domain registers
    try:
        refused = await call(api, "POST", "/reports", reader, 422, json=report(1, "comment"))
    finally:
        if kept is not None:
            service._TARGETS["comment"] = kept
    assert refused["error"]["code"] == "moderation.unsupported_target"
    assert "target_type" in refused["error"]["fields"]


async def test_a_domain_can_register_its_own_target_check(api, reader: Person) -> None:
    from server.content.moderation import service

    seen: list[tuple[int, int]] = []

    async def check(session: Any, target_id: int, reporter_id: int) -> None:
        seen.append((target_id, reporter_id))
        if target_id == 2:
            raise service.TargetNotFound()

    kept = service._TARGETS.get("post")
    service.register_target("post", check)
    try:
        await call(api, "POST", "/reports", reader, 201, json=report(1, "post"))
        await call(api, "POST", "/reports", reader, 404, json=report(2, "post"))
    finally:
        service._TARGETS.pop("post")
        if kept is not None:
            service._TARGETS["post"] = kept
    assert seen == [(1, reader.id), (2, reader.id)]


async def test_only_moderators_see_and_resolve_reports(
    api, creator: Person, moderator: Person, reader: Person
) -> None:
    item = await publish(api, creator, moderator)
    filed = await call(api, "POST", "/reports", reader, 201, json=report(item["id"]))
    await call(api, "GET", "/moderation/reports", reader, 403)
    await call(api, "GET", "/moderation/reports", creator, 403)
    path = f"/moderation/reports/{filed['id']}/resolve"
    await call(api, "POST", path, reader, 403, json={"action": "dismiss"})
    admin = await person(api, "admin")
    listed = await call(api, "GET", "/moderation/reports", admin, 200)
    assert [r["id"] for r in listed["items"]] == [filed["id"]]


async def test_dismissing_closes_the_report_and_allows_a_new_one(
    api, creator: Person, moderator: Person, reader: Person, engine: AsyncEngine
) -> None:
    item = await publish(api, creator, moderator)
    filed = await call(api, "POST", "/reports", reader, 201, json=report(item["id"]))
    path = f"/moderation/reports/{filed['id']}/resolve"
    done = await call(api, "POST", path, moderator, 200, json={"action": "dismiss", "note": "ok"})
    assert done["status"] == "dismissed" and done["resolved_by"] == moderator.id
    assert done["resolution_note"] == "ok" and done["resolved_at"]
    again = await call(api, "POST", path, moderator, 409, json={"action": "uphold"})
    assert again["error"]["code"] == "moderation.report_closed"
    assert (await call(api, "GET", f"/contents/{item['id']}", reader, 200))["id"] == item["id"]
    await call(api, "POST", "/reports", reader, 201, json=report(item["id"]))
    dismissed = await call(
        api, "GET", "/moderation/reports", moderator, 200, params={"status": "dismissed"}
    )
    assert [r["id"] for r in dismissed["items"]] == [filed["id"]]
    async with engine.connect() as conn:
        rows = (
            await conn.execute(select(AdminLog.action, AdminLog.admin_id, AdminLog.detail))
        ).all()
    assert [(r.action, r.admin_id) for r in rows] == [("report.dismissed", moderator.id)]
    assert rows[0].detail["report_id"] == filed["id"] and rows[0].detail["note"] == "ok"


async def test_upholding_archives_the_content_and_tells_the_author(
    api, creator: Person, moderator: Person, reader: Person, engine: AsyncEngine
) -> None:
    item = await publish(api, creator, moderator)
    filed = await call(api, "POST", "/reports", reader, 201, json=report(item["id"]))
    other = await person(api)
    second = await call(api, "POST", "/reports", other, 201, json=report(item["id"]))
    path = f"/moderation/reports/{filed['id']}/resolve"
    done = await call(
        api, "POST", path, moderator, 200, json={"action": "uphold", "note": "Spam links."}
    )
    assert done["status"] == "resolved"
    state = await call(api, "GET", f"/contents/{item['id']}/draft", creator, 200)
    assert state["status"] == "archived"
    await call(api, "GET", f"/contents/{item['id']}", other, 404)
    assert await call(api, "GET", "/moderation/reports", moderator, 200) == {
        "items": [],
        "next_cursor": None,
    }
    resolved = await call(
        api, "GET", "/moderation/reports", moderator, 200, params={"status": "resolved"}
    )
    assert {r["id"] for r in resolved["items"]} == {filed["id"], second["id"]}
    async with engine.connect() as conn:
        notes = (
            await conn.execute(
                select(Notification.type, Notification.body, Notification.data).where(
                    Notification.user_id == creator.id, Notification.type == "content.removed"
                )
            )
        ).all()
        log = (
            await conn.execute(select(AdminLog.action, AdminLog.detail, AdminLog.target_id))
        ).one()
    assert [(n.body, n.data["content_id"]) for n in notes] == [("Spam links.", item["id"])]
    assert log.action == "report.upheld" and log.target_id == filed["id"]
    assert log.detail["archived"] is True and log.detail["also_resolved"] == 1


async def test_upholding_what_is_already_withdrawn_only_closes_the_report(
    api, creator: Person, moderator: Person, reader: Person, engine: AsyncEngine
) -> None:
    item = await publish(api, creator, moderator)
    filed = await call(api, "POST", "/reports", reader, 201, json=report(item["id"]))
    await call(api, "POST", f"/contents/{item['id']}/archive", creator, 200)
    path = f"/moderation/reports/{filed['id']}/resolve"
    await call(api, "POST", path, moderator, 200, json={"action": "uphold"})
    async with engine.connect() as conn:
        removed = (
            await conn.scalars(
                select(Notification.id).where(Notification.type == "content.removed")
            )
        ).all()
        detail = await conn.scalar(select(AdminLog.detail))
    assert removed == [] and detail is not None and detail["archived"] is False


async def test_upholding_a_user_report_records_it(
    api, creator: Person, moderator: Person, reader: Person
) -> None:
    filed = await call(api, "POST", "/reports", reader, 201, json=report(creator.id, "user"))
    path = f"/moderation/reports/{filed['id']}/resolve"
    done = await call(api, "POST", path, moderator, 200, json={"action": "uphold"})
    assert done["status"] == "resolved" and done["resolution_note"] is None


async def test_resolving_needs_a_known_report_and_action(api, moderator: Person) -> None:
    missing = await call(
        api,
        "POST",
        "/moderation/reports/999999/resolve",
        moderator,
        404,
        json={"action": "dismiss"},
    )
    assert missing["error"]["code"] == "moderation.report_not_found"
    await call(api, "POST", "/moderation/reports/1/resolve", moderator, 422, json={"action": "ban"})


async def test_the_report_queue_pages_and_filters(api, creator: Person, moderator: Person) -> None:
    item = await publish(api, creator, moderator)
    reporters = [await person(api) for _ in range(3)]
    ids = [
        (await call(api, "POST", "/reports", who, 201, json=report(item["id"])))["id"]
        for who in reporters
    ]
    user_report = await call(
        api, "POST", "/reports", reporters[0], 201, json=report(creator.id, "user")
    )
    first = await call(api, "GET", "/moderation/reports", moderator, 200, params={"limit": 2})
    rest = await call(
        api,
        "GET",
        "/moderation/reports",
        moderator,
        200,
        params={"limit": 2, "cursor": first["next_cursor"]},
    )
    assert [r["id"] for r in first["items"] + rest["items"]] == [*ids, user_report["id"]]
    assert rest["next_cursor"] is None
    users = await call(
        api, "GET", "/moderation/reports", moderator, 200, params={"target_type": "user"}
    )
    assert [r["id"] for r in users["items"]] == [user_report["id"]]
    bad = await call(
        api, "GET", "/moderation/reports", moderator, 400, params={"cursor": "eyJpZCI6LTF9"}
    )
    assert bad["error"]["code"] == "pagination.invalid_cursor"
    await call(api, "GET", "/moderation/reports", moderator, 422, params={"status": "maybe"})


async def test_the_api_document_describes_the_moderation_routes(api) -> None:
    from openapi_spec_validator import validate

    document = await (await api.get("/api/openapi.json")).json()
    validate(document)
    paths = document["paths"]
    assert set(paths["/api/v1/reports"]["post"]["responses"]) >= {"201", "401", "404", "409", "422"}
    resolve = paths["/api/v1/moderation/reports/{report_id}/resolve"]["post"]
    assert set(resolve["responses"]) >= {"200", "403", "404", "409", "422"}
    assert "/api/v1/moderation/contents/{content_id}/flags" in paths
