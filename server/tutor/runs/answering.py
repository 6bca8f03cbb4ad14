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

import structlog
from sqlalchemy import bindparam, select, text, update

from models.tutor.catalog import Persona, TutorModel
from models.tutor.conversations import Conversation, TutorMessage
from models.tutor.runs import TutorRun
from server.db import retry_lock_conflicts
from server.outbox import Event, send_all
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

log = structlog.get_logger(__name__)

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
    relay: Relay | None = None  # made on first use, in the process's event loop


async def claim(runtime: Runtime, run_id: int, *, prompt_tokens: int) -> bool:
    """Mark a queued run running with its prompt's size; False when it is not queued (it
    started, or ended)."""

    async def attempt() -> bool:
        now = runtime.clock.now()
        async with runtime.db.unit_of_work() as uow:
            claimed = await uow.session.execute(
                update(TutorRun)
                .where(TutorRun.id == run_id, TutorRun.status == "queued")
                .values(
                    status="running", started_at=now, heartbeat_at=now, prompt_tokens=prompt_tokens
                )
            )
        return bool(claimed.rowcount)  # type: ignore[attr-defined]

    return await retry_lock_conflicts(attempt)


class _Stream:
    """The state of one answer being streamed (its reader takes pieces; the relay sends)."""

    __slots__ = (
        "blocked",
        "finish_reason",
        "provider",
        "reader",
        "run",
        "saved_seq",
        "screen",
        "seq",
        "shown",
        "started",
        "stop_requested",
        "usage",
    )

    def __init__(self, tools: Tools, run: TutorRun) -> None:
        self.run = run
        self.screen = OutputScreen(tools.word_list)
        self.shown = ""  # sent as deltas
        self.seq = 0
        self.saved_seq = 0  # the seq of the text last checkpointed
        self.started = False
        self.usage: tuple[int, int] | None = None
        self.finish_reason: str | None = None
        self.provider: tuple[str, str] | None = None
        self.stop_requested = False
        self.blocked = False
        self.reader: asyncio.Task[None] | None = None

    def take(self, piece: Any, relay: Relay) -> None:
        """A piece from the provider: text waits in the screen for the relay's next send (the
        first text is sent at once)."""
        if type(piece) is Delta:
            self.screen.feed(piece.text)
            if not self.started:
                self.started = True
                relay.hurry()
        elif isinstance(piece, Usage):
            self.usage = (piece.prompt_tokens, piece.completion_tokens)
        elif isinstance(piece, Finish):
            self.finish_reason = piece.reason
        elif isinstance(piece, Started):
            self.provider = (piece.provider, piece.upstream_model)

    def release(self, *, final: bool = False) -> dict[str, Any] | None:
        """The next delta's data (what the screen releases), or None when it releases nothing.
        Blocked output marks the stream and stops its reader."""
        try:
            text = self.screen.flush() if final else self.screen.release()
        except OutputBlocked:
            self.blocked = True
            self.cancel()
            return None
        if not text:
            return None
        self.seq += 1
        self.shown += text
        return {
            "run_id": self.run.id,
            "conversation_id": self.run.conversation_id,
            "seq": self.seq,
            "text": text,
        }

    def cancel(self) -> None:
        if self.reader is not None:
            self.reader.cancel()


class Relay:
    """Sends the deltas of every run this process streams, and saves them: one loop, waking each
    coalescing interval (and at once when a run's first text arrives), sends all runs' deltas as
    one batch of user events and one batch of feed entries, and every checkpoint interval saves
    all runs' text in one statement, which also notices runs asked to stop.

    One batch per interval rather than a task per run is what keeps a worker's cost per token
    flat as runs grow: a thousand runs cost a few round trips to Redis and MariaDB a tick.
    """

    def __init__(self, runtime: Runtime, feed: RunFeed) -> None:
        settings = runtime.settings
        self._runtime = runtime
        self._feed = feed
        self._interval = max(settings.tutor_delta_interval_ms / 1000, 0.005)
        self._checkpoint_every = settings.tutor_checkpoint_seconds
        self._streams: dict[int, _Stream] = {}
        self._wake = asyncio.Event()
        self._sending = asyncio.Lock()
        self._loop_task: asyncio.Task[None] | None = None
        self._saving: asyncio.Task[None] | None = None
        self._last_checkpoint = time.monotonic()

    def add(self, stream: _Stream) -> None:
        self._streams[stream.run.id] = stream
        if self._loop_task is None or self._loop_task.done():
            self._loop_task = asyncio.create_task(self._run(), name="tutor-relay")

    def hurry(self) -> None:
        """A run's first text arrived: send it now rather than at the next tick."""
        self._wake.set()

    async def end(self, stream: _Stream, *, complete: bool) -> None:
        """The stream's reader is done: send what the screen still holds (all of it when the
        answer is `complete`; after a failure all but a possible term's beginning; nothing
        after a stop or blocked output), then leave."""
        async with self._sending:
            self._streams.pop(stream.run.id, None)
            if stream.blocked or stream.stop_requested:
                return
            data = stream.release(final=complete)
            if data is not None:
                await self._send([(stream, data)])

    def forget(self, stream: _Stream) -> None:
        """The run's job was cancelled: stop sending for it (the reaper finishes it)."""
        self._streams.pop(stream.run.id, None)

    async def _run(self) -> None:
        next_tick = time.monotonic() + self._interval
        while self._streams:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(0.0, next_tick - time.monotonic()))
            self._wake.clear()
            now = time.monotonic()
            tick = now >= next_tick
            if tick:
                next_tick = max(next_tick + self._interval, now + self._interval / 2)
            saving = self._saving is not None and not self._saving.done()
            if tick and not saving and now - self._last_checkpoint >= self._checkpoint_every:
                # Saved beside the sends, never in their way (a save may wait for a connection).
                self._last_checkpoint = now
                self._saving = asyncio.create_task(self._checkpoint())
            try:
                await self._tick(everyone=tick)
            except asyncio.CancelledError:
                raise
            except Exception:  # a failed send: the runs go on; the reaper is the net
                log.exception("tutor.relay.send_failed")

    async def _tick(self, *, everyone: bool) -> None:
        async with self._sending:
            batch: list[tuple[_Stream, dict[str, Any]]] = []
            for stream in list(self._streams.values()):
                if stream.blocked or stream.stop_requested:
                    continue
                if everyone or stream.seq == 0:
                    data = stream.release()
                    if data is not None:
                        batch.append((stream, data))
            if batch:
                await self._send(batch)

    async def _send(self, batch: list[tuple[_Stream, dict[str, Any]]]) -> None:
        events = self._runtime.events
        assert events is not None
        await send_all(
            events,
            [
                Event(
                    "tutor.delta",
                    data,
                    user_ids=(stream.run.user_id,),
                    dedupe_id=f"tutor.delta:{stream.run.id}:{data['seq']}",
                )
                for stream, data in batch
            ],
        )
        await self._feed.append_many(
            [(stream.run.id, FeedEntry(data["seq"], "tutor.delta", data)) for stream, data in batch]
        )

    async def _checkpoint(self) -> None:
        try:
            await self._save()
        except Exception:  # a failed save: the next one saves all; the reaper is the net
            log.exception("tutor.relay.save_failed")

    async def _save(self) -> None:
        """Save every run's text shown; runs asked to stop (or ended elsewhere) are stopped."""
        streams = [s for s in self._streams.values() if not (s.stop_requested or s.blocked)]
        if not streams:
            return
        # What each changed run shows now (a send may add more while the save is under way).
        changed = [(s, s.seq, s.shown) for s in streams if s.seq != s.saved_seq]
        # Plain SQL, the ids inlined (integers of our own): a statement of a thousand runs is
        # built in microseconds, where compiling it as an expression would take milliseconds.
        ids = ", ".join(str(int(s.run.id)) for s in streams)
        params: dict[str, Any] = {"now": self._runtime.clock.now()}
        sets = ["heartbeat_at = :now"]
        if changed:
            texts = " ".join(
                f"WHEN {int(s.run.id)} THEN :t{n}" for n, (s, _, _) in enumerate(changed)
            )
            seqs = " ".join(f"WHEN {int(s.run.id)} THEN {int(seq)}" for s, seq, _ in changed)
            sets += [f"text = CASE id {texts} ELSE text END", f"seq = CASE id {seqs} ELSE seq END"]
            params.update({f"t{n}": shown for n, (_, _, shown) in enumerate(changed)})
        table = TutorRun.__tablename__
        save = text(
            f"UPDATE {table} SET {', '.join(sets)} WHERE id IN ({ids})"
            " AND status = 'running' AND stop_requested_at IS NULL"
        ).bindparams(bindparam("now", type_=TutorRun.__table__.c.heartbeat_at.type))
        halted_query = text(
            f"SELECT id FROM {table} WHERE id IN ({ids})"
            " AND (status <> 'running' OR stop_requested_at IS NOT NULL)"
        )
        async with self._runtime.db.unit_of_work() as uow:
            await uow.session.execute(save, params)
        async with self._runtime.db.read() as session:
            halted = set((await session.execute(halted_query)).scalars())
        for stream, seq, _ in changed:
            stream.saved_seq = seq
        for stream in streams:
            if stream.run.id in halted:
                stream.stop_requested = True
                stream.cancel()


def relay_of(runtime: Runtime, tools: Tools) -> Relay:
    if tools.relay is None:
        tools.relay = Relay(runtime, tools.feed)
    return tools.relay


async def answer(runtime: Runtime, tools: Tools, *, run_id: int) -> str | None:
    """Stream and finish one run; its end status, or None when the job must not run it.

    The prompt is built first, then the run claimed (a job that finds it claimed does nothing),
    so a run costs one write before its answer streams."""
    settings = runtime.settings
    async with runtime.db.read() as session:
        found = (
            await session.execute(
                select(TutorRun, Conversation, Persona, TutorModel, TutorMessage)
                .outerjoin(Conversation, Conversation.id == TutorRun.conversation_id)
                .outerjoin(Persona, Persona.id == Conversation.persona_id)
                .outerjoin(TutorModel, TutorModel.id == TutorRun.model_id)
                .outerjoin(TutorMessage, TutorMessage.id == TutorRun.user_message_id)
                .where(TutorRun.id == run_id)
            )
        ).first()
        if found is None or found[0].status != "queued":
            return None
        run, conversation, persona, model, question = found
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
    if not await claim(runtime, run_id, prompt_tokens=built.tokens):
        return None
    run.prompt_tokens = built.tokens
    stream = _Stream(tools, run)
    relay = relay_of(runtime, tools)
    outcome = await _stream(stream, relay, tools.gateway, routes, built, max_tokens=run.max_tokens)
    if passages and outcome.text and tools.retrieve is not None:
        outcome.citations = tools.retrieve.citations(outcome.text, passages)
    return await _finish(runtime, tools, run_id, outcome)


async def _stream(
    stream: _Stream,
    relay: Relay,
    gateway: AIGateway,
    routes: list[Route],
    built: prompts.Prompt,
    *,
    max_tokens: int,
) -> settle.Outcome:
    async def read() -> None:
        pieces = gateway.stream_chat(routes, built.messages, max_tokens=max_tokens)
        # Closed at once however reading ends (a stop, blocked output): the provider sees it.
        async with contextlib.aclosing(pieces):
            async for piece in pieces:
                take(piece, relay)

    take = stream.take
    stream.reader = asyncio.create_task(read())
    relay.add(stream)
    error: tuple[str, str] | None = None
    try:
        await stream.reader
    except asyncio.CancelledError:
        if not (stream.stop_requested or stream.blocked):
            relay.forget(stream)
            raise  # the job itself was cancelled: the reaper finishes the run
    except ProviderFailed as failed:
        error = (failed.code, failed.message)
    except BaseException:
        relay.forget(stream)
        raise
    await relay.end(stream, complete=error is None)
    if stream.blocked or (stream.finish_reason == "content_filter" and error is None):
        error = BLOCKED
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

    async def attempt() -> tuple[str, dict[str, Any]] | None:
        async with runtime.db.unit_of_work() as uow:
            return await settle.finish(
                uow,
                run_id=run_id,
                outcome=outcome,
                settings=runtime.settings,
                now=runtime.clock.now(),
            )

    # Finishing twice changes nothing (it locks the run and checks it is still running), so a
    # transaction a deadlock rolled back is simply run again.
    ended = await retry_lock_conflicts(attempt)
    if ended is None:
        return None
    event_type, data = ended
    await tools.feed.append(run_id, FeedEntry(data["seq"], event_type, data))
    return outcome.status
