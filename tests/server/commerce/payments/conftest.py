"""Payments fixtures: the fake gateways, the app pointed at them, its runtime, the people."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from server.keys import RUNTIME
from server.runtime import Runtime
from server.settings import Settings
from tests.fakes.alipay import FakeAlipay
from tests.fakes.base import start
from tests.fakes.stripe import FakeStripe
from tests.fakes.wechat import FakeWechatPay
from tests.helpers.env import AppClient, make_settings
from tests.helpers.payments import (
    SANDBOX_SECRET,
    Fakes,
)
from tests.helpers.people import Person, person


@pytest.fixture
async def fakes(aiohttp_server: Any) -> Fakes:
    found = Fakes(FakeAlipay(), FakeWechatPay(), FakeStripe())
    for fake in (found.alipay, found.wechat, found.stripe):
        await start(fake, aiohttp_server)
    return found


@pytest.fixture
def pay_settings(database_url: str, settings: Settings, fakes: Fakes) -> Settings:
    return make_settings(
        database_url=database_url, payment_sandbox_secret=SANDBOX_SECRET, **fakes.settings()
    )


@pytest.fixture
async def api(make_client: AppClient, pay_settings: Settings, fakes: Fakes) -> TestClient:
    client = await make_client(pay_settings)
    fakes.follow(client.app[RUNTIME])  # the gateways' times are the app's, however a test moves it
    return client


@pytest.fixture
def runtime(api: TestClient) -> Runtime:
    found: Runtime = api.app[RUNTIME]
    return found


@pytest.fixture
async def buyer(api: TestClient) -> Person:
    return await person(api)


@pytest.fixture
async def admin(api: TestClient) -> Person:
    return await person(api, "admin")
