"""Finishing a run, exactly once: its price from tokens (the provider's usage, or the estimator's
count of what was shown), the hold settled, the answer stored, usage counted, and one terminal
event. The worker finishes the runs it streams; the reaper finishes those whose worker died."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.tutor.catalog import Persona, TutorModel
from models.tutor.conversations import Conversation, TutorMessage
from models.tutor.runs import TutorRun
from server.commerce.wallet import service as wallet
from server.db import UnitOfWork
from server.outbox import TUTOR_QUEUE
from server.recovery import requeue_stuck
from server.settings import Settings
from server.tutor.conversations import service as conversations
from server.tutor.gateway import tokens
from server.tutor.memory import service as memory
from server.tutor.quotas import service as quotas
from server.tutor.runs import pricing
from server.tutor.runs.service import RUN, hold_reference

INTERRUPTED = ("tutor.interrupted", "The answer was interrupted; what was shown is kept.")


@dataclass(slots=True)
class Outcome:
    """How a stream ended, as the worker (or the reaper) saw it."""

    status: str  # completed | stopped | failed
    text: str  # what was shown (sent as deltas)
    seq: int
    finish_reason: str | None = None  # stop | length | stopped (completed and stopped runs)
    error: tuple[str, str] | None = None  # (code, message) of a failed run
    started: bool = False  # the provider sent a token (an error before it costs nothing)
    usage: tuple[int, int] | None = None  # the provider's (prompt, completion) tokens
    citations: list[dict[str, Any]] = field(default_factory=list)
    provider: str | None = None
    upstream_model: str | None = None


def _tokens(run: TutorRun, outcome: Outcome) -> tuple[int, int]:
    """Billed (prompt, completion) tokens by the rules: the provider's usage for an answer shown
    whole; otherwise the estimator's count of the prompt and of the text shown."""
    if outcome.status == "failed" and not outcome.started and not outcome.text:
        return 0, 0
    prompt = run.prompt_tokens if run.prompt_tokens is not None else run.prompt_estimate
    if outcome.usage is not None and outcome.status == "completed":
        return outcome.usage
    if outcome.usage is not None:
        prompt = outcome.usage[0]
    return prompt, tokens.count_tokens(outcome.text)


def terminal_event(run: TutorRun, message: TutorMessage | None) -> tuple[str, dict[str, Any]]:
    """The one event that ends a run's stream, as the outbox publishes it and the feed keeps it."""
    base = {"run_id": run.id, "conversation_id": run.conversation_id, "seq": run.seq + 1}
    if run.status == "failed":
        return "tutor.failed", {
            **base,
            "error": {"code": run.error_code, "message": run.error_message},
            "cost_credits": run.cost_credits or 0,
            "message": None
            if message is None
            else conversations.message_out(message).model_dump(mode="json"),
        }
    assert message is not None
    return "tutor.completed", {
        **base,
        "message": conversations.message_out(message).model_dump(mode="json"),
        "usage": {
            "prompt_tokens": run.prompt_tokens or 0,
            "completion_tokens": run.completion_tokens or 0,
        },
        "cost_credits": run.cost_credits or 0,
        "finish_reason": run.finish_reason,
        "citations": run.citations or [],
    }


async def finish(
    uow: UnitOfWork, *, run_id: int, outcome: Outcome, settings: Settings, now: datetime
) -> tuple[str, dict[str, Any]] | None:
    """End a running (or never started) run with `outcome`; its terminal event, or None when it
    had ended already (so a second finisher changes nothing)."""
    session = uow.session
    run = await session.scalar(
        select(TutorRun)
        .where(TutorRun.id == run_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if run is None or run.status not in ("queued", "running"):
        return None
    prompt_tokens, completion_tokens = _tokens(run, outcome)
    model_prices = await _prices(session, run.model_id)
    charge = min(
        pricing.cost(prompt_tokens, completion_tokens, p=model_prices[0], c=model_prices[1]),
        run.hold_credits,
    )
    if run.hold_credits:
        await wallet.settle_hold(
            uow,
            user_id=run.user_id,
            charge=charge,
            reference=hold_reference(run.id),
            memo="AI tutor answer",
            now=now,
        )
    run.status, run.text, run.seq = outcome.status, outcome.text, outcome.seq
    run.prompt_tokens, run.completion_tokens, run.cost_credits = (
        prompt_tokens,
        completion_tokens,
        charge,
    )
    run.finish_reason = outcome.finish_reason
    run.error_code, run.error_message = outcome.error or (None, None)
    run.citations = outcome.citations
    run.provider = outcome.provider or run.provider
    run.upstream_model = outcome.upstream_model or run.upstream_model
    run.finished_at = now
    message = None
    if outcome.status != "failed" or outcome.text:
        message = TutorMessage(
            conversation_id=run.conversation_id,
            user_id=run.user_id,
            role="assistant",
            body=outcome.text,
            run_id=run.id,
            citations=outcome.citations,
            usage={"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens},
            cost_credits=charge,
            finish_reason=outcome.finish_reason or "failed",
            created_at=now,
        )
        session.add(message)
        await session.flush()
        run.assistant_message_id = message.id
    conversation = await session.get(Conversation, run.conversation_id)
    if conversation is not None and conversation.active_run_id == run.id:
        conversation.active_run_id = None
        conversation.last_activity_at = now
    if message is not None and conversation is not None:
        persona = await session.get(Persona, conversation.persona_id)
        if memory.remembers(conversation, persona):
            uow.outbox.enqueue(
                memory.FOLD,
                conversation_id=conversation.id,
                job_id=memory.fold_job_id(conversation.id, message.id),
                queue=TUTOR_QUEUE,
            )
    if prompt_tokens or completion_tokens:
        await quotas.record_usage(
            session,
            user_id=run.user_id,
            model_id=run.model_id,
            day=quotas.business_day(now, settings),
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cost_credits=charge,
        )
    await session.flush()
    event_type, data = terminal_event(run, message)
    uow.outbox.publish(event_type, data, user_id=run.user_id)
    return event_type, data


async def _prices(session: AsyncSession, model_id: int) -> tuple[int, int]:
    model = await session.get(TutorModel, model_id)
    if model is None:  # a model deleted under a run: nothing more than the hold is known
        return 0, 0
    return model.prompt_credits_per_1k, model.completion_credits_per_1k


# A run still queued this many times `TUTOR_REAP_AFTER_SECONDS` after it was asked is given up:
# nobody waits that long for an answer to start.
GIVE_UP_FACTOR = 10


async def lost_runs(
    session: AsyncSession, *, now: datetime, after_seconds: int, limit: int
) -> list[int]:
    """Runs to finish: running without a checkpoint for `after_seconds` (their worker died), or
    still queued long after they were asked."""
    cutoff = now - timedelta(seconds=after_seconds)
    give_up = now - timedelta(seconds=after_seconds * GIVE_UP_FACTOR)
    rows = await session.scalars(
        select(TutorRun.id)
        .where(
            or_(
                (TutorRun.status == "running") & (TutorRun.heartbeat_at < cutoff),
                (TutorRun.status == "queued") & (TutorRun.created_at < give_up),
            )
        )
        .order_by(TutorRun.id)
        .limit(limit)
    )
    return list(rows)


async def requeue_waiting(
    uow: UnitOfWork, *, now: datetime, after_seconds: int, limit: int
) -> list[int]:
    """Queue again the job of each run queued for `after_seconds` (Redis may have lost it), under
    the id it was first queued with: a job still waiting is not queued twice."""
    cutoff = now - timedelta(seconds=after_seconds)
    return await requeue_stuck(
        uow,
        TutorRun.id,
        (TutorRun.status == "queued") & (TutorRun.created_at < cutoff),
        limit=limit,
        queue=lambda run_id: uow.outbox.enqueue(
            RUN, run_id=run_id, job_id=f"{RUN}:{run_id}", queue=TUTOR_QUEUE
        ),
    )


def _lost(run: TutorRun, *, now: datetime, after_seconds: int) -> bool:
    """What `lost_runs` selects, checked again on the locked row: a worker may have claimed the
    run (or checkpointed) since it was listed."""
    cutoff = now - timedelta(seconds=after_seconds)
    if run.status == "running":
        return run.heartbeat_at is None or run.heartbeat_at < cutoff
    give_up = now - timedelta(seconds=after_seconds * GIVE_UP_FACTOR)
    return run.status == "queued" and run.created_at < give_up


async def reap(
    uow: UnitOfWork, *, run_id: int, settings: Settings, now: datetime, force: bool = False
) -> tuple[str, dict[str, Any]] | None:
    """Finish a lost run `tutor.interrupted`, billed from the text last checkpointed; a run that
    is not lost any more (unless `force`) is left to its worker."""
    run = await uow.session.scalar(
        select(TutorRun)
        .where(TutorRun.id == run_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if run is None:
        return None
    if not force and not _lost(run, now=now, after_seconds=settings.tutor_reap_after_seconds):
        return None
    outcome = Outcome(
        status="failed",
        text=run.text,
        seq=run.seq,
        error=INTERRUPTED,
        started=bool(run.text),
    )
    return await finish(uow, run_id=run_id, outcome=outcome, settings=settings, now=now)


async def end_active_runs(
    uow: UnitOfWork, *, user_id: int, settings: Settings, now: datetime
) -> int:
    """Finish the user's queued and running runs as the reaper would (their account is being
    erased): each hold is settled before the runs are deleted, so no credits stay held."""
    active = await uow.session.scalars(
        select(TutorRun.id).where(
            TutorRun.user_id == user_id, TutorRun.status.in_(("queued", "running"))
        )
    )
    ended = 0
    for run_id in list(active):
        ended += await reap(uow, run_id=run_id, settings=settings, now=now, force=True) is not None
    return ended
