"""User profiles and roles."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from models.identity.users import ROLES, User
from models.social.follows import Follow
from server import screening
from server.clock import Clock
from server.crypto import PiiCipher
from server.db import Reader, UnitOfWork
from server.http.errors import NotFound
from server.http.pagination import Page, id_before, page_of
from server.identity.users.schemas import (
    PUBLIC_ROLES,
    Preferences,
    Privacy,
    ProfileOut,
    ProfilePatch,
    ProfileUpdate,
    PublicProfileOut,
    UserOut,
    UserSummary,
    mask_phone,
    zodiac_of,
)
from server.outbox import MEDIA_QUEUE
from server.screening import words

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


# Built once: constructing a select costs more than its cached compilation.
_PROFILE_QUERY = select(*_PROFILE_COLUMNS).where(User.id == bindparam("user_id"))


async def get_profile(reader: Reader, *, user_id: int) -> UserOut:
    """The user object of the API, read with one select of the columns it shows."""
    row = (await reader.execute(_PROFILE_QUERY, {"user_id": user_id})).one_or_none()
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


def screen_nickname(nickname: str, *, word_list: words.WordList) -> None:
    """Refuse a nickname holding a listed term (422 `moderation.flagged`, as comments are)."""
    result = screening.screen({"nickname": nickname}, word_list)
    if not result.ok:
        raise screening.Flagged(fields={"nickname": ", ".join(result.categories)})


async def update_profile(
    session: AsyncSession,
    *,
    user_id: int,
    changes: ProfilePatch,
    clock: Clock,
    word_list: words.WordList,
) -> UserOut:
    """Apply the fields the client sent; `avatar_url: null` removes the avatar."""
    if changes.nickname is not None:
        screen_nickname(changes.nickname, word_list=word_list)
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


AVATAR_TASK = "users.process_avatar"


def queue_avatar(uow: UnitOfWork, *, user_id: int, key: str) -> None:
    """Have a media worker make the sizes of an accepted upload once this commits. Nothing else
    records the upload, so the job is kept until it acknowledges it is done (a Redis that lost
    it does not lose the avatar)."""
    uow.outbox.enqueue(
        AVATAR_TASK, job_id=f"avatar:{key}", queue=MEDIA_QUEUE, keep=True, user_id=user_id, key=key
    )


# --- Profiles (ID4) -------------------------------------------------------------------------------

_FULL_PROFILE_COLUMNS = (
    User.id,
    User.nickname,
    User.avatar_url,
    User.bio,
    User.gender,
    User.birthday,
    User.mbti,
    User.zodiac,
    User.preferences,
    User.privacy,
    User.roles,
    User.follower_count,
    User.following_count,
    User.created_at,
    User.status,
)
SUMMARY_COLUMNS = (User.id, User.nickname, User.avatar_url, User.bio, User.roles)


def public_roles(roles: list[str] | None) -> list[str]:
    """The badges others see (staff roles are not advertised)."""
    return [role for role in roles or () if role in PUBLIC_ROLES]


def summary_of(row: Any) -> UserSummary:
    """A list item from a row of SUMMARY_COLUMNS."""
    return UserSummary.model_construct(
        id=row.id,
        nickname=row.nickname,
        avatar_url=row.avatar_url,
        bio=row.bio,
        roles=public_roles(row.roles),
    )


async def _profile_row(session: AsyncSession, user_id: int) -> Any:
    query = select(*_FULL_PROFILE_COLUMNS).where(User.id == user_id)
    return (await session.execute(query)).one_or_none()


async def visible_user(session: AsyncSession, *, user_id: int) -> Any:
    """The profile row of an active account; UserNotFound for unknown, banned, gone ones."""
    row = await _profile_row(session, user_id)
    if row is None or row.status != "active":
        raise UserNotFound()
    return row


async def get_own_profile(session: AsyncSession, *, user_id: int) -> ProfileOut:
    """The whole profile, settings filled with their defaults."""
    row = await _profile_row(session, user_id)
    if row is None:
        raise UserNotFound()
    return ProfileOut.model_construct(
        id=row.id,
        nickname=row.nickname,
        avatar_url=row.avatar_url,
        bio=row.bio,
        gender=row.gender or "unspecified",
        birthday=row.birthday,
        mbti=row.mbti,
        zodiac=row.zodiac,
        preferences=Preferences.stored(row.preferences),
        privacy=Privacy.stored(row.privacy),
        roles=list(row.roles),
        follower_count=row.follower_count,
        following_count=row.following_count,
        created_at=row.created_at,
    )


async def update_own_profile(
    session: AsyncSession,
    *,
    user_id: int,
    changes: ProfileUpdate,
    clock: Clock,
    word_list: words.WordList,
) -> ProfileOut:
    """Apply the fields sent; settings merge field by field; a new birthday sets the zodiac."""
    if changes.nickname is not None:
        screen_nickname(changes.nickname, word_list=word_list)
    given = changes.model_fields_set
    values: dict[str, Any] = {
        name: getattr(changes, name)
        for name in ("nickname", "bio", "gender", "birthday", "mbti", "zodiac")
        if name in given
    }
    if values.get("bio") == "":
        values["bio"] = None
    if values.get("gender") == "unspecified":
        values["gender"] = None
    if changes.birthday is not None and "zodiac" not in given:
        values["zodiac"] = zodiac_of(changes.birthday)
    if changes.preferences is not None or changes.privacy is not None:
        stored = (
            await session.execute(
                select(User.preferences, User.privacy).where(User.id == user_id).with_for_update()
            )
        ).one_or_none()
        if stored is None:
            raise UserNotFound()
        if changes.preferences is not None:
            merged = Preferences.stored(stored.preferences).merged(changes.preferences)
            values["preferences"] = merged.model_dump(mode="json")
        if changes.privacy is not None:
            merged_privacy = Privacy.stored(stored.privacy).merged(changes.privacy)
            values["privacy"] = merged_privacy.model_dump(mode="json")
    values["updated_at"] = clock.now()
    await session.execute(update(User).where(User.id == user_id).values(**values))
    return await get_own_profile(session, user_id=user_id)


async def follow_relation(
    session: AsyncSession, *, viewer_id: int, user_id: int
) -> tuple[bool, bool]:
    """(viewer follows user, user follows viewer), in one query: a profile shows both."""
    rows = await session.execute(
        select(Follow.follower_id).where(
            or_(
                (Follow.follower_id == viewer_id) & (Follow.followee_id == user_id),
                (Follow.follower_id == user_id) & (Follow.followee_id == viewer_id),
            )
        )
    )
    followers = {row.follower_id for row in rows}
    return viewer_id in followers, user_id in followers


async def get_public_profile(
    session: AsyncSession, *, user_id: int, viewer_id: int | None
) -> PublicProfileOut:
    """A user as `viewer_id` (None: signed out) may see them; the owner sees every count."""
    row = await visible_user(session, user_id=user_id)
    privacy = Privacy.stored(row.privacy)
    own = viewer_id == user_id
    is_following = follows_you = None
    if viewer_id is not None and not own:
        is_following, follows_you = await follow_relation(
            session, viewer_id=viewer_id, user_id=user_id
        )
    return PublicProfileOut.model_construct(
        id=row.id,
        nickname=row.nickname,
        avatar_url=row.avatar_url,
        bio=row.bio,
        gender=row.gender or "unspecified",
        mbti=row.mbti,
        zodiac=row.zodiac,
        birthday=row.birthday if own or privacy.show_birthday else None,
        roles=public_roles(row.roles),
        follower_count=row.follower_count if own or privacy.show_followers else None,
        following_count=row.following_count if own or privacy.show_following else None,
        created_at=row.created_at,
        is_following=is_following,
        follows_you=follows_you,
    )


async def get_privacy(session: AsyncSession, *, user_id: int) -> Privacy:
    """A user's privacy settings with defaults filled in (messaging reads `who_can_message`)."""
    stored = await session.scalar(select(User.privacy).where(User.id == user_id))
    return Privacy.stored(stored)


def searchable_clause(dialect: str) -> ColumnElement[bool]:
    """Users who did not turn `privacy.searchable` off (the JSON is read per dialect)."""
    if dialect == "sqlite":
        flag: Any = func.json_extract(User.privacy, "$.searchable")
        return or_(flag.is_(None), flag != 0)
    # MariaDB's JSON_EXTRACT answers text, MySQL's a JSON value: unquoted, both say 'false'.
    flag = func.json_unquote(func.json_extract(User.privacy, "$.searchable"))
    return or_(flag.is_(None), flag != "false")


def like_pattern(text: str) -> str:
    """`%text%` with LIKE's wildcards in `text` escaped by '!' (a backslash means different
    things to MySQL's and SQLite's string literals)."""
    escaped = text.replace("!", "!!").replace("%", "!%").replace("_", "!_")
    return f"%{escaped}%"


async def search_users(
    session: AsyncSession, *, q: str, limit: int, cursor: str | None
) -> Page[UserSummary]:
    """Active, searchable users whose nickname contains `q`, newest accounts first."""
    before = id_before(cursor)
    query = select(*SUMMARY_COLUMNS).where(
        User.status == "active",
        User.nickname.like(like_pattern(q), escape="!"),
        searchable_clause(session.get_bind().dialect.name),
    )
    if before is not None:
        query = query.where(User.id < before)
    rows = (await session.execute(query.order_by(User.id.desc()).limit(limit + 1))).all()
    return page_of([summary_of(row) for row in rows], limit, lambda item: {"id": item.id})
