"""Shipping fixtures: the app with the payment sandbox, its buyers and two sellers (admins come
from tests/server), the events it sends, and its clock made movable."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient

from server.keys import RUNTIME
from server.runtime import Runtime
from server.settings import Settings
from tests.helpers.env import AppClient, make_settings
from tests.helpers.orders import RecordingEvents
from tests.helpers.payments import SANDBOX_SECRET
from tests.helpers.people import Person, person
from tests.helpers.subscriptions import MovableClock


@pytest.fixture
async def api(make_client: AppClient, database_url: str, settings: Settings) -> TestClient:
    return await make_client(
        make_settings(database_url=database_url, payment_sandbox_secret=SANDBOX_SECRET)
    )


@pytest.fixture
def runtime(api: TestClient) -> Runtime:
    found: Runtime = api.app[RUNTIME]
    return found


@pytest.fixture
def clock(runtime: Runtime) -> MovableClock:
    moved = MovableClock(runtime.clock.now())
    runtime.clock = moved
    return moved


@pytest.fixture
def events(runtime: Runtime) -> RecordingEvents:
    recorder = RecordingEvents()
    assert runtime.jobs is not None
    runtime.attach(jobs=runtime.jobs, events=recorder)
    return recorder


@pytest.fixture
async def buyer(api: TestClient) -> Person:
    return await person(api)


@pytest.fixture
async def stranger(api: TestClient) -> Person:
    return await person(api)


@pytest.fixture
async def seller(api: TestClient) -> Person:
    return await person(api, "creator")


@pytest.fixture
async def second_seller(api: TestClient) -> Person:
    return await person(api, "creator")
