"""Subscriptions to plan products: periods bought by orders or charged to the wallet, renewals,
grace after a failed renewal, cancel at period end and resume.

A subscription is live (trialing, active or past_due) until it is cancelled at its period end or
expires after its grace period; a user holds at most one live subscription per plan. Every
period grants a plan entitlement (`server.content.items.access`) ending at the period end, which is
what the content access policy reads.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError

from models.commerce.catalog import Product
from models.commerce.subscriptions import LIVE_STATUSES, Subscription, SubscriptionEvent
from server.business_time import business_tz
from server.commerce.subscriptions.periods import period_end
from server.content.items import access
from server.db import UnitOfWork
from server.http.errors import Conflict, NotFound
from server.runtime import runtime_of

PERIOD_SOURCE = "subscription_period"
PLAN = "plan"


class PaidOrder(Protocol):
    """What a subscription needs to know about a paid order."""

    id: int
    user_id: int
    paid_at: datetime | None


class PaidItem(Protocol):
    """What a subscription needs to know about the plan's order item."""

    id: int
    product_id: int


class SubscriptionNotFound(NotFound):
    code, message = "subscriptions.not_found", "No such subscription."


class NotAPlan(Conflict):
    code, message = "subscriptions.not_a_plan", "This product is not a subscription plan."


class IllegalChange(Conflict):
    code, message = (
        "subscriptions.illegal_transition",
        "The subscription cannot make this change in its current state.",
    )


def grace_source(sub: Subscription) -> str:
    """The source id of the grace entitlement after the subscription's latest period."""
    return f"{sub.id}:grace:{sub.periods}"


def record(
    uow: UnitOfWork,
    sub: Subscription,
    kind: str,
    *,
    now: datetime,
    from_status: str | None,
    reference: str | None = None,
    **detail: Any,
) -> None:
    """Append one history row for the subscription."""
    uow.session.add(
        SubscriptionEvent(
            subscription_id=sub.id,
            kind=kind,
            from_status=from_status,
            to_status=sub.status,
            reference=reference,
            period_end=sub.current_period_end,
            detail=detail,
            created_at=now,
        )
    )


async def referenced(uow: UnitOfWork, reference: str) -> int | None:
    found = await uow.session.scalar(
        select(SubscriptionEvent.subscription_id).where(SubscriptionEvent.reference == reference)
    )
    return None if found is None else int(found)


async def plan_of(uow: UnitOfWork, product_id: int) -> Product:
    plan = await uow.session.get(Product, product_id)
    if plan is None or plan.kind != "plan" or plan.interval not in ("month", "year"):
        raise NotAPlan()
    return plan


async def live_subscription(
    uow: UnitOfWork, *, user_id: int, product_id: int
) -> Subscription | None:
    """The user's live subscription to a plan, locked."""
    return await uow.session.scalar(
        select(Subscription)
        .where(Subscription.user_id == user_id, Subscription.live_plan_id == product_id)
        .with_for_update()
    )


async def lock(uow: UnitOfWork, subscription_id: int) -> Subscription:
    sub = await uow.session.scalar(
        select(Subscription).where(Subscription.id == subscription_id).with_for_update()
    )
    if sub is None:
        raise SubscriptionNotFound()
    return sub


async def grant_period(uow: UnitOfWork, sub: Subscription, *, starts_at: datetime) -> None:
    """The plan entitlement of the subscription's latest period."""
    await access.grant(
        uow.session,
        user_id=sub.user_id,
        subject_type=PLAN,
        subject_id=sub.product_id,
        source=PERIOD_SOURCE,
        source_id=f"{sub.id}:{sub.periods}",
        starts_at=starts_at,
        ends_at=sub.current_period_end,
    )


async def _ever_trialled(uow: UnitOfWork, *, user_id: int, product_id: int) -> bool:
    return bool(
        await uow.session.scalar(
            select(
                exists().where(
                    Subscription.user_id == user_id,
                    Subscription.product_id == product_id,
                    Subscription.trial_ends_at.is_not(None),
                )
            )
        )
    )


async def _start(
    uow: UnitOfWork, *, user_id: int, plan: Product, reference: str, now: datetime, tz: ZoneInfo
) -> Subscription:
    trial = plan.trial_days > 0 and not await _ever_trialled(
        uow, user_id=user_id, product_id=plan.id
    )
    anchor = now + timedelta(days=plan.trial_days) if trial else now
    assert plan.interval is not None
    sub = Subscription(
        user_id=user_id,
        product_id=plan.id,
        live_plan_id=plan.id,
        status="trialing" if trial else "active",
        current_period_start=now,
        current_period_end=period_end(anchor, interval=plan.interval, periods=1, tz=tz),
        period_anchor=anchor,
        trial_ends_at=anchor if trial else None,
        periods=1,
        renew_with="order",
        created_at=now,
        updated_at=now,
    )
    async with uow.session.begin_nested():
        uow.session.add(sub)
        await uow.session.flush()
    record(
        uow, sub, "started", now=now, from_status=None, reference=reference, trial=trial, period=1
    )
    await grant_period(uow, sub, starts_at=now)
    return sub


async def extend(
    uow: UnitOfWork,
    sub: Subscription,
    *,
    plan: Product,
    reference: str,
    now: datetime,
    tz: ZoneInfo,
) -> None:
    """Add one paid period after the current one; a past-due subscription is active again."""
    assert plan.interval is not None
    before = sub.status
    starts_at = max(sub.current_period_end, now)
    sub.periods += 1
    sub.current_period_start = sub.current_period_end
    sub.current_period_end = period_end(
        sub.period_anchor, interval=plan.interval, periods=sub.periods, tz=tz
    )
    if sub.status == "past_due":
        sub.status = "active"
    sub.grace_until = sub.next_retry_at = None
    sub.retry_count = 0
    sub.updated_at = now
    record(
        uow, sub, "renewed", now=now, from_status=before, reference=reference, period=sub.periods
    )
    await uow.session.flush()
    await grant_period(uow, sub, starts_at=starts_at)


async def start_or_extend(uow: UnitOfWork, *, order: PaidOrder, item: PaidItem) -> int:
    """A paid plan item: start the user's subscription (with the plan's trial when the user
    never trialled it) or extend the live one by a period; idempotent per order item. Returns
    the subscription id."""
    reference = f"order_item:{item.id}"
    done = await referenced(uow, reference)
    if done is not None:
        return done
    now = order.paid_at or runtime_of(uow.session).clock.now()
    zone = business_tz(uow.session)
    plan = await plan_of(uow, item.product_id)
    sub = await live_subscription(uow, user_id=order.user_id, product_id=plan.id)
    if sub is None:
        try:
            sub = await _start(
                uow, user_id=order.user_id, plan=plan, reference=reference, now=now, tz=zone
            )
        except IntegrityError:  # a concurrent first purchase started it: extend that one
            sub = await live_subscription(uow, user_id=order.user_id, product_id=plan.id)
            if sub is None:
                raise
        else:
            sub.last_order_id = order.id
            return sub.id
    sub.cancel_at_period_end = False
    sub.last_order_id = order.id
    await extend(uow, sub, plan=plan, reference=reference, now=now, tz=zone)
    return sub.id


async def cancel(uow: UnitOfWork, *, user_id: int, subscription_id: int, now: datetime) -> None:
    """Stop renewing: the subscription ends at its period end (past due: it ends now)."""
    sub = await lock(uow, subscription_id)
    if sub.user_id != user_id:
        raise SubscriptionNotFound()
    if sub.status not in LIVE_STATUSES:
        raise IllegalChange()
    before = sub.status
    if sub.status == "past_due":
        await end(uow, sub, status="cancelled", now=now, reason="cancelled by the subscriber")
        return
    if not sub.cancel_at_period_end:
        sub.cancel_at_period_end = True
        sub.cancelled_at = now
        sub.updated_at = now
        record(uow, sub, "cancel_requested", now=now, from_status=before)
    await uow.session.flush()


async def resume(uow: UnitOfWork, *, user_id: int, subscription_id: int, now: datetime) -> None:
    """Undo a cancellation before the period ends."""
    sub = await lock(uow, subscription_id)
    if sub.user_id != user_id:
        raise SubscriptionNotFound()
    if sub.status not in ("trialing", "active") or sub.current_period_end <= now:
        raise IllegalChange()
    if sub.cancel_at_period_end:
        sub.cancel_at_period_end = False
        sub.cancelled_at = None
        sub.updated_at = now
        record(uow, sub, "resumed", now=now, from_status=sub.status)
    await uow.session.flush()


async def set_renewal(
    uow: UnitOfWork, *, user_id: int, subscription_id: int, renew_with: str, now: datetime
) -> None:
    """Choose how the next period is paid: the wallet's credits or a renewal order."""
    sub = await lock(uow, subscription_id)
    if sub.user_id != user_id:
        raise SubscriptionNotFound()
    if sub.status not in LIVE_STATUSES:
        raise IllegalChange()
    if sub.renew_with != renew_with:
        sub.renew_with = renew_with
        sub.updated_at = now
        record(uow, sub, "renewal_method", now=now, from_status=sub.status, renew_with=renew_with)
    await uow.session.flush()


async def end(
    uow: UnitOfWork,
    sub: Subscription,
    *,
    status: str,
    now: datetime,
    reason: str,
    reference: str | None = None,
) -> None:
    """Cancelled or expired: no longer live; a grace entitlement stops now."""
    before = sub.status
    sub.status = status
    sub.live_plan_id = None
    sub.ended_at = now
    sub.next_retry_at = None
    sub.updated_at = now
    record(uow, sub, status, now=now, from_status=before, reference=reference, reason=reason)
    await uow.session.flush()
    await access.revoke(uow.session, source=PERIOD_SOURCE, source_id=grace_source(sub), now=now)
