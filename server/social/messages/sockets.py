"""The socket side of messaging: client events and the `conversation:<id>` room check.

Plain callables for the composition root to register (domains never import realtime):
`message.send` and `message.read` end in the same service functions as REST; `typing` goes
straight to the conversation's room as an ephemeral event (nothing stored).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from pydantic import BaseModel
from pydantic import ValidationError as PydanticError

from server.http.errors import ValidationFailed
from server.http.guards import Principal
from server.outbox import Event
from server.runtime import Runtime
from server.social.messages import queries, receipts, service
from server.social.messages.schemas import SocketMessageSend, SocketReadIn, TypingIn
from server.social.presence import service as presence

TYPING = "conversation.typing"

ClientHandler = Callable[[Principal, dict[str, Any]], Awaitable[Any]]


def conversation_room(conversation_id: int) -> str:
    return f"conversation:{conversation_id}"


def _parse[M: BaseModel](model: type[M], body: dict[str, Any]) -> M:
    try:
        return model.model_validate(body)
    except PydanticError as exc:
        fields = {".".join(str(p) for p in e["loc"]) or "body": e["msg"] for e in exc.errors()}
        raise ValidationFailed(fields=fields) from exc


def room_check(runtime: Callable[[], Runtime]) -> Callable[[Principal, str], Awaitable[bool]]:
    """Who may join `conversation:<id>` (typing): its members."""

    async def check(principal: Principal, room_id: str) -> bool:
        # isdigit alone passes "²" and other digits int() refuses.
        if not (room_id.isascii() and room_id.isdigit()) or len(room_id) > 18:
            return False
        async with runtime().db.connection() as conn:
            members = await queries.member_ids(conn, conversation_id=int(room_id))
        return principal.user_id in members

    return check


def client_events(runtime: Callable[[], Runtime]) -> dict[str, ClientHandler]:
    """`message.send`, `message.delivered`, `message.read` and `typing`, by event name."""

    async def send(principal: Principal, body: dict[str, Any]) -> Any:
        request = _parse(SocketMessageSend, body)
        current = runtime()
        async with current.db.unit_of_work() as uow:
            message, _new = await service.send_message(
                uow,
                sender_id=principal.user_id,
                conversation_id=request.conversation_id,
                body=request,
                settings=current.settings,
                now=current.clock.now(),
                online=partial(presence.online_ids, current),
            )
        return message.model_dump(mode="json")

    async def delivered(principal: Principal, body: dict[str, Any]) -> Any:
        request = _parse(SocketReadIn, body)
        async with runtime().db.unit_of_work() as uow:
            state = await receipts.mark_delivered(
                uow,
                user_id=principal.user_id,
                conversation_id=request.conversation_id,
                message_id=request.message_id,
            )
        return state.model_dump(mode="json")

    async def read(principal: Principal, body: dict[str, Any]) -> Any:
        request = _parse(SocketReadIn, body)
        async with runtime().db.unit_of_work() as uow:
            state = await receipts.mark_read(
                uow,
                user_id=principal.user_id,
                conversation_id=request.conversation_id,
                message_id=request.message_id,
            )
        return state.model_dump(mode="json")

    async def typing(principal: Principal, body: dict[str, Any]) -> Any:
        request = _parse(TypingIn, body)
        current = runtime()
        async with current.db.connection() as conn:
            await queries.require_member(
                conn, conversation_id=request.conversation_id, user_id=principal.user_id
            )
        if current.events is not None:
            data = {"conversation_id": request.conversation_id, "user_id": principal.user_id}
            room = conversation_room(request.conversation_id)
            await current.events.send(Event(TYPING, data, room=room))
        return {}

    return {
        "message.send": send,
        "message.delivered": delivered,
        "message.read": read,
        "typing": typing,
    }
