"""Tutor usage views: sums of settled runs from `tutor_usage`, for administrators and users."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.tutor.catalog import TutorModel
from models.tutor.runs import TutorUsage
from server.http.errors import ValidationFailed
from server.settings import Settings
from server.tutor.quotas import service
from server.tutor.quotas.schemas import (
    MAX_SPAN_DAYS,
    MyUsage,
    MyUsageRow,
    TodayOut,
    UsageGroup,
    UsageReport,
    UsageTotals,
)

# The days a usage view covers when it is not told.
DEFAULT_DAYS = 30

_SUMS = (
    func.coalesce(func.sum(TutorUsage.runs), 0).label("runs"),
    func.coalesce(func.sum(TutorUsage.prompt_tokens), 0).label("prompt_tokens"),
    func.coalesce(func.sum(TutorUsage.completion_tokens), 0).label("completion_tokens"),
    func.coalesce(func.sum(TutorUsage.cost_credits), 0).label("cost_credits"),
)


def span(
    since: date | None, until: date | None, *, now: datetime, settings: Settings
) -> tuple[date, date]:
    """The business days a view covers: the given ones, else the last DEFAULT_DAYS to today."""
    last = until or service.business_day(now, settings)
    first = since or last - timedelta(days=DEFAULT_DAYS - 1)
    if last < first:
        raise ValidationFailed(fields={"query.until": "until must not come before since."})
    if (last - first).days >= MAX_SPAN_DAYS:
        raise ValidationFailed(
            fields={"query.since": f"A view covers at most {MAX_SPAN_DAYS} days."}
        )
    return first, last


def _totals(row: Any) -> dict[str, int]:
    return {
        "runs": int(row.runs),
        "prompt_tokens": int(row.prompt_tokens),
        "completion_tokens": int(row.completion_tokens),
        "cost_credits": int(row.cost_credits),
    }


def _filtered(query: Any, *, since: date, until: date, **equal: int | None) -> Any:
    query = query.where(TutorUsage.day >= since, TutorUsage.day <= until)
    for name, value in equal.items():
        if value is not None:
            query = query.where(getattr(TutorUsage, name) == value)
    return query


def _grouped(group_by: str) -> Any:
    if group_by == "day":
        return select(TutorUsage.day, *_SUMS).group_by(TutorUsage.day).order_by(TutorUsage.day)
    largest = (
        func.sum(TutorUsage.cost_credits).desc(),
        func.sum(TutorUsage.prompt_tokens + TutorUsage.completion_tokens).desc(),
    )
    if group_by == "user":
        return (
            select(TutorUsage.user_id, *_SUMS)
            .group_by(TutorUsage.user_id)
            .order_by(*largest, TutorUsage.user_id)
        )
    return (
        select(TutorUsage.model_id, TutorModel.name.label("model_name"), *_SUMS)
        .outerjoin(TutorModel, TutorModel.id == TutorUsage.model_id)
        .group_by(TutorUsage.model_id, TutorModel.name)
        .order_by(*largest, TutorUsage.model_id)
    )


async def usage_report(
    session: AsyncSession,
    *,
    group_by: Literal["user", "model", "day"],
    since: date,
    until: date,
    user_id: int | None,
    model_id: int | None,
    limit: int,
) -> UsageReport:
    """Runs, tokens and credits per user, model or business day over a span (two queries)."""

    def where(query: Any) -> Any:
        return _filtered(query, since=since, until=until, user_id=user_id, model_id=model_id)

    groups = await session.execute(where(_grouped(group_by)).limit(limit))
    items = [
        UsageGroup(
            **_totals(row),
            user_id=getattr(row, "user_id", None),
            model_id=getattr(row, "model_id", None),
            model_name=getattr(row, "model_name", None),
            day=getattr(row, "day", None),
        )
        for row in groups
    ]
    total = (await session.execute(where(select(*_SUMS)))).one()
    return UsageReport(
        group_by=group_by,
        since=since,
        until=until,
        items=items,
        totals=UsageTotals(**_totals(total)),
    )


async def my_usage(
    session: AsyncSession,
    *,
    user_id: int,
    roles: frozenset[str],
    since: date,
    until: date,
    settings: Settings,
    now: datetime,
) -> MyUsage:
    """The user's own usage per day and model, their quota, and what is left of it today."""
    query = _filtered(
        select(TutorUsage.day, TutorUsage.model_id, TutorModel.name.label("model_name"), *_SUMS)
        .outerjoin(TutorModel, TutorModel.id == TutorUsage.model_id)
        .group_by(TutorUsage.day, TutorUsage.model_id, TutorModel.name)
        .order_by(TutorUsage.day.desc(), TutorUsage.model_id),
        since=since,
        until=until,
        user_id=user_id,
    )
    items = [
        MyUsageRow(**_totals(row), day=row.day, model_id=row.model_id, model_name=row.model_name)
        for row in await session.execute(query)
    ]
    totals = UsageTotals(
        **{name: sum(getattr(item, name) for item in items) for name in UsageTotals.model_fields}
    )
    quota = await service.effective_quota(session, user_id=user_id, roles=roles, settings=settings)
    return MyUsage(
        since=since,
        until=until,
        items=items,
        totals=totals,
        quota=service.quota_out(quota),
        today=await _today(session, user_id=user_id, quota=quota, settings=settings, now=now),
    )


async def _today(
    session: AsyncSession, *, user_id: int, quota: service.Quota, settings: Settings, now: datetime
) -> TodayOut:
    day = service.business_day(now, settings)
    used = await service.tokens_used(session, user_id=user_id, day=day)
    going = await service.active_runs(session, user_id=user_id)
    tokens, runs = quota.tokens_per_day, quota.concurrent_runs
    return TodayOut(
        day=day,
        tokens_used=used,
        tokens_remaining=None if tokens is None else max(0, tokens - used),
        active_runs=going,
        runs_remaining=None if runs is None else max(0, runs - going),
    )
