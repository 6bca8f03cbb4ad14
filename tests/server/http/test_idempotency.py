"""Idempotency-Key: one effect per key; repeats replay; conflicts are explicit (QUALITY.md 2)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from jobs.platform import purge_idempotency_keys
from models.platform import IdempotencyKey
from server.http.idempotency import purge_expired
from server.keys import RUNTIME
from tests.helpers.env import RUN_PREFIX

ECHO = "/api/v1/probe/echo"


def headers(key: str | None, user: int = 1) -> dict[str, str]:
    values = {"X-Test-User": str(user)}
    if key is not None:
        values["Idempotency-Key"] = key
    return values


async def effects(redis, user: int = 1) -> int:
    value = await redis.get(f"{RUN_PREFIX}:probe:effects:{user}")
    return int(value or 0)


async def test_twenty_concurrent_repeats_have_one_effect(probe_client, redis) -> None:
    body = {"text": "pay", "count": 2}
    responses = await asyncio.gather(
        *(probe_client.post(ECHO, json=body, headers=headers("k-20")) for _ in range(20))
    )
    answers = [(r.status, await r.json()) for r in responses]
    assert await effects(redis) == 1
    created = [body for status, body in answers if status == 201]
    assert created and all(b == {"text": "paypay", "effects": 1} for b in created)
    for status, answer in answers:
        assert status in (201, 409)
        if status == 409:
            assert answer["error"]["code"] == "idempotency.in_progress"


async def test_a_repeat_after_completion_returns_the_original_response(probe_client, redis) -> None:
    first = await probe_client.post(ECHO, json={"text": "a"}, headers=headers("k-1"))
    second = await probe_client.post(ECHO, json={"text": "a"}, headers=headers("k-1"))
    assert first.status == second.status == 201
    assert await first.json() == await second.json() == {"text": "a", "effects": 1}
    assert second.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert await effects(redis) == 1


async def test_the_same_key_with_another_body_is_a_mismatch(probe_client, redis) -> None:
    await probe_client.post(ECHO, json={"text": "a"}, headers=headers("k-m"))
    response = await probe_client.post(ECHO, json={"text": "b"}, headers=headers("k-m"))
    assert response.status == 409
    assert (await response.json())["error"]["code"] == "idempotency.mismatch"
    assert await effects(redis) == 1


async def test_keys_are_scoped_to_the_user(probe_client, redis) -> None:
    one = await probe_client.post(ECHO, json={"text": "a"}, headers=headers("shared", user=1))
    two = await probe_client.post(ECHO, json={"text": "a"}, headers=headers("shared", user=2))
    assert one.status == two.status == 201
    assert await effects(redis, 1) == 1 and await effects(redis, 2) == 1


async def test_without_a_key_every_request_has_its_effect(probe_client, redis) -> None:
    for _ in range(3):
        assert (
            await probe_client.post(ECHO, json={"text": "a"}, headers=headers(None))
        ).status == 201
    assert await effects(redis) == 3


async def test_a_failed_request_releases_its_key(probe_client, redis, engine) -> None:
    failed = await probe_client.post(ECHO, json={"text": "conflict"}, headers=headers("k-f"))
    assert failed.status == 409
    assert (await failed.json())["error"]["code"] == "probe.conflict"
    async with engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(IdempotencyKey)) == 0
    retried = await probe_client.post(ECHO, json={"text": "conflict"}, headers=headers("k-f"))
    assert retried.status == 409  # ran again rather than replaying or blocking
    assert await effects(redis) == 2


async def test_an_invalid_key_is_rejected_and_changes_nothing(probe_client, redis) -> None:
    for key in ("x" * 192, "bad\tkey"):
        response = await probe_client.post(ECHO, json={"text": "a"}, headers=headers(key))
        assert response.status == 400
        assert (await response.json())["error"]["code"] == "idempotency.invalid_key"
    assert await effects(redis) == 0


async def test_an_expired_key_can_be_used_again(probe_client, redis, engine) -> None:
    await probe_client.post(ECHO, json={"text": "a"}, headers=headers("k-e"))
    async with engine.begin() as conn:
        await conn.execute(
            IdempotencyKey.__table__.update().values(
                expires_at=datetime.now(UTC) - timedelta(seconds=1)
            )
        )
    again = await probe_client.post(ECHO, json={"text": "other"}, headers=headers("k-e"))
    assert again.status == 201
    assert (await again.json())["effects"] == 2


async def test_expired_keys_are_purged_by_the_job(probe_client, engine) -> None:
    await probe_client.post(ECHO, json={"text": "a"}, headers=headers("keep"))
    await probe_client.post(ECHO, json={"text": "a"}, headers=headers("drop"))
    runtime = probe_client.app[RUNTIME]
    async with engine.begin() as conn:
        await conn.execute(
            IdempotencyKey.__table__.update()
            .where(IdempotencyKey.key == "drop")
            .values(expires_at=datetime(2000, 1, 1, tzinfo=UTC))
        )
    assert await purge_idempotency_keys({"runtime": runtime}) == 1
    assert await purge_expired(runtime.db.sessions, runtime.clock.now()) == 0
    async with engine.connect() as conn:
        keys = (await conn.scalars(select(IdempotencyKey.key))).all()
    assert keys == ["keep"]
