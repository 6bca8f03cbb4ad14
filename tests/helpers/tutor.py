"""Tutor helpers: a chat model and persona put in directly, the fake AI provider wired into an
app's runtime, and runs answered the way the tutor worker answers them."""

from __future__ import annotations

import itertools
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from models.tutor.catalog import Persona, TutorModel
from models.tutor.runs import TutorRun
from server.keys import RUNTIME
from server.screening import policy_of
from server.tutor.gateway.client import AIGateway
from server.tutor.runs import answering, tools
from server.tutor.runs.answering import Tools
from server.tutor.runs.feed import FeedEntry
from server.tutor.runs.sources import Sources
from tests.fakes.ai_provider import FakeAIProvider

_names = itertools.count(1)


async def chat_persona(
    api: TestClient,
    *,
    p: int = 1000,
    c: int = 2000,
    max_output_tokens: int = 200,
    retrieval: bool = False,
    memory: bool = False,
    routes: list[dict[str, str]] | None = None,
    system_prompt: str = "You explain things simply.",
) -> Persona:
    """An active persona on an enabled chat model served by the fake provider (`fake`)."""
    runtime = api.app[RUNTIME]
    number = next(_names)
    async with runtime.db.unit_of_work() as uow:
        model = TutorModel(
            name=f"tutor-model-{number}",
            kind="chat",
            routes=routes or [{"provider": "fake", "upstream_model": "fake-chat"}],
            prompt_credits_per_1k=p,
            completion_credits_per_1k=c,
            max_output_tokens=max_output_tokens,
            enabled=True,
            created_at=runtime.clock.now(),
            updated_at=runtime.clock.now(),
        )
        uow.session.add(model)
        await uow.session.flush()
        persona = Persona(
            name=f"Tutor {number}",
            system_prompt=system_prompt,
            model_id=model.id,
            tags=["test"],
            status="active",
            retrieval=retrieval,
            memory=memory,
            created_at=runtime.clock.now(),
            updated_at=runtime.clock.now(),
        )
        uow.session.add(persona)
        await uow.session.flush()
        return persona


def wire(api: TestClient, fake: FakeAIProvider, **gateway: Any) -> Tools:
    """Point the app's runtime at the fake provider (named `fake`)."""
    runtime = api.app[RUNTIME]
    options = {"first_byte_timeout": 2.0, "idle_timeout": 2.0, **gateway}
    gateway = AIGateway({"fake": fake.provider("fake")}, **options)
    made = Tools(
        gateway=gateway,
        feed=tools.feed_of(runtime),
        word_list=policy_of(runtime.settings).word_list,
        retrieve=Sources(gateway, runtime.settings),
    )
    tools.install(runtime, made)
    return made


async def answer(api: TestClient, run_id: int) -> str | None:
    """Run the `tutor.run` job for one run, as a tutor worker would."""
    runtime = api.app[RUNTIME]
    return await answering.answer(runtime, tools.tools_of(runtime), run_id=run_id)


async def run_row(api: TestClient, run_id: int) -> TutorRun:
    async with api.app[RUNTIME].db.read() as session:
        found = await session.scalar(select(TutorRun).where(TutorRun.id == run_id))
        assert found is not None
        return found


async def feed_entries(api: TestClient, run_id: int) -> list[FeedEntry]:
    return await tools.feed_of(api.app[RUNTIME]).after(run_id, 0, wait=0)
