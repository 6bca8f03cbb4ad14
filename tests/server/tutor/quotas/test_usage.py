"""Tutor usage: administrators sum runs, tokens and credits per user, model or business day;
a user sees their own days and models, their quota and what is left of it today."""

from __future__ import annotations

from datetime import date, timedelta

from aiohttp.test_utils import TestClient

from server.keys import RUNTIME
from server.tutor.quotas import service
from tests.helpers.people import Person, call, person
from tests.server.tutor.quotas.conftest import DEFAULT_RUNS, DEFAULT_TOKENS, a_model, runs_of

USAGE = "/admin/tutor/usage"


async def settle(
    api: TestClient, user_id: int, model_id: int, day: date, prompt: int, completion: int, cost: int
) -> None:
    async with api.app[RUNTIME].db.unit_of_work() as uow:
        await service.record_usage(
            uow.session,
            user_id=user_id,
            model_id=model_id,
            day=day,
            prompt_tokens=prompt,
            completion_tokens=completion,
            cost_credits=cost,
        )


def today_of(api: TestClient) -> date:
    runtime = api.app[RUNTIME]
    return service.business_day(runtime.clock.now(), runtime.settings)


async def test_an_admin_sums_usage_per_day_user_and_model(
    api: TestClient, admin: Person, reader: Person
) -> None:
    ann, bob = reader, await person(api)
    chat, big = await a_model(api, "chat"), await a_model(api, "big")
    today = today_of(api)
    yesterday, long_ago = today - timedelta(days=1), today - timedelta(days=40)
    await settle(api, ann.id, chat, today, 100, 50, 1)
    await settle(api, ann.id, chat, today, 100, 50, 1)
    await settle(api, ann.id, big, yesterday, 1_000, 500, 20)
    await settle(api, bob.id, chat, yesterday, 10, 5, 1)
    await settle(api, bob.id, big, long_ago, 9_999, 9_999, 999)

    by_day = await call(api, "GET", USAGE, admin, 200)
    assert (by_day["group_by"], by_day["until"]) == ("day", today.isoformat())
    assert by_day["since"] == (today - timedelta(days=29)).isoformat()
    assert [(g["day"], g["runs"], g["prompt_tokens"]) for g in by_day["items"]] == [
        (yesterday.isoformat(), 2, 1_010),
        (today.isoformat(), 2, 200),
    ]
    assert by_day["totals"] == {
        "runs": 4,
        "prompt_tokens": 1_210,
        "completion_tokens": 605,
        "cost_credits": 23,
    }
    by_user = await call(api, "GET", f"{USAGE}?group_by=user", admin, 200)
    assert [(g["user_id"], g["cost_credits"], g["day"]) for g in by_user["items"]] == [
        (ann.id, 22, None),
        (bob.id, 1, None),
    ]
    since = long_ago.isoformat()
    by_model = await call(api, "GET", f"{USAGE}?group_by=model&since={since}", admin, 200)
    assert [(g["model_id"], g["model_name"], g["runs"]) for g in by_model["items"]] == [
        (big, "big", 2),
        (chat, "chat", 3),
    ]
    only = f"{USAGE}?group_by=model&user_id={ann.id}&model_id={chat}"
    assert [g["runs"] for g in (await call(api, "GET", only, admin, 200))["items"]] == [2]
    one_day = f"{USAGE}?since={yesterday.isoformat()}&until={yesterday.isoformat()}&limit=1"
    assert (await call(api, "GET", one_day, admin, 200))["totals"]["runs"] == 2


async def test_usage_spans_are_checked(api: TestClient, admin: Person) -> None:
    today = today_of(api)
    backwards = f"since={today.isoformat()}&until={(today - timedelta(days=1)).isoformat()}"
    wide = f"since={(today - timedelta(days=400)).isoformat()}"
    for query in (backwards, wide, "group_by=week", "since=yesterday", "limit=0"):
        refused = await call(api, "GET", f"{USAGE}?{query}", admin, 422)
        assert refused["error"]["fields"], query


async def test_a_user_sees_their_own_usage_quota_and_what_is_left_today(
    api: TestClient, reader: Person
) -> None:
    other = await person(api)
    chat = await a_model(api, "chat")
    today = today_of(api)
    await settle(api, reader.id, chat, today, 300, 100, 4)
    await settle(api, reader.id, chat, today - timedelta(days=3), 50, 50, 1)
    await settle(api, reader.id, chat, today - timedelta(days=45), 50, 50, 1)
    await settle(api, other.id, chat, today, 999, 999, 99)
    await runs_of(api, user_id=reader.id, model_id=chat, statuses=["running"])

    mine = await call(api, "GET", "/tutor/usage", reader, 200)
    assert [(i["day"], i["model_name"], i["prompt_tokens"]) for i in mine["items"]] == [
        (today.isoformat(), "chat", 300),
        ((today - timedelta(days=3)).isoformat(), "chat", 50),
    ]
    assert mine["totals"]["cost_credits"] == 5
    assert mine["quota"] == {"tokens_per_day": DEFAULT_TOKENS, "concurrent_runs": DEFAULT_RUNS}
    assert mine["today"] == {
        "day": today.isoformat(),
        "tokens_used": 400,
        "tokens_remaining": DEFAULT_TOKENS - 400,
        "active_runs": 1,
        "runs_remaining": DEFAULT_RUNS - 1,
    }
    theirs = await call(api, "GET", "/tutor/usage", other, 200)
    assert [i["prompt_tokens"] for i in theirs["items"]] == [999]
    assert theirs["today"]["tokens_remaining"] == 0
    await call(api, "GET", "/tutor/usage", None, 401)
