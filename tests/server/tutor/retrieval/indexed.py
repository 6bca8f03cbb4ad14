"""What the retrieval tests share: an embedding model served by the fake AI provider, running
the indexing task as a worker would, and retrieving as a person."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from jobs import tutor_retrieval
from models.tutor.catalog import TutorModel
from models.tutor.retrieval import ContentChunk
from server.keys import RUNTIME
from server.tutor.retrieval import service
from server.tutor.retrieval.service import Passage
from server.tutor.retrieval.vectors import gateway_embedder
from server.tutor.runs.tools import tools_of
from tests.helpers.people import Person, call

MODEL = "test-embedding"
ROUTES = [{"provider": "fake", "upstream_model": "fake-embedding"}]


async def enable_embedding_model(api: TestClient) -> None:
    async with api.app[RUNTIME].db.unit_of_work() as uow:
        uow.session.add(TutorModel(name=MODEL, kind="embedding", routes=ROUTES, enabled=True))


async def index(api: TestClient, content_id: int) -> int:
    """Run `tutor.index_content` for one item, as a worker would."""
    count: int = await tutor_retrieval.index_content(
        {"runtime": api.app[RUNTIME]}, content_id=content_id
    )
    return count


async def chunks_of(api: TestClient, content_id: int) -> list[Any]:
    async with api.app[RUNTIME].db.read() as session:
        return list(
            (
                await session.execute(
                    select(ContentChunk)
                    .where(ContentChunk.content_id == content_id)
                    .order_by(ContentChunk.ordinal)
                )
            ).scalars()
        )


async def retrieve(
    api: TestClient,
    who: Person,
    query: str,
    *,
    content_id: int | None = None,
    roles: frozenset[str] = frozenset({"reader"}),
    vectors: bool = False,  # also by embeddings (the fake provider's, see `embedders`)
    limit: int = 6,
) -> list[Passage]:
    runtime = api.app[RUNTIME]
    async with runtime.db.read() as session:
        return await service.retrieve(
            session,
            user_id=who.id,
            roles=roles,
            content_id=content_id,
            query=query,
            limit=limit,
            now=runtime.clock.now(),
            embed=gateway_embedder(tools_of(runtime).gateway, ROUTES) if vectors else None,
            embedding_model=MODEL if vectors else None,
        )


async def edit_and_republish(
    api: TestClient, author: Person, moderator: Person, item: dict[str, Any], body: str
) -> None:
    """A new version of a published item, submitted and approved."""
    path = f"/contents/{item['id']}"
    draft = await call(api, "GET", f"{path}/draft", author, 200)
    await call(
        api, "PUT", f"{path}/draft", author, 200, json={"revision": draft["revision"], "body": body}
    )
    await call(api, "POST", f"{path}/submit", author, 200, json={})
    await call(api, "POST", f"/moderation/contents/{item['id']}/approve", moderator, 200, json={})
