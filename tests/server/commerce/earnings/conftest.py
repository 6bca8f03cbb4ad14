"""Earnings fixtures: the app pointed at fake payout gateways, and its runtime."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from server.keys import RUNTIME
from server.runtime import Runtime
from server.settings import Settings
from tests.fakes.alipay import FakeAlipay
from tests.fakes.base import start
from tests.fakes.wechat import FakeWechatPay
from tests.helpers.earnings import (
    Channels,
)
from tests.helpers.env import AppClient, make_settings
from tests.server.commerce.earnings.fake_payouts import AlipayTransfers, WechatTransfers


@pytest.fixture
async def channels(aiohttp_server: Any) -> Channels:
    alipay, wechat = FakeAlipay(), FakeWechatPay()
    for fake in (alipay, wechat):
        await start(fake, aiohttp_server)
    return Channels(AlipayTransfers(alipay), WechatTransfers(wechat))


@pytest.fixture
def earnings_settings(database_url: str, settings: Settings, channels: Channels) -> Settings:
    return make_settings(
        database_url=database_url,
        withdrawal_min_amount=1000,
        **channels.alipay.fake.settings(),
        **channels.wechat.fake.settings(),
    )


@pytest.fixture
async def api(
    make_client: AppClient, earnings_settings: Settings, channels: Channels
) -> TestClient:
    client = await make_client(earnings_settings)
    for fake in (channels.alipay.fake, channels.wechat.fake):
        fake.follow(client.app[RUNTIME])  # transfer times are the app's, however a test moves it
    return client


@pytest.fixture
def runtime(api: TestClient) -> Runtime:
    return api.app[RUNTIME]
