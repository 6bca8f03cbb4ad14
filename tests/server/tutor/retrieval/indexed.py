"""What the retrieval tests share: a deterministic embedder, running the indexing task as a
worker would, and retrieving as a person."""

from __future__ import annotations

import hashlib
import math
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from jobs import tutor_retrieval
from models.tutor.catalog import TutorModel
from models.tutor.retrieval import ContentChunk
from server.keys import RUNTIME
from server.tutor.retrieval import service
from server.tutor.retrieval.service import Passage
from tests.helpers.people import Person, call

MODEL = "test-embedding"
DIMENSIONS = 64


async def bigram_embed(texts: list[str]) -> list[list[float]]:
    """A bag of hashed character bigrams, L2-normalised: similar texts, similar vectors."""
    vectors = []
    for text in texts:
        vector = [0.0] * DIMENSIONS
        folded = text.lower()
        for i in range(len(folded) - 1):
            digest = hashlib.blake2b(folded[i : i + 2].encode(), digest_size=4).digest()
            vector[int.from_bytes(digest, "little") % DIMENSIONS] += 1.0
        norm = math.sqrt(sum(x * x for x in vector)) or 1.0
        vectors.append([x / norm for x in vector])
    return vectors


async def enable_embedding_model(api: TestClient) -> None:
    async with api.app[RUNTIME].db.unit_of_work() as uow:
        uow.session.add(
            TutorModel(name=MODEL, kind="embedding", routes=[{"provider": "fake"}], enabled=True)
        )


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
    vectors: bool = False,
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
            embed=bigram_embed if vectors else None,
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
