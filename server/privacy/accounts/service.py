"""The account lifecycle: deactivate (reopenable within a grace), delete, erase, export."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import delete as delete_rows
from sqlalchemy import null, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from models.commerce.earnings import Withdrawal
from models.commerce.shipping import OrderAddress
from models.identity.users import User
from models.privacy.exports import DataExport
from server.crypto import PiiCipher
from server.db import Database, UnitOfWork
from server.http.errors import Forbidden, ValidationFailed
from server.http.ratelimit import RateLimiter
from server.identity.auth import service as auth_service
from server.identity.auth.passwords import verify_password
from server.identity.creators import service as creators_service
from server.identity.users import avatars
from server.privacy.accounts import forget, queries, tutor
from server.runtime import settings_of
from server.social.comments import erasure as social_erasure
from server.social.follows import service as follows_service
from server.storage import Storage
from server.tutor.runs import settle as tutor_runs

ERASE = "accounts.erase"
DELETED_NICKNAME = "已注销用户"
# Profile columns an erasure sets to NULL (the row stays, so content and payments keep an owner).
ERASED_COLUMNS = (
    "email",
    "phone_hash",
    "phone_enc",
    "phone_masked",
    "password_hash",
    "avatar_url",
    "bio",
    "gender",
    "birthday",
    "mbti",
    "zodiac",
    "preferences",
    "privacy",
    "email_verified_at",
    "phone_verified_at",
    "password_changed_at",
)


class PasswordRequired(ValidationFailed):
    code, message = "accounts.password_required", "Confirm with your password."

    def __init__(self) -> None:
        super().__init__(fields={"body.password": "Your password is required."})


class PasswordIncorrect(Forbidden):
    code, message = "accounts.password_incorrect", "The password is wrong."


async def confirm_password(
    db: Database, *, limiter: RateLimiter, attempts: str, user_id: int, password: str | None
) -> None:
    """Ask an account that has a password for it before it is closed; failures are throttled."""
    async with db.read() as session:
        password_hash = await session.scalar(select(User.password_hash).where(User.id == user_id))
    if password_hash is None:
        return
    if password is None:
        raise PasswordRequired()
    await limiter.check_throttle(attempts, "accounts:password", str(user_id))
    if not await verify_password(password_hash, password):
        await limiter.throttle(attempts, "accounts:password", str(user_id))
        raise PasswordIncorrect()


async def deactivate(
    uow: UnitOfWork, *, user_id: int, grace: timedelta, now: datetime
) -> list[int]:
    """Close the account for now: signed out everywhere, erased unless its owner signs in
    within `grace`. The revoked session ids."""
    await uow.session.execute(
        update(User)
        .where(User.id == user_id, User.status == "active")
        .values(status="deactivated", deactivated_at=now, updated_at=now)
    )
    sessions = await auth_service.revoke_user_sessions(
        uow.session, user_id=user_id, reason="deactivated", now=now
    )
    # One job per deactivation: a reopened and again deactivated account gets its own deadline.
    uow.outbox.enqueue(
        ERASE,
        job_id=f"erase:{user_id}:{int(now.timestamp() * 1000)}",
        defer_seconds=grace.total_seconds(),
        user_id=user_id,
    )
    return sessions


async def delete(uow: UnitOfWork, *, user_id: int, now: datetime) -> list[int]:
    """Delete the account now: it can never sign in again, its email and phone are free at
    once, and a job erases the rest. The revoked session ids."""
    await uow.session.execute(
        update(User)
        .where(User.id == user_id)
        .values(
            status="deleted",
            deleted_at=now,
            updated_at=now,
            email=None,
            phone_hash=None,
            phone_enc=None,
            phone_masked=None,
            password_hash=None,
        )
    )
    sessions = await auth_service.revoke_user_sessions(
        uow.session, user_id=user_id, reason="deleted", now=now
    )
    uow.outbox.enqueue(ERASE, job_id=f"erase:{user_id}:deleted", user_id=user_id)
    return sessions


async def erase_account(
    uow: UnitOfWork,
    *,
    user_id: int,
    storage: Storage,
    pii: PiiCipher,
    grace: timedelta,
    now: datetime,
) -> bool:
    """Erase the personal data of a deleted account, or of one deactivated longer than
    `grace`; False (nothing done) for any other account. Safe to run again."""
    row = (
        await uow.session.execute(
            select(User.status, User.deactivated_at, User.deleted_at, User.avatar_url)
            .where(User.id == user_id)
            .with_for_update()
        )
    ).one_or_none()
    if row is None:
        return False
    due = row.status == "deactivated" and row.deactivated_at is not None
    if not (row.status == "deleted" or (due and row.deactivated_at <= now - grace)):
        return False
    exports = (
        await uow.session.scalars(
            select(DataExport.storage_key).where(
                DataExport.user_id == user_id, DataExport.storage_key.is_not(None)
            )
        )
    ).all()
    await uow.session.execute(
        update(User)
        .where(User.id == user_id)
        .values(
            {
                # SQL NULL, not JSON null, in the JSON columns too.
                **{name: null() for name in ERASED_COLUMNS},
                "status": "deleted",
                "deleted_at": row.deleted_at or now,
                "nickname": DELETED_NICKNAME,
                "follower_count": 0,
                "following_count": 0,
                "updated_at": now,
            }
        )
    )
    await follows_service.remove_all_follows(uow, user_id=user_id)
    # Comments, posts, likes and favorites go in a task of their own (it moves counters); no
    # row says it is left to do once the account is anonymised, so its outbox row is kept.
    uow.outbox.enqueue(
        social_erasure.FORGET_AUTHOR, job_id=f"social.forget:{user_id}", keep=True, user_id=user_id
    )
    await queries.remove_owned_rows(uow.session, user_id=user_id)
    await creators_service.forget_identity(uow.session, user_id=user_id)
    # Orders, ledger entries and earnings stay (legal retention) on the anonymised row.
    await forget.forget_domains(uow.session, pii=pii, user_id=user_id, now=now)
    # Answers still being written are settled first: their holds go back before the runs go.
    await tutor_runs.end_active_runs(
        uow, user_id=user_id, settings=settings_of(uow.session), now=now
    )
    await tutor.forget_tutor(uow.session, user_id=user_id)
    await uow.session.execute(delete_rows(DataExport).where(DataExport.user_id == user_id))
    await _delete_files(storage, user_id=user_id, keys=[*exports, _own_file_key(row.avatar_url)])
    return True


def _own_file_key(url: str | None) -> str | None:
    """The storage key behind a link to one of our stored files (`.../files/<key>`), if it is."""
    if not url:
        return None
    path = urlsplit(url).path
    return path.removeprefix("/files/") if path.startswith("/files/") else None


async def _delete_files(storage: Storage, *, user_id: int, keys: list[str | None]) -> None:
    for key in keys:
        if key:
            try:
                await storage.delete(key)
            except ValueError:  # not a key of ours after all
                continue
    # Every size of every avatar, uploads not yet processed, and export archives.
    prefixes = (
        avatars.public_prefix(user_id),
        avatars.upload_prefix(user_id),
        f"exports/{user_id}",
    )
    for prefix in prefixes:
        folder = storage.path(prefix)
        if folder is not None and folder.is_dir():
            shutil.rmtree(folder, ignore_errors=True)


async def due_for_erasure(
    session: AsyncSession, *, grace: timedelta, now: datetime, limit: int
) -> list[int]:
    """Accounts the sweep should erase: deactivated past the grace, deleted but not erased, or
    erased while a withdrawal was on its way (it has finished since and still names the payee)
    or while goods were still to be sent (they have gone since, and the order keeps the
    shipping address)."""
    paid_out = (
        select(Withdrawal.id)
        .where(
            Withdrawal.creator_id == User.id,
            Withdrawal.status.not_in(forget.PENDING_WITHDRAWALS),
            Withdrawal.payee_name_enc.is_not(None),
        )
        .exists()
    )
    sent = (
        select(OrderAddress.id)
        .where(OrderAddress.order_id.in_(forget.settled_orders(User.id).correlate(User)))
        .exists()
    )
    query = select(User.id).where(
        or_(
            (User.status == "deactivated") & (User.deactivated_at <= now - grace),
            (User.status == "deleted")
            & or_(User.nickname != DELETED_NICKNAME, User.email.is_not(None), paid_out, sent),
        )
    )
    return list((await session.scalars(query.order_by(User.id).limit(limit))).all())
