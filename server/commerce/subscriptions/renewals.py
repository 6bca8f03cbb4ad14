"""Renewals: the cron job's rules for one subscription at a time.

Near its period end a subscription renews: charged to the wallet (credits at the configured
value of a credit), or through a renewal order the subscriber pays. A failed wallet charge, or a
renewal order still unpaid at the period end, makes it past due: the plan stays readable until
the grace period ends while the charge is retried (or the order re-offered), and the subscriber
is told each time. After the grace period it expires; a subscription cancelled at period end is
cancelled then.

A run advances each due subscription in a transaction of its own, and one that fails (a bug, a
ledger refusal, a lock wait) is logged, counted as `failed` and left as it was, so the next run
retries it; the others go on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy import or_, select

from models.commerce.catalog import Product
from models.commerce.orders import Order
from models.commerce.subscriptions import Subscription
from server.clock import Clock
from server.commerce.catalog.errors import ProductUnavailable
from server.commerce.earnings import service as earnings
from server.commerce.orders import service as orders
from server.commerce.subscriptions import service
from server.commerce.wallet import service as wallet
from server.commerce.wallet.service import InsufficientFunds
from server.content.items import access
from server.db import Database, Reader, UnitOfWork
from server.notify.notifications import service as notifications
from server.settings import Settings

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Policy:
    """The renewal settings, read once per run."""

    renew_before: timedelta
    grace: timedelta
    retry_every: timedelta
    max_retries: int
    credit_value_fen: int
    tz: ZoneInfo

    @classmethod
    def of(cls, settings: Settings) -> Policy:
        return cls(
            renew_before=timedelta(hours=settings.subscription_renew_before_hours),
            grace=timedelta(days=settings.subscription_grace_days),
            retry_every=timedelta(hours=settings.subscription_retry_hours),
            max_retries=settings.subscription_max_retries,
            credit_value_fen=settings.credit_value_fen,
            tz=ZoneInfo(settings.business_tz),
        )


async def due(reader: Reader, *, now: datetime, policy: Policy, limit: int = 500) -> list[int]:
    """Ids of the live subscriptions the renewal job has something to do for."""
    rows = await reader.execute(
        select(Subscription.id)
        .where(
            or_(
                Subscription.status.in_(("trialing", "active"))
                & (Subscription.current_period_end <= now + policy.renew_before),
                Subscription.status == "past_due",
            )
        )
        .order_by(Subscription.id)
        .limit(limit)
    )
    return [int(row[0]) for row in rows]


async def advance_due(db: Database, *, clock: Clock, policy: Policy) -> dict[str, int]:
    """Advance every subscription with something due, each in its own transaction; how many
    ended each way (`failed`: rolled back and left for the next run)."""
    async with db.read() as session:
        subscription_ids = await due(session, now=clock.now(), policy=policy)
    outcomes: dict[str, int] = {}
    for subscription_id in subscription_ids:
        try:
            async with db.unit_of_work() as uow:
                outcome = await advance(
                    uow, subscription_id=subscription_id, now=clock.now(), policy=policy
                )
        except Exception as exc:  # one subscription must not stop the run for the others
            log.error(
                "subscriptions.renewal_failed", subscription_id=subscription_id, error=repr(exc)
            )
            outcome = "failed"
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes


async def advance(uow: UnitOfWork, *, subscription_id: int, now: datetime, policy: Policy) -> str:
    """Do what is due for one subscription now; what happened. Safe to run twice."""
    sub = await service.lock(uow, subscription_id)
    if sub.status == "trialing" and sub.trial_ends_at is not None and sub.trial_ends_at <= now:
        sub.status = "active"
        service.record(uow, sub, "trial_ended", now=now, from_status="trialing")
    if sub.status in ("trialing", "active"):
        if sub.current_period_end <= now:
            if sub.cancel_at_period_end:
                await service.end(uow, sub, status="cancelled", now=now, reason="period ended")
                return "cancelled"
            await _fall_due(uow, sub, now=now, policy=policy)
            return "past_due"
        if sub.cancel_at_period_end or now < sub.current_period_end - policy.renew_before:
            return "waiting"
        return await _renew(uow, sub, now=now, policy=policy)
    if sub.status != "past_due":
        return sub.status
    if sub.grace_until is None or sub.grace_until <= now:
        await service.end(uow, sub, status="expired", now=now, reason="renewal failed")
        await _tell(uow, sub, "subscription.expiring", "订阅已到期", "续费未成功，订阅已结束。")
        return "expired"
    if sub.next_retry_at is not None and sub.next_retry_at <= now:
        return await _retry(uow, sub, now=now, policy=policy)
    return "waiting"


async def _renew(uow: UnitOfWork, sub: Subscription, *, now: datetime, policy: Policy) -> str:
    """The attempt before the period ends."""
    plan = await uow.session.get(Product, sub.product_id)
    if sub.renew_with == "wallet" and plan is not None:
        if await _charge(uow, sub, plan, now=now, policy=policy):
            return "renewed"
        await _fall_due(uow, sub, now=now, policy=policy)
        return "past_due"
    attempt = f"renewal_order:{sub.id}:{sub.periods + 1}"
    if await service.referenced(uow, attempt) is None:
        await _offer_order(uow, sub, now=now, reference=attempt)
    return "offered"


async def _charge(
    uow: UnitOfWork, sub: Subscription, plan: Product, *, now: datetime, policy: Policy
) -> bool:
    """Pay the next period with credits (the plan's creator earns from it, paid from the
    platform's credits liability, so credits granted for free renew too); False (nothing
    changed) when the wallet is short."""
    credits = -(-plan.price // policy.credit_value_fen)
    reference = f"subscription:{sub.id}:{sub.periods + 1}"
    try:
        async with uow.session.begin_nested():
            await wallet.consume(
                uow,
                user_id=sub.user_id,
                amount=credits,
                reference=reference,
                memo=f"续费：{plan.title}"[:255],
            )
    except InsufficientFunds:
        return False
    await service.extend(
        uow, sub, plan=plan, reference=f"wallet:{reference}", now=now, tz=policy.tz
    )
    # The plan's creator earns from the renewal as from a sale: the price, the same split, out
    # of the credits liability rather than cash (no money came in for this period).
    await earnings.record_renewal(
        uow,
        creator_id=plan.creator_id,
        amount=plan.price,
        currency=plan.currency,
        reference=reference,
        title=plan.title,
        at=now,
    )
    return True


async def _offer_order(
    uow: UnitOfWork, sub: Subscription, *, now: datetime, reference: str
) -> None:
    """A renewal order for the subscriber to pay; told by a notification."""
    try:
        async with uow.session.begin_nested():
            order = await orders.create_order(
                uow,
                user_id=sub.user_id,
                items=[(sub.product_id, 1)],
                kind="renewal",
                subscription_id=sub.id,
                now=now,
            )
    except ProductUnavailable:  # the plan was withdrawn: it cannot be renewed
        service.record(uow, sub, "renewal_unavailable", now=now, from_status=sub.status)
        return
    if sub.live_plan_id is not None:
        sub.last_order_id = order.id
        service.record(
            uow, sub, "renewal_order", now=now, from_status=sub.status, reference=reference
        )
        await _tell(
            uow,
            sub,
            "subscription.expiring",
            "订阅即将到期",
            "请支付续费订单以继续订阅。",
            order_id=order.id,
        )


async def _fall_due(uow: UnitOfWork, sub: Subscription, *, now: datetime, policy: Policy) -> None:
    """The renewal failed: past due, readable through the grace period, retried."""
    before = sub.status
    sub.status = "past_due"
    sub.grace_until = sub.current_period_end + policy.grace
    sub.retry_count = 0
    sub.next_retry_at = now + policy.retry_every
    sub.updated_at = now
    service.record(uow, sub, "renewal_failed", now=now, from_status=before)
    await uow.session.flush()
    await access.grant(
        uow.session,
        user_id=sub.user_id,
        subject_type=service.PLAN,
        subject_id=sub.product_id,
        source=service.PERIOD_SOURCE,
        source_id=service.grace_source(sub),
        starts_at=sub.current_period_end,
        ends_at=sub.grace_until,
    )
    await _tell(
        uow, sub, "subscription.renewal_failed", "续费失败", "订阅续费未成功，我们会稍后重试。"
    )


async def _retry(uow: UnitOfWork, sub: Subscription, *, now: datetime, policy: Policy) -> str:
    plan = await uow.session.get(Product, sub.product_id)
    if plan is not None and sub.renew_with == "wallet":
        if await _charge(uow, sub, plan, now=now, policy=policy):
            return "renewed"
    elif plan is not None and not await _order_pending(uow, sub):
        attempt = f"renewal_order:{sub.id}:{sub.periods + 1}:{sub.retry_count + 1}"
        await _offer_order(uow, sub, now=now, reference=attempt)
    sub.retry_count += 1
    sub.updated_at = now
    last = sub.retry_count >= policy.max_retries
    sub.next_retry_at = None if last else now + policy.retry_every
    service.record(uow, sub, "retry_failed", now=now, from_status=sub.status)
    if last:
        await _tell(
            uow,
            sub,
            "subscription.expiring",
            "订阅即将到期",
            "续费仍未成功，订阅将在宽限期后结束。",
        )
    else:
        await _tell(uow, sub, "subscription.renewal_failed", "续费失败", "续费重试未成功。")
    await uow.session.flush()
    return "retried"


async def _order_pending(uow: UnitOfWork, sub: Subscription) -> bool:
    if sub.last_order_id is None:
        return False
    status = await uow.session.scalar(select(Order.status).where(Order.id == sub.last_order_id))
    return status == "pending_payment"


async def _tell(
    uow: UnitOfWork, sub: Subscription, type: str, title: str, body: str, **data: object
) -> None:
    await notifications.notify(
        uow,
        user_id=sub.user_id,
        type=type,
        title=title,
        body=body,
        data={
            "subscription_id": sub.id,
            "product_id": sub.product_id,
            "status": sub.status,
            "current_period_end": sub.current_period_end.isoformat().replace("+00:00", "Z"),
            **(
                {"grace_until": sub.grace_until.isoformat().replace("+00:00", "Z")}
                if sub.grace_until
                else {}
            ),
            **data,
        },
    )
