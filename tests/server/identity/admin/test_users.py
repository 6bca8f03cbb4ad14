"""Admin user management: search, details, bans (sessions and sockets end), roles, audit rows."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from models.audit import AdminLog
from models.identity.auth import Device
from models.identity.sessions import AuthSession
from models.identity.users import User
from tests.helpers.auth import PASSWORD, bearer, error_code, login, register
from tests.helpers.env import make_settings
from tests.helpers.realtime import TIMEOUT
from tests.helpers.twofactor import enable_two_factor, freeze

CACHE_TTL = 0.2


async def make_admin(api, engine: AsyncEngine, email: str = "root@example.com") -> dict[str, Any]:
    """A new account promoted to admin before its first authenticated request."""
    account = await register(api, email=email, nickname="Root")
    async with engine.begin() as conn:
        await conn.execute(
            update(User).where(User.id == account["user"]["id"]).values(roles=["reader", "admin"])
        )
    return account


@pytest.fixture
async def admin(api, engine) -> dict[str, str]:
    return bearer((await make_admin(api, engine))["access_token"])


async def audit_rows(engine: AsyncEngine) -> list[Any]:
    async with engine.connect() as conn:
        return list((await conn.execute(select(AdminLog).order_by(AdminLog.id))).all())


async def search(api, admin: dict[str, str], **params: Any) -> dict[str, Any]:
    response = await api.get("/api/v1/admin/users", params=params, headers=admin)
    body = await response.json()
    assert response.status == 200, body
    return body


@pytest.mark.parametrize("q", ["²", "١٢", "9" * 30, str(2**63)])
async def test_a_search_for_digits_that_are_no_id_finds_nobody(api, admin, q) -> None:
    await register(api, email="ann@example.com", nickname="Ann")
    assert (await search(api, admin, q=q))["items"] == []


async def test_search_by_email_prefix_nickname_id_and_phone(api, admin) -> None:
    ann = await register(api, email="ann.lee@example.com", nickname="Annie Reads")
    bob = await register(api, email="bob@example.org", nickname="bob_the_builder")
    cat = await register(api, phone="13812345678", nickname="cat")

    def ids(page: dict[str, Any]) -> list[int]:
        return [item["id"] for item in page["items"]]

    assert ids(await search(api, admin, q="ANN.")) == [ann["user"]["id"]]
    assert ids(await search(api, admin, q="builder")) == [bob["user"]["id"]]
    assert ids(await search(api, admin, q=str(bob["user"]["id"]))) == [bob["user"]["id"]]
    assert ids(await search(api, admin, q="+86 138 1234 5678")) == [cat["user"]["id"]]
    # Wildcards are literal, and a phone number is only found whole.
    assert ids(await search(api, admin, q="%")) == []
    assert ids(await search(api, admin, q="_the")) == [bob["user"]["id"]]
    assert ids(await search(api, admin, q="1381234")) == []
    everyone = await search(api, admin)
    assert len(everyone["items"]) == 4
    item = everyone["items"][0]
    assert item["phone"] == "+86 138****5678"
    assert set(item) == {"id", "email", "phone", "nickname", "status", "roles", "created_at"}
    assert ids(everyone) == sorted(ids(everyone), reverse=True)


async def test_search_filters_by_status_and_role_and_pages(api, admin, engine) -> None:
    users = [await register(api, email=f"u{n}@example.com") for n in range(3)]
    async with engine.begin() as conn:
        await conn.execute(
            update(User).where(User.id == users[0]["user"]["id"]).values(status="banned")
        )
        await conn.execute(
            update(User)
            .where(User.id == users[1]["user"]["id"])
            .values(roles=["reader", "creator"])
        )
    banned = await search(api, admin, status="banned")
    assert [item["id"] for item in banned["items"]] == [users[0]["user"]["id"]]
    creators = await search(api, admin, role="creator")
    assert [item["id"] for item in creators["items"]] == [users[1]["user"]["id"]]
    admins = await search(api, admin, role="admin", q="root")
    assert [item["nickname"] for item in admins["items"]] == ["Root"]
    first = await search(api, admin, limit=3)
    assert len(first["items"]) == 3 and first["next_cursor"]
    rest = await search(api, admin, limit=3, cursor=first["next_cursor"])
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None
    for params in ({"status": "sleeping"}, {"role": "king"}, {"limit": 0}, {"q": "x" * 255}):
        response = await api.get("/api/v1/admin/users", params=params, headers=admin)
        assert response.status == 422, params
    bad = await api.get("/api/v1/admin/users", params={"cursor": "e30"}, headers=admin)
    assert bad.status == 400


async def test_user_details_show_status_roles_sessions_and_two_factor(api, admin) -> None:
    ann = await register(api)
    await login(api)
    response = await api.get(f"/api/v1/admin/users/{ann['user']['id']}", headers=admin)
    assert response.status == 200
    detail = await response.json()
    assert detail["status"] == "active" and detail["roles"] == ["reader"]
    assert detail["session_count"] == 2 and detail["two_factor_enabled"] is False
    assert detail["created_at"]
    missing = await api.get("/api/v1/admin/users/999999999", headers=admin)
    assert missing.status == 404
    assert await error_code(missing) == "users.not_found"


async def test_readers_moderators_and_anonymous_callers_are_refused(api, engine) -> None:
    reader = await register(api)
    moderator = await register(api, email="mod@example.com")
    async with engine.begin() as conn:
        await conn.execute(
            update(User)
            .where(User.id == moderator["user"]["id"])
            .values(roles=["reader", "moderator"])
        )
    target = reader["user"]["id"]
    calls = [
        ("GET", "/api/v1/admin/users", None),
        ("GET", f"/api/v1/admin/users/{target}", None),
        ("POST", f"/api/v1/admin/users/{target}/ban", {"reason": "x"}),
        ("POST", f"/api/v1/admin/users/{target}/unban", None),
        ("PUT", f"/api/v1/admin/users/{target}/roles", {"roles": ["admin"]}),
        ("GET", "/api/v1/admin/audit", None),
    ]
    for account in (reader, moderator):
        for method, path, body in calls:
            response = await api.request(
                method, path, json=body, headers=bearer(account["access_token"])
            )
            assert response.status == 403, (method, path)
            assert await error_code(response) == "auth.forbidden"
    for method, path, body in calls:
        assert (await api.request(method, path, json=body)).status == 401
    assert await audit_rows(engine) == []
    async with engine.connect() as conn:
        roles = await conn.scalar(select(User.roles).where(User.id == target))
    assert roles == ["reader"]


async def test_a_ban_ends_sessions_sockets_and_sign_in(live, connect, engine) -> None:
    admin = bearer((await make_admin(live, engine))["access_token"])
    target = await register(live)
    phone = await login(live)
    await live.post(
        "/api/v1/me/devices",
        json={"platform": "ios", "provider": "apns", "push_token": "t"},
        headers=bearer(phone["access_token"]),
    )
    socket = await connect(live, {"token": phone["access_token"]})
    assert (await live.get("/api/v1/me", headers=bearer(target["access_token"]))).status == 200

    response = await live.post(
        f"/api/v1/admin/users/{target['user']['id']}/ban",
        json={"reason": "spam"},
        headers={**admin, "X-Forwarded-For": "203.0.113.7"},
    )
    assert response.status == 200
    detail = await response.json()
    assert detail["status"] == "banned" and detail["session_count"] == 0

    await asyncio.wait_for(socket.disconnected.wait(), TIMEOUT)
    await asyncio.sleep(CACHE_TTL + 0.05)
    for token in (target["access_token"], phone["access_token"]):
        refused = await live.get("/api/v1/me", headers=bearer(token))
        assert refused.status == 401
        assert await error_code(refused) == "auth.session_revoked"
    refreshed = await live.post(
        "/api/v1/auth/refresh", json={"refresh_token": target["refresh_token"]}
    )
    assert refreshed.status == 401
    signed_in = await live.post(
        "/api/v1/auth/login", json={"email": "ann@example.com", "password": PASSWORD}
    )
    assert signed_in.status == 403
    assert await error_code(signed_in) == "auth.account_disabled"
    async with engine.connect() as conn:
        assert (await conn.execute(select(Device.id))).first() is None
        reasons = (
            (
                await conn.execute(
                    select(AuthSession.revoke_reason).where(
                        AuthSession.user_id == target["user"]["id"]
                    )
                )
            )
            .scalars()
            .all()
        )
    assert reasons == ["banned", "banned"]
    [row] = await audit_rows(engine)
    assert (row.action, row.target_type, row.target_id) == (
        "user.banned",
        "user",
        target["user"]["id"],
    )
    assert row.detail == {"reason": "spam", "previous_status": "active", "sessions_ended": 2}
    assert row.ip == "203.0.113.7"


async def test_ban_rules_self_twice_missing_and_bad_bodies(api, admin, engine) -> None:
    me = (await (await api.get("/api/v1/me", headers=admin)).json())["id"]
    target = (await register(api))["user"]["id"]
    own = await api.post(f"/api/v1/admin/users/{me}/ban", json={"reason": "x"}, headers=admin)
    assert own.status == 409
    assert await error_code(own) == "admin.cannot_ban_self"
    first = await api.post(f"/api/v1/admin/users/{target}/ban", json={"reason": "x"}, headers=admin)
    assert first.status == 200
    twice = await api.post(f"/api/v1/admin/users/{target}/ban", json={"reason": "x"}, headers=admin)
    assert twice.status == 409
    assert await error_code(twice) == "admin.already_banned"
    missing = await api.post(
        "/api/v1/admin/users/999999999/ban", json={"reason": "x"}, headers=admin
    )
    assert missing.status == 404
    for body in ({}, {"reason": ""}, {"reason": "x" * 501}, {"reason": "x", "days": 3}):
        response = await api.post(f"/api/v1/admin/users/{target}/ban", json=body, headers=admin)
        assert response.status == 422, body
    async with engine.begin() as conn:
        await conn.execute(update(User).where(User.id == target).values(status="deleted"))
    deleted = await api.post(f"/api/v1/admin/users/{target}/unban", headers=admin)
    assert deleted.status == 409
    assert await error_code(deleted) == "admin.user_deleted"
    assert len(await audit_rows(engine)) == 1


async def test_unban_lets_the_account_sign_in_again(api, admin, engine) -> None:
    target = (await register(api))["user"]["id"]
    not_banned = await api.post(f"/api/v1/admin/users/{target}/unban", headers=admin)
    assert not_banned.status == 409
    assert await error_code(not_banned) == "admin.not_banned"
    await api.post(f"/api/v1/admin/users/{target}/ban", json={"reason": "x"}, headers=admin)
    await login(api, 403)
    response = await api.post(f"/api/v1/admin/users/{target}/unban", headers=admin)
    assert response.status == 200
    assert (await response.json())["status"] == "active"
    signed_in = await login(api)
    assert (await api.get("/api/v1/me", headers=bearer(signed_in["access_token"]))).status == 200
    actions = [row.action for row in await audit_rows(engine)]
    assert actions == ["user.banned", "user.unbanned"]


async def test_roles_are_replaced_and_reader_is_always_kept(api, admin, engine) -> None:
    target = await register(api)
    user_id = target["user"]["id"]
    response = await api.put(
        f"/api/v1/admin/users/{user_id}/roles",
        json={"roles": ["moderator", "creator", "creator"]},
        headers=admin,
    )
    assert response.status == 200
    assert (await response.json())["roles"] == ["reader", "creator", "moderator"]
    await asyncio.sleep(CACHE_TTL + 0.05)
    verify = await api.get("/api/v1/auth/verify", headers=bearer(target["access_token"]))
    assert (await verify.json())["roles"] == ["creator", "moderator", "reader"]
    cleared = await api.put(
        f"/api/v1/admin/users/{user_id}/roles", json={"roles": []}, headers=admin
    )
    assert (await cleared.json())["roles"] == ["reader"]
    rows = await audit_rows(engine)
    assert [row.action for row in rows] == ["user.roles_changed", "user.roles_changed"]
    assert rows[0].detail == {"before": ["reader"], "after": ["reader", "creator", "moderator"]}
    for body in ({"roles": ["king"]}, {"roles": "admin"}, {}):
        bad = await api.put(f"/api/v1/admin/users/{user_id}/roles", json=body, headers=admin)
        assert bad.status == 422, body
    missing = await api.put(
        "/api/v1/admin/users/999999999/roles", json={"roles": []}, headers=admin
    )
    assert missing.status == 404


async def test_an_admin_cannot_remove_their_own_admin_role(api, admin, engine) -> None:
    me = (await (await api.get("/api/v1/me", headers=admin)).json())["id"]
    response = await api.put(
        f"/api/v1/admin/users/{me}/roles", json={"roles": ["reader"]}, headers=admin
    )
    assert response.status == 409
    assert await error_code(response) == "admin.cannot_remove_own_admin"
    kept = await api.put(
        f"/api/v1/admin/users/{me}/roles", json={"roles": ["admin", "creator"]}, headers=admin
    )
    assert (await kept.json())["roles"] == ["reader", "creator", "admin"]
    # Another admin may remove it.
    other = bearer((await make_admin(api, engine, "second@example.com"))["access_token"])
    demoted = await api.put(f"/api/v1/admin/users/{me}/roles", json={"roles": []}, headers=other)
    assert (await demoted.json())["roles"] == ["reader"]


async def test_the_audit_log_lists_and_filters_admin_actions(api, admin, engine) -> None:
    other_admin = await make_admin(api, engine, "second@example.com")
    other = bearer(other_admin["access_token"])
    ann = (await register(api))["user"]["id"]
    bob = (await register(api, email="bob@example.com"))["user"]["id"]
    await api.post(f"/api/v1/admin/users/{ann}/ban", json={"reason": "a"}, headers=admin)
    await api.post(f"/api/v1/admin/users/{bob}/ban", json={"reason": "b"}, headers=other)
    await api.post(f"/api/v1/admin/users/{ann}/unban", headers=other)

    async def audit(**params: Any) -> dict[str, Any]:
        response = await api.get("/api/v1/admin/audit", params=params, headers=admin)
        body = await response.json()
        assert response.status == 200, body
        return body

    everything = await audit()
    assert [item["action"] for item in everything["items"]] == [
        "user.unbanned",
        "user.banned",
        "user.banned",
    ]
    item = everything["items"][-1]
    assert set(item) == {
        "id",
        "admin_id",
        "action",
        "target_type",
        "target_id",
        "detail",
        "ip",
        "created_at",
    }
    assert item["detail"]["reason"] == "a" and item["ip"] == "127.0.0.1"
    by_other = await audit(admin_id=other_admin["user"]["id"])
    assert len(by_other["items"]) == 2
    on_ann = await audit(target_type="user", target_id=ann)
    assert [item["action"] for item in on_ann["items"]] == ["user.unbanned", "user.banned"]
    assert (await audit(target_type="content"))["items"] == []
    first = await audit(limit=2)
    assert len(first["items"]) == 2
    rest = await audit(limit=2, cursor=first["next_cursor"])
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None
    bad = await api.get("/api/v1/admin/audit", params={"admin_id": "x"}, headers=admin)
    assert bad.status == 422


async def test_admins_without_two_factor_are_refused_when_it_is_required(
    make_client, database_url, engine
) -> None:
    api = await make_client(
        make_settings(
            database_url=database_url,
            require_two_factor_for_admins=True,
            session_cache_seconds=0.2,
        )
    )
    clock = freeze(api)
    account = await make_admin(api, engine)
    admin = bearer(account["access_token"])
    refused = await api.get("/api/v1/admin/users", headers=admin)
    assert refused.status == 403
    assert await error_code(refused) == "auth.two_factor_required"
    target = (await register(api, email="bob@example.com"))["user"]["id"]
    ban = await api.post(f"/api/v1/admin/users/{target}/ban", json={"reason": "x"}, headers=admin)
    assert ban.status == 403
    assert await audit_rows(engine) == []
    # Readers are not asked for it (they are refused as before), nor are the 2FA settings.
    await enable_two_factor(api, account["access_token"], clock)
    allowed = await api.get("/api/v1/admin/users", headers=admin)
    assert allowed.status == 200


async def test_the_two_factor_rule_covers_every_domains_admin_routes(
    make_client, database_url, engine
) -> None:
    from aiohttp import web
    from pydantic import BaseModel

    from server.http.registry import RouteTable

    class Ok(BaseModel):
        ok: bool

    probes = RouteTable("probe")

    @probes.get("/api/v1/probe/dashboard", response=Ok, roles={"admin"})
    async def dashboard(request: web.Request) -> Ok:
        return Ok(ok=True)

    @probes.get("/api/v1/probe/mine", response=Ok)
    async def mine(request: web.Request) -> Ok:
        return Ok(ok=True)

    api = await make_client(
        make_settings(database_url=database_url, require_two_factor_for_admins=True),
        extra_tables=[probes],
    )
    admin = bearer((await make_admin(api, engine))["access_token"])
    refused = await api.get("/api/v1/probe/dashboard", headers=admin)
    assert refused.status == 403
    assert await error_code(refused) == "auth.two_factor_required"
    assert (await api.get("/api/v1/probe/mine", headers=admin)).status == 200


async def test_the_user_and_audit_lists_cost_the_same_queries_whatever_their_length(
    api, admin
) -> None:
    from sqlalchemy import event

    from server.keys import RUNTIME

    engine = api.app[RUNTIME].db.engine.sync_engine
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:
        if "users.status, users.roles" not in statement:  # the guard's session check
            statements.append(statement)

    async def cost(path: str) -> tuple[int, int]:
        statements.clear()
        response = await api.get(path, headers=admin)
        return len((await response.json())["items"]), len(statements)

    event.listen(engine, "before_cursor_execute", count)
    try:
        few = await cost("/api/v1/admin/users"), await cost("/api/v1/admin/audit")
        for n in range(4):
            user = await register(api, email=f"u{n}@example.com")
            await api.put(
                f"/api/v1/admin/users/{user['user']['id']}/roles",
                json={"roles": ["creator"]},
                headers=admin,
            )
        many = await cost("/api/v1/admin/users"), await cost("/api/v1/admin/audit")
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert [items for items, _ in few] == [1, 0] and [items for items, _ in many] == [5, 4]
    assert [queries for _, queries in few] == [queries for _, queries in many]


async def test_a_removed_role_stops_working_on_the_same_token_after_the_session_cache(
    api, admin, engine
) -> None:
    other = await make_admin(api, engine, "second@example.com")
    token = bearer(other["access_token"])
    assert (await api.get("/api/v1/admin/users", headers=token)).status == 200
    demoted = await api.put(
        f"/api/v1/admin/users/{other['user']['id']}/roles", json={"roles": []}, headers=admin
    )
    assert demoted.status == 200
    await asyncio.sleep(CACHE_TTL + 0.05)
    refused = await api.get("/api/v1/admin/users", headers=token)
    assert refused.status == 403
    assert await error_code(refused) == "auth.forbidden"
