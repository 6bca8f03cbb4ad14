"""Deactivation (reopened by signing in within the grace, erased after it) and deletion."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from models.audit import AdminLog
from models.identity.auth import Device, LoginChallenge, RecoveryCode, TotpSecret
from models.identity.creators import CreatorApplication
from models.identity.oauth import OAuthAccount, OAuthState
from models.identity.sessions import AuthSession, RefreshToken
from models.identity.users import User
from models.identity.verification import VerificationCode
from models.notify.notifications import Notification
from models.platform import OutboxMessage
from models.privacy.exports import DataExport
from models.social.follows import Follow
from server.keys import RUNTIME
from server.privacy.accounts.service import DELETED_NICKNAME
from tests.helpers.accounts import ME, PHONE, Account, advance, rich_account, run_task
from tests.helpers.auth import PASSWORD, bearer, error_code, login, register
from tests.helpers.env import AppClient, make_settings

DEACTIVATE = "/api/v1/me/deactivate"
DELETE = "/api/v1/me/delete"

OWNED = (
    OAuthAccount,
    OAuthState,
    TotpSecret,
    RecoveryCode,
    LoginChallenge,
    Device,
    VerificationCode,
    Notification,
    AuthSession,
    DataExport,
)


async def user_row(engine: AsyncEngine, user_id: int) -> dict[str, Any]:
    async with engine.connect() as conn:
        row = (
            await conn.execute(text("SELECT * FROM users WHERE id = :id"), {"id": user_id})
        ).one()
        return dict(row._mapping)


async def count(engine: AsyncEngine, model: Any, *where: Any) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def queued_erasures(engine: AsyncEngine) -> list[dict[str, Any]]:
    """Erase jobs the outbox handed over (rows are deleted once relayed, so read the sink)."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(OutboxMessage.payload).where(OutboxMessage.name == "accounts.erase")
        )
        return [r.payload if isinstance(r.payload, dict) else json.loads(r.payload) for r in rows]


# --- deactivation ---------------------------------------------------------------------------------


async def test_deactivation_signs_out_everywhere_and_keeps_the_data(
    api: TestClient, engine: AsyncEngine
) -> None:
    first = await register(api)
    second = await login(api)
    response = await api.post(
        DEACTIVATE, json={"password": PASSWORD}, headers=bearer(first["access_token"])
    )
    assert response.status == 204

    for signed_in in (first, second):
        refused = await api.get(ME, headers=bearer(signed_in["access_token"]))
        assert refused.status == 401 and await error_code(refused) == "auth.session_revoked"
        again = await api.post(
            "/api/v1/auth/refresh", json={"refresh_token": signed_in["refresh_token"]}
        )
        assert again.status == 401
    row = await user_row(engine, first["user"]["id"])
    assert row["status"] == "deactivated" and row["deactivated_at"] is not None
    assert row["email"] == "ann@example.com" and row["deleted_at"] is None


async def test_signing_in_within_the_grace_reopens_the_account(
    api: TestClient, engine: AsyncEngine
) -> None:
    signed_in = await register(api)
    await api.post(
        DEACTIVATE, json={"password": PASSWORD}, headers=bearer(signed_in["access_token"])
    )
    advance(api, days=29)
    back = await login(api)
    assert back["user"]["id"] == signed_in["user"]["id"]
    row = await user_row(engine, signed_in["user"]["id"])
    assert (row["status"], row["deactivated_at"]) == ("active", None)

    # The erase job of that deactivation, when its time comes, finds an active account.
    advance(api, days=31)
    assert await run_task(api, "accounts.erase", user_id=signed_in["user"]["id"]) is False
    assert (await user_row(engine, signed_in["user"]["id"]))["email"] == "ann@example.com"


async def test_after_the_grace_sign_in_is_refused_and_the_erase_job_erases(
    api: TestClient, engine: AsyncEngine
) -> None:
    account = await rich_account(api)
    response = await api.post(DEACTIVATE, json={"password": PASSWORD}, headers=account.headers)
    assert response.status == 204
    assert await run_task(api, "accounts.erase", user_id=account.user_id) is False, "not yet due"

    advance(api, days=31)
    late = await api.post(
        "/api/v1/auth/login", json={"email": "ann@example.com", "password": PASSWORD}
    )
    assert late.status == 403 and await error_code(late) == "auth.account_disabled"

    assert await run_task(api, "accounts.erase", user_id=account.user_id) is True
    await assert_erased(api, engine, account)


async def test_deactivation_defers_one_erase_job_per_deactivation(
    make_client: AppClient, database_url: str, engine: AsyncEngine
) -> None:
    from tests.helpers.notifications import Recorder

    client = await make_client(make_settings(database_url=database_url, session_cache_seconds=0.2))
    recorder = Recorder()
    client.app[RUNTIME].attach(jobs=recorder, events=recorder)
    signed_in = await register(client)
    await client.post(
        DEACTIVATE, json={"password": PASSWORD}, headers=bearer(signed_in["access_token"])
    )
    back = await login(client)
    await client.post(DEACTIVATE, json={"password": PASSWORD}, headers=bearer(back["access_token"]))

    erasures = [job for job in recorder.jobs if job.task == "accounts.erase"]
    assert len(erasures) == 2
    assert all(job.defer_seconds == 30 * 86400 for job in erasures)
    assert all(job.kwargs == {"user_id": signed_in["user"]["id"]} for job in erasures)
    assert len({job.job_id for job in erasures}) == 2, "a second deactivation gets its own deadline"


async def test_deactivation_needs_the_password_of_an_account_that_has_one(
    make_client: AppClient, database_url: str, engine: AsyncEngine
) -> None:
    client = await make_client(
        make_settings(database_url=database_url, account_password_attempts="1/15 minutes")
    )
    signed_in = await register(client)
    headers = bearer(signed_in["access_token"])
    missing = await client.post(DEACTIVATE, json={}, headers=headers)
    assert missing.status == 422 and await error_code(missing) == "accounts.password_required"
    assert "body.password" in (await missing.json())["error"]["fields"]
    wrong = await client.post(DEACTIVATE, json={"password": "nope"}, headers=headers)
    assert wrong.status == 403 and await error_code(wrong) == "accounts.password_incorrect"
    limited = await client.post(DEACTIVATE, json={"password": PASSWORD}, headers=headers)
    assert limited.status == 429
    assert (await user_row(engine, signed_in["user"]["id"]))["status"] == "active"
    assert (await client.get(ME, headers=headers)).status == 200
    for bad in ({"password": ""}, {"password": PASSWORD, "extra": 1}, [1]):
        response = await client.post(DEACTIVATE, json=bad, headers=headers)
        assert response.status == 422, bad
    assert (await client.post(DEACTIVATE, json={})).status == 401


async def test_an_account_without_a_password_deactivates_without_one(
    api: TestClient, engine: AsyncEngine
) -> None:
    signed_in = await register(api)
    async with engine.begin() as conn:
        await conn.execute(update(User).values(password_hash=None))
    response = await api.post(DEACTIVATE, json={}, headers=bearer(signed_in["access_token"]))
    assert response.status == 204


# --- deletion -------------------------------------------------------------------------------------


async def test_deletion_erases_every_personal_table_and_keeps_the_records(
    api: TestClient, engine: AsyncEngine
) -> None:
    account = await rich_account(api)
    response = await api.post(
        DELETE, json={"password": PASSWORD, "confirm": "DELETE"}, headers=account.headers
    )
    assert response.status == 202
    body = await response.json()
    assert body["status"] == "deleted" and body["deleted_at"].endswith("Z")

    refused = await api.get(ME, headers=account.headers)
    assert refused.status == 401
    # Sign-in identifiers are released at once, before the job runs.
    row = await user_row(engine, account.user_id)
    assert row["status"] == "deleted" and row["email"] is None and row["phone_hash"] is None

    assert await run_task(api, "accounts.erase", user_id=account.user_id) is True
    await assert_erased(api, engine, account)
    # Idempotent: a second run changes nothing and fails nothing.
    assert await run_task(api, "accounts.erase", user_id=account.user_id) is True
    await assert_erased(api, engine, account)


async def assert_erased(api: TestClient, engine: AsyncEngine, account: Account) -> None:
    row = await user_row(engine, account.user_id)
    assert row["status"] == "deleted" and row["deleted_at"] is not None
    assert row["nickname"] == DELETED_NICKNAME
    for column in (
        "email",
        "phone_hash",
        "phone_enc",
        "phone_masked",
        "password_hash",
        "avatar_url",
        "bio",
        "gender",
        "birthday",
        "mbti",
        "zodiac",
        "preferences",
        "privacy",
    ):
        assert row[column] is None, column
    assert (row["follower_count"], row["following_count"]) == (0, 0)
    for model in OWNED:
        assert await count(engine, model, model.user_id == account.user_id) == 0, model
    assert await count(engine, RefreshToken) == await count(
        engine, RefreshToken, RefreshToken.session_id.in_(select(AuthSession.id))
    )
    assert await count(engine, Follow) == 0
    friend, fan = await user_row(engine, account.friend), await user_row(engine, account.fan)
    assert friend["follower_count"] == 0 and fan["following_count"] == 0
    async with engine.connect() as conn:
        [application] = (await conn.execute(select(CreatorApplication))).all()
    assert (application.status, application.reason) == ("rejected", "Not now")
    assert application.verification["reference"] == "r1"
    assert (
        application.real_name_enc is application.id_number_enc is application.id_number_hash is None
    )
    assert await count(engine, AdminLog, AdminLog.admin_id == account.user_id) == 1
    storage = api.app[RUNTIME].storage
    assert not await storage.exists(account.avatar_key)
    assert not await storage.exists(account.upload_key)
    assert not await storage.exists(account.export_key)
    dump = repr(row)
    assert "ann@example.com" not in dump and PHONE[3:] not in dump


async def test_a_deleted_account_never_signs_in_and_its_email_and_phone_register_anew(
    api: TestClient, engine: AsyncEngine
) -> None:
    account = await rich_account(api)
    await api.post(
        DELETE, json={"password": PASSWORD, "confirm": "DELETE"}, headers=account.headers
    )
    gone = await api.post(
        "/api/v1/auth/login", json={"email": "ann@example.com", "password": PASSWORD}
    )
    assert gone.status == 401 and await error_code(gone) == "auth.invalid_credentials"

    fresh = await register(api, email="ann@example.com")
    assert fresh["user"]["id"] != account.user_id
    await run_task(api, "accounts.erase", user_id=account.user_id)
    by_phone = await register(api, phone=PHONE)
    assert by_phone["user"]["id"] not in (account.user_id, fresh["user"]["id"])
    # Whatever path leads to the old account (OAuth, a code) ends in complete_sign_in: refused.
    from server.identity.auth import service as auth_service
    from server.identity.auth.service import AccountDisabled, Client
    from server.keys import TOKENS

    runtime = api.app[RUNTIME]
    with pytest.raises(AccountDisabled):
        async with runtime.db.unit_of_work() as uow:
            await auth_service.complete_sign_in(
                uow.session,
                tokens=api.app[TOKENS],
                user_id=account.user_id,
                client=Client(),
                now=runtime.clock.now(),
            )


async def test_deletion_must_be_confirmed(api: TestClient, engine: AsyncEngine) -> None:
    signed_in = await register(api)
    headers = bearer(signed_in["access_token"])
    for bad in ({"password": PASSWORD}, {"password": PASSWORD, "confirm": "delete"}):
        response = await api.post(DELETE, json=bad, headers=headers)
        assert response.status == 422
        assert "body.confirm" in (await response.json())["error"]["fields"]
    wrong = await api.post(DELETE, json={"password": "nope", "confirm": "DELETE"}, headers=headers)
    assert wrong.status == 403
    assert (await user_row(engine, signed_in["user"]["id"]))["status"] == "active"


async def test_the_daily_sweep_erases_what_lost_jobs_left_behind(
    api: TestClient, engine: AsyncEngine
) -> None:
    deactivated = await register(api, email="old@example.com")
    deleted = await register(api, email="gone@example.com")
    kept = await register(api, email="recent@example.com")
    await api.post(
        DEACTIVATE, json={"password": PASSWORD}, headers=bearer(deactivated["access_token"])
    )
    await api.post(
        DELETE,
        json={"password": PASSWORD, "confirm": "DELETE"},
        headers=bearer(deleted["access_token"]),
    )
    advance(api, days=31)
    await api.post(DEACTIVATE, json={"password": PASSWORD}, headers=bearer(kept["access_token"]))

    assert await run_task(api, "accounts.erase_due") == 2
    assert (await user_row(engine, deactivated["user"]["id"]))["nickname"] == DELETED_NICKNAME
    assert (await user_row(engine, deleted["user"]["id"]))["nickname"] == DELETED_NICKNAME
    recent = await user_row(engine, kept["user"]["id"])
    assert recent["status"] == "deactivated" and recent["email"] == "recent@example.com"
    assert await run_task(api, "accounts.erase_due") == 0
    assert await run_task(api, "accounts.erase", user_id=999_999) is False
