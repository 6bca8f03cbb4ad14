"""The credits wallet: recharges, consumption, revocations and admin adjustments.

Credits (currency CRD) are issued from the platform's `credits_issued` account (which goes
negative by what users hold) and consumed into the platform's `credits_spent` account. Both are
sharded platform accounts (no floor to guard), so only the user's wallet row is locked. Every
change is a ledger posting, exactly once per (kind, reference), and publishes `wallet.updated`
to the user after commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models.base import utcnow
from models.commerce.ledger import LedgerTransaction
from models.identity.users import User
from server.audit import record_admin_action
from server.clock import Clock
from server.commerce.ledger import service as ledger
from server.commerce.ledger.service import InsufficientFunds
from server.db import Reader, UnitOfWork
from server.http.errors import Conflict
from server.identity.users.service import UserNotFound

CURRENCY = "CRD"
PURPOSE = "credits"
CONSUME = "wallet.consume"
REVOKE = "credits.revoke"
ADJUST = "wallet.adjustment"
SPENT = "credits_spent"
HOLD = "wallet.hold"
SETTLE = "wallet.settle"
HELD = "credits_held"

__all__ = [
    "InsufficientFunds",
    "ReferenceReused",
    "WalletChange",
    "consume",
    "credit",
    "hold",
    "settle_hold",
]


class ReferenceReused(Conflict):
    code, message = (
        "wallet.reference_reused",
        "This reference was already used for a different amount.",
    )


@dataclass(slots=True)
class WalletChange:
    """The outcome of one wallet posting (or of its earlier run, when `replayed`)."""

    transaction_id: int | None
    amount: int
    balance: int
    replayed: bool = False


async def user_account(session: AsyncSession, *, user_id: int) -> int:
    return await ledger.account_id(
        session, owner_type="user", owner_id=user_id, purpose=PURPOSE, currency=CURRENCY
    )


async def _issued(session: AsyncSession) -> int:
    return await ledger.platform_account(
        session, purpose="credits_issued", currency=CURRENCY, allow_negative=True
    )


async def balance(reader: Reader, *, user_id: int) -> int:
    return await ledger.balance_of(
        reader, owner_type="user", owner_id=user_id, purpose=PURPOSE, currency=CURRENCY
    )


async def posting(session: AsyncSession, *, transaction_id: int) -> WalletChange | None:
    """What a posting did to its user's wallet, as a repeat reports it (today's balance)."""
    found = await session.get(LedgerTransaction, transaction_id)
    if found is None or found.user_id is None:
        return None
    account = await user_account(session, user_id=found.user_id)
    return WalletChange(
        transaction_id=found.id,
        amount=await ledger.entry_amount(session, transaction_id=found.id, account=account),
        balance=await ledger.balance(session, account=account),
        replayed=True,
    )


def _positive(amount: int) -> None:
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise ValueError("a wallet amount is a positive number of credits")


def _publish(
    uow: UnitOfWork, *, user_id: int, change: WalletChange, kind: str, memo: str | None, at: Any
) -> None:
    uow.outbox.publish(
        "wallet.updated",
        {
            "balance": change.balance,
            "currency": CURRENCY,
            "transaction": {
                "id": change.transaction_id,
                "kind": kind,
                "amount": change.amount,
                "balance_after": change.balance,
                "memo": memo,
                "created_at": at.isoformat() if isinstance(at, datetime) else None,
            },
        },
        user_id=user_id,
    )


async def _replay(
    uow: UnitOfWork, *, user_id: int, account: int, kind: str, reference: str, amount: int | None
) -> WalletChange:
    """The earlier posting of (kind, reference), checked to be for the same amount."""
    session = uow.session
    found = await ledger.find_transaction(session, kind=kind, reference=reference, fresh=True)
    moved = (
        await ledger.entry_amount(session, transaction_id=found.id, account=account, fresh=True)
        if found is not None
        else 0
    )
    if amount is not None and moved != amount:
        raise ReferenceReused()
    return WalletChange(
        transaction_id=found.id if found is not None else None,
        amount=moved,
        balance=await ledger.balance(session, account=account, fresh=True),
        replayed=True,
    )


async def _move(
    uow: UnitOfWork,
    *,
    user_id: int,
    amount: int,
    other: int,
    kind: str,
    reference: str,
    memo: str | None,
    actor_id: int | None = None,
    now: datetime | None = None,
) -> WalletChange:
    """Post `amount` (signed, from the user's view) between the user's wallet and `other`."""
    now = now or utcnow()
    session = uow.session
    account = await user_account(session, user_id=user_id)
    held = ledger.seen_balance(session, account=account)
    if held is None:
        held = await ledger.balance(session, account=account)
    if amount < 0 and held + amount < 0:
        # Short already, without waiting for the account's lock (never an overspend: the
        # posting checks again under the lock). A repeat of a posting that spent it replays.
        if await ledger.find_transaction(session, kind=kind, reference=reference, fresh=True):
            return await _replay(
                uow, user_id=user_id, account=account, kind=kind, reference=reference, amount=amount
            )
        raise InsufficientFunds(account)
    posted = await ledger.post(
        session,
        kind=kind,
        reference=reference,
        legs=[(account, amount), (other, -amount)],
        user_id=user_id,
        actor_id=actor_id,
        memo=memo,
        now=now,
    )
    if posted is None:
        return await _replay(
            uow, user_id=user_id, account=account, kind=kind, reference=reference, amount=amount
        )
    change = WalletChange(posted.transaction_id, amount, posted.balance_after[account])
    _publish(uow, user_id=user_id, change=change, kind=kind, memo=memo, at=now)
    return change


async def credit(
    uow: UnitOfWork,
    *,
    user_id: int,
    amount: int,
    kind: str,
    reference: str,
    memo: str | None = None,
    actor_id: int | None = None,
    now: datetime | None = None,
) -> WalletChange:
    """Add credits (a credit pack, an in-app purchase, a grant) once per (kind, reference)."""
    _positive(amount)
    issued = await _issued(uow.session)
    return await _move(
        uow,
        user_id=user_id,
        amount=amount,
        other=issued,
        kind=kind,
        reference=reference,
        memo=memo,
        actor_id=actor_id,
        now=now,
    )


async def consume(
    uow: UnitOfWork,
    *,
    user_id: int,
    amount: int,
    reference: str,
    memo: str | None = None,
    now: datetime | None = None,
    rolls_back: bool = False,
) -> WalletChange:
    """Spend credits once per (user, reference); InsufficientFunds when the balance is short.

    Consuming the same reference again moves nothing and answers the first outcome; the same
    reference with another amount is ReferenceReused. The credits go to `credits_spent` (it only
    ever receives them: no floor to guard, so it is sharded, never locked). A few statements:
    both accounts read (no lock), the reference claimed, one guarded update of the wallet (and a
    shard of `credits_spent`), the entries; a wallet short already in the read is refused
    without the update. With `rolls_back`, the caller rolls its transaction back on
    InsufficientFunds (so the claim is not undone first: one round trip less).
    """
    return await _spend(
        uow,
        user_id=user_id,
        amount=amount,
        kind=CONSUME,
        reference=reference,
        to_purpose=SPENT,
        memo=memo,
        now=now,
        undo_on_refusal=not rolls_back,
    )


async def hold(
    uow: UnitOfWork,
    *,
    user_id: int,
    amount: int,
    reference: str,
    memo: str | None = None,
    now: datetime | None = None,
) -> WalletChange:
    """Set aside credits for a charge not known yet (an AI answer), once per (user, reference);
    InsufficientFunds when the balance is short. `settle_hold` charges part and returns the rest.

    The credits move to the platform's `credits_held` account (sharded, never locked), the same
    few statements as `consume`.
    """
    return await _spend(
        uow,
        user_id=user_id,
        amount=amount,
        kind=HOLD,
        reference=reference,
        to_purpose=HELD,
        memo=memo,
        now=now,
        undo_on_refusal=True,
    )


async def _spend(
    uow: UnitOfWork,
    *,
    user_id: int,
    amount: int,
    kind: str,
    reference: str,
    to_purpose: str,
    memo: str | None,
    now: datetime | None,
    undo_on_refusal: bool,
) -> WalletChange:
    """Move `amount` from the wallet to a platform account once per (kind, user, reference)."""
    _positive(amount)
    now = now or utcnow()
    scoped = f"{user_id}:{reference}"
    spent = await ledger.spend(
        uow.session,
        kind=kind,
        reference=scoped,
        owner_type="user",
        owner_id=user_id,
        purpose=PURPOSE,
        currency=CURRENCY,
        to_purpose=to_purpose,
        amount=amount,
        user_id=user_id,
        memo=memo,
        now=now,
        undo_on_refusal=undo_on_refusal,
    )
    if spent is None:
        account = await user_account(uow.session, user_id=user_id)
        return await _replay(
            uow, user_id=user_id, account=account, kind=kind, reference=scoped, amount=-amount
        )
    change = WalletChange(spent.transaction_id, -amount, spent.balance)
    _publish(uow, user_id=user_id, change=change, kind=kind, memo=memo, at=now)
    return change


async def settle_hold(
    uow: UnitOfWork,
    *,
    user_id: int,
    charge: int,
    reference: str,
    memo: str | None = None,
    now: datetime | None = None,
) -> WalletChange | None:
    """Charge up to `charge` of the credits held under `reference` (never more than was held)
    and give the rest back, exactly once. None when nothing was held under it or it was
    settled before: then nothing moves."""
    if not isinstance(charge, int) or charge < 0:
        raise ValueError("a settled charge is a number of credits, at least nothing")
    now = now or utcnow()
    session = uow.session
    scoped = f"{user_id}:{reference}"
    account = await user_account(session, user_id=user_id)
    found = await ledger.find_transaction(session, kind=HOLD, reference=scoped, fresh=True)
    if found is None:
        return None
    held = -await ledger.entry_amount(session, transaction_id=found.id, account=account, fresh=True)
    charge = min(charge, held)
    holding = await ledger.platform_account(
        session, purpose=HELD, currency=CURRENCY, allow_negative=True
    )
    spent = await ledger.platform_account(
        session, purpose=SPENT, currency=CURRENCY, allow_negative=True
    )
    posted = await ledger.post(
        session,
        kind=SETTLE,
        reference=scoped,
        legs=[(holding, -held), (account, held - charge), (spent, charge)],
        user_id=user_id,
        memo=memo,
        now=now,
    )
    if posted is None:
        return None
    if charge == held:  # the wallet has no leg: its balance as it stands
        balance_after = await ledger.balance(session, account=account)
    else:
        balance_after = posted.balance_after[account]
    change = WalletChange(posted.transaction_id, held - charge, balance_after)
    _publish(uow, user_id=user_id, change=change, kind=SETTLE, memo=memo, at=now)
    return change


async def revoke_credits(
    uow: UnitOfWork,
    *,
    user_id: int,
    amount: int,
    reference: str,
    now: datetime | None = None,
) -> int:
    """Take back up to `amount` unspent credits (a refund); returns what was taken.

    Never takes the balance below zero. Once per reference: a repeat returns the first result.
    """
    _positive(amount)
    session = uow.session
    account = await user_account(session, user_id=user_id)
    issued = await _issued(session)
    # The wallet locked now, so its balance cannot move (`issued` is sharded, never locked).
    held, _ = (await ledger.lock_accounts(session, [account]))[account]
    taken = min(amount, held)
    posted = await ledger.post(
        session,
        kind=REVOKE,
        reference=reference,
        legs=[(account, -taken), (issued, taken)] if taken else [],
        user_id=user_id,
        memo=f"revoked {taken} of {amount}",
        now=now,
    )
    if posted is None:
        replay = await _replay(
            uow, user_id=user_id, account=account, kind=REVOKE, reference=reference, amount=None
        )
        return -replay.amount
    if taken:
        change = WalletChange(posted.transaction_id, -taken, posted.balance_after[account])
        _publish(uow, user_id=user_id, change=change, kind=REVOKE, memo=None, at=now or utcnow())
    return taken


async def adjust(
    uow: UnitOfWork,
    *,
    user_id: int,
    amount: int,
    reason: str,
    reference: str,
    admin_id: int,
    now: datetime | None = None,
) -> WalletChange:
    """An admin's signed correction; a debit never takes the wallet below zero."""
    if not isinstance(amount, int) or amount == 0:
        raise ValueError("an adjustment is a non-zero number of credits")
    issued = await _issued(uow.session)
    return await _move(
        uow,
        user_id=user_id,
        amount=amount,
        other=issued,
        kind=ADJUST,
        reference=reference,
        memo=reason,
        actor_id=admin_id,
        now=now,
    )


async def admin_adjust(
    uow: UnitOfWork,
    *,
    user_id: int,
    amount: int,
    reason: str,
    reference: str,
    admin_id: int,
    ip: str | None,
    clock: Clock,
) -> WalletChange:
    """`adjust` on an existing account, audited once (a replay records nothing again)."""
    if await uow.session.scalar(select(User.id).where(User.id == user_id)) is None:
        raise UserNotFound()
    change = await adjust(
        uow,
        user_id=user_id,
        amount=amount,
        reason=reason,
        reference=f"admin:{reference}",
        admin_id=admin_id,
        now=clock.now(),
    )
    if not change.replayed:
        await record_admin_action(
            uow.session,
            admin_id=admin_id,
            action="wallet.adjust",
            target_type="user",
            target_id=user_id,
            detail={"amount": amount, "reason": reason, "reference": reference},
            ip=ip,
            clock=clock,
        )
    return change
