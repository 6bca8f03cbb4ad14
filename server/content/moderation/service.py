"""Reports and their resolution, and the automatic flags moderators read.

A report names a target (content, comment, message, user, post, review). Each target type has a
check that the target exists and may be reported by this person, and may have an uphold action
(what an upheld report does to it: content is archived, a comment or post hidden, a message
withdrawn for everyone, a review removed); content and users are handled here; the checks and
actions of comments, messages, posts and reviews live with the domains that own them and are
registered with `register_target` by the composition root (`server/app.py`). Until a type
has a check, reports against it are refused (422 `moderation.unsupported_target`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from models.content.items import Content
from models.content.moderation import ModerationFlag, ModerationReport
from models.identity.users import User
from server.audit import record_admin_action
from server.clock import Clock
from server.content.items import lifecycle
from server.content.items.access import Viewer
from server.content.items.service import ContentNotFound
from server.content.moderation.schemas import FlagOut, ReportIn, ReportOut
from server.db import UnitOfWork
from server.http.errors import Conflict, NotFound, ValidationFailed
from server.http.pagination import InvalidCursor, Page, decode_cursor, page_of
from server.notify.notifications import service as notifications

# (session, target id, reporter id) -> None, or raise TargetNotFound / OwnTarget.
TargetCheck = Callable[[AsyncSession, int, int], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Uphold:
    """An upheld report's target, and who upheld it why."""

    target_id: int
    moderator: Viewer
    note: str | None
    ip: str | None
    clock: Clock


@dataclass(frozen=True, slots=True)
class Upheld:
    """What upholding did: `removed` False when the target was already gone or withdrawn;
    `author_id` is told (unless None). What must follow the commit (a counter change, a job) the
    action writes to the unit of work's outbox, so it commits with the resolution."""

    removed: bool
    author_id: int | None = None


# (unit of work, the uphold) -> what it did. Takes the target away from readers, idempotently.
UpholdAction = Callable[[UnitOfWork, Uphold], Awaitable[Upheld]]


class TargetNotFound(NotFound):
    code, message = "moderation.target_not_found", "There is nothing to report at this address."


class UnsupportedTarget(ValidationFailed):
    code, message = "moderation.unsupported_target", "This kind of thing cannot be reported yet."


class OwnTarget(ValidationFailed):
    code, message = "moderation.own_target", "You cannot report yourself or your own content."


class AlreadyReported(Conflict):
    code, message = "moderation.already_reported", "You have already reported this; it is open."


class ReportNotFound(NotFound):
    code, message = "moderation.report_not_found", "There is no such report."


class ReportClosed(Conflict):
    code, message = "moderation.report_closed", "This report was already resolved."


async def _check_content(session: AsyncSession, target_id: int, reporter_id: int) -> None:
    """Content that readers could see (it has a published version), not the reporter's own."""
    row = (
        await session.execute(
            select(Content.author_id, Content.published_version).where(Content.id == target_id)
        )
    ).one_or_none()
    if row is None or row.published_version is None:
        raise TargetNotFound()
    if row.author_id == reporter_id:
        raise OwnTarget()


async def _check_user(session: AsyncSession, target_id: int, reporter_id: int) -> None:
    status = await session.scalar(select(User.status).where(User.id == target_id))
    if status is None or status == "deleted":
        raise TargetNotFound()
    if target_id == reporter_id:
        raise OwnTarget()


_TARGETS: dict[str, TargetCheck] = {"content": _check_content, "user": _check_user}
_UPHOLDS: dict[str, UpholdAction] = {}


def register_target(
    target_type: str, check: TargetCheck, uphold: UpholdAction | None = None
) -> None:
    """Let reports name `target_type`, checked by `check`; `uphold` is what an upheld report
    does to the target (for the domains that own them)."""
    _TARGETS[target_type] = check
    if uphold is not None:
        _UPHOLDS[target_type] = uphold


def _report_out(report: ModerationReport) -> ReportOut:
    return ReportOut.model_construct(
        id=report.id,
        reporter_id=report.reporter_id,
        target_type=report.target_type,
        target_id=report.target_id,
        reason=report.reason,
        detail=report.detail,
        status=report.status,
        resolved_by=report.resolved_by,
        resolved_at=report.resolved_at,
        resolution_note=report.resolution_note,
        created_at=report.created_at,
    )


async def create_report(
    uow: UnitOfWork, *, reporter_id: int, body: ReportIn, now: datetime
) -> ReportOut:
    """File a report; one open report per person and target (409 for a second)."""
    session = uow.session
    check = _TARGETS.get(body.target_type)
    if check is None:
        raise UnsupportedTarget(fields={"target_type": f"{body.target_type} is not supported"})
    await check(session, body.target_id, reporter_id)
    open_already = await session.scalar(
        select(ModerationReport.id).where(
            ModerationReport.reporter_id == reporter_id,
            ModerationReport.target_type == body.target_type,
            ModerationReport.target_id == body.target_id,
            ModerationReport.status == "open",
        )
    )
    if open_already is not None:
        raise AlreadyReported()
    report = ModerationReport(
        reporter_id=reporter_id,
        target_type=body.target_type,
        target_id=body.target_id,
        reason=body.reason,
        detail=(body.detail or "").strip() or None,
        status="open",
        is_open=True,
        created_at=now,
    )
    session.add(report)
    try:
        await session.flush()
    except IntegrityError as exc:  # the same report sent twice at once
        raise AlreadyReported() from exc
    return _report_out(report)


def _after(cursor: str | None) -> int | None:
    position = decode_cursor(cursor)
    if position is None:
        return None
    after = position.get("id")
    if type(after) is not int or after < 0:
        raise InvalidCursor()
    return after


async def list_reports(
    session: AsyncSession,
    *,
    status: str,
    target_type: str | None,
    limit: int,
    cursor: str | None,
) -> Page[ReportOut]:
    """Reports in one status, oldest first (a queue), in one query whatever the page size."""
    query = reports_statement(
        status=status, target_type=target_type, after=_after(cursor), limit=limit + 1
    )
    rows = (await session.scalars(query)).all()
    return page_of([_report_out(row) for row in rows], limit, lambda item: {"id": item.id})


def reports_statement(
    *, status: str, target_type: str | None, after: int | None, limit: int
) -> Select[ModerationReport]:
    """The report queue's query: it walks ix_moderation_reports_status_id, no sort."""
    query = select(ModerationReport).where(ModerationReport.status == status)
    if target_type is not None:
        query = query.where(ModerationReport.target_type == target_type)
    if after is not None:
        query = query.where(ModerationReport.id > after)
    return query.order_by(ModerationReport.id).limit(limit)


def flags_statement(*, content_id: int, before: int | None, limit: int) -> Select[ModerationFlag]:
    """An item's flags, newest first: ix_moderation_flags_target read backwards, no sort."""
    query = select(ModerationFlag).where(
        ModerationFlag.target_type == "content", ModerationFlag.target_id == content_id
    )
    if before is not None:
        query = query.where(ModerationFlag.id < before)
    return query.order_by(ModerationFlag.id.desc()).limit(limit)


async def _uphold_content(
    uow: UnitOfWork, *, moderator: Viewer, content_id: int, note: str | None, now: datetime
) -> bool:
    """Archive reported content that is still published and tell its author; False if it was
    already withdrawn (or is gone)."""
    content = (
        await uow.session.scalars(select(Content).where(Content.id == content_id).with_for_update())
    ).one_or_none()
    if content is None or content.status != "published":
        return False
    await lifecycle.archive(uow, viewer=moderator, content_id=content_id, now=now)
    await notifications.notify(
        uow,
        user_id=content.author_id,
        type="content.removed",
        title=f"“{content.title}” was withdrawn after a report",
        body=note or "A moderator found that it breaks the rules.",
        data={"content_id": content_id},
        actor_id=moderator.user_id,
    )
    return True


async def _uphold_target(uow: UnitOfWork, report: ModerationReport, uphold: Uphold) -> bool:
    """Run the target type's uphold action and tell the author; whether it removed anything."""
    upheld = await _UPHOLDS[report.target_type](uow, uphold)
    if upheld.removed and upheld.author_id is not None:
        await notifications.notify(
            uow,
            user_id=upheld.author_id,
            type="content.removed",
            title=f"Your {report.target_type} was removed after a report",
            body=uphold.note or "A moderator found that it breaks the rules.",
            data={"target_type": report.target_type, "target_id": report.target_id},
            actor_id=uphold.moderator.user_id,
        )
    return upheld.removed


async def resolve_report(
    uow: UnitOfWork,
    *,
    moderator: Viewer,
    report_id: int,
    action: str,
    note: str | None,
    ip: str | None,
    clock: Clock,
) -> ReportOut:
    """Dismiss a report, or uphold it: the target's uphold action takes it from readers (content
    is archived, a comment or post hidden, a message withdrawn, a review removed) and its author
    is told, and every other open report on the same target is resolved with it. Audited either
    way. What must follow the commit leaves through the unit of work's outbox."""
    assert moderator.user_id is not None
    session = uow.session
    now = clock.now()
    report = (
        await session.scalars(
            select(ModerationReport).where(ModerationReport.id == report_id).with_for_update()
        )
    ).one_or_none()
    if report is None:
        raise ReportNotFound()
    if report.status != "open":
        raise ReportClosed()
    note = (note or "").strip() or None
    closed = {
        "is_open": None,
        "resolved_by": moderator.user_id,
        "resolved_at": now,
        "resolution_note": note,
    }
    detail: dict[str, Any] = {
        "report_id": report.id,
        "target_type": report.target_type,
        "target_id": report.target_id,
        "reason": report.reason,
        "note": note,
    }
    if action == "dismiss":
        report.status = "dismissed"
        for name, value in closed.items():
            setattr(report, name, value)
        await session.flush()
    else:
        if report.target_type == "content":
            detail["archived"] = await _uphold_content(
                uow, moderator=moderator, content_id=report.target_id, note=note, now=now
            )
        elif report.target_type in _UPHOLDS:
            uphold = Uphold(report.target_id, moderator, note, ip, clock)
            detail["removed"] = await _uphold_target(uow, report, uphold)
        others = await session.execute(
            update(ModerationReport)
            .where(
                ModerationReport.target_type == report.target_type,
                ModerationReport.target_id == report.target_id,
                ModerationReport.status == "open",
                ModerationReport.id != report.id,
            )
            .values(status="resolved", **closed)
        )
        detail["also_resolved"] = int(getattr(others, "rowcount", 0) or 0)
        report.status = "resolved"
        for name, value in closed.items():
            setattr(report, name, value)
        await session.flush()
    await record_admin_action(
        session,
        admin_id=moderator.user_id,
        action=f"report.{'dismissed' if action == 'dismiss' else 'upheld'}",
        target_type="moderation_report",
        target_id=report.id,
        detail=detail,
        ip=ip,
        clock=clock,
    )
    return _report_out(report)


async def list_flags(
    session: AsyncSession, *, content_id: int, limit: int, cursor: str | None
) -> Page[FlagOut]:
    """The automatic flags of one content item, newest first; 404 for unknown content."""
    if await session.scalar(select(Content.id).where(Content.id == content_id)) is None:
        raise ContentNotFound()
    position = decode_cursor(cursor)
    before = None if position is None else position.get("id")
    if position is not None and (type(before) is not int or before < 1):
        raise InvalidCursor()
    query = flags_statement(content_id=content_id, before=before, limit=limit + 1)
    rows = (await session.scalars(query)).all()
    items = [
        FlagOut.model_construct(
            id=row.id,
            target_type=row.target_type,
            target_id=row.target_id,
            categories=list(row.categories),
            fields={name: list(cats) for name, cats in dict(row.fields).items()},
            terms_count=row.terms_count,
            created_at=row.created_at,
        )
        for row in rows
    ]
    return page_of(items, limit, lambda item: {"id": item.id})
