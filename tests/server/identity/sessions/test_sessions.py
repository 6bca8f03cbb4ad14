"""Signed-in sessions: the list, ending one, and signing out everywhere else (sockets too)."""

from __future__ import annotations

import asyncio

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from models.identity.sessions import AuthSession
from server.http.pagination import encode_cursor
from server.keys import RUNTIME, SESSION_GUARD
from tests.helpers.auth import bearer, error_code, login, register
from tests.helpers.realtime import TIMEOUT

CACHE_TTL = 0.2


async def sessions_of(api, token: str, **params) -> dict:
    response = await api.get("/api/v1/me/sessions", params=params, headers=bearer(token))
    assert response.status == 200, await response.text()
    return await response.json()


async def me_status(api, token: str) -> int:
    return (await api.get("/api/v1/me", headers=bearer(token))).status


async def test_the_list_shows_live_sessions_newest_first_and_marks_the_current(api) -> None:
    first = await register(api, device_name="Laptop", platform="web")
    await login(api, device_name="Phone", platform="ios")
    third = await login(api)
    page = await sessions_of(api, third["access_token"])
    items = page["items"]
    assert [item["device_name"] for item in items] == [None, "Phone", "Laptop"]
    assert [item["current"] for item in items] == [True, False, False]
    assert items[2]["platform"] == "web"
    assert set(items[0]) == {
        "id",
        "device_name",
        "platform",
        "ip",
        "user_agent",
        "created_at",
        "last_seen_at",
        "current",
    }
    assert items[0]["ip"] == "127.0.0.1"
    assert items[0]["user_agent"]
    assert page["next_cursor"] is None
    assert (await sessions_of(api, first["access_token"]))["items"][2]["current"] is True


async def test_the_list_pages_with_a_cursor(api) -> None:
    account = await register(api)
    for _ in range(3):
        await login(api)
    first = await sessions_of(api, account["access_token"], limit=3)
    assert len(first["items"]) == 3 and first["next_cursor"]
    rest = await sessions_of(api, account["access_token"], limit=3, cursor=first["next_cursor"])
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None
    ids = [item["id"] for item in first["items"] + rest["items"]]
    assert ids == sorted(ids, reverse=True)
    for cursor in ("bm90LWpzb24", encode_cursor({"id": "1"}), encode_cursor({"id": 0})):
        bad = await api.get(
            "/api/v1/me/sessions",
            params={"cursor": cursor},
            headers=bearer(account["access_token"]),
        )
        assert bad.status == 400
        assert await error_code(bad) == "pagination.invalid_cursor"


async def test_a_user_never_sees_another_users_sessions(api) -> None:
    ann = await register(api)
    bob = await register(api, email="bob@example.com")
    ann_ids = {item["id"] for item in (await sessions_of(api, ann["access_token"]))["items"]}
    bob_ids = {item["id"] for item in (await sessions_of(api, bob["access_token"]))["items"]}
    assert ann_ids and bob_ids and not ann_ids & bob_ids


async def test_ending_a_session_revokes_its_tokens_and_hides_it(api, engine: AsyncEngine) -> None:
    laptop = await register(api)
    phone = await login(api)
    phone_id = (await sessions_of(api, phone["access_token"]))["items"][0]["id"]
    response = await api.delete(
        f"/api/v1/me/sessions/{phone_id}", headers=bearer(laptop["access_token"])
    )
    assert response.status == 204
    await asyncio.sleep(CACHE_TTL + 0.05)
    revoked = await api.get("/api/v1/me", headers=bearer(phone["access_token"]))
    assert revoked.status == 401
    assert await error_code(revoked) == "auth.session_revoked"
    refreshed = await api.post(
        "/api/v1/auth/refresh", json={"refresh_token": phone["refresh_token"]}
    )
    assert refreshed.status == 401
    listed = await sessions_of(api, laptop["access_token"])
    assert phone_id not in {item["id"] for item in listed["items"]}
    async with engine.connect() as conn:
        reason = await conn.scalar(
            select(AuthSession.revoke_reason).where(AuthSession.id == phone_id)
        )
    assert reason == "revoked_by_user"
    again = await api.delete(
        f"/api/v1/me/sessions/{phone_id}", headers=bearer(laptop["access_token"])
    )
    assert again.status == 404


async def test_another_users_session_is_404_and_untouched(api) -> None:
    ann = await register(api)
    bob = await register(api, email="bob@example.com")
    bob_id = (await sessions_of(api, bob["access_token"]))["items"][0]["id"]
    for session_id in (bob_id, 999999999):
        response = await api.delete(
            f"/api/v1/me/sessions/{session_id}", headers=bearer(ann["access_token"])
        )
        assert response.status == 404
        assert await error_code(response) == "sessions.not_found"
    assert await me_status(api, bob["access_token"]) == 200
    bad = await api.delete("/api/v1/me/sessions/0", headers=bearer(ann["access_token"]))
    assert bad.status == 422


async def test_ending_the_current_session_signs_out_at_once(api) -> None:
    account = await register(api)
    current = (await sessions_of(api, account["access_token"]))["items"][0]["id"]
    response = await api.delete(
        f"/api/v1/me/sessions/{current}", headers=bearer(account["access_token"])
    )
    assert response.status == 204
    # This process forgot its cached state: no waiting for the cache.
    assert await me_status(api, account["access_token"]) == 401


async def test_revoke_others_ends_every_other_session_and_keeps_this_one(api) -> None:
    here = await register(api)
    others = [await login(api), await login(api)]
    bob = await register(api, email="bob@example.com")
    response = await api.post(
        "/api/v1/me/sessions/revoke_others", headers=bearer(here["access_token"])
    )
    assert response.status == 200
    assert await response.json() == {"revoked": 2}
    for other in others:
        assert await me_status(api, other["access_token"]) == 401
    assert await me_status(api, here["access_token"]) == 200
    assert await me_status(api, bob["access_token"]) == 200
    assert len((await sessions_of(api, here["access_token"]))["items"]) == 1
    again = await api.post(
        "/api/v1/me/sessions/revoke_others", headers=bearer(here["access_token"])
    )
    assert await again.json() == {"revoked": 0}


async def test_revoke_others_disconnects_the_live_socket_of_a_revoked_session(
    live, connect
) -> None:
    here = await register(live)
    phone = await login(live)
    phone_socket = await connect(live, {"token": phone["access_token"]})
    here_socket = await connect(live, {"token": here["access_token"]})
    assert phone_socket.client.connected and here_socket.client.connected
    response = await live.post(
        "/api/v1/me/sessions/revoke_others", headers=bearer(here["access_token"])
    )
    assert await response.json() == {"revoked": 1}
    await asyncio.wait_for(phone_socket.disconnected.wait(), TIMEOUT)
    await asyncio.sleep(0.3)
    assert here_socket.client.connected


async def test_revoking_forgets_the_cached_state_in_this_process(api) -> None:
    here = await register(api)
    other = await login(api)
    assert await me_status(api, other["access_token"]) == 200  # now cached
    guard = api.app[SESSION_GUARD]
    assert guard._cache
    await api.post("/api/v1/me/sessions/revoke_others", headers=bearer(here["access_token"]))
    # Without waiting for the cache time.
    assert await me_status(api, other["access_token"]) == 401


async def test_the_list_costs_one_query_whatever_its_length(api) -> None:
    from sqlalchemy import event

    account = await register(api)
    token = account["access_token"]
    await sessions_of(api, token)  # the session state is cached from here on
    engine = api.app[RUNTIME].db.engine.sync_engine
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:
        if "users.status" not in statement:  # not the guard's session check (cached briefly)
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        await sessions_of(api, token)
        one = len(statements)
        for _ in range(5):
            await login(api)
        statements.clear()
        assert len((await sessions_of(api, token))["items"]) == 6
        assert len(statements) == one == 1
    finally:
        event.remove(engine, "before_cursor_execute", count)
