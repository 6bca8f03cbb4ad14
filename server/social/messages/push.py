"""Phone pushes of new messages, for the members no socket of theirs would reach.

A member who is online gets `message.created` on their sockets and no push. The others get a
`message.created` notification (push only, see `server.notify.notifications.types`), subject to
their
preferences and devices, in a few queries and one presence read whatever the group's size.
When presence cannot be read (Redis down), everyone is pushed: a duplicate beats silence.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import structlog
from sqlalchemy import select

from models.identity.users import User
from server.db import UnitOfWork
from server.notify.notifications import bulk

log = structlog.get_logger(__name__)

MESSAGE_CREATED = "message.created"
# The longest preview of a message's text on a lock screen.
PREVIEW_CHARS = 60

# Which of these users are online now (one round trip for all; may raise).
OnlineReader = Callable[[list[int]], Awaitable[set[int]]]


async def offline_of(online: OnlineReader | None, user_ids: list[int]) -> list[int]:
    """Those of `user_ids` that no socket reaches now; all of them when presence is unknown."""
    if not user_ids or online is None:
        return list(user_ids)
    try:
        present = await online(user_ids)
    except Exception as exc:  # presence is best effort; the push is not
        log.warning("messages.presence_unavailable", error=repr(exc), users=len(user_ids))
        return list(user_ids)
    return [user_id for user_id in user_ids if user_id not in present]


def preview(text: str, attachment_kinds: list[str], *, screened: bool) -> str:
    """A short preview: the text cut to PREVIEW_CHARS, else placeholders like `[image]`."""
    if text and screened:
        return "[message]"
    if text:
        return text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1] + "…"
    return " ".join(f"[{kind}]" for kind in attachment_kinds) or "[message]"


async def notify_offline(
    uow: UnitOfWork,
    *,
    recipients: list[int],
    sender_id: int,
    conversation_id: int,
    message_id: int,
    group_title: str | None,
    body: str,
) -> list[int]:
    """Queue the push of a new message to `recipients` (offline, not blocked, not the sender);
    who was notified. The source names the message, so a second run pushes nobody twice."""
    recipients = [user_id for user_id in recipients if user_id != sender_id]
    if not recipients:
        return []
    nickname = await uow.session.scalar(select(User.nickname).where(User.id == sender_id)) or ""
    if group_title:
        title, body = group_title, f"{nickname}: {body}" if nickname else body
    else:
        title = nickname or "New message"
    return await bulk.notify_many(
        uow,
        user_ids=recipients,
        type=MESSAGE_CREATED,
        title=title,
        body=body,
        data={"conversation_id": conversation_id, "message_id": message_id},
        source=f"message:{message_id}",
    )
