"""HTTP routes: asking the tutor, reading and stopping a run, following it over SSE."""

from __future__ import annotations

from aiohttp import web

from models.tutor.runs import TutorRun
from server.content.items.access import viewer_of
from server.http.registry import RouteTable
from server.keys import RUNTIME, SETTINGS, USER_ID
from server.screening import policy_of
from server.tutor.conversations import service as conversations
from server.tutor.conversations.schemas import ConversationPath, Usage
from server.tutor.runs import events, service, tools
from server.tutor.runs.schemas import AskedOut, AskIn, RunError, RunOut, RunPath, RunRef

routes = RouteTable("tutor-runs", "AI tutor answers: asking, following, stopping.")

ASK = (
    "Queues an answer once the question passed content screening (422 `moderation.flagged`, "
    "nothing sent to a provider), the quota (429 `tutor.quota_exceeded` with Retry-After), one "
    "run per conversation (409 `tutor.run_in_progress`) and the hold on the wallet for the most "
    "the answer can cost (409 `wallet.insufficient_funds`, naming the credits needed). The same "
    "`client_message_id` again answers the first run. The answer streams as `tutor.delta` user "
    "events, then one `tutor.completed` or `tutor.failed`."
)


@routes.post(
    "/api/v1/tutor/conversations/{conversation_id}/messages",
    params=ConversationPath,
    body=AskIn,
    response=AskedOut,
    status=202,
    idempotent=True,
    replays=True,
    errors=frozenset({404, 409}),
    description=ASK,
)
async def ask(request: web.Request, params: ConversationPath, body: AskIn) -> AskedOut:
    """Ask the tutor"""
    runtime, settings = request.app[RUNTIME], request.app[SETTINGS]
    async with runtime.db.unit_of_work() as uow:
        asked = await service.ask(
            uow,
            user_id=request[USER_ID],
            roles=viewer_of(request).roles,
            conversation_id=params.conversation_id,
            client_message_id=body.client_message_id,
            body=body.body,
            settings=settings,
            policy=policy_of(settings),
            now=runtime.clock.now(),
        )
        return AskedOut(
            message=conversations.message_out(asked.message),
            run=RunRef.model_validate({"id": asked.run.id, "status": asked.run.status}),
        )


def run_out(run: TutorRun) -> RunOut:
    usage = None
    if run.completion_tokens is not None:
        usage = Usage(prompt_tokens=run.prompt_tokens or 0, completion_tokens=run.completion_tokens)
    error = None
    if run.error_code is not None:
        error = RunError(code=run.error_code, message=run.error_message or "")
    return RunOut.model_validate(
        {
            "id": run.id,
            "conversation_id": run.conversation_id,
            "status": run.status,
            "text": run.text,
            "seq": run.seq,
            "max_tokens": run.max_tokens,
            "hold_credits": run.hold_credits,
            "finish_reason": run.finish_reason,
            "error": error,
            "usage": usage,
            "cost_credits": run.cost_credits,
            "citations": run.citations or [],
            "message_id": run.assistant_message_id,
            "created_at": run.created_at,
            "finished_at": run.finished_at,
        }
    )


@routes.get("/api/v1/tutor/runs/{run_id}", params=RunPath, response=RunOut)
async def get_run(request: web.Request, params: RunPath) -> RunOut:
    """A run: its status and the text shown so far"""
    async with request.app[RUNTIME].db.read() as session:
        return run_out(
            await service.get_run(session, user_id=request[USER_ID], run_id=params.run_id)
        )


@routes.post(
    "/api/v1/tutor/runs/{run_id}/stop",
    params=RunPath,
    response=RunRef,
    status=202,
    errors=frozenset({409}),
    description="Asks the run to stop; it ends `stopped` (a `tutor.completed` event with "
    "`finish_reason: stopped`) within about a second, billed for the prompt and what was shown. "
    "409 `tutor.run_finished` once it has ended.",
)
async def stop_run(request: web.Request, params: RunPath) -> RunRef:
    """Stop an answer"""
    runtime = request.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        run = await service.request_stop(
            uow, user_id=request[USER_ID], run_id=params.run_id, now=runtime.clock.now()
        )
        return RunRef.model_validate({"id": run.id, "status": run.status})


@routes.get(
    "/api/v1/tutor/runs/{run_id}/events",
    params=RunPath,
    description="Server-Sent Events of one run for plain HTTP clients: the same events as the "
    "socket (`tutor.delta`, then `tutor.completed` or `tutor.failed`), `id:` = the run's `seq`; "
    "send `Last-Event-ID` to resume after it. A comment ping follows every 15 s of silence.",
)
async def run_events(request: web.Request, params: RunPath) -> web.StreamResponse:
    """Follow a run (Server-Sent Events)"""
    runtime = request.app[RUNTIME]
    after = events.last_event_id(request)
    async with runtime.db.read() as session:
        await service.get_run(session, user_id=request[USER_ID], run_id=params.run_id)
    return await events.stream(
        request, runtime=runtime, feed=tools.feed_of(runtime), run_id=params.run_id, after=after
    )
