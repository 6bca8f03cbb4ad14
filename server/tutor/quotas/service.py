"""Tutor quotas: tokens per business day and runs at once, per role and per user.

How a user's quota is found, one limit at a time (`effective_quota`):
1. the user's own row, where that limit is not NULL (a NULL there falls back);
2. else the rows of the user's roles that have one: the most generous (a NULL there is
   unlimited, which beats any number);
3. else the settings `tutor_default_tokens_per_day` / `tutor_default_concurrent_runs`, taken as
   limits as they are (0 refuses every run: there is no "0 means unlimited").

Tokens are counted from `tutor_usage` (settled runs) for the current business day; runs at once
are the user's runs still queued or running.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import CursorResult, Select, and_, delete, func, or_, select
from sqlalchemy.dialects.mysql import insert as mysql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from models.tutor.catalog import TutorQuota
from models.tutor.runs import ACTIVE_STATUSES, TutorRun, TutorUsage
from server.audit import record_admin_action
from server.business_time import business_day_bounds
from server.clock import Clock
from server.http.errors import NotFound, RateLimited
from server.identity.users import service as users_service
from server.settings import Settings
from server.tutor.quotas.schemas import EffectiveQuotaOut, QuotaIn, QuotaOut

# Seconds a caller at the limit of runs at once waits before trying again.
CONCURRENT_RETRY_SECONDS = 5


@dataclass(frozen=True)
class Quota:
    """A user's limits; None: unlimited."""

    tokens_per_day: int | None
    concurrent_runs: int | None


class QuotaExceeded(RateLimited):
    code = "tutor.quota_exceeded"
    message = "Your tutor quota is used up; retry later."


class QuotaNotFound(NotFound):
    code, message = "tutor.quota_not_found", "No quota is set here."


def business_day(now: datetime, settings: Settings) -> date:
    """The business day (in `settings.business_tz`) `now` falls on."""
    return now.astimezone(ZoneInfo(settings.business_tz)).date()


def seconds_to_next_day(now: datetime, settings: Settings) -> int:
    """Whole seconds from `now` until the next business day starts (at least 1)."""
    _, end = business_day_bounds(business_day(now, settings), settings.business_tz)
    return max(1, math.ceil((end - now).total_seconds()))


def _most_generous(values: list[int | None]) -> int | None:
    return None if any(value is None for value in values) else max(cast(list[int], values))


def resolve(rows: list[Any], *, settings: Settings) -> Quota:
    """The quota the rows of a user and of their roles give (the rules in the module's doc)."""
    own = next((row for row in rows if row.subject_type == "user"), None)
    roles = [row for row in rows if row.subject_type == "role"]
    defaults = (settings.tutor_default_tokens_per_day, settings.tutor_default_concurrent_runs)
    limits: list[int | None] = []
    for index, name in enumerate(("tokens_per_day", "concurrent_runs")):
        if own is not None and getattr(own, name) is not None:
            limits.append(getattr(own, name))
        elif roles:
            limits.append(_most_generous([getattr(row, name) for row in roles]))
        else:
            limits.append(defaults[index])
    return Quota(tokens_per_day=limits[0], concurrent_runs=limits[1])


async def effective_quota(
    session: AsyncSession, *, user_id: int, roles: frozenset[str], settings: Settings
) -> Quota:
    """The user's quota: their own row, else their roles' most generous, else the defaults."""
    query = select(
        TutorQuota.subject_type, TutorQuota.tokens_per_day, TutorQuota.concurrent_runs
    ).where(
        or_(
            and_(TutorQuota.subject_type == "user", TutorQuota.subject == str(user_id)),
            and_(TutorQuota.subject_type == "role", TutorQuota.subject.in_(sorted(roles))),
        )
    )
    rows = list(await session.execute(query))
    return resolve(rows, settings=settings)


def _tokens_used_query(*, user_id: int, day: date) -> Select[int]:
    return select(
        func.coalesce(func.sum(TutorUsage.prompt_tokens + TutorUsage.completion_tokens), 0)
    ).where(TutorUsage.user_id == user_id, TutorUsage.day == day)


def _active_runs_query(user_id: int) -> Select[int]:
    return select(func.count(TutorRun.id)).where(
        TutorRun.user_id == user_id, TutorRun.status.in_(ACTIVE_STATUSES)
    )


async def tokens_used(session: AsyncSession, *, user_id: int, day: date) -> int:
    """Prompt and completion tokens of the user's settled runs on a business day."""
    return int(await session.scalar(_tokens_used_query(user_id=user_id, day=day)) or 0)


async def active_runs(session: AsyncSession, *, user_id: int) -> int:
    """The user's runs still queued or running."""
    return int(await session.scalar(_active_runs_query(user_id)) or 0)


async def enforce(
    session: AsyncSession,
    *,
    user_id: int,
    roles: frozenset[str],
    settings: Settings,
    now: datetime,
) -> None:
    """Refuse a new run (429 `tutor.quota_exceeded`) when the user has used today's tokens
    (Retry-After: the next business day) or has as many runs going as allowed (a short retry)."""
    quota = await effective_quota(session, user_id=user_id, roles=roles, settings=settings)
    if quota.tokens_per_day is None and quota.concurrent_runs is None:
        return
    # Both counts in one statement: this runs before every question.
    used_query = _tokens_used_query(user_id=user_id, day=business_day(now, settings))
    row = (
        await session.execute(
            select(used_query.scalar_subquery(), _active_runs_query(user_id).scalar_subquery())
        )
    ).one()
    used, going = int(row[0] or 0), int(row[1] or 0)
    if quota.tokens_per_day is not None and used >= quota.tokens_per_day:
        raise QuotaExceeded(
            seconds_to_next_day(now, settings),
            f"You have used today's {quota.tokens_per_day} tutor tokens.",
        )
    if quota.concurrent_runs is not None and going >= quota.concurrent_runs:
        raise QuotaExceeded(
            CONCURRENT_RETRY_SECONDS,
            f"At most {quota.concurrent_runs} answers at once; wait for one to finish.",
        )


async def upsert(
    session: AsyncSession,
    model: Any,
    row: dict[str, Any],
    *,
    keys: tuple[str, ...],
    added: tuple[str, ...] = (),
    replaced: tuple[str, ...] = (),
) -> None:
    """Insert `row`, or add its `added` columns to the existing row's and overwrite its
    `replaced` ones, in one statement (the one dialect branch for upserts of this wing)."""
    table = model.__table__
    statement: Any
    if session.get_bind().dialect.name == "mysql":
        mine = mysql_insert(table).values(row)
        statement = mine.on_duplicate_key_update(
            {
                **{name: table.c[name] + mine.inserted[name] for name in added},
                **{name: mine.inserted[name] for name in replaced},
            }
        )
    else:
        lite = sqlite_insert(table).values(row)
        statement = lite.on_conflict_do_update(
            index_elements=list(keys),
            set_={
                **{name: table.c[name] + lite.excluded[name] for name in added},
                **{name: lite.excluded[name] for name in replaced},
            },
        )
    await session.execute(statement)


async def record_usage(
    session: AsyncSession,
    *,
    user_id: int,
    model_id: int,
    day: date,
    prompt_tokens: int,
    completion_tokens: int,
    cost_credits: int,
) -> None:
    """Count one settled run and its tokens and credits on the user's row for the model and
    business day (safe under concurrent settlements)."""
    row = {
        "user_id": user_id,
        "day": day,
        "model_id": model_id,
        "runs": 1,
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "cost_credits": cost_credits,
    }
    await upsert(
        session,
        TutorUsage,
        row,
        keys=("user_id", "day", "model_id"),
        added=("runs", "prompt_tokens", "completion_tokens", "cost_credits"),
    )


# --- Administration ------------------------------------------------------------------------------

_QUOTA_COLUMNS = (
    TutorQuota.subject_type,
    TutorQuota.subject,
    TutorQuota.tokens_per_day,
    TutorQuota.concurrent_runs,
    TutorQuota.updated_at,
)


def defaults_of(settings: Settings) -> EffectiveQuotaOut:
    return EffectiveQuotaOut(
        tokens_per_day=settings.tutor_default_tokens_per_day,
        concurrent_runs=settings.tutor_default_concurrent_runs,
    )


def quota_out(quota: Quota) -> EffectiveQuotaOut:
    return EffectiveQuotaOut(
        tokens_per_day=quota.tokens_per_day, concurrent_runs=quota.concurrent_runs
    )


async def list_quotas(session: AsyncSession) -> list[QuotaOut]:
    """Every quota row: roles first, then users (there is one row per role or user at most)."""
    query = select(*_QUOTA_COLUMNS).order_by(TutorQuota.subject_type, TutorQuota.id)
    return [
        QuotaOut.model_validate(row, from_attributes=True) for row in await session.execute(query)
    ]


async def find_quota(session: AsyncSession, *, subject_type: str, subject: str) -> QuotaOut | None:
    query = select(*_QUOTA_COLUMNS).where(
        TutorQuota.subject_type == subject_type, TutorQuota.subject == subject
    )
    row = (await session.execute(query)).one_or_none()
    return None if row is None else QuotaOut.model_validate(row, from_attributes=True)


async def user_roles(session: AsyncSession, *, user_id: int) -> frozenset[str]:
    """The roles of an account (404 `users.not_found` for an unknown one)."""
    profile = await users_service.get_profile(session, user_id=user_id)
    return frozenset(profile.roles)


async def set_quota(
    session: AsyncSession,
    *,
    subject_type: str,
    subject: str,
    quota: QuotaIn,
    admin_id: int,
    ip: str | None,
    clock: Clock,
) -> QuotaOut:
    """Set (create or replace) the quota row of a role or a user; audited."""
    values = {"tokens_per_day": quota.tokens_per_day, "concurrent_runs": quota.concurrent_runs}
    row = {"subject_type": subject_type, "subject": subject, **values, "updated_at": clock.now()}
    await upsert(
        session,
        TutorQuota,
        row,
        keys=("subject_type", "subject"),
        replaced=("tokens_per_day", "concurrent_runs", "updated_at"),
    )
    await _audit(session, "tutor.quota_set", subject_type, subject, admin_id, ip, clock, values)
    saved = await find_quota(session, subject_type=subject_type, subject=subject)
    assert saved is not None
    return saved


async def remove_quota(
    session: AsyncSession,
    *,
    subject_type: str,
    subject: str,
    admin_id: int,
    ip: str | None,
    clock: Clock,
) -> None:
    """Remove the quota row of a role or a user (404 when there is none); audited."""
    result = await session.execute(
        delete(TutorQuota).where(
            TutorQuota.subject_type == subject_type, TutorQuota.subject == subject
        )
    )
    if not cast(CursorResult[Any], result).rowcount:
        raise QuotaNotFound()
    await _audit(session, "tutor.quota_removed", subject_type, subject, admin_id, ip, clock, {})


async def _audit(
    session: AsyncSession,
    action: str,
    subject_type: str,
    subject: str,
    admin_id: int,
    ip: str | None,
    clock: Clock,
    values: dict[str, Any],
) -> None:
    await record_admin_action(
        session,
        admin_id=admin_id,
        action=action,
        target_type=f"tutor_quota_{subject_type}",
        target_id=int(subject) if subject_type == "user" else None,
        detail={"subject": subject, **values},
        ip=ip,
        clock=clock,
    )
