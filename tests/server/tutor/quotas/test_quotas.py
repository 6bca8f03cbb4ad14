"""Tutor quotas: administrators set them per role and per user; a user's own row wins limit by
limit, else the most generous of their roles' rows, else the defaults; a run over the daily
tokens or the runs at once is refused with a Retry-After."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from models.audit import AdminLog
from models.tutor.runs import TutorUsage
from server.business_time import business_day_bounds
from server.keys import RUNTIME
from server.tutor.quotas import service
from server.tutor.quotas.service import Quota, QuotaExceeded
from tests.helpers.env import on_both_engines
from tests.helpers.people import Person, call, person
from tests.server.tutor.quotas.conftest import DEFAULT_RUNS, DEFAULT_TOKENS, a_model, runs_of

QUOTAS = "/admin/tutor/quotas"


async def quota_of(api: TestClient, user_id: int, *roles: str) -> Quota:
    runtime = api.app[RUNTIME]
    async with runtime.db.read() as session:
        return await service.effective_quota(
            session,
            user_id=user_id,
            roles=frozenset(("reader", *roles)),
            settings=runtime.settings,
        )


async def put(api: TestClient, admin: Person, path: str, tokens: Any, runs: Any) -> Any:
    body = {"tokens_per_day": tokens, "concurrent_runs": runs}
    return await call(api, "PUT", f"{QUOTAS}/{path}", admin, 200, json=body)


async def test_without_rows_the_defaults_apply(api: TestClient, reader: Person) -> None:
    assert await quota_of(api, reader.id) == Quota(DEFAULT_TOKENS, DEFAULT_RUNS)


async def test_the_most_generous_role_wins_and_null_is_unlimited(
    api: TestClient, admin: Person, reader: Person
) -> None:
    await put(api, admin, "roles/reader", 500, 1)
    assert await quota_of(api, reader.id) == Quota(500, 1)
    await put(api, admin, "roles/creator", 2_000, None)
    assert await quota_of(api, reader.id, "creator") == Quota(2_000, None)
    await put(api, admin, "roles/moderator", 300, 4)
    assert await quota_of(api, reader.id, "moderator") == Quota(500, 4)
    # A role without a row brings nothing (not the defaults): the rows that exist decide.
    assert await quota_of(api, reader.id, "admin") == Quota(500, 1)


async def test_a_users_own_row_wins_limit_by_limit(
    api: TestClient, admin: Person, reader: Person
) -> None:
    await put(api, admin, "roles/reader", 500, 1)
    await put(api, admin, f"users/{reader.id}", 50, None)
    assert await quota_of(api, reader.id) == Quota(50, 1)
    await put(api, admin, f"users/{reader.id}", None, 3)
    assert await quota_of(api, reader.id) == Quota(500, 3)
    await call(api, "DELETE", f"{QUOTAS}/roles/reader", admin, 204)
    assert await quota_of(api, reader.id) == Quota(DEFAULT_TOKENS, 3)
    other = await person(api)
    assert await quota_of(api, other.id) == Quota(DEFAULT_TOKENS, DEFAULT_RUNS)


@on_both_engines
async def test_an_admin_sets_reads_lists_and_removes_quotas_audited(
    api: TestClient, admin: Person, reader: Person
) -> None:
    role = await put(api, admin, "roles/creator", 20_000, None)
    assert (role["subject_type"], role["subject"]) == ("role", "creator")
    assert (role["tokens_per_day"], role["concurrent_runs"]) == (20_000, None)
    again = await put(api, admin, "roles/creator", 30_000, 5)
    assert (again["tokens_per_day"], again["concurrent_runs"]) == (30_000, 5)
    assert await call(api, "GET", f"{QUOTAS}/roles/creator", admin, 200) == again
    mine = await put(api, admin, f"users/{reader.id}", 10, None)
    assert mine["subject"] == str(reader.id)
    seen = await call(api, "GET", f"{QUOTAS}/users/{reader.id}", admin, 200)
    assert seen == {"quota": mine, "effective": {"tokens_per_day": 10, "concurrent_runs": 2}}
    listed = await call(api, "GET", QUOTAS, admin, 200)
    assert [(q["subject_type"], q["subject"]) for q in listed["items"]] == [
        ("role", "creator"),
        ("user", str(reader.id)),
    ]
    assert listed["defaults"] == {"tokens_per_day": DEFAULT_TOKENS, "concurrent_runs": 2}
    await call(api, "DELETE", f"{QUOTAS}/roles/creator", admin, 204)
    await call(api, "DELETE", f"{QUOTAS}/users/{reader.id}", admin, 204)
    for path in ("roles/creator", f"users/{reader.id}"):
        gone = await call(api, "DELETE", f"{QUOTAS}/{path}", admin, 404)
        assert gone["error"]["code"] == "tutor.quota_not_found"
    await call(api, "GET", f"{QUOTAS}/roles/creator", admin, 404)
    plain = await call(api, "GET", f"{QUOTAS}/users/{reader.id}", admin, 200)
    assert plain["quota"] is None
    async with api.app[RUNTIME].db.read() as session:
        logged = (
            await session.execute(
                select(AdminLog.action, AdminLog.target_type, AdminLog.target_id).order_by(
                    AdminLog.id
                )
            )
        ).all()
    assert [tuple(row) for row in logged] == [
        ("tutor.quota_set", "tutor_quota_role", None),
        ("tutor.quota_set", "tutor_quota_role", None),
        ("tutor.quota_set", "tutor_quota_user", reader.id),
        ("tutor.quota_removed", "tutor_quota_role", None),
        ("tutor.quota_removed", "tutor_quota_user", reader.id),
    ]


async def test_quotas_of_unknown_roles_and_users_are_refused(
    api: TestClient, admin: Person
) -> None:
    body = {"tokens_per_day": 1, "concurrent_runs": 1}
    await call(api, "PUT", f"{QUOTAS}/roles/wizard", admin, 422, json=body)
    for method in ("GET", "PUT"):
        missing = await call(api, method, f"{QUOTAS}/users/987654321", admin, 404, json=body)
        assert missing["error"]["code"] == "users.not_found"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"tokens_per_day": 1},
        {"tokens_per_day": -1, "concurrent_runs": 1},
        {"tokens_per_day": 1, "concurrent_runs": 1_001},
        {"tokens_per_day": 10**12, "concurrent_runs": 1},
        {"tokens_per_day": "100", "concurrent_runs": 1},
        {"tokens_per_day": 1, "concurrent_runs": 1, "runs": 2},
    ],
)
async def test_a_bad_quota_is_422(api: TestClient, admin: Person, body: dict[str, Any]) -> None:
    refused = await call(api, "PUT", f"{QUOTAS}/roles/reader", admin, 422, json=body)
    assert refused["error"]["fields"]


async def test_daily_tokens_are_refused_until_the_next_business_day(
    api: TestClient, reader: Person
) -> None:
    runtime = api.app[RUNTIME]
    settings = runtime.settings
    now = runtime.clock.now()
    today = service.business_day(now, settings)
    model_id = await a_model(api)
    async with runtime.db.unit_of_work() as uow:
        for day, prompt in ((today - timedelta(days=1), 5_000), (today, 600)):
            await service.record_usage(
                uow.session,
                user_id=reader.id,
                model_id=model_id,
                day=day,
                prompt_tokens=prompt,
                completion_tokens=300,
                cost_credits=3,
            )
    roles = frozenset({"reader"})
    async with runtime.db.read() as session:
        # 900 of 1,000 today: yesterday's 5,300 do not count.
        await service.enforce(session, user_id=reader.id, roles=roles, settings=settings, now=now)
    async with runtime.db.unit_of_work() as uow:
        await service.record_usage(
            uow.session,
            user_id=reader.id,
            model_id=model_id,
            day=today,
            prompt_tokens=50,
            completion_tokens=50,
            cost_credits=1,
        )
    _, midnight = business_day_bounds(today, settings.business_tz)
    late = max(now, midnight - timedelta(seconds=30))
    async with runtime.db.read() as session:
        with pytest.raises(QuotaExceeded) as caught:
            await service.enforce(
                session, user_id=reader.id, roles=roles, settings=settings, now=late
            )
    refused = caught.value
    assert (refused.status, refused.code) == (429, "tutor.quota_exceeded")
    assert refused.headers["Retry-After"] == str(service.seconds_to_next_day(late, settings))
    assert 0 < int(refused.headers["Retry-After"]) <= 30 or late == now
    assert 0 < int(refused.headers["Retry-After"]) <= 86_400
    async with runtime.db.read() as session:
        # The next business day starts afresh.
        await service.enforce(
            session, user_id=reader.id, roles=roles, settings=settings, now=midnight
        )


async def test_runs_at_once_are_refused_with_a_short_retry(
    api: TestClient, admin: Person, reader: Person
) -> None:
    runtime = api.app[RUNTIME]
    model_id = await a_model(api)
    await runs_of(
        api, user_id=reader.id, model_id=model_id, statuses=["queued", "completed", "failed"]
    )
    roles = frozenset({"reader"})
    now = runtime.clock.now()

    async def enforce() -> None:
        async with runtime.db.read() as session:
            await service.enforce(
                session, user_id=reader.id, roles=roles, settings=runtime.settings, now=now
            )

    await enforce()  # one of 2 going
    await runs_of(api, user_id=reader.id, model_id=model_id, statuses=["running"])
    with pytest.raises(QuotaExceeded) as caught:
        await enforce()
    assert caught.value.headers["Retry-After"] == str(service.CONCURRENT_RETRY_SECONDS)
    assert caught.value.code == "tutor.quota_exceeded"
    await put(api, admin, f"users/{reader.id}", None, 3)
    await enforce()
    await put(api, admin, "roles/reader", None, None)
    await call(api, "DELETE", f"{QUOTAS}/users/{reader.id}", admin, 204)
    await enforce()  # the reader role is unlimited now


async def test_a_zero_default_refuses_every_run(api: TestClient, reader: Person) -> None:
    runtime = api.app[RUNTIME]
    settings = runtime.settings.model_copy(update={"tutor_default_tokens_per_day": 0})
    async with runtime.db.read() as session:
        with pytest.raises(QuotaExceeded):
            await service.enforce(
                session,
                user_id=reader.id,
                roles=frozenset({"reader"}),
                settings=settings,
                now=runtime.clock.now(),
            )


@on_both_engines
async def test_usage_accumulates_under_concurrent_settlements(
    api: TestClient, reader: Person
) -> None:
    runtime = api.app[RUNTIME]
    model_id, other_model = await a_model(api), await a_model(api, "other")
    today = service.business_day(runtime.clock.now(), runtime.settings)

    async def settle(n: int, model: int) -> None:
        async with runtime.db.unit_of_work() as uow:
            await service.record_usage(
                uow.session,
                user_id=reader.id,
                model_id=model,
                day=today,
                prompt_tokens=100 + n,
                completion_tokens=10,
                cost_credits=2,
            )

    await asyncio.gather(*(settle(n, model_id) for n in range(8)), settle(0, other_model))
    async with runtime.db.read() as session:
        rows = (
            (await session.execute(select(TutorUsage).order_by(TutorUsage.model_id)))
            .scalars()
            .all()
        )
    assert [
        (r.model_id, r.day, r.runs, r.prompt_tokens, r.completion_tokens, r.cost_credits)
        for r in rows
    ] == [
        (model_id, today, 8, 800 + sum(range(8)), 80, 16),
        (other_model, today, 1, 100, 10, 2),
    ]
