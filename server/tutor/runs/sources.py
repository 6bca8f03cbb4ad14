"""Retrieval for a run: the passages its user may be quoted at this moment (THE access policy
decides, in `retrieval.retrieve`), cut to the prompt allowance the run was held for, put in the
prompt as delimited data, and the citations of the answer."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from models.tutor.conversations import Conversation
from models.tutor.runs import TutorRun
from server.settings import Settings
from server.tutor.catalog import service as catalog
from server.tutor.gateway import tokens
from server.tutor.gateway.client import AIGateway, ProviderFailed
from server.tutor.quotas import service as quotas
from server.tutor.retrieval import service as retrieval
from server.tutor.retrieval.vectors import gateway_embedder
from server.tutor.runs.service import PASSAGE_TOKENS

log = structlog.get_logger(__name__)


class Sources:
    def __init__(self, gateway: AIGateway, settings: Settings) -> None:
        self._gateway = gateway
        self._limit = settings.tutor_retrieval_passages

    async def __call__(
        self,
        session: AsyncSession,
        *,
        run: TutorRun,
        conversation: Conversation,
        question: str,
        now: datetime,
    ) -> tuple[str | None, list[retrieval.Passage]]:
        """The sources block and its passages (None and [] when nothing may be quoted)."""
        roles = await quotas.user_roles(session, user_id=run.user_id)
        model = await catalog.embedding_model(session)
        query: dict[str, Any] = {
            "user_id": run.user_id,
            "roles": roles,
            "content_id": conversation.content_id,
            "query": question,
            "limit": self._limit,
            "now": now,
        }
        try:
            passages = await retrieval.retrieve(
                session,
                **query,
                embed=gateway_embedder(self._gateway, model.routes) if model else None,
                embedding_model=model.name if model else None,
            )
        except ProviderFailed as failed:  # the query's embedding: keywords alone then
            log.warning("tutor.retrieval_embedding_failed", code=failed.code)
            passages = await retrieval.retrieve(session, **query)
        passages = _within(passages, self._limit * PASSAGE_TOKENS)
        if not passages:
            return None, []
        return retrieval.context_block(passages), passages

    @staticmethod
    def citations(answer: str, passages: list[retrieval.Passage]) -> list[dict[str, Any]]:
        return retrieval.citations(answer, passages)


def _within(passages: list[retrieval.Passage], budget: int) -> list[retrieval.Passage]:
    """The best passages whose tokens fit `budget`, still numbered 1..n in order."""
    kept: list[retrieval.Passage] = []
    used = 0
    for passage in passages:
        cost = tokens.count_tokens(passage.body) + 16
        if used + cost > budget:
            break
        used += cost
        kept.append(passage)
    return kept
