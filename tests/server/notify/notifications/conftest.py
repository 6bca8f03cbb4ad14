"""Notification fixtures: a runtime whose jobs and events go to a recorder."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from server.runtime import Runtime
from server.settings import Settings
from tests.helpers.notifications import Recorder


@pytest.fixture
async def recorded(settings: Settings) -> AsyncIterator[tuple[Runtime, Recorder]]:
    """A Runtime on the test database whose jobs and events go to a recorder."""
    runtime = await Runtime.open(settings)
    recorder = Recorder()
    runtime.attach(jobs=recorder, events=recorder)
    yield runtime, recorder
    await runtime.close()
