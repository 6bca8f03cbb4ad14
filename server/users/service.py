"""User profiles and roles."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from models.identity import ROLES, User
from server.clock import Clock
from server.crypto import PiiCipher
from server.http.errors import NotFound
from server.users.schemas import ProfilePatch, UserOut, mask_phone

_PROFILE_COLUMNS = (
    User.id,
    User.email,
    User.phone_masked,
    User.nickname,
    User.avatar_url,
    User.roles,
    User.created_at,
)


class UserNotFound(NotFound):
    code, message = "users.not_found", "No such user."


async def get_profile(session: AsyncSession, *, user_id: int) -> UserOut:
    """The user object of the API, read with one select of the columns it shows."""
    row = (await session.execute(select(*_PROFILE_COLUMNS).where(User.id == user_id))).one_or_none()
    if row is None:
        raise UserNotFound()
    return UserOut.model_construct(
        id=row.id,
        email=row.email,
        phone=row.phone_masked,
        nickname=row.nickname,
        avatar_url=row.avatar_url,
        roles=list(row.roles),
        created_at=row.created_at,
    )


async def update_profile(
    session: AsyncSession, *, user_id: int, changes: ProfilePatch, clock: Clock
) -> UserOut:
    """Apply the fields the client sent; `avatar_url: null` removes the avatar."""
    values: dict[str, Any] = {}
    for name in changes.model_fields_set:
        value = getattr(changes, name)
        values[name] = None if value is None else str(value)
    values["updated_at"] = clock.now()
    await session.execute(update(User).where(User.id == user_id).values(**values))
    return await get_profile(session, user_id=user_id)


PHONE_CONTEXT = "users.phone"


def phone_hash(pii: PiiCipher, phone: str) -> str:
    """The lookup hash of a normalised (E.164) phone number."""
    return pii.lookup_hash(phone, context=PHONE_CONTEXT)


def phone_columns(pii: PiiCipher, phone: str | None) -> dict[str, str | None]:
    """The stored form of a phone number: keyed hash, ciphertext and masked display."""
    if phone is None:
        return {"phone_hash": None, "phone_enc": None, "phone_masked": None}
    return {
        "phone_hash": phone_hash(pii, phone),
        "phone_enc": pii.encrypt(phone, context=PHONE_CONTEXT),
        "phone_masked": mask_phone(phone),
    }


def identifier_clause(pii: PiiCipher, *, email: str | None, phone: str | None) -> Any:
    """The WHERE clause finding an account by its normalised email, else by its phone."""
    if email is not None:
        return User.email == email
    return User.phone_hash == phone_hash(pii, phone or "")


async def find_user_id(
    session: AsyncSession, pii: PiiCipher, *, email: str | None = None, phone: str | None = None
) -> int | None:
    """The id of the account with this normalised email or phone, if any."""
    clause = identifier_clause(pii, email=email, phone=phone)
    return await session.scalar(select(User.id).where(clause))


async def read_phone(session: AsyncSession, pii: PiiCipher, *, user_id: int) -> str | None:
    """The user's phone number in clear (E.164), for sending them an SMS."""
    token = await session.scalar(select(User.phone_enc).where(User.id == user_id))
    return None if token is None else pii.decrypt(token, context=PHONE_CONTEXT)


async def grant_role(session: AsyncSession, *, user_id: int, role: str, clock: Clock) -> None:
    """Add `role` to the user's roles (a no-op if held); locks the row while it reads."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    roles = await session.scalar(select(User.roles).where(User.id == user_id).with_for_update())
    if roles is None:
        raise UserNotFound()
    if role not in roles:
        await session.execute(
            update(User)
            .where(User.id == user_id)
            .values(roles=[*roles, role], updated_at=clock.now())
        )
