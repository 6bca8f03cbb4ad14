"""A gateway callback that finds no free database connection is refused as "try again later"
(503, Retry-After), changes nothing, and the provider's retry applies it once."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import text

from server.keys import RUNTIME
from server.runtime import Runtime
from server.settings import Settings
from tests.helpers.env import AppClient
from tests.helpers.payments import (
    Fakes,
    deliver,
    open_payment,
    paid_callback,
    pending_order,
    snapshot,
)
from tests.helpers.people import Person, person


@pytest.fixture
async def small_pool_api(
    make_client: AppClient, pay_settings: Settings, fakes: Fakes
) -> TestClient:
    """The app with one pooled connection (and one of overflow), waited for 0.3 s at most."""
    settings = pay_settings.model_copy(
        update={"database_pool_size": 1, "database_pool_timeout_seconds": 0.3}
    )
    client = await make_client(settings)
    fakes.follow(client.app[RUNTIME])
    return client


@contextlib.asynccontextmanager
async def every_connection_taken(runtime: Runtime) -> AsyncIterator[None]:
    async with runtime.db.engine.connect() as first, runtime.db.engine.connect() as second:
        await first.execute(text("SELECT 1"))
        await second.execute(text("SELECT 1"))
        yield


@pytest.mark.parametrize("provider", ["alipay", "wechat", "stripe"])
async def test_a_callback_during_pool_exhaustion_is_refused_for_a_retry_not_failed(
    small_pool_api: TestClient, fakes: Fakes, provider: str
) -> None:
    api = small_pool_api
    runtime: Runtime = api.app[RUNTIME]
    buyer: Person = await person(api)
    order = await pending_order(api, buyer)
    payment = await open_payment(api, buyer, order["id"], provider)
    headers, body = paid_callback(fakes, runtime, provider, payment)

    async with every_connection_taken(runtime):
        refused = await deliver(api, provider, headers, body)
        assert refused.status == 503, await refused.text()
        assert int(refused.headers["Retry-After"]) >= 1
        text_ = await refused.text()
        assert text_ != "success" and "SUCCESS" not in text_ and "received" not in text_

    state = await snapshot(runtime, order["id"])
    assert state.order_status == "pending_payment" and state.payments == ["created"]
    assert (state.events, state.payment_postings, state.paid_notifications) == (0, 0, 0)

    retried = await deliver(api, provider, headers, body)
    assert retried.status == 200
    state = await snapshot(runtime, order["id"])
    assert state.order_status in ("paid", "fulfilled") and state.payments == ["succeeded"]
    assert (state.events, state.payment_postings, state.paid_notifications) == (1, 1, 1)
