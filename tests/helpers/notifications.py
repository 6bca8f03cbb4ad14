"""Notification helpers: users, notifications and a recording event sink."""

from __future__ import annotations

from typing import Any

from models.identity.users import User
from models.notify.notifications import Notification
from server.notify.notifications import service
from server.outbox import Event, Job
from server.runtime import Runtime

NOTIFICATIONS = "/api/v1/notifications"


class Recorder:
    """Stands in for the job queue and the event bus: keeps what the relay sends."""

    def __init__(self) -> None:
        self.jobs: list[Job] = []
        self.events: list[Event] = []

    async def enqueue(self, job: Job) -> None:
        self.jobs.append(job)

    async def send(self, event: Event) -> None:
        self.events.append(event)


async def add_user(runtime: Runtime, email: str) -> int:
    """A bare account row, for tests that do not go through the API."""
    async with runtime.db.unit_of_work() as uow:
        user = User(email=email, password_hash="x", nickname=email.split("@")[0], roles=["reader"])
        uow.session.add(user)
        await uow.session.flush()
        return user.id


async def add_notifications(runtime: Runtime, user_id: int, count: int, **fields: Any) -> list[int]:
    """`count` notifications for the user, oldest first; their ids."""
    ids = []
    async with runtime.db.unit_of_work() as uow:
        for n in range(count):
            notification = await service.notify(
                uow,
                user_id=user_id,
                type=fields.get("type", "comment.created"),
                title=fields.get("title", f"Notice {n}"),
                body=fields.get("body", ""),
                data=fields.get("data", {"n": n}),
                actor_id=fields.get("actor_id"),
            )
            ids.append(notification.id)
    return ids


async def stored_notifications(runtime: Runtime, user_id: int, count: int) -> list[int]:
    """`count` bare notification rows for the user, oldest first, written in one flush: for tests
    of how the table is read, not of how notices are made (`add_notifications`); their ids."""
    async with runtime.db.unit_of_work() as uow:
        rows = [
            Notification(
                user_id=user_id, type="comment.created", title=f"Notice {n}", body="", data={"n": n}
            )
            for n in range(count)
        ]
        uow.session.add_all(rows)
        await uow.session.flush()
        return [row.id for row in rows]
