"""Asking the tutor: the checks before a run (safety, quota, one run at a time, the hold), the
run's record, stopping it, and finishing it exactly once (settle, message, usage, events).

Billing rules (README): an error before the first token costs nothing; a stop, a provider failing
mid-stream or blocked output costs the prompt plus what was shown (sent as deltas; a held-back
tail is never billed); a client that disconnects does not stop the run; error text is never
billed; a run the reaper finishes is billed by the same rule from the text last checkpointed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from models.tutor.catalog import Persona, TutorModel
from models.tutor.conversations import Conversation, ConversationSummary, TutorMessage
from models.tutor.runs import ACTIVE_STATUSES, TutorRun
from server.commerce.ledger.service import InsufficientFunds
from server.commerce.wallet import service as wallet
from server.db import UnitOfWork
from server.http.errors import Conflict, NotFound
from server.outbox import TUTOR_QUEUE
from server.screening import Flagged, ScreeningPolicy, screen
from server.settings import Settings
from server.tutor.catalog import service as catalog
from server.tutor.conversations import service as conversations
from server.tutor.gateway import tokens
from server.tutor.memory import service as memory
from server.tutor.quotas import service as quotas
from server.tutor.runs import pricing

RUN = "tutor.run"
# Prompt tokens set aside for retrieved passages, per passage (passages are cut to fit).
PASSAGE_TOKENS = 400
# Prompt tokens of the standing instructions and message framing.
FRAME_TOKENS = 120


class RunNotFound(NotFound):
    code, message = "tutor.run_not_found", "No such run."


class RunFinished(Conflict):
    code, message = "tutor.run_finished", "This run has already ended."


class CreditsShort(InsufficientFunds):
    def __init__(self, *, needed: int, balance: int) -> None:
        super().__init__()
        self.message = (
            f"This answer needs at least {needed} credits and the balance is {balance}; "
            "recharge to ask."
        )


@dataclass(frozen=True, slots=True)
class Asked:
    message: TutorMessage
    run: TutorRun
    replayed: bool = False


def hold_reference(run_id: int) -> str:
    return f"tutor.run:{run_id}"


async def _history_tokens(session: AsyncSession, conversation: Conversation, budget: int) -> int:
    """Tokens of the turns memory would send now (the newest within `budget`) and the summary."""
    summary = await session.get(ConversationSummary, conversation.id)
    used = tokens.count_tokens(summary.body) if summary is not None else 0
    rows = (
        await session.scalars(
            select(TutorMessage.body)
            .where(TutorMessage.conversation_id == conversation.id)
            .order_by(TutorMessage.id.desc())
            .limit(memory.MAX_RECENT_TURNS)
        )
    ).all()
    kept = rows[: memory.newest_within(rows, budget)]
    return used + sum(memory.turn_tokens(body) for body in kept)


async def prompt_allowance(
    session: AsyncSession,
    *,
    conversation: Conversation,
    persona: Persona,
    body: str,
    settings: Settings,
) -> int:
    """The most prompt tokens the run may send: the worker builds the prompt within it."""
    allowance = FRAME_TOKENS + tokens.count_tokens(persona.system_prompt)
    allowance += tokens.count_tokens(body) + 4
    if persona.memory and conversation.memory_enabled:
        allowance += await _history_tokens(
            session, conversation, settings.tutor_memory_budget_tokens
        )
    if persona.retrieval:
        allowance += settings.tutor_retrieval_passages * PASSAGE_TOKENS
    return allowance


async def _replay(session: AsyncSession, run: TutorRun) -> Asked:
    message = await session.get(TutorMessage, run.user_message_id)
    assert message is not None
    return Asked(message, run, replayed=True)


async def ask(
    uow: UnitOfWork,
    *,
    user_id: int,
    roles: frozenset[str],
    conversation_id: int,
    client_message_id: str,
    body: str,
    settings: Settings,
    policy: ScreeningPolicy,
    now: datetime,
) -> Asked:
    """Queue an answer to `body`: screened, within quota, one run at a time, credits held."""
    session = uow.session
    conversation = await conversations.lock_owned(
        uow, user_id=user_id, conversation_id=conversation_id
    )
    earlier = await session.scalar(
        select(TutorRun).where(
            TutorRun.conversation_id == conversation.id,
            TutorRun.client_message_id == client_message_id,
        )
    )
    if earlier is not None:
        return await _replay(session, earlier)
    screened = screen({"body": body}, policy.word_list)
    if not screened.ok:
        raise Flagged(fields={"body": ", ".join(screened.categories)})
    await quotas.enforce(session, user_id=user_id, roles=roles, settings=settings, now=now)
    if conversation.active_run_id is not None:
        raise conversations.RunInProgress()
    persona = await catalog.get_active_persona(session, persona_id=conversation.persona_id)
    model = await session.get(TutorModel, persona.model_id)
    assert model is not None
    prompt_tokens = await prompt_allowance(
        session, conversation=conversation, persona=persona, body=body, settings=settings
    )
    balance = await wallet.balance(session, user_id=user_id)
    p, c = model.prompt_credits_per_1k, model.completion_credits_per_1k
    min_tokens = min(settings.tutor_min_output_tokens, model.max_output_tokens)
    hold = pricing.size_hold(
        prompt_tokens=prompt_tokens,
        max_tokens=model.max_output_tokens,
        min_tokens=min_tokens,
        balance=balance,
        p=p,
        c=c,
    )
    if hold is None:
        needed = pricing.credits_needed(
            prompt_tokens=prompt_tokens, min_tokens=min_tokens, p=p, c=c
        )
        raise CreditsShort(needed=needed, balance=balance)
    message = TutorMessage(
        conversation_id=conversation.id, user_id=user_id, role="user", body=body, created_at=now
    )
    session.add(message)
    await session.flush()
    run = TutorRun(
        conversation_id=conversation.id,
        user_id=user_id,
        client_message_id=client_message_id,
        user_message_id=message.id,
        model_id=model.id,
        status="queued",
        max_tokens=hold.max_tokens,
        prompt_estimate=prompt_tokens,
        hold_credits=hold.credits,
        text="",
        seq=0,
        created_at=now,
    )
    session.add(run)
    await session.flush()
    message.run_id = run.id
    if hold.credits:
        await wallet.hold(
            uow,
            user_id=user_id,
            amount=hold.credits,
            reference=hold_reference(run.id),
            memo="AI tutor answer (held)",
            now=now,
        )
    conversation.active_run_id = run.id
    conversation.last_activity_at = now
    if conversation.title is None:
        conversation.title = body.strip()[:60] or None
    uow.outbox.enqueue(RUN, run_id=run.id, job_id=f"{RUN}:{run.id}", queue=TUTOR_QUEUE)
    await session.flush()
    return Asked(message, run)


async def get_run(session: AsyncSession, *, user_id: int, run_id: int) -> TutorRun:
    run = await session.scalar(
        select(TutorRun).where(TutorRun.id == run_id, TutorRun.user_id == user_id)
    )
    if run is None:
        raise RunNotFound()
    return run


async def request_stop(uow: UnitOfWork, *, user_id: int, run_id: int, now: datetime) -> TutorRun:
    """Ask the run to stop: the worker ends it `stopped` at its next check (within a second);
    a run not started yet is stopped when the worker picks it up. Asking twice is harmless."""
    run = await get_run(uow.session, user_id=user_id, run_id=run_id)
    if run.status not in ACTIVE_STATUSES:
        raise RunFinished()
    await uow.session.execute(
        update(TutorRun)
        .where(TutorRun.id == run.id, TutorRun.stop_requested_at.is_(None))
        .values(stop_requested_at=now)
    )
    return run
