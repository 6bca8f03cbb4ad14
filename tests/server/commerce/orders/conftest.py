"""Orders fixtures: buyers and the people of the orders tests, the runtime, recorded events."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient

from server.keys import RUNTIME
from server.runtime import Runtime
from tests.helpers.orders import (
    RecordingEvents,
)
from tests.helpers.people import Person, person


@pytest.fixture
async def buyer(api: TestClient) -> Person:
    return await person(api)


@pytest.fixture
async def other(api: TestClient) -> Person:
    return await person(api)


@pytest.fixture
def runtime(api: TestClient) -> Runtime:
    runtime: Runtime = api.app[RUNTIME]
    return runtime


@pytest.fixture
def events(runtime: Runtime) -> RecordingEvents:
    recorder = RecordingEvents()
    assert runtime.jobs is not None
    runtime.attach(jobs=runtime.jobs, events=recorder)
    return recorder
