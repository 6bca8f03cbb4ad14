"""Streaming one run in a worker: claim it (once: a job that finds it started does nothing, so
no retry calls a provider twice), build its prompt, stream the provider's answer through the
output screen, send it as coalesced `tutor.delta` user events (and to the run's feed), save
the text shown at checkpoints (which also notice a stop), then finish the run once."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import update

from models.tutor.catalog import Persona, TutorModel
from models.tutor.conversations import Conversation, TutorMessage
from models.tutor.runs import TutorRun
from server.outbox import Event
from server.runtime import Runtime
from server.screening.words import WordList
from server.tutor.gateway.client import (
    AIGateway,
    Delta,
    Finish,
    ProviderFailed,
    Started,
    Usage,
)
from server.tutor.gateway.providers import Route
from server.tutor.runs import prompt as prompts
from server.tutor.runs import settle
from server.tutor.runs.feed import FeedEntry, RunFeed
from server.tutor.runs.screen import OutputBlocked, OutputScreen

BLOCKED = ("moderation.flagged_output", "The answer was stopped by content screening.")
STOPPED = "stopped"


@dataclass(slots=True)
class Tools:
    """What streaming needs beyond the runtime: the AI gateway, the run feed, the word list,
    and the retrieval step (None: no retrieval in this process)."""

    gateway: AIGateway
    feed: RunFeed
    word_list: WordList
    retrieve: Any = None


async def claim(runtime: Runtime, run_id: int) -> bool:
    """Mark a queued run running; False when it is not queued (it started, or ended)."""
    now = runtime.clock.now()
    async with runtime.db.unit_of_work() as uow:
        claimed = await uow.session.execute(
            update(TutorRun)
            .where(TutorRun.id == run_id, TutorRun.status == "queued")
            .values(status="running", started_at=now, heartbeat_at=now)
        )
    return bool(claimed.rowcount)  # type: ignore[attr-defined]


class _Stream:
    """The state of one answer being streamed."""

    def __init__(self, runtime: Runtime, tools: Tools, run: TutorRun) -> None:
        settings = runtime.settings
        self.runtime, self.tools, self.run = runtime, tools, run
        self.screen = OutputScreen(
            tools.word_list,
            window_seconds=settings.tutor_screen_window_ms / 1000,
            window_chars=settings.tutor_screen_window_chars,
        )
        self.interval = settings.tutor_delta_interval_ms / 1000
        self.checkpoint_every = settings.tutor_checkpoint_seconds
        self.shown = ""  # sent as deltas
        self.unsent = ""  # released by the screen, not sent yet
        self.seq = 0
        self.last_sent = 0.0
        self.last_checkpoint = time.monotonic()
        self.started = False
        self.usage: tuple[int, int] | None = None
        self.finish_reason: str | None = None
        self.provider: tuple[str, str] | None = None
        self.stop_requested = False
        self.blocked = False
        self.finished = False
        self.due = asyncio.Event()

    async def send(self) -> None:
        """Send what the screen released as one delta (the pump while the answer streams,
        then once more at its end: never two at once)."""
        if not self.unsent:
            return
        text, self.unsent = self.unsent, ""
        self.seq += 1
        self.shown += text
        self.last_sent = time.monotonic()
        data = {
            "run_id": self.run.id,
            "conversation_id": self.run.conversation_id,
            "seq": self.seq,
            "text": text,
        }
        events = self.runtime.events
        assert events is not None
        await events.send(
            Event(
                "tutor.delta",
                data,
                user_ids=(self.run.user_id,),
                dedupe_id=f"tutor.delta:{self.run.id}:{self.seq}",
            )
        )
        await self.tools.feed.append(self.run.id, FeedEntry(self.seq, "tutor.delta", data))

    async def checkpoint(self) -> bool:
        """Save the text shown; False when the run was asked to stop (or ended elsewhere)."""
        self.last_checkpoint = time.monotonic()
        async with self.runtime.db.unit_of_work() as uow:
            saved = await uow.session.execute(
                update(TutorRun)
                .where(
                    TutorRun.id == self.run.id,
                    TutorRun.status == "running",
                    TutorRun.stop_requested_at.is_(None),
                )
                .values(text=self.shown, seq=self.seq, heartbeat_at=self.runtime.clock.now())
            )
        return bool(saved.rowcount)  # type: ignore[attr-defined]

    def take(self, piece: Any) -> None:
        """A piece from the provider: text goes through the screen (the pump sends it)."""
        if isinstance(piece, Delta):
            self.started = True
            self.unsent += self.screen.feed(piece.text)
            if self.unsent and time.monotonic() - self.last_sent >= self.interval:
                self.due.set()
        elif isinstance(piece, Usage):
            self.usage = (piece.prompt_tokens, piece.completion_tokens)
        elif isinstance(piece, Finish):
            self.finish_reason = piece.reason
        elif isinstance(piece, Started):
            self.provider = (piece.provider, piece.upstream_model)

    async def pump(self, reader: asyncio.Task[None]) -> None:
        """Send deltas when due, close aged screening windows, checkpoint; stop the reader on
        a stop or blocked output. Only the pump sends while the reader reads, so cancelling
        the reader never cuts a send in half."""
        step = max(0.01, min(self.interval or 0.05, self.checkpoint_every))
        while not self.finished:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.due.wait(), step)
            self.due.clear()
            if self.finished:
                return
            try:
                self.unsent += self.screen.due()
            except OutputBlocked:
                self.blocked = True
                reader.cancel()
                return
            if self.unsent and time.monotonic() - self.last_sent >= self.interval:
                await self.send()
            due = time.monotonic() - self.last_checkpoint >= self.checkpoint_every
            if due and not await self.checkpoint():
                self.stop_requested = True
                reader.cancel()
                return


async def answer(runtime: Runtime, tools: Tools, *, run_id: int) -> str | None:
    """Stream and finish one run; its end status, or None when the job must not run it."""
    if not await claim(runtime, run_id):
        return None
    settings = runtime.settings
    async with runtime.db.read() as session:
        run = await session.get(TutorRun, run_id)
        assert run is not None
        conversation = await session.get(Conversation, run.conversation_id)
        persona = await session.get(Persona, conversation.persona_id) if conversation else None
        model = await session.get(TutorModel, run.model_id)
        question = await session.get(TutorMessage, run.user_message_id)
        if not (conversation and persona and model and question):
            outcome = settle.Outcome("failed", "", 0, error=("tutor.unavailable", "Gone."))
            return await _finish(runtime, tools, run_id, outcome)
        sources, passages = None, []
        if persona.retrieval and tools.retrieve is not None:
            sources, passages = await tools.retrieve(
                session,
                run=run,
                conversation=conversation,
                question=question.body,
                now=runtime.clock.now(),
            )
        built = await prompts.build(
            session,
            run=run,
            conversation=conversation,
            persona=persona,
            question=question.body,
            memory_budget=settings.tutor_memory_budget_tokens,
            sources=sources,
            passages=passages,
        )
        routes = [Route(r["provider"], r["upstream_model"]) for r in model.routes]
    async with runtime.db.unit_of_work() as uow:
        await uow.session.execute(
            update(TutorRun).where(TutorRun.id == run_id).values(prompt_tokens=built.tokens)
        )
    run.prompt_tokens = built.tokens
    stream = _Stream(runtime, tools, run)
    outcome = await _stream(stream, routes, built, max_tokens=run.max_tokens)
    if passages and outcome.text and tools.retrieve is not None:
        outcome.citations = tools.retrieve.citations(outcome.text, passages)
    return await _finish(runtime, tools, run_id, outcome)


async def _stream(
    stream: _Stream, routes: list[Route], built: prompts.Prompt, *, max_tokens: int
) -> settle.Outcome:
    async def read() -> None:
        pieces = stream.tools.gateway.stream_chat(routes, built.messages, max_tokens=max_tokens)
        # Closed at once however reading ends (a stop, blocked output): the provider sees it.
        async with contextlib.aclosing(pieces):
            async for piece in pieces:
                stream.take(piece)

    reader = asyncio.create_task(read())
    pump = asyncio.create_task(stream.pump(reader))
    error: tuple[str, str] | None = None
    try:
        try:
            await reader
            stream.unsent += stream.screen.flush()
        except asyncio.CancelledError:
            if not (stream.stop_requested or stream.blocked):
                raise  # the job itself was cancelled: the reaper finishes the run
        except ProviderFailed as failed:
            error = (failed.code, failed.message)
        except OutputBlocked:
            error = BLOCKED
        stream.finished = True
        stream.due.set()
        await pump
    except BaseException:
        pump.cancel()
        raise
    if stream.blocked or (stream.finish_reason == "content_filter" and error is None):
        error = BLOCKED
    await stream.send()
    provider = stream.provider or (None, None)
    common: dict[str, Any] = {
        "text": stream.shown,
        "seq": stream.seq,
        "started": stream.started,
        "usage": stream.usage,
        "provider": provider[0],
        "upstream_model": provider[1],
    }
    if error is not None:
        return settle.Outcome("failed", error=error, **common)
    if stream.stop_requested:
        return settle.Outcome("stopped", finish_reason=STOPPED, **common)
    reason = "length" if stream.finish_reason == "length" else "stop"
    return settle.Outcome("completed", finish_reason=reason, **common)


async def _finish(
    runtime: Runtime, tools: Tools, run_id: int, outcome: settle.Outcome
) -> str | None:
    async with runtime.db.unit_of_work() as uow:
        ended = await settle.finish(
            uow,
            run_id=run_id,
            outcome=outcome,
            settings=runtime.settings,
            now=runtime.clock.now(),
        )
    if ended is None:
        return None
    event_type, data = ended
    await tools.feed.append(run_id, FeedEntry(data["seq"], event_type, data))
    return outcome.status
