"""Tutor catalogue fixtures: an app with two AI providers configured, and one chat model."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from server.settings import Settings
from tests.helpers.env import AppClient, make_settings
from tests.helpers.people import Person, call

PROVIDERS = "deepseek, Qwen"


@pytest.fixture
async def api(make_client: AppClient, database_url: str, settings: Settings) -> TestClient:
    return await make_client(make_settings(database_url=database_url, ai_providers=PROVIDERS))


def model_body(name: str = "tutor-chat", **changes: Any) -> dict[str, Any]:
    return {
        "name": name,
        "kind": "chat",
        "routes": [
            {"provider": "deepseek", "upstream_model": "deepseek-chat"},
            {"provider": "qwen", "upstream_model": "qwen-plus"},
        ],
        "prompt_credits_per_1k": 2,
        "completion_credits_per_1k": 8,
        "max_output_tokens": 2048,
        **changes,
    }


def persona_body(model_id: int, name: str = "Socrates", **changes: Any) -> dict[str, Any]:
    return {
        "name": name,
        "avatar_url": "https://cdn.example.com/socrates.png",
        "description": "Asks until you know.",
        "system_prompt": "You are Socrates. SECRET-PROMPT",
        "model_id": model_id,
        "tags": ["philosophy", "classics"],
        "status": "active",
        **changes,
    }


@pytest.fixture
async def chat_model(api: TestClient, admin: Person) -> dict[str, Any]:
    model: dict[str, Any] = await call(
        api, "POST", "/admin/tutor/models", admin, 201, json=model_body()
    )
    return model
