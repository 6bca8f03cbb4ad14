"""Creator applications end to end: verified on submit, stored encrypted, reviewed by admins."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from models.audit import AdminLog
from models.notify.notifications import Notification
from tests.helpers.auth import error_code
from tests.helpers.creators import (
    ADMIN_APPLICATIONS,
    APPLICATIONS,
    FakeIdentityProvider,
    admin,
    application,
    id_number,
    provider_settings,
    signed_up,
)
from tests.helpers.env import AppClient

ANN_ID = id_number("11010519900307123")
BOB_ID = id_number("31010419851122456")


async def apply(client: TestClient, headers: dict[str, str], body: dict[str, Any]) -> Any:
    return await client.post(APPLICATIONS, json=body, headers=headers)


async def applied(
    client: TestClient, provider: FakeIdentityProvider, email: str, name: str, number: str
) -> tuple[int, dict[str, str], dict[str, Any]]:
    """A user whose identity the provider knows, with an application in review."""
    provider.people[number] = name
    user_id, headers = await signed_up(client, email)
    response = await apply(client, headers, application(name, number))
    assert response.status == 201, await response.text()
    return user_id, headers, await response.json()


async def stored(engine: AsyncEngine) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        rows = await conn.execute(text("SELECT * FROM creator_applications ORDER BY id"))
        return [dict(row._mapping) for row in rows]


# --- applying -------------------------------------------------------------------------------------


async def test_an_application_is_verified_and_answered_masked(
    creators_api: TestClient, provider: FakeIdentityProvider, engine: AsyncEngine
) -> None:
    _, headers, body = await applied(creators_api, provider, "ann@example.com", "张三", ANN_ID)

    assert body["status"] == "pending" and isinstance(body["id"], int)
    assert body["real_name"] == "张*"
    assert body["id_number"] == f"1101**********{ANN_ID[-4:]}"
    assert body["links"] == ["https://example.com/me"] and body["reason"] is None
    assert body["created_at"].endswith("Z")
    assert [r["name"] for r in provider.requests] == ["张三"]

    mine = await creators_api.get(f"{APPLICATIONS}/mine", headers=headers)
    assert mine.status == 200 and await mine.json() == body


async def test_the_name_and_number_are_stored_only_encrypted(
    creators_api: TestClient, provider: FakeIdentityProvider, engine: AsyncEngine
) -> None:
    await applied(creators_api, provider, "ann@example.com", "张三", ANN_ID)

    [row] = await stored(engine)
    dump = repr(row)
    assert "张三" not in dump and ANN_ID not in dump and ANN_ID[:14] not in dump
    assert row["real_name_enc"].startswith("v1:") and row["id_number_enc"].startswith("v1:")
    assert row["real_name_enc"] != row["id_number_enc"]
    assert len(row["id_number_hash"]) == 64
    # Only the verdict and the provider's reference: no personal data in the verification.
    raw = row["verification"]
    verification = raw if isinstance(raw, dict) else json.loads(raw)
    assert set(verification) == {"provider", "reference", "result", "checked_at"}
    assert verification["result"] == "match" and verification["reference"] == "chk-1"


async def test_the_ciphertexts_are_bound_to_their_column(
    creators_api: TestClient, provider: FakeIdentityProvider, engine: AsyncEngine
) -> None:
    from server.crypto import PiiError
    from server.identity.creators.service import ID_NUMBER_CONTEXT, NAME_CONTEXT
    from server.keys import RUNTIME

    await applied(creators_api, provider, "ann@example.com", "张三", ANN_ID)
    [row] = await stored(engine)
    pii = creators_api.app[RUNTIME].pii
    assert pii.decrypt(row["real_name_enc"], context=NAME_CONTEXT) == "张三"
    assert pii.decrypt(row["id_number_enc"], context=ID_NUMBER_CONTEXT) == ANN_ID
    with pytest.raises(PiiError):
        pii.decrypt(row["real_name_enc"], context=ID_NUMBER_CONTEXT)


async def test_mine_is_404_before_applying(creators_api: TestClient) -> None:
    _, headers = await signed_up(creators_api, "ann@example.com")
    response = await creators_api.get(f"{APPLICATIONS}/mine", headers=headers)
    assert response.status == 404
    assert await error_code(response) == "creators.application_not_found"


async def test_a_second_application_while_one_is_pending_is_refused(
    creators_api: TestClient, provider: FakeIdentityProvider, engine: AsyncEngine
) -> None:
    _, headers, _ = await applied(creators_api, provider, "ann@example.com", "张三", ANN_ID)
    again = await apply(creators_api, headers, application("张三", ANN_ID))
    assert again.status == 409
    assert await error_code(again) == "creators.application_pending"
    assert len(provider.requests) == 1, "refused before asking the provider"
    assert len(await stored(engine)) == 1


async def test_a_name_that_does_not_match_the_number_is_refused_and_nothing_is_kept(
    creators_api: TestClient, provider: FakeIdentityProvider, engine: AsyncEngine
) -> None:
    provider.people[ANN_ID] = "张三"
    _, headers = await signed_up(creators_api, "ann@example.com")
    response = await apply(creators_api, headers, application("李四", ANN_ID))
    assert response.status == 422
    assert await error_code(response) == "creators.identity_mismatch"
    assert await stored(engine) == []


async def test_a_provider_outage_answers_503_and_keeps_nothing(
    creators_api: TestClient, provider: FakeIdentityProvider, engine: AsyncEngine
) -> None:
    provider.down = True
    _, headers = await signed_up(creators_api, "ann@example.com")
    response = await apply(creators_api, headers, application("张三", ANN_ID))
    assert response.status == 503
    assert await error_code(response) == "creators.identity_unavailable"
    assert await stored(engine) == []


async def test_invalid_applications_name_the_field_and_never_reach_the_provider(
    creators_api: TestClient, provider: FakeIdentityProvider
) -> None:
    _, headers = await signed_up(creators_api, "ann@example.com")
    wrong_check = ANN_ID[:17] + ("0" if ANN_ID[17] != "0" else "1")
    cases = [
        (application(number=wrong_check), "body.id_number"),
        (application(number="110105194913310020"), "body.id_number"),
        (application(name="张"), "body.real_name"),
        (application(name="Robert'); DROP TABLE"), "body.real_name"),
        (application(pitch="too short"), "body.pitch"),
        (application(pitch="x" * 2001), "body.pitch"),
        (application(links=[f"https://e.com/{n}" for n in range(6)]), "body.links"),
        (application(links=["ftp://e.com/file"]), "body.links.0"),
        (application(links=["javascript:alert(1)"]), "body.links.0"),
        (application(extra="field"), "body.extra"),
    ]
    for body, field in cases:
        response = await apply(creators_api, headers, body)
        assert response.status == 422, body
        data = await response.json()
        assert data["error"]["code"] == "request.validation"
        assert field in data["error"]["fields"], (field, data)
    assert provider.requests == []


async def test_an_identity_approved_for_another_account_cannot_be_used_again(
    creators_api: TestClient, provider: FakeIdentityProvider, engine: AsyncEngine
) -> None:
    _, _, first = await applied(creators_api, provider, "ann@example.com", "张三", ANN_ID)
    reviewer = await admin(creators_api, engine)
    approved = await creators_api.post(
        f"{ADMIN_APPLICATIONS}/{first['id']}/approve", headers=reviewer
    )
    assert approved.status == 200

    _, bob = await signed_up(creators_api, "bob@example.com")
    response = await apply(creators_api, bob, application("张三", ANN_ID))
    assert response.status == 409
    assert await error_code(response) == "creators.identity_in_use"


async def test_of_two_pending_applications_with_one_identity_only_the_first_is_approved(
    creators_api: TestClient, provider: FakeIdentityProvider, engine: AsyncEngine
) -> None:
    _, _, first = await applied(creators_api, provider, "ann@example.com", "张三", ANN_ID)
    _, _, second = await applied(creators_api, provider, "bob@example.com", "张三", ANN_ID)
    reviewer = await admin(creators_api, engine)
    ok = await creators_api.post(f"{ADMIN_APPLICATIONS}/{first['id']}/approve", headers=reviewer)
    assert ok.status == 200
    late = await creators_api.post(f"{ADMIN_APPLICATIONS}/{second['id']}/approve", headers=reviewer)
    assert late.status == 409
    assert await error_code(late) == "creators.identity_in_use"
    rejected = await creators_api.post(
        f"{ADMIN_APPLICATIONS}/{second['id']}/reject",
        json={"reason": "Duplicate"},
        headers=reviewer,
    )
    assert rejected.status == 200


async def test_identity_checks_per_account_are_limited(
    make_client: AppClient, database_url: str, provider: FakeIdentityProvider
) -> None:
    client = await make_client(
        provider_settings(database_url, provider.url, identity_verify_attempts="1/day")
    )
    _, headers = await signed_up(client, "ann@example.com")
    response = await apply(client, headers, application("李四", ANN_ID))
    assert response.status == 422
    limited = await apply(client, headers, application("李四", ANN_ID))
    assert limited.status == 429 and "Retry-After" in limited.headers
    assert len(provider.requests) == 1


async def test_the_development_provider_accepts_any_valid_number(api: TestClient) -> None:
    _, headers = await signed_up(api, "ann@example.com")
    response = await apply(api, headers, application("Jane Doe", BOB_ID))
    assert response.status == 201
    assert (await response.json())["real_name"] == "J*******"


# --- reviewing ------------------------------------------------------------------------------------


async def test_approval_makes_the_applicant_a_creator_tells_them_and_is_audited(
    creators_api: TestClient, provider: FakeIdentityProvider, engine: AsyncEngine
) -> None:
    ann, headers, body = await applied(creators_api, provider, "ann@example.com", "张三", ANN_ID)
    reviewer = await admin(creators_api, engine)

    response = await creators_api.post(
        f"{ADMIN_APPLICATIONS}/{body['id']}/approve", headers=reviewer
    )
    assert response.status == 200
    reviewed = await response.json()
    assert reviewed["status"] == "approved" and reviewed["user_id"] == ann
    assert reviewed["real_name"] == "张三", "reviewers see the name in full"
    assert reviewed["id_number"] == body["id_number"], "never the ID number"
    assert reviewed["reviewed_by"] is not None and reviewed["reviewed_at"].endswith("Z")

    await asyncio.sleep(0.25)  # the session cache
    me = await (await creators_api.get("/api/v1/me", headers=headers)).json()
    assert "creator" in me["roles"]
    async with engine.connect() as conn:
        [notice] = (
            await conn.execute(
                select(Notification.type, Notification.data).where(Notification.user_id == ann)
            )
        ).all()
        [log] = (await conn.execute(select(AdminLog))).all()
    assert notice.type == "creator.approved" and notice.data == {"application_id": body["id"]}
    assert (log.action, log.target_type, log.target_id) == (
        "creator_application.approve",
        "creator_application",
        body["id"],
    )
    assert log.admin_id == reviewed["reviewed_by"] and log.detail == {"user_id": ann}

    mine = await (await creators_api.get(f"{APPLICATIONS}/mine", headers=headers)).json()
    assert mine["status"] == "approved"
    again = await apply(creators_api, headers, application("张三", ANN_ID))
    assert again.status == 409 and await error_code(again) == "creators.already_creator"


async def test_a_rejection_needs_a_reason_and_tells_the_applicant_why(
    creators_api: TestClient, provider: FakeIdentityProvider, engine: AsyncEngine
) -> None:
    ann, headers, body = await applied(creators_api, provider, "ann@example.com", "张三", ANN_ID)
    reviewer = await admin(creators_api, engine)
    path = f"{ADMIN_APPLICATIONS}/{body['id']}/reject"
    for bad in ({}, {"reason": ""}, {"reason": "   "}, {"reason": "x" * 501}):
        response = await creators_api.post(path, json=bad, headers=reviewer)
        assert response.status == 422, bad
    assert (await stored(engine))[0]["status"] == "pending"

    response = await creators_api.post(
        path, json={"reason": "Links are unreachable"}, headers=reviewer
    )
    assert response.status == 200
    assert (await response.json())["reason"] == "Links are unreachable"
    async with engine.connect() as conn:
        notice = (await conn.execute(select(Notification).where(Notification.user_id == ann))).one()
    assert notice.type == "creator.rejected" and notice.body == "Links are unreachable"
    assert notice.data["reason"] == "Links are unreachable"

    mine = await (await creators_api.get(f"{APPLICATIONS}/mine", headers=headers)).json()
    assert (mine["status"], mine["reason"]) == ("rejected", "Links are unreachable")
    # After a rejection the user may apply again.
    again = await apply(creators_api, headers, application("张三", ANN_ID))
    assert again.status == 201


async def test_only_pending_applications_can_be_reviewed(
    creators_api: TestClient, provider: FakeIdentityProvider, engine: AsyncEngine
) -> None:
    _, _, body = await applied(creators_api, provider, "ann@example.com", "张三", ANN_ID)
    reviewer = await admin(creators_api, engine)
    approve = f"{ADMIN_APPLICATIONS}/{body['id']}/approve"
    assert (await creators_api.post(approve, headers=reviewer)).status == 200
    for path, payload in ((approve, None), (approve.replace("approve", "reject"), {"reason": "x"})):
        response = await creators_api.post(path, json=payload, headers=reviewer)
        assert response.status == 409
        assert await error_code(response) == "creators.application_not_pending"
    missing = await creators_api.post(f"{ADMIN_APPLICATIONS}/999999/approve", headers=reviewer)
    assert missing.status == 404
    assert await error_code(missing) == "creators.application_not_found"
    async with engine.connect() as conn:
        assert len((await conn.execute(select(AdminLog.id))).all()) == 1


async def test_readers_and_moderators_cannot_review(
    creators_api: TestClient, provider: FakeIdentityProvider, engine: AsyncEngine
) -> None:
    from sqlalchemy import update

    from models.identity.users import User
    from tests.helpers.auth import bearer, login

    _, headers, body = await applied(creators_api, provider, "ann@example.com", "张三", ANN_ID)
    mod_id, _ = await signed_up(creators_api, "mod@example.com")
    async with engine.begin() as conn:
        await conn.execute(
            update(User).where(User.id == mod_id).values(roles=["reader", "moderator"])
        )
    moderator = bearer((await login(creators_api, email="mod@example.com"))["access_token"])
    for who in (headers, moderator):
        for method, path, payload in (
            ("GET", ADMIN_APPLICATIONS, None),
            ("POST", f"{ADMIN_APPLICATIONS}/{body['id']}/approve", None),
            ("POST", f"{ADMIN_APPLICATIONS}/{body['id']}/reject", {"reason": "no"}),
        ):
            response = await creators_api.request(method, path, json=payload, headers=who)
            assert response.status == 403 and await error_code(response) == "auth.forbidden"
    assert (await creators_api.get(ADMIN_APPLICATIONS)).status == 401
    assert (await stored(engine))[0]["status"] == "pending"


async def test_the_review_queue_is_paged_oldest_first_and_filtered_by_status(
    creators_api: TestClient, provider: FakeIdentityProvider, engine: AsyncEngine
) -> None:
    numbers = [id_number(f"3101041985112245{n}") for n in range(3)]
    ids = []
    for n, number in enumerate(numbers):
        _, _, body = await applied(creators_api, provider, f"u{n}@example.com", "王五", number)
        ids.append(body["id"])
    reviewer = await admin(creators_api, engine)
    await creators_api.post(
        f"{ADMIN_APPLICATIONS}/{ids[1]}/reject", json={"reason": "No"}, headers=reviewer
    )

    first = await (
        await creators_api.get(f"{ADMIN_APPLICATIONS}?status=pending&limit=1", headers=reviewer)
    ).json()
    assert [i["id"] for i in first["items"]] == [ids[0]] and first["next_cursor"]
    second = await (
        await creators_api.get(
            f"{ADMIN_APPLICATIONS}?status=pending&limit=1&cursor={first['next_cursor']}",
            headers=reviewer,
        )
    ).json()
    assert [i["id"] for i in second["items"]] == [ids[2]] and second["next_cursor"] is None
    everything = await creators_api.get(ADMIN_APPLICATIONS, headers=reviewer)
    text_body = await everything.text()
    assert [i["id"] for i in (await everything.json())["items"]] == ids
    assert all(number not in text_body for number in numbers), "never an ID number in full"
    assert "王五" in text_body

    for query in ("status=approvedish", "limit=0", "cursor=!!", "cursor=eyJpZCI6ICJ4In0"):
        response = await creators_api.get(f"{ADMIN_APPLICATIONS}?{query}", headers=reviewer)
        assert response.status in (400, 422), query


async def test_the_review_queue_runs_one_query_whatever_the_page_size(
    creators_api: TestClient, provider: FakeIdentityProvider, engine: AsyncEngine
) -> None:
    from sqlalchemy import event

    from server.keys import RUNTIME

    for n in range(4):
        await applied(
            creators_api, provider, f"u{n}@example.com", "王五", id_number(f"3101041985112245{n}")
        )
    reviewer = await admin(creators_api, engine)
    await creators_api.get(ADMIN_APPLICATIONS, headers=reviewer)  # warm the session cache
    statements: list[str] = []
    sync_engine = creators_api.app[RUNTIME].db.engine.sync_engine

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "creator_applications" in statement:
            statements.append(statement)

    event.listen(sync_engine, "before_cursor_execute", record)
    try:
        for limit in (1, 4):
            statements.clear()
            response = await creators_api.get(
                f"{ADMIN_APPLICATIONS}?limit={limit}", headers=reviewer
            )
            assert response.status == 200
            assert len(statements) == 1
    finally:
        event.remove(sync_engine, "before_cursor_execute", record)


async def explain(engine: AsyncEngine, **options: Any) -> list[dict[str, Any]]:
    from server.identity.creators.service import review_queue_query

    sql = str(
        review_queue_query(**options).compile(
            dialect=engine.dialect, compile_kwargs={"literal_binds": True}
        )
    )
    async with engine.connect() as conn:
        return [dict(row._mapping) for row in await conn.execute(text(f"EXPLAIN {sql}"))]


async def test_the_review_queue_reads_an_index_in_order_without_sorting(
    engine: AsyncEngine,
) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO users (email, nickname, roles, status, follower_count, "
                "following_count, created_at, updated_at) VALUES "
                "('q@example.com', 'q', '[]', 'active', 0, 0, NOW(), NOW())"
            )
        )
        user_id = await conn.scalar(text("SELECT id FROM users"))
        statuses = ["approved"] * 300 + ["rejected"] * 150 + ["pending"] * 50
        await conn.execute(
            text(
                "INSERT INTO creator_applications (user_id, status, pitch, links, verification, "
                "created_at) VALUES (:user_id, :status, 'p', '[]', '{}', NOW())"
            ),
            [{"user_id": user_id, "status": status} for status in statuses],
        )
        await conn.execute(text("ANALYZE TABLE creator_applications"))
    for options in ({"status": "pending", "after": None}, {"status": "pending", "after": 400}):
        [plan] = await explain(engine, limit=21, **options)
        assert plan["key"] == "ix_creator_applications_status_id", plan
        assert "filesort" not in (plan["Extra"] or ""), plan
    [plan] = await explain(engine, status=None, after=None, limit=21)
    assert plan["key"] in ("PRIMARY", None) and "filesort" not in (plan["Extra"] or ""), plan
