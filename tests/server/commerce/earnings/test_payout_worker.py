"""An approved withdrawal is paid by the payout job in a real arq worker."""

from __future__ import annotations

import asyncio
import time

import pytest
from aiohttp.test_utils import TestClient

from jobs.sinks import queue_names
from server.runtime import Runtime
from server.settings import Settings
from tests.helpers.earnings import Channels, creator_balances, verified_creator
from tests.helpers.people import call
from tests.helpers.subscriptions import member
from tests.jobs.test_worker import run_burst
from tests.server.commerce.earnings.test_withdrawals import _clock, _settled_sale

pytestmark = pytest.mark.filterwarnings("ignore:Call to deprecated close:DeprecationWarning")


async def test_approving_queues_the_payout_that_a_worker_pays(
    api: TestClient, runtime: Runtime, channels: Channels, earnings_settings: Settings
) -> None:
    clock = _clock(runtime)
    creator, admin = await verified_creator(api), await member(api, "admin")
    await _settled_sale(api, runtime, clock, creator, price=10_000)
    body = {"amount": 3_000, "channel": "wechat", "account": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}
    asked = await call(api, "POST", "/earnings/withdrawals", creator, 201, json=body)
    await call(api, "POST", f"/admin/withdrawals/{asked['id']}/approve", admin, 200)

    # A burst worker waits for every queued job, deferred ones too (the orders' 30-minute
    # timeouts): take those out, and never wait long.
    queue = queue_names(earnings_settings)[None]
    assert runtime.redis is not None
    await runtime.redis.zremrangebyscore(queue, (time.time() + 5) * 1000, "+inf")
    await asyncio.wait_for(run_burst(earnings_settings, {"runtime": runtime}), 60)
    paid = await call(api, "GET", f"/earnings/withdrawals/{asked['id']}", creator, 200)
    assert paid["status"] == "paid"
    assert len(channels.wechat.bills) == 1
    assert await creator_balances(runtime, creator.id) == (0, 5_000)
