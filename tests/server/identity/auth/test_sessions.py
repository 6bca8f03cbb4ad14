"""Refresh rotation, reuse detection, concurrent refreshes, logout and revocation everywhere."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from models.identity.sessions import AuthSession, RefreshToken
from server.keys import RUNTIME
from tests.helpers.auth import bearer, error_code, login, register

CACHE_TTL = 0.2  # auth_settings.session_cache_seconds


@contextmanager
def counting_opens(db: Any, method: str = "connection") -> Iterator[list[int]]:
    """Count the connections (or units of work) `db` opens inside the block."""
    opened = [0]
    real = getattr(db, method)

    def counting() -> Any:
        opened[0] += 1
        return real()

    setattr(db, method, counting)
    try:
        yield opened
    finally:
        setattr(db, method, real)


async def refresh(client, token: str) -> Any:
    return await client.post("/api/v1/auth/refresh", json={"refresh_token": token})


async def me_status(client, access_token: str) -> int:
    return (await client.get("/api/v1/me", headers=bearer(access_token))).status


async def test_refresh_rotates_the_pair_and_links_the_new_token_to_the_old(
    api, engine: AsyncEngine
) -> None:
    first = await register(api)
    response = await refresh(api, first["refresh_token"])
    assert response.status == 200
    second = await response.json()
    assert set(second) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert second["refresh_token"] != first["refresh_token"]
    assert await me_status(api, second["access_token"]) == 200
    async with engine.connect() as conn:
        tokens = (await conn.execute(select(RefreshToken).order_by(RefreshToken.id))).all()
    assert len(tokens) == 2
    assert tokens[0].used_at is not None and tokens[1].used_at is None
    assert tokens[1].parent_id == tokens[0].id
    assert tokens[0].session_id == tokens[1].session_id
    assert first["refresh_token"] not in {t.token_hash for t in tokens}, "only hashes are stored"


async def test_a_chain_of_refreshes_keeps_one_active_token(api, engine: AsyncEngine) -> None:
    token = (await register(api))["refresh_token"]
    for _ in range(3):
        token = (await (await refresh(api, token)).json())["refresh_token"]
    async with engine.connect() as conn:
        active = (
            await conn.execute(select(RefreshToken).where(RefreshToken.used_at.is_(None)))
        ).all()
    assert len(active) == 1


async def test_reusing_a_superseded_refresh_token_revokes_the_whole_session(
    api, engine: AsyncEngine
) -> None:
    first = await register(api)
    second = await (await refresh(api, first["refresh_token"])).json()
    advance(api, seconds=60)  # out of the grace window: a replay, not a client race
    reused = await refresh(api, first["refresh_token"])
    assert reused.status == 401
    assert await error_code(reused) == "auth.refresh_reused"
    # The newest refresh token of the family is dead too ...
    newest = await refresh(api, second["refresh_token"])
    assert newest.status == 401
    assert await error_code(newest) == "auth.invalid_refresh"
    # ... and so are its access tokens, within the cache TTL.
    await asyncio.sleep(CACHE_TTL + 0.05)
    for access in (first["access_token"], second["access_token"]):
        response = await api.get("/api/v1/me", headers=bearer(access))
        assert response.status == 401
        assert await error_code(response) == "auth.session_revoked"
    async with engine.connect() as conn:
        session = (await conn.execute(select(AuthSession))).one()
    assert session.revoke_reason == "refresh_reused"


async def test_reuse_revokes_only_that_family_not_the_users_other_sessions(api) -> None:
    first = await register(api)
    other = await login(api)
    await refresh(api, first["refresh_token"])
    advance(api, seconds=60)
    assert (await refresh(api, first["refresh_token"])).status == 401
    assert (await refresh(api, other["refresh_token"])).status == 200


def advance(api, *, seconds: float) -> None:
    """Move this app's clock forward (JWT lifetimes still follow the real clock)."""
    clock = api.app[RUNTIME].clock
    offset = timedelta(seconds=seconds)
    clock.now = lambda: datetime.now(UTC) + offset


async def test_two_concurrent_refreshes_of_one_token_give_one_200_and_one_409(
    api, engine: AsyncEngine
) -> None:
    first = await register(api)
    responses = await asyncio.gather(
        refresh(api, first["refresh_token"]), refresh(api, first["refresh_token"])
    )
    statuses = sorted(r.status for r in responses)
    assert statuses == [200, 409]
    loser = next(r for r in responses if r.status == 409)
    assert await error_code(loser) == "auth.refresh_conflict"
    # The race revoked nothing: the winner's tokens work.
    winner = await next(r for r in responses if r.status == 200).json()
    assert await me_status(api, winner["access_token"]) == 200
    assert (await refresh(api, winner["refresh_token"])).status == 200
    async with engine.connect() as conn:
        assert (await conn.scalar(select(AuthSession.revoked_at))) is None


async def test_repeat_within_the_grace_window_is_409_and_revokes_nothing(api) -> None:
    first = await register(api)
    assert (await refresh(api, first["refresh_token"])).status == 200
    again = await refresh(api, first["refresh_token"])
    assert again.status == 409
    assert await me_status(api, first["access_token"]) == 200


async def test_unknown_refresh_token_is_401_invalid_refresh(api) -> None:
    response = await refresh(api, "not-a-token")
    assert response.status == 401
    assert await error_code(response) == "auth.invalid_refresh"


async def test_expired_refresh_token_is_401_invalid_refresh(api, engine: AsyncEngine) -> None:
    first = await register(api)
    advance(api, seconds=7 * 24 * 3600 + 1)
    response = await refresh(api, first["refresh_token"])
    assert response.status == 401
    assert await error_code(response) == "auth.invalid_refresh"


async def test_refresh_body_is_validated(api) -> None:
    response = await api.post("/api/v1/auth/refresh", json={"token": "x"})
    assert response.status == 422


async def test_logout_revokes_the_session_at_once_on_this_instance(
    api, engine: AsyncEngine
) -> None:
    data = await register(api)
    response = await api.post("/api/v1/auth/logout", headers=bearer(data["access_token"]))
    assert response.status == 204
    after = await api.get("/api/v1/me", headers=bearer(data["access_token"]))
    assert after.status == 401
    assert await error_code(after) == "auth.session_revoked"
    assert (await refresh(api, data["refresh_token"])).status == 401
    async with engine.connect() as conn:
        session = (await conn.execute(select(AuthSession))).one()
    assert session.revoke_reason == "logout"


async def test_logout_leaves_the_users_other_sessions_alone(api) -> None:
    first = await register(api)
    second = await login(api)
    await api.post("/api/v1/auth/logout", headers=bearer(first["access_token"]))
    assert await me_status(api, second["access_token"]) == 200


async def test_revocation_on_one_instance_reaches_another_within_the_cache_ttl(
    make_client, auth_settings
) -> None:
    app_a = await make_client(auth_settings)
    app_b = await make_client(auth_settings)
    data = await register(app_a)
    assert await me_status(app_b, data["access_token"]) == 200  # B now caches "live"
    assert (
        await app_a.post("/api/v1/auth/logout", headers=bearer(data["access_token"]))
    ).status == 204
    await asyncio.sleep(CACHE_TTL + 0.05)
    response = await app_b.get("/api/v1/me", headers=bearer(data["access_token"]))
    assert response.status == 401
    assert await error_code(response) == "auth.session_revoked"


async def test_authenticated_requests_within_the_ttl_do_not_read_the_database(api) -> None:
    data = await register(api)
    db = api.app[RUNTIME].db
    assert await me_status(api, data["access_token"]) == 200
    with counting_opens(db) as opened:
        for _ in range(5):
            response = await api.get("/api/v1/auth/verify", headers=bearer(data["access_token"]))
            assert response.status == 200
    assert opened == [0]


async def test_last_seen_is_written_at_most_once_a_minute(api, engine: AsyncEngine) -> None:
    data = await register(api)
    async with engine.connect() as conn:
        stale = await conn.scalar(select(AuthSession.last_seen_at))
    advance(api, seconds=5 * 60)
    await asyncio.sleep(CACHE_TTL + 0.05)
    assert await me_status(api, data["access_token"]) == 200
    async with engine.connect() as conn:
        touched = await conn.scalar(select(AuthSession.last_seen_at))
    assert touched > stale
    await asyncio.sleep(CACHE_TTL + 0.05)
    assert await me_status(api, data["access_token"]) == 200
    async with engine.connect() as conn:
        assert await conn.scalar(select(AuthSession.last_seen_at)) == touched


async def test_the_session_cache_stays_bounded(api, monkeypatch) -> None:
    from server.identity.auth import sessions
    from server.keys import SESSION_GUARD

    monkeypatch.setattr(sessions, "MAX_CACHED_SESSIONS", 2)
    tokens = [(await register(api))["access_token"]]
    tokens += [(await login(api))["access_token"] for _ in range(3)]
    for token in tokens:
        assert await me_status(api, token) == 200
    assert len(api.app[SESSION_GUARD]._cache) <= 2


async def test_concurrent_requests_after_expiry_share_one_session_read(api) -> None:
    data = await register(api)
    db = api.app[RUNTIME].db
    assert await me_status(api, data["access_token"]) == 200
    await asyncio.sleep(CACHE_TTL + 0.05)  # the cached state has expired
    with counting_opens(db) as opened:
        statuses = await asyncio.gather(
            *(
                api.get("/api/v1/auth/verify", headers=bearer(data["access_token"]))
                for _ in range(20)
            )
        )
    assert [r.status for r in statuses] == [200] * 20
    assert opened == [1]
