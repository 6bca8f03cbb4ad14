"""Tutor quota fixtures: an app with small default limits, and the rows runs leave behind."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from models.tutor.catalog import Persona, TutorModel
from models.tutor.conversations import Conversation, TutorMessage
from models.tutor.runs import TutorRun
from server.keys import RUNTIME
from server.settings import Settings
from tests.helpers.env import AppClient, make_settings

DEFAULT_TOKENS = 1_000
DEFAULT_RUNS = 2


@pytest.fixture
async def api(make_client: AppClient, database_url: str, settings: Settings) -> TestClient:
    return await make_client(
        make_settings(
            database_url=database_url,
            ai_providers="deepseek",
            tutor_default_tokens_per_day=DEFAULT_TOKENS,
            tutor_default_concurrent_runs=DEFAULT_RUNS,
            database_pool_size=20,
        )
    )


async def a_model(api: TestClient, name: str = "chat") -> int:
    async with api.app[RUNTIME].db.unit_of_work() as uow:
        model = TutorModel(
            name=name,
            kind="chat",
            routes=[{"provider": "deepseek", "upstream_model": "deepseek-chat"}],
            prompt_credits_per_1k=1,
            completion_credits_per_1k=2,
        )
        uow.session.add(model)
        await uow.session.flush()
        return int(model.id)


async def runs_of(api: TestClient, *, user_id: int, model_id: int, statuses: list[str]) -> int:
    """A conversation of the user with one run in each of `statuses`; its id."""
    async with api.app[RUNTIME].db.unit_of_work() as uow:
        s = uow.session
        persona = Persona(name="P", system_prompt="Be kind.", model_id=model_id, status="active")
        s.add(persona)
        await s.flush()
        conversation = Conversation(user_id=user_id, persona_id=persona.id)
        s.add(conversation)
        await s.flush()
        for n, status in enumerate(statuses):
            question = TutorMessage(
                conversation_id=conversation.id, user_id=user_id, role="user", body=f"Q{n}"
            )
            s.add(question)
            await s.flush()
            s.add(run_row(conversation.id, user_id, model_id, question.id, status, n))
        return int(conversation.id)


def run_row(
    conversation_id: int, user_id: int, model_id: int, message_id: int, status: str, n: int
) -> Any:
    return TutorRun(
        conversation_id=conversation_id,
        user_id=user_id,
        client_message_id=f"c-{n}",
        user_message_id=message_id,
        model_id=model_id,
        status=status,
        max_tokens=256,
        prompt_estimate=100,
        hold_credits=5,
    )
