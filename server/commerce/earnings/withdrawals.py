"""Withdrawals: a creator with a verified real name asks for available earnings; an admin
approves or rejects; a job pays out through the chosen channel.

The amount leaves `earnings_available` for the platform's `payouts` hold in the same transaction
as the request, so it cannot be withdrawn twice. A payout moves it from the hold to the channel's
clearing account; a rejection or a failed payout returns it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models.commerce.earnings import Withdrawal
from models.commerce.ledger import LedgerAccount
from models.identity.creators import CreatorApplication
from server.audit import record_admin_action
from server.commerce.earnings import service as earnings
from server.commerce.earnings.payouts import Payee, PayoutResult
from server.commerce.ledger import service as ledger
from server.crypto import PiiCipher
from server.db import UnitOfWork
from server.http.errors import Conflict, Forbidden, NotFound, ValidationFailed
from server.notify.notifications import service as notifications

ACCOUNT_CONTEXT = "earnings.payee_account"
NAME_CONTEXT = "earnings.payee_name"
# The creators domain's context for verified real names.
REAL_NAME_CONTEXT = "creators.real_name"
PAYOUT_TASK = "earnings.payout"
# How long a payout may stay `paying` before the sweep asks its channel how it went.
CHECK_AFTER = timedelta(minutes=5)
# Most payouts one sweep asks about (the next sweep takes the rest).
CHECK_BATCH = 200


class RealNameRequired(Forbidden):
    code, message = (
        "earnings.real_name_required",
        "Withdrawals need a verified real name (an approved creator application).",
    )


class BelowMinimum(ValidationFailed):
    code, message = "earnings.below_minimum", "The amount is below the smallest withdrawal."


class InsufficientBalance(Conflict):
    code, message = "earnings.insufficient_balance", "Your available earnings are too low."


class WithdrawalNotFound(NotFound):
    code, message = "earnings.withdrawal_not_found", "No such withdrawal."


class NotReviewable(Conflict):
    code, message = "earnings.withdrawal_reviewed", "This withdrawal was already reviewed."


def payout_job_id(withdrawal_id: int) -> str:
    return f"earnings.payout:{withdrawal_id}"


def transfer_number(withdrawal_id: int) -> str:
    """Our number for the transfer at the channel (letters and digits only, as both require)."""
    return f"W{withdrawal_id:012d}"


async def verified_name(uow: UnitOfWork, *, pii: PiiCipher, user_id: int) -> str:
    token = await uow.session.scalar(
        select(CreatorApplication.real_name_enc)
        .where(
            CreatorApplication.user_id == user_id,
            CreatorApplication.status == "approved",
            CreatorApplication.real_name_enc.is_not(None),
        )
        .order_by(CreatorApplication.id.desc())
        .limit(1)
    )
    if token is None:
        raise RealNameRequired()
    return pii.decrypt(token, context=REAL_NAME_CONTEXT)


async def _hold(uow: UnitOfWork, currency: str) -> int:
    return await ledger.platform_account(uow.session, purpose="payouts", currency=currency)


async def request(
    uow: UnitOfWork,
    *,
    pii: PiiCipher,
    creator_id: int,
    amount: int,
    currency: str,
    channel: str,
    account: str,
    min_amount: int,
    now: datetime,
) -> Withdrawal:
    """Ask for a payout of available earnings; the amount is held at once."""
    name = await verified_name(uow, pii=pii, user_id=creator_id)
    if amount < min_amount:
        raise BelowMinimum(fields={"amount": f"at least {min_amount}"})
    available = await earnings.creator_account(
        uow, creator_id=creator_id, purpose=earnings.AVAILABLE, currency=currency
    )
    balance = await uow.session.scalar(
        select(LedgerAccount.balance).where(LedgerAccount.id == available).with_for_update()
    )
    if (balance or 0) < amount:
        raise InsufficientBalance()
    row = Withdrawal(
        creator_id=creator_id,
        amount=amount,
        currency=currency,
        channel=channel,
        payee_account_enc=pii.encrypt(account, context=ACCOUNT_CONTEXT),
        payee_name_enc=pii.encrypt(name, context=NAME_CONTEXT),
        status="requested",
        created_at=now,
        updated_at=now,
    )
    uow.session.add(row)
    await uow.session.flush()
    await ledger.post(
        uow.session,
        kind="withdrawal",
        reference=f"withdrawal:{row.id}",
        legs=[(available, -amount), (await _hold(uow, currency), amount)],
        user_id=creator_id,
    )
    _publish(uow, row)
    return row


async def lock(uow: UnitOfWork, withdrawal_id: int) -> Withdrawal:
    row = await uow.session.scalar(
        select(Withdrawal).where(Withdrawal.id == withdrawal_id).with_for_update()
    )
    if row is None:
        raise WithdrawalNotFound()
    return row


async def review(
    uow: UnitOfWork,
    *,
    withdrawal_id: int,
    approve: bool,
    admin_id: int,
    reason: str | None,
    ip: str | None,
    now: datetime,
) -> Withdrawal:
    """Approve (the payout job is queued) or reject (the money goes back); audited."""
    row = await lock(uow, withdrawal_id)
    if row.status != "requested":
        raise NotReviewable()
    row.reviewer_id = admin_id
    row.reviewed_at = now
    row.reason = reason
    if approve:
        _move(row, "approved", now)
        uow.outbox.enqueue(PAYOUT_TASK, job_id=payout_job_id(row.id), withdrawal_id=row.id)
    else:
        await _give_back(uow, row, "rejected", now)
    await record_admin_action(
        uow.session,
        admin_id=admin_id,
        action=f"withdrawal.{'approve' if approve else 'reject'}",
        target_type="withdrawal",
        target_id=row.id,
        detail={
            "creator_id": row.creator_id,
            "amount": row.amount,
            **({"reason": reason} if reason else {}),
        },
        ip=ip,
    )
    await _tell(uow, row)
    return row


def _move(row: Withdrawal, status: str, now: datetime) -> None:
    row.status = status
    row.updated_at = now


async def _give_back(uow: UnitOfWork, row: Withdrawal, status: str, now: datetime) -> None:
    available = await earnings.creator_account(
        uow, creator_id=row.creator_id, purpose=earnings.AVAILABLE, currency=row.currency
    )
    await ledger.post(
        uow.session,
        kind="withdrawal_return",
        reference=f"withdrawal:{row.id}",
        legs=[(await _hold(uow, row.currency), -row.amount), (available, row.amount)],
        user_id=row.creator_id,
    )
    _move(row, status, now)
    await uow.session.flush()


@dataclass(frozen=True, slots=True)
class StartedPayout:
    """What to send to the channel for a withdrawal being paid."""

    channel: str
    payee: Payee
    amount: int


async def start_payout(
    uow: UnitOfWork, *, withdrawal_id: int, pii: PiiCipher, now: datetime
) -> StartedPayout | None:
    """Mark an approved withdrawal as being paid; its channel, payee and amount, or None when
    there is nothing to pay (a withdrawal already paying is sent again: the channel
    de-duplicates)."""
    row = await lock(uow, withdrawal_id)
    if row.status not in ("approved", "paying"):
        return None
    if row.status == "approved":
        _move(row, "paying", now)
        await uow.session.flush()
    payee = Payee(
        account=pii.decrypt(row.payee_account_enc, context=ACCOUNT_CONTEXT),
        name=pii.decrypt(row.payee_name_enc, context=NAME_CONTEXT) if row.payee_name_enc else None,
    )
    return StartedPayout(channel=row.channel, payee=payee, amount=row.amount)


async def payouts_to_check(session: AsyncSession, *, now: datetime) -> list[tuple[int, str]]:
    """(id, channel) of payouts still `paying` `CHECK_AFTER` after their last change, oldest
    first, at most `CHECK_BATCH`."""
    rows = await session.execute(
        select(Withdrawal.id, Withdrawal.channel)
        .where(Withdrawal.status == "paying", Withdrawal.updated_at <= now - CHECK_AFTER)
        .order_by(Withdrawal.id)
        .limit(CHECK_BATCH)
    )
    return [(withdrawal_id, channel) for withdrawal_id, channel in rows.all()]


async def finish_payout(
    uow: UnitOfWork, *, withdrawal_id: int, result: PayoutResult, now: datetime
) -> str:
    """Record what the channel said: paid (the hold leaves to the channel), failed (the money
    goes back) or still pending (checked again later). The new status."""
    row = await lock(uow, withdrawal_id)
    if row.status != "paying" or result.outcome == "pending":
        if result.reference and row.payout_ref is None:
            row.payout_ref = result.reference
        return row.status
    row.payout_ref = result.reference or row.payout_ref
    if result.outcome == "paid":
        clearing = await ledger.platform_account(
            uow.session,
            purpose=f"gateway:{row.channel}",
            currency=row.currency,
            allow_negative=True,
        )
        await ledger.post(
            uow.session,
            kind="payout",
            reference=f"withdrawal:{row.id}",
            legs=[(await _hold(uow, row.currency), -row.amount), (clearing, row.amount)],
            user_id=row.creator_id,
        )
        row.paid_at = now
        _move(row, "paid", now)
    else:
        row.reason = result.reason
        await _give_back(uow, row, "failed", now)
    await uow.session.flush()
    await _tell(uow, row)
    return row.status


def _data(row: Withdrawal) -> dict[str, object]:
    return {
        "withdrawal_id": row.id,
        "status": row.status,
        "amount": row.amount,
        "currency": row.currency,
        "channel": row.channel,
        **({"reason": row.reason} if row.reason else {}),
    }


def _publish(uow: UnitOfWork, row: Withdrawal) -> None:
    uow.outbox.publish("withdrawal.updated", _data(row), room=f"dashboard:creator:{row.creator_id}")


async def _tell(uow: UnitOfWork, row: Withdrawal) -> None:
    titles = {
        "approved": "提现已通过审核",
        "rejected": "提现未通过审核",
        "paid": "提现已到账",
        "failed": "提现失败，金额已退回",
    }
    await notifications.notify(
        uow,
        user_id=row.creator_id,
        type="withdrawal.updated",
        title=titles.get(row.status, "提现状态更新"),
        body=f"{row.amount / 100:.2f} 元" + (f"：{row.reason}" if row.reason else ""),
        data=_data(row),
    )
    _publish(uow, row)
