"""Jobs whose work no row records keep their outbox row until done (server/outbox.py `keep`): a
Play acknowledgement still owed and forgetting an erased author's comments and likes come back
after Redis lost them, and their row goes once the work is done."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis
from sqlalchemy import select

from jobs.sinks import arq_job_id, queue_names
from jobs.tasks import FUNCTIONS
from models.commerce.iap import IapPurchase
from models.platform import OutboxMessage
from server.keys import RUNTIME
from server.runtime import Runtime
from server.settings import Settings
from server.social.comments.erasure import FORGET_AUTHOR
from tests.helpers.auth import PASSWORD, bearer, register
from tests.helpers.people import person
from tests.jobs.test_recovery_avatars import lose_redis_jobs, make_due
from tests.jobs.test_worker import run_burst
from tests.server.commerce.iap import test_iap
from tests.server.commerce.iap.test_iap import map_product, redeem

# arq's Worker.close() still calls redis-py's deprecated close().
pytestmark = pytest.mark.filterwarnings("ignore:Call to deprecated close:DeprecationWarning")

# The in-app purchase fixtures: a fake Google Play and an app that trusts it.
apple, play, iap_settings, api = test_iap.apple, test_iap.play, test_iap.iap_settings, test_iap.api


async def rows_of(runtime: Runtime, task: str) -> list[int]:
    async with runtime.db.read() as session:
        found = await session.scalars(select(OutboxMessage.id).where(OutboxMessage.name == task))
        return list(found.all())


async def default_queue(redis: Redis, settings: Settings) -> list[str]:
    return [j.decode() for j in await redis.zrange(queue_names(settings)[None], 0, -1)]


async def a_play_purchase(api: TestClient, play: Any, token: str, *, failing_acks: int) -> None:
    """A buyer redeems a 100-credit Google Play purchase `token`; Play fails the first
    `failing_acks` acknowledgements of it."""
    await map_product(api, "google_play", "credits_100", credits=100)
    buyer = await person(api)
    play.add(token, "credits_100")
    play.failing_acks = failing_acks
    body = {"store": "google_play", "product_id": "credits_100", "purchase_token": token}
    await redeem(api, buyer, 200, **body)


async def test_a_play_acknowledgement_lost_by_redis_is_still_made(
    api: TestClient, play: Any, iap_settings: Settings, redis: Redis
) -> None:
    runtime: Runtime = api.app[RUNTIME]
    await a_play_purchase(api, play, "tok-9", failing_acks=1)
    assert len(await rows_of(runtime, "iap.acknowledge")) == 1
    assert len(await default_queue(redis, iap_settings)) == 1

    # Redis restarts empty: only the kept row knows the acknowledgement is owed.
    await lose_redis_jobs(redis, iap_settings, None)
    await make_due(runtime)
    assert await runtime.relay.sweep() == 1  # type: ignore[union-attr]
    await run_burst(iap_settings, {"runtime": runtime})

    assert play.acknowledged == ["tok-9"]
    assert await rows_of(runtime, "iap.acknowledge") == []


async def test_a_play_acknowledgement_to_try_again_keeps_its_row(
    api: TestClient, play: Any, iap_settings: Settings
) -> None:
    runtime: Runtime = api.app[RUNTIME]
    await a_play_purchase(api, play, "tok-8", failing_acks=2)
    [row] = await rows_of(runtime, "iap.acknowledge")
    purchase_id = (await runtime_purchase_ids(runtime))[0]

    with pytest.raises(Exception, match="Retry"):
        await FUNCTIONS["iap.acknowledge"].coroutine(
            {"runtime": runtime}, purchase_id=purchase_id, outbox_id=row
        )
    assert await rows_of(runtime, "iap.acknowledge") == [row]
    assert (
        await FUNCTIONS["iap.acknowledge"].coroutine(
            {"runtime": runtime}, purchase_id=purchase_id, outbox_id=row
        )
        == "acknowledged"
    )
    assert await rows_of(runtime, "iap.acknowledge") == []


async def runtime_purchase_ids(runtime: Runtime) -> list[int]:
    async with runtime.db.read() as session:
        return list((await session.scalars(select(IapPurchase.id))).all())


async def test_forgetting_an_erased_author_keeps_its_row_until_done_even_if_redis_lost_it(
    client: TestClient, settings: Settings, redis: Redis
) -> None:
    runtime: Runtime = client.app[RUNTIME]
    signed_in = await register(client)
    user_id = signed_in["user"]["id"]
    response = await client.post(
        "/api/v1/me/delete",
        json={"password": PASSWORD, "confirm": "DELETE"},
        headers=bearer(signed_in["access_token"]),
    )
    assert response.status == 202
    assert await FUNCTIONS["accounts.erase"].coroutine({"runtime": runtime}, user_id=user_id)
    assert len(await rows_of(runtime, FORGET_AUTHOR)) == 1
    assert arq_job_id(settings, f"social.forget:{user_id}") in await default_queue(redis, settings)

    await lose_redis_jobs(redis, settings, None)
    await make_due(runtime)
    assert await runtime.relay.sweep() >= 1  # type: ignore[union-attr]
    worker = await run_burst(settings, {"runtime": runtime})

    assert worker.jobs_failed == 0
    assert await rows_of(runtime, FORGET_AUTHOR) == []
