"""Creator applications: apply with a verified real name, review, grant the creator role."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from models.identity.creators import CreatorApplication
from models.identity.users import User
from server.audit import record_admin_action
from server.clock import Clock
from server.crypto import PiiCipher
from server.db import Database, UnitOfWork
from server.http.errors import Conflict, NotFound, ValidationFailed
from server.http.pagination import InvalidCursor, Page, decode_cursor, page_of
from server.http.ratelimit import RateLimiter
from server.identity.creators.resident_id import mask_id_number, mask_real_name
from server.identity.creators.schemas import ApplicationIn, ApplicationOut, ReviewedApplicationOut
from server.identity.users import service as users_service
from server.identity_check import IdentityVerifier, Verdict
from server.notify.notifications import service as notifications_service

NAME_CONTEXT = "creators.real_name"
ID_NUMBER_CONTEXT = "creators.id_number"
CREATOR = "creator"

_COLUMNS = (
    CreatorApplication.id,
    CreatorApplication.user_id,
    CreatorApplication.status,
    CreatorApplication.real_name_enc,
    CreatorApplication.id_number_enc,
    CreatorApplication.pitch,
    CreatorApplication.links,
    CreatorApplication.verification,
    CreatorApplication.reason,
    CreatorApplication.reviewed_by,
    CreatorApplication.reviewed_at,
    CreatorApplication.created_at,
)


class ApplicationPending(Conflict):
    code, message = "creators.application_pending", "Your application is still being reviewed."


class AlreadyCreator(Conflict):
    code, message = "creators.already_creator", "You are a creator already."


class IdentityInUse(Conflict):
    code, message = (
        "creators.identity_in_use",
        "This identity already belongs to another creator account.",
    )


class IdentityMismatch(ValidationFailed):
    code, message = "creators.identity_mismatch", "The name does not match the ID number."


class ApplicationNotFound(NotFound):
    code, message = "creators.application_not_found", "No such application."


class ApplicationNotPending(Conflict):
    code, message = "creators.application_not_pending", "This application was already reviewed."


def id_number_hash(pii: PiiCipher, id_number: str) -> str:
    """The lookup hash of a normalised ID number: one identity, one creator account."""
    return pii.lookup_hash(id_number, context=ID_NUMBER_CONTEXT)


def _clear(pii: PiiCipher, token: str | None, context: str) -> str | None:
    return None if token is None else pii.decrypt(token, context=context)


def _applicant_view(row: Any, pii: PiiCipher) -> ApplicationOut:
    name = _clear(pii, row.real_name_enc, NAME_CONTEXT)
    number = _clear(pii, row.id_number_enc, ID_NUMBER_CONTEXT)
    return ApplicationOut(
        id=row.id,
        status=row.status,
        real_name=None if name is None else mask_real_name(name),
        id_number=None if number is None else mask_id_number(number),
        pitch=row.pitch,
        links=list(row.links),
        reason=row.reason,
        created_at=row.created_at,
        reviewed_at=row.reviewed_at,
    )


def _reviewer_view(row: Any, pii: PiiCipher) -> ReviewedApplicationOut:
    masked = _applicant_view(row, pii)
    return ReviewedApplicationOut(
        **masked.model_dump(exclude={"real_name"}),
        real_name=_clear(pii, row.real_name_enc, NAME_CONTEXT),
        user_id=row.user_id,
        verification=dict(row.verification),
        reviewed_by=row.reviewed_by,
    )


async def check_can_apply(
    session: AsyncSession, *, user_id: int, identity_hash: str, lock: bool = False
) -> None:
    """409 if the user is a creator, has an application in review, or the identity is taken."""
    query = select(User.roles).where(User.id == user_id)
    roles = await session.scalar(query.with_for_update() if lock else query)
    if roles is None:
        raise users_service.UserNotFound()
    if CREATOR in roles:
        raise AlreadyCreator()
    pending = await session.scalar(
        select(CreatorApplication.id).where(
            CreatorApplication.user_id == user_id, CreatorApplication.status == "pending"
        )
    )
    if pending is not None:
        raise ApplicationPending()
    await _check_identity_free(session, user_id=user_id, identity_hash=identity_hash)


async def _check_identity_free(session: AsyncSession, *, user_id: int, identity_hash: str) -> None:
    taken = await session.scalar(
        select(CreatorApplication.id)
        .where(
            CreatorApplication.id_number_hash == identity_hash,
            CreatorApplication.status == "approved",
            CreatorApplication.user_id != user_id,
        )
        .limit(1)
    )
    if taken is not None:
        raise IdentityInUse()


async def apply(
    db: Database,
    *,
    pii: PiiCipher,
    verifier: IdentityVerifier,
    limiter: RateLimiter,
    attempts: str,
    user_id: int,
    application: ApplicationIn,
    clock: Clock,
) -> ApplicationOut:
    """Check the rules, verify the identity with the provider, then store the application.

    The provider is called outside any transaction (it may take seconds); the rules are checked
    again under a lock on the user's row before the insert.
    """
    identity_hash = id_number_hash(pii, application.id_number)
    async with db.read() as session:
        await check_can_apply(session, user_id=user_id, identity_hash=identity_hash)
    await limiter.throttle(attempts, "creators:identity", str(user_id))
    verdict = await verifier.verify(name=application.real_name, id_number=application.id_number)
    if not verdict.matched:
        raise IdentityMismatch()
    async with db.unit_of_work() as uow:
        await check_can_apply(uow.session, user_id=user_id, identity_hash=identity_hash, lock=True)
        row = CreatorApplication(
            user_id=user_id,
            status="pending",
            real_name_enc=pii.encrypt(application.real_name, context=NAME_CONTEXT),
            id_number_enc=pii.encrypt(application.id_number, context=ID_NUMBER_CONTEXT),
            id_number_hash=identity_hash,
            pitch=application.pitch,
            links=[str(link) for link in application.links],
            verification=_verification(verdict, clock.now()),
            created_at=clock.now(),
        )
        uow.session.add(row)
        await uow.session.flush()
        return _applicant_view(row, pii)


def _verification(verdict: Verdict, now: datetime) -> dict[str, Any]:
    return {
        "provider": verdict.provider,
        "reference": verdict.reference,
        "result": verdict.result,
        "checked_at": now.isoformat().replace("+00:00", "Z"),
    }


async def latest_application(
    session: AsyncSession, *, pii: PiiCipher, user_id: int
) -> ApplicationOut:
    """The user's most recent application, masked; 404 if they never applied."""
    row = (
        await session.execute(
            select(*_COLUMNS)
            .where(CreatorApplication.user_id == user_id)
            .order_by(CreatorApplication.id.desc())
            .limit(1)
        )
    ).one_or_none()
    if row is None:
        raise ApplicationNotFound()
    return _applicant_view(row, pii)


def review_queue_query(*, status: str | None, after: int | None, limit: int) -> Select[Any]:
    """The queue's one statement: by (status, id) when filtered, by the primary key otherwise."""
    query = select(*_COLUMNS)
    if status is not None:
        query = query.where(CreatorApplication.status == status)
    if after is not None:
        query = query.where(CreatorApplication.id > after)
    return query.order_by(CreatorApplication.id).limit(limit)


async def list_applications(
    session: AsyncSession, *, pii: PiiCipher, status: str | None, limit: int, cursor: str | None
) -> Page[ReviewedApplicationOut]:
    """Applications oldest first (a review queue), optionally of one status; one query a page."""
    position = decode_cursor(cursor)
    after = None if position is None else position.get("id")
    if position is not None and (type(after) is not int or after < 0):
        raise InvalidCursor()
    query = review_queue_query(status=status, after=after, limit=limit + 1)
    rows = (await session.execute(query)).all()
    items = [_reviewer_view(row, pii) for row in rows]
    return page_of(items, limit, lambda item: {"id": item.id})


async def _lock_pending(session: AsyncSession, application_id: int) -> Any:
    row = (
        await session.execute(
            select(*_COLUMNS, CreatorApplication.id_number_hash)
            .where(CreatorApplication.id == application_id)
            .with_for_update()
        )
    ).one_or_none()
    if row is None:
        raise ApplicationNotFound()
    if row.status != "pending":
        raise ApplicationNotPending()
    return row


async def _review(
    uow: UnitOfWork,
    *,
    application_id: int,
    status: str,
    reason: str | None,
    admin_id: int,
    ip: str | None,
    clock: Clock,
) -> Any:
    row = await _lock_pending(uow.session, application_id)
    if status == "approved" and row.id_number_hash is not None:
        # Two accounts may both be in review with one identity; only the first is approved.
        await _check_identity_free(
            uow.session, user_id=row.user_id, identity_hash=row.id_number_hash
        )
    now = clock.now()
    await uow.session.execute(
        update(CreatorApplication)
        .where(CreatorApplication.id == application_id)
        .values(status=status, reason=reason, reviewed_by=admin_id, reviewed_at=now)
    )
    await record_admin_action(
        uow.session,
        admin_id=admin_id,
        action=f"creator_application.{'approve' if status == 'approved' else 'reject'}",
        target_type="creator_application",
        target_id=application_id,
        detail={"user_id": row.user_id, **({"reason": reason} if reason else {})},
        ip=ip,
        clock=clock,
    )
    return (
        await uow.session.execute(select(*_COLUMNS).where(CreatorApplication.id == application_id))
    ).one()


async def approve(
    uow: UnitOfWork,
    *,
    pii: PiiCipher,
    application_id: int,
    admin_id: int,
    ip: str | None,
    clock: Clock,
) -> ReviewedApplicationOut:
    """Approve a pending application: the applicant becomes a creator and is told so."""
    row = await _review(
        uow,
        application_id=application_id,
        status="approved",
        reason=None,
        admin_id=admin_id,
        ip=ip,
        clock=clock,
    )
    await users_service.grant_role(uow.session, user_id=row.user_id, role=CREATOR, clock=clock)
    await notifications_service.notify(
        uow,
        user_id=row.user_id,
        type="creator.approved",
        title="You are now a creator",
        body="Your creator application was approved. You can start publishing.",
        data={"application_id": application_id},
        actor_id=admin_id,
    )
    return _reviewer_view(row, pii)


async def reject(
    uow: UnitOfWork,
    *,
    pii: PiiCipher,
    application_id: int,
    reason: str,
    admin_id: int,
    ip: str | None,
    clock: Clock,
) -> ReviewedApplicationOut:
    """Reject a pending application with a reason the applicant is shown."""
    row = await _review(
        uow,
        application_id=application_id,
        status="rejected",
        reason=reason,
        admin_id=admin_id,
        ip=ip,
        clock=clock,
    )
    await notifications_service.notify(
        uow,
        user_id=row.user_id,
        type="creator.rejected",
        title="Your creator application was not approved",
        body=reason,
        data={"application_id": application_id, "reason": reason},
        actor_id=admin_id,
    )
    return _reviewer_view(row, pii)


async def forget_identity(session: AsyncSession, *, user_id: int) -> None:
    """Erase the real name and ID number of the user's applications; the verdicts stay."""
    await session.execute(
        update(CreatorApplication)
        .where(CreatorApplication.user_id == user_id)
        .values(real_name_enc=None, id_number_enc=None, id_number_hash=None)
    )


async def applications_for_export(
    session: AsyncSession, *, pii: PiiCipher, user_id: int
) -> list[dict[str, Any]]:
    """The user's own applications for their data export: real name in clear, ID masked."""
    rows = (
        await session.execute(
            select(*_COLUMNS)
            .where(CreatorApplication.user_id == user_id)
            .order_by(CreatorApplication.id)
        )
    ).all()
    exported = []
    for row in rows:
        item = _applicant_view(row, pii).model_dump(mode="json")
        item["real_name"] = _clear(pii, row.real_name_enc, NAME_CONTEXT)
        exported.append(item)
    return exported
