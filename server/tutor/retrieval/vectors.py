"""Vector similarity over the chunks' embeddings, behind one interface.

An `Embedder` turns texts into vectors (`gateway_embedder`: the AI gateway along an enabled
`kind='embedding'` model's routes); vectors are stored in `tutor_chunks.embedding` as float32
little-endian bytes with `embedding_model` naming the model, so vectors of two models are never
compared. `VectorIndex.nearest` answers the chunks closest to a query vector among the chunks
the caller allows: retrieval restricts it to items and marks the access policy let the reader
see, so a vector hit can never bring in text a keyword hit could not.

`ExactVectorIndex` loads the candidates' embeddings and computes exact cosine similarity with
numpy. That is right while the candidates are one item or course, or the items a keyword search
already found (at most a few thousand vectors). When a deployment outgrows it (a global
semantic search over every item), put another implementation behind the same interface:
MariaDB 11.8's `VECTOR(n)` column with `VEC_DISTANCE_COSINE` and a `VECTOR INDEX`
(a migration adding the column beside `embedding`, filled from it), or Qdrant with a payload of
`content_id` and `access` and the same filter as a payload condition. Either way the filter stays
in the query, never applied afterwards to a top-k that could come back empty.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Protocol

import numpy as np
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models.tutor.retrieval import CHUNK_ACCESS, ContentChunk
from server.tutor.gateway.client import AIGateway
from server.tutor.gateway.providers import Route

# At most this many vectors are compared for one query: a bound on memory and time.
MAX_CANDIDATES = 5000
_FLOAT32_LE = np.dtype("<f4")


class Embedder(Protocol):
    """Texts to vectors, one per text, in order."""

    async def __call__(self, texts: list[str]) -> list[list[float]]: ...


def gateway_embedder(gateway: AIGateway, routes: Sequence[Mapping[str, str]]) -> Embedder:
    """An embedder asking the AI gateway, along a model's routes (`TutorModel.routes`)."""
    tried = [Route(route["provider"], route["upstream_model"]) for route in routes]

    async def embed(texts: list[str]) -> list[list[float]]:
        return (await gateway.embed(tried, texts)).vectors

    return embed


def to_bytes(vector: Sequence[float]) -> bytes:
    """A vector as stored: float32 little-endian."""
    return np.asarray(vector, dtype=_FLOAT32_LE).tobytes()


def from_bytes(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype=_FLOAT32_LE)


class VectorIndex(Protocol):
    async def nearest(
        self,
        session: AsyncSession,
        *,
        query_vector: Sequence[float],
        embedding_model: str,
        content_ids: Collection[int] | None,
        accesses: Collection[str] = CHUNK_ACCESS,
        limit: int,
    ) -> list[tuple[int, float]]:
        """(chunk id, cosine similarity) of the closest chunks of `content_ids` (None: of every
        item) whose mark is in `accesses`, best first."""
        ...


class ExactVectorIndex:
    """Exact cosine similarity in the process, over the allowed chunks' stored vectors."""

    async def nearest(
        self,
        session: AsyncSession,
        *,
        query_vector: Sequence[float],
        embedding_model: str,
        content_ids: Collection[int] | None,
        accesses: Collection[str] = CHUNK_ACCESS,
        limit: int,
    ) -> list[tuple[int, float]]:
        if (content_ids is not None and not content_ids) or not accesses or limit <= 0:
            return []
        query = np.asarray(query_vector, dtype=np.float64)
        norm = float(np.linalg.norm(query))
        if norm == 0.0:
            return []
        statement = select(ContentChunk.id, ContentChunk.embedding).where(
            ContentChunk.embedding_model == embedding_model,
            ContentChunk.embedding.is_not(None),
            ContentChunk.access.in_(list(accesses)),
        )
        if content_ids is not None:
            statement = statement.where(ContentChunk.content_id.in_(list(content_ids)))
        rows = (await session.execute(statement.limit(MAX_CANDIDATES))).all()
        # A vector of another length (the model changed and re-embedding is under way) is skipped.
        usable = [(i, e) for i, e in rows if e is not None and len(e) == 4 * len(query)]
        if not usable:
            return []
        matrix = np.vstack([from_bytes(e) for _, e in usable]).astype(np.float64)
        norms = np.linalg.norm(matrix, axis=1)
        norms[norms == 0.0] = 1.0
        scores = matrix @ (query / norm) / norms
        best = np.argsort(-scores, kind="stable")[:limit]
        return [(usable[i][0], float(scores[i])) for i in best]
