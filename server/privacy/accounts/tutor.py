"""The AI tutor's part of an account: exported (conversations with their messages and summaries,
and usage), and removed at erasure.

Erasure deletes the conversations with everything in them (messages, summaries, runs), the usage
rows and the user's own quota. What the runs cost stays in the credits ledger, which holds no
text.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.tutor.catalog import Persona, TutorModel, TutorQuota
from models.tutor.conversations import Conversation, ConversationSummary, TutorMessage
from models.tutor.runs import TutorRun, TutorUsage


def _conversations(user_id: int) -> Any:
    return (
        select(
            Conversation.id,
            Conversation.persona_id,
            Persona.name.label("persona"),
            Conversation.content_id,
            Conversation.title,
            Conversation.memory_enabled,
            Conversation.created_at,
            Conversation.last_activity_at,
            ConversationSummary.body.label("summary"),
            ConversationSummary.through_message_id.label("summary_through_message_id"),
            ConversationSummary.updated_at.label("summary_updated_at"),
        )
        .join(Persona, Persona.id == Conversation.persona_id)
        .outerjoin(ConversationSummary, ConversationSummary.conversation_id == Conversation.id)
        .where(Conversation.user_id == user_id)
        .order_by(Conversation.id)
    )


def _messages(user_id: int) -> Any:
    mine = select(Conversation.id).where(Conversation.user_id == user_id)
    return (
        select(
            TutorMessage.id,
            TutorMessage.conversation_id,
            TutorMessage.role,
            TutorMessage.body,
            TutorMessage.citations,
            TutorMessage.usage,
            TutorMessage.cost_credits,
            TutorMessage.finish_reason,
            TutorMessage.created_at,
        )
        .where(TutorMessage.conversation_id.in_(mine))
        .order_by(TutorMessage.conversation_id, TutorMessage.id)
    )


def _usage(user_id: int) -> Any:
    return (
        select(
            TutorUsage.day,
            TutorUsage.model_id,
            TutorModel.name.label("model"),
            TutorUsage.runs,
            TutorUsage.prompt_tokens,
            TutorUsage.completion_tokens,
            TutorUsage.cost_credits,
        )
        .outerjoin(TutorModel, TutorModel.id == TutorUsage.model_id)
        .where(TutorUsage.user_id == user_id)
        .order_by(TutorUsage.day, TutorUsage.model_id)
    )


def _conversation(row: Any, messages: list[dict[str, Any]]) -> dict[str, Any]:
    document = dict(row._mapping)
    summary = {
        "body": document.pop("summary"),
        "through_message_id": document.pop("summary_through_message_id"),
        "updated_at": document.pop("summary_updated_at"),
    }
    return {
        **document,
        "summary": summary if summary["body"] is not None else None,
        "messages": messages,
    }


async def tutor_of(session: AsyncSession, *, user_id: int) -> dict[str, Any]:
    """The user's tutor conversations (messages and summary in each) and usage: three queries."""
    by_conversation: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for message in await session.execute(_messages(user_id)):
        document = dict(message._mapping)
        by_conversation[document.pop("conversation_id")].append(document)
    conversations = [
        _conversation(row, by_conversation[row.id])
        for row in await session.execute(_conversations(user_id))
    ]
    usage = [dict(row._mapping) for row in await session.execute(_usage(user_id))]
    return {"conversations": conversations, "usage": usage}


async def forget_tutor(session: AsyncSession, *, user_id: int) -> None:
    """Delete the user's tutor conversations with their messages, summaries and runs, their
    usage rows and their own quota (children first: no reliance on cascades)."""
    mine = select(Conversation.id).where(Conversation.user_id == user_id)
    await session.execute(delete(TutorRun).where(TutorRun.conversation_id.in_(mine)))
    await session.execute(
        delete(ConversationSummary).where(ConversationSummary.conversation_id.in_(mine))
    )
    await session.execute(delete(TutorMessage).where(TutorMessage.conversation_id.in_(mine)))
    await session.execute(delete(Conversation).where(Conversation.user_id == user_id))
    await session.execute(delete(TutorUsage).where(TutorUsage.user_id == user_id))
    await session.execute(
        delete(TutorQuota).where(
            TutorQuota.subject_type == "user", TutorQuota.subject == str(user_id)
        )
    )
