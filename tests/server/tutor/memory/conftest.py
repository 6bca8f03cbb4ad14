"""Conversation memory against the real application, MariaDB and Redis, and the fake AI provider,
with a memory budget small enough that a few turns overflow it (the other fixtures are
tests/server/tutor/conftest.py's)."""

from __future__ import annotations

import pytest

from server.settings import Settings
from tests.helpers.env import make_settings

MEMORY_BUDGET = 80


@pytest.fixture
def tutor_settings(database_url: str, settings: Settings) -> Settings:
    return make_settings(
        database_url=database_url,
        ai_providers="fake",
        tutor_delta_interval_ms=20,
        tutor_checkpoint_seconds=0.05,
        tutor_memory_budget_tokens=MEMORY_BUDGET,
    )
