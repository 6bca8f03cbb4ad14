"""Orders: checkout from priced lines, cancel and expire, payment and fulfilment, refunds.

Every function takes the caller's unit of work, locks the order row it changes, flushes and
never commits. State changes go through `states.move` (history row and `order.updated`).
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models.base import utcnow
from models.commerce.orders import Order, OrderEvent, OrderItem
from server.business_time import business_tz
from server.commerce.catalog import service as catalog
from server.commerce.catalog.service import Line
from server.commerce.coupons import service as coupons
from server.commerce.coupons.service import CouponInvalid, Discount
from server.commerce.orders import fulfilment, states
from server.commerce.orders.errors import IllegalTransition, OrderNotFound, PaymentMismatch
from server.commerce.orders.refunds import begin_refund, complete_refund, fail_refund
from server.commerce.orders.states import CANCELLED, PAID, PENDING, items_of, lock_order
from server.commerce.shipping import service as shipping
from server.commerce.shipping.schemas import ShippingAddress
from server.db import UnitOfWork

__all__ = [
    "EXPIRE",
    "IllegalTransition",
    "PaidOutcome",
    "begin_refund",
    "cancel",
    "complete_refund",
    "create_order",
    "expire",
    "fail_refund",
    "lock_order",
    "mark_paid",
]

log = structlog.get_logger(__name__)

# The deferred task that cancels an order still unpaid at its deadline.
EXPIRE = "orders.expire"
DEFAULT_TIMEOUT_SECONDS = 1800

PaidOutcome = Literal["paid", "already", "revived", "refund_needed"]


def expire_job_id(order_id: int) -> str:
    return f"orders.expire:{order_id}"


def new_number(now: datetime, tz: ZoneInfo) -> str:
    """The public order number: the business day's date and 12 random digits."""
    return f"{now.astimezone(tz):%Y%m%d}{secrets.randbelow(10**12):012d}"


def discount_shares(lines: list[Line], discount: Discount | None) -> list[int]:
    """Each line's share of the discount, in proportion to its amount among the lines the
    coupon covers; the rounding remainder goes to the last covered line."""
    shares = [0] * len(lines)
    if discount is None or discount.amount == 0:
        return shares
    covered = [i for i, line in enumerate(lines) if line.product_id in discount.product_ids]
    base = sum(lines[i].amount for i in covered)
    for i in covered:
        shares[i] = discount.amount * lines[i].amount // base if base else 0
    shares[covered[-1]] += discount.amount - sum(shares)
    return shares


async def create_order(
    uow: UnitOfWork,
    *,
    user_id: int,
    items: list[tuple[int, int]],
    coupon_code: str | None = None,
    shipping_address: ShippingAddress | None = None,
    require_address: bool = False,
    kind: str = "purchase",
    subscription_id: int | None = None,
    now: datetime | None = None,
    timeout_seconds: int = DEFAULT_TIMEOUT_SECONDS,
) -> Order:
    """A pending order for (product_id, quantity) pairs at today's prices, with stock reserved
    and the coupon redeemed; the timeout job is deferred. A free order is paid and fulfilled
    at once. An order of physical goods keeps `shipping_address`; with `require_address` (a
    buyer's checkout) it must have one (AddressRequired)."""
    now = now or utcnow()
    lines = await catalog.lines_for_checkout(uow.session, items=items)
    kinds = [line.kind for line in lines]
    if require_address:
        shipping.check_address(kinds, shipping_address)
    discount = None
    if coupon_code:
        discount = await coupons.quote(
            uow.session, user_id=user_id, code=coupon_code, lines=lines, now=now
        )
    order = await _place(
        uow,
        lines=lines,
        discount=discount,
        now=now,
        user_id=user_id,
        kind=kind,
        subscription_id=subscription_id,
        expires_at=now + timedelta(seconds=timeout_seconds),
    )
    await _take(uow, order, lines=lines, discount=discount, now=now)
    await shipping.keep_address(
        uow, order_id=order.id, kinds=kinds, address=shipping_address, now=now
    )
    if order.total == 0:
        await _pay(uow, order, provider=None, paid_at=now, now=now)
    else:
        uow.outbox.enqueue(
            EXPIRE, job_id=expire_job_id(order.id), defer_seconds=timeout_seconds, order_id=order.id
        )
        uow.outbox.publish("order.updated", states.order_data(order), user_id=user_id)
    return order


async def _place(
    uow: UnitOfWork, *, lines: list[Line], discount: Discount | None, now: datetime, **fields: Any
) -> Order:
    """The order row (with `fields`: user_id, kind...), its lines with their discount shares,
    and its first history row."""
    subtotal = sum(line.amount for line in lines)
    off = discount.amount if discount else 0
    order = Order(
        number=new_number(now, business_tz(uow.session)),
        status=PENDING,
        currency=lines[0].currency,
        subtotal=subtotal,
        discount=off,
        total=subtotal - off,
        coupon_id=discount.coupon_id if discount else None,
        created_at=now,
        updated_at=now,
        **fields,
    )
    uow.session.add(order)
    await uow.session.flush()
    pairs = zip(lines, discount_shares(lines, discount), strict=True)
    uow.session.add_all(_item(order, line, share, now) for line, share in pairs)
    uow.session.add(
        OrderEvent(order_id=order.id, to_status=PENDING, actor_id=order.user_id, created_at=now)
    )
    return order


async def _take(
    uow: UnitOfWork, order: Order, *, lines: list[Line], discount: Discount | None, now: datetime
) -> None:
    """Reserve the physical goods (in product order: one lock order for everyone), then the
    coupon use."""
    for line in sorted(lines, key=lambda line: line.product_id):
        if line.kind == "physical":
            await catalog.reserve_stock(
                uow.session, product_id=line.product_id, quantity=line.quantity
            )
    if discount is not None:
        await coupons.redeem(
            uow.session,
            coupon_id=discount.coupon_id,
            user_id=order.user_id,
            order_id=order.id,
            amount=discount.amount,
            now=now,
        )
    await uow.session.flush()


def _item(order: Order, line: Line, share: int, now: datetime) -> OrderItem:
    return OrderItem(
        order_id=order.id,
        product_id=line.product_id,
        creator_id=line.creator_id,
        kind=line.kind,
        title=line.title[:255],
        unit_price=line.unit_price,
        quantity=line.quantity,
        amount=line.amount - share,
        refunded_amount=0,
        content_id=line.content_id,
        credits=line.credits,
        created_at=now,
    )


async def cancel(
    uow: UnitOfWork,
    *,
    order_id: int,
    reason: str,
    user_id: int | None = None,
    now: datetime | None = None,
) -> bool:
    """Cancel a pending order, giving back its stock and coupon use. False when it already was
    cancelled; IllegalTransition once paid. With `user_id`, only that buyer's order (else
    OrderNotFound)."""
    now = now or utcnow()
    order = await states.lock_order(uow, order_id)
    if user_id is not None and order.user_id != user_id:
        raise OrderNotFound()
    if order.status == CANCELLED:
        return False
    states.check(order, CANCELLED)
    for item in sorted(await items_of(uow, order.id), key=lambda item: item.product_id):
        if item.kind == "physical":
            await catalog.release_stock(
                uow.session, product_id=item.product_id, quantity=item.quantity
            )
    await coupons.release(uow.session, order_id=order.id, now=now)
    order.cancelled_at = now
    await states.move(uow, order, CANCELLED, now=now, reason=reason, actor_id=user_id)
    return True


async def expire(uow: UnitOfWork, *, order_id: int, now: datetime) -> bool:
    """Cancel the order if it is still unpaid at its deadline; anything else is left alone."""
    order = await states.lock_order(uow, order_id)
    if order.status != PENDING or order.expires_at is None or order.expires_at > now:
        return False
    return await cancel(uow, order_id=order_id, reason="timeout", now=now)


async def overdue(session: AsyncSession, *, now: datetime, limit: int) -> list[int]:
    """Ids of unpaid orders past their deadline, oldest first."""
    rows = await session.scalars(
        select(Order.id)
        .where(Order.status == PENDING, Order.expires_at <= now)
        .order_by(Order.expires_at)
        .limit(limit)
    )
    return list(rows.all())


async def mark_paid(
    uow: UnitOfWork,
    *,
    order_id: int,
    provider: str,
    amount: int,
    currency: str,
    paid_at: datetime,
    now: datetime | None = None,
) -> PaidOutcome:
    """Record the order's payment, once, and queue its delivery.

    "paid": it was pending; "already": paid before through this provider (nothing changes);
    "revived": it had been cancelled and its stock could be taken again; "refund_needed": the
    money cannot buy the order any more (cancelled and out of stock, or a second payment through
    another provider), so the caller gives it back. PaymentMismatch (nothing changes) when the
    amount or currency is not the order's.
    """
    now = now or utcnow()
    order = await states.lock_order(uow, order_id)
    if amount != order.total or currency.upper() != order.currency:
        raise PaymentMismatch(
            f"Paid {amount} {currency}; the order is {order.total} {order.currency}."
        )
    if order.status not in (PENDING, CANCELLED):
        return "already" if order.provider == provider else "refund_needed"
    outcome: PaidOutcome = "paid"
    if order.status == CANCELLED:
        if not await _take_back(uow, order, now=now):
            return "refund_needed"
        outcome = "revived"
    await _pay(uow, order, provider=provider, paid_at=paid_at, now=now)
    return outcome


async def _take_back(uow: UnitOfWork, order: Order, *, now: datetime) -> bool:
    """Reserve a cancelled order's stock (and coupon use) again; False, changing nothing, when
    the stock is gone. A coupon no longer usable is let go: the buyer paid the quoted price."""
    items = sorted(await items_of(uow, order.id), key=lambda item: item.product_id)
    try:
        async with uow.session.begin_nested():
            for item in items:
                if item.kind == "physical":
                    await catalog.reserve_stock(
                        uow.session, product_id=item.product_id, quantity=item.quantity
                    )
    except (catalog.OutOfStock, catalog.ProductUnavailable):
        return False
    if order.coupon_id is not None:
        try:
            async with uow.session.begin_nested():
                await coupons.redeem(
                    uow.session,
                    coupon_id=order.coupon_id,
                    user_id=order.user_id,
                    order_id=order.id,
                    amount=order.discount,
                    now=now,
                )
        except CouponInvalid:
            log.info("orders.revived_without_coupon", order_id=order.id)
    order.cancelled_at = None
    return True


async def _pay(
    uow: UnitOfWork, order: Order, *, provider: str | None, paid_at: datetime, now: datetime
) -> None:
    """`paid`, and the payment booked; delivery follows in the `orders.fulfil` job (a free
    order, which moves no money, is delivered at once)."""
    order.provider = provider
    order.paid_at = paid_at
    order.expires_at = None
    reason = f"paid via {provider}" if provider else "free"
    await states.move(uow, order, PAID, now=now, reason=reason)
    if provider is None:
        await fulfilment.fulfil(uow, order, await items_of(uow, order.id), now=now)
        return
    await fulfilment.post_payment(uow, order)
    fulfilment.queue_delivery(uow, order)
