"""Creator earnings: each sale's split, settlement after a delay, refunds clawing back.

Ledger accounts (server.commerce.ledger): a sale moves the item's amount out of platform `cash`
(what the buyer paid for it) into the creator's `earnings_pending` (net) and platform `revenue`
(fee). A sale paid with credits (a creator's plan renewed from the wallet) takes the amount out
of platform `credits_liability` (CNY) instead: the credits were paid for earlier, or granted for
free, and the sale pays the creator from what the platform owes for them, never from `cash`.
`credits_liability` has no floor (sharded, never locked): what buyers pay for credit packs moves
into it from `cash` when the pack is delivered (and back when it is refunded,
server/commerce/orders/fulfilment.py), so it holds what the platform owes for credits sold less
the credit-paid sales; below zero, it is the cost of credits granted for free. Settlement moves
a sale's net from pending to the creator's `earnings_available` once its delay has passed;
withdrawals leave from there. A refund takes the creator's proportional share
back from pending (not yet settled) or available (settled: available may go negative when the
money was already withdrawn; the creator's next earnings pay it back).
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import select

from models.base import utcnow
from models.commerce.earnings import Earning
from server.commerce.earnings.terms import terms
from server.commerce.ledger import service as ledger
from server.db import Reader, UnitOfWork
from server.http.guards import Principal
from server.notify.notifications import service as notifications

CREATOR = "creator"
PENDING = "earnings_pending"
AVAILABLE = "earnings_available"
SALE, CLAWBACK, SETTLEMENT = "sale", "clawback", "settlement"
# Platform accounts a sale is paid from: money paid for the item, or credits spent on it.
CASH, CREDITS_LIABILITY = "cash", "credits_liability"


class SoldOrder(Protocol):
    """What earnings need to know about a paid order."""

    id: int
    user_id: int
    currency: str
    paid_at: datetime | None


class SoldItem(Protocol):
    """What earnings need to know about one sold order item."""

    id: int
    creator_id: int | None
    amount: int
    title: str


def split(amount: int, fee_bps: int) -> tuple[int, int]:
    """(fee, net) of an amount in fen: the fee rounded half up, the creator gets the rest, so
    fee + net == amount always."""
    fee = (amount * fee_bps + 5_000) // 10_000
    return fee, amount - fee


def available_from(paid_at: datetime, *, days: int, tz: ZoneInfo) -> datetime:
    """Settlement is cut at business-day boundaries: the local midnight `days` full days after
    the day of the sale."""
    day = paid_at.astimezone(tz).date() + timedelta(days=days + 1)
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(paid_at.tzinfo)


async def creator_account(uow: UnitOfWork, *, creator_id: int, purpose: str, currency: str) -> int:
    return await ledger.account_id(
        uow.session,
        owner_type=CREATOR,
        owner_id=creator_id,
        purpose=purpose,
        currency=currency,
        allow_negative=purpose == AVAILABLE,
    )


async def record_sale(uow: UnitOfWork, *, order: SoldOrder, item: SoldItem) -> int | None:
    """Record the creator's share of a sold item (fee + net == amount) and post it to the
    ledger as pending earnings; idempotent per order item. None for platform items."""
    if item.creator_id is None or item.amount <= 0:
        return None
    found = await uow.session.scalar(select(Earning.id).where(Earning.order_item_id == item.id))
    if found is not None:
        return int(found)
    earning = _earning(
        uow,
        creator_id=item.creator_id,
        gross=item.amount,
        currency=order.currency,
        at=order.paid_at or utcnow(),
        order_item_id=item.id,
        order_id=order.id,
    )
    return await _book(
        uow, earning, title=item.title, reference=f"order_item:{item.id}", paid_from=CASH
    )


async def record_renewal(
    uow: UnitOfWork,
    *,
    creator_id: int | None,
    amount: int,
    currency: str,
    reference: str,
    title: str,
    at: datetime,
) -> int | None:
    """Record the creator's share of a subscription period charged to the wallet (`amount` is
    the plan's price in fen), split like a sale and paid from the platform's credits liability
    (the period was paid with credits, not money); idempotent per `reference` (the renewal's).
    None for platform plans."""
    if creator_id is None or amount <= 0:
        return None
    found = await uow.session.scalar(select(Earning.id).where(Earning.reference == reference))
    if found is not None:
        return int(found)
    earning = _earning(
        uow, creator_id=creator_id, gross=amount, currency=currency, at=at, reference=reference
    )
    return await _book(uow, earning, title=title, reference=reference, paid_from=CREDITS_LIABILITY)


def _earning(
    uow: UnitOfWork, *, creator_id: int, gross: int, currency: str, at: datetime, **source: Any
) -> Earning:
    """A pending earning on the process's terms; `source` names what was sold."""
    agreed = terms(uow.session)
    fee, net = split(gross, agreed.fee_bps)
    return Earning(
        creator_id=creator_id,
        gross=gross,
        fee=fee,
        net=net,
        currency=currency,
        status="pending",
        available_at=available_from(at, days=agreed.settlement_days, tz=agreed.tz),
        created_at=at,
        **source,
    )


async def _paid_from(uow: UnitOfWork, purpose: str, currency: str) -> int:
    """The platform account a sale is paid from: `cash` or the credits liability (both sharded:
    their postings lock no platform row)."""
    return await ledger.platform_account(
        uow.session, purpose=purpose, currency=currency, allow_negative=True
    )


async def _book(
    uow: UnitOfWork, earning: Earning, *, title: str, reference: str, paid_from: str
) -> int:
    """Store the earning, post platform `paid_from` -> creator pending + platform revenue, and
    tell the creator."""
    uow.session.add(earning)
    await uow.session.flush()
    currency, creator_id = earning.currency, earning.creator_id
    source = await _paid_from(uow, paid_from, currency)
    revenue = await ledger.platform_account(
        uow.session, purpose="revenue", currency=currency, allow_negative=True
    )
    pending = await creator_account(uow, creator_id=creator_id, purpose=PENDING, currency=currency)
    await ledger.post(
        uow.session,
        kind=SALE,
        reference=reference,
        legs=[(source, -earning.gross), (pending, earning.net), (revenue, earning.fee)],
        user_id=creator_id,
        memo=title[:200],
    )
    data = {
        "earning_id": earning.id,
        "order_id": earning.order_id,
        "order_item_id": earning.order_item_id,
        "reference": earning.reference,
        "title": title,
        "gross": earning.gross,
        "fee": earning.fee,
        "net": earning.net,
        "currency": currency,
        "available_at": earning.available_at.isoformat().replace("+00:00", "Z"),
    }
    uow.outbox.publish("sale.created", data, user_id=creator_id)
    uow.outbox.publish("sale.created", data, room=f"dashboard:creator:{creator_id}")
    await notifications.notify(
        uow,
        user_id=creator_id,
        type="earnings.sale",
        title="新的销售",
        body=f"{title}：收入 {earning.net / 100:.2f} 元",
        data=data,
    )
    return earning.id


async def claw_back(uow: UnitOfWork, *, order: SoldOrder, item: SoldItem, amount: int) -> None:
    """Take back the creator's proportional share of `amount` refunded on the item: what the
    creator keeps is net * (gross - refunded) / gross rounded down, so a full refund takes back
    exactly the net; the fee is reversed in the same proportion."""
    earning = await uow.session.scalar(
        select(Earning).where(Earning.order_item_id == item.id).with_for_update()
    )
    if earning is None or amount <= 0:
        return
    refunded = min(earning.refunded + amount, earning.gross)
    amount = refunded - earning.refunded
    if amount <= 0:
        return
    taken_after = earning.net - earning.net * (earning.gross - refunded) // earning.gross
    take = taken_after - earning.clawed_back
    purpose = PENDING if earning.status == "pending" else AVAILABLE
    account = await creator_account(
        uow, creator_id=earning.creator_id, purpose=purpose, currency=earning.currency
    )
    cash = await ledger.platform_account(
        uow.session, purpose="cash", currency=earning.currency, allow_negative=True
    )
    revenue = await ledger.platform_account(
        uow.session, purpose="revenue", currency=earning.currency, allow_negative=True
    )
    await ledger.post(
        uow.session,
        kind=CLAWBACK,
        reference=f"order_item:{item.id}:{refunded}",
        legs=[(account, -take), (revenue, -(amount - take)), (cash, amount)],
        user_id=earning.creator_id,
        memo=f"refund: {item.title}"[:200],
    )
    earning.refunded = refunded
    earning.clawed_back = taken_after
    if earning.status == "pending" and refunded >= earning.gross:
        earning.status = "reversed"
    await uow.session.flush()


async def due_for_settlement(reader: Reader, *, now: datetime, limit: int = 500) -> list[int]:
    rows = await reader.execute(
        select(Earning.id)
        .where(Earning.status == "pending", Earning.available_at <= now)
        .order_by(Earning.available_at, Earning.id)
        .limit(limit)
    )
    return [int(row[0]) for row in rows]


async def settle(uow: UnitOfWork, *, earning_id: int, now: datetime) -> bool:
    """Move one sale's remaining net from pending to available once its time has come."""
    earning = await uow.session.scalar(
        select(Earning).where(Earning.id == earning_id).with_for_update()
    )
    if earning is None or earning.status != "pending" or earning.available_at > now:
        return False
    left = earning.net - earning.clawed_back
    if left > 0:
        pending = await creator_account(
            uow, creator_id=earning.creator_id, purpose=PENDING, currency=earning.currency
        )
        available = await creator_account(
            uow, creator_id=earning.creator_id, purpose=AVAILABLE, currency=earning.currency
        )
        await ledger.post(
            uow.session,
            kind=SETTLEMENT,
            reference=f"earning:{earning.id}",
            legs=[(pending, -left), (available, left)],
            user_id=earning.creator_id,
        )
    earning.status = "available" if left > 0 else "reversed"
    earning.settled_at = now
    await uow.session.flush()
    uow.outbox.publish(
        "earnings.settled",
        {"earning_id": earning.id, "amount": left, "currency": earning.currency},
        room=f"dashboard:creator:{earning.creator_id}",
    )
    return True


async def dashboard_room_check(principal: Principal, room_id: str) -> bool:
    """`dashboard:creator:<id>`: that creator, or an admin."""
    if "admin" in principal.roles:
        return True
    ours = room_id.isascii() and room_id.isdigit() and int(room_id) == principal.user_id
    return ours and CREATOR in principal.roles
