"""Reads of earnings, withdrawals and monthly statements."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, func, select

from models.commerce.earnings import Earning, Withdrawal
from models.commerce.ledger import LedgerAccount, LedgerEntry, LedgerTransaction
from server.commerce.earnings import service as earnings
from server.commerce.earnings.schemas import (
    EarningOut,
    EarningsSummary,
    SalesTotals,
    StatementOut,
    WithdrawalOut,
)
from server.commerce.earnings.withdrawals import ACCOUNT_CONTEXT, WithdrawalNotFound
from server.crypto import PiiCipher
from server.db import Reader
from server.http.errors import ValidationFailed
from server.http.pagination import InvalidCursor, Page, decode_cursor, page_of

IN_FLIGHT = ("requested", "approved", "paying")


def _before(cursor: str | None) -> int | None:
    position = decode_cursor(cursor)
    if position is None:
        return None
    before = position.get("id")
    if type(before) is not int or not 0 < before < 2**63:
        raise InvalidCursor()
    return before


async def summary(reader: Reader, *, creator_id: int, currency: str = "CNY") -> EarningsSummary:
    """Balances in two queries."""
    rows = await reader.execute(
        select(LedgerAccount.purpose, LedgerAccount.balance).where(
            LedgerAccount.owner_type == earnings.CREATOR,
            LedgerAccount.owner_id == creator_id,
            LedgerAccount.currency == currency,
            LedgerAccount.purpose.in_((earnings.PENDING, earnings.AVAILABLE)),
        )
    )
    balances = {purpose: int(balance) for purpose, balance in rows}
    held = await reader.scalar(
        select(func.coalesce(func.sum(Withdrawal.amount), 0)).where(
            Withdrawal.creator_id == creator_id,
            Withdrawal.currency == currency,
            Withdrawal.status.in_(IN_FLIGHT),
        )
    )
    return EarningsSummary(
        currency=currency,
        pending=balances.get(earnings.PENDING, 0),
        available=balances.get(earnings.AVAILABLE, 0),
        withdrawing=int(held or 0),
    )


async def sales(
    reader: Reader, *, creator_id: int, limit: int, cursor: str | None
) -> Page[EarningOut]:
    """The creator's sales, newest first; one query a page."""
    query = select(
        Earning.id,
        Earning.order_id,
        Earning.order_item_id,
        Earning.gross,
        Earning.fee,
        Earning.net,
        Earning.refunded,
        Earning.clawed_back,
        Earning.currency,
        Earning.status,
        Earning.available_at,
        Earning.created_at,
    ).where(Earning.creator_id == creator_id)
    before = _before(cursor)
    if before is not None:
        query = query.where(Earning.id < before)
    rows = (await reader.execute(query.order_by(Earning.id.desc()).limit(limit + 1))).all()
    items = [EarningOut.model_validate(dict(row._mapping)) for row in rows]
    return page_of(items, limit, lambda item: {"id": item.id})


def mask(account: str) -> str:
    """Keep the first and last few characters of a payee account."""
    if "@" in account:
        name, _, domain = account.partition("@")
        return f"{name[:2]}***@{domain}"
    keep = 3 if len(account) > 8 else 1
    return f"{account[:keep]}****{account[-keep:]}"


def _withdrawal(row: Any, pii: PiiCipher) -> WithdrawalOut:
    data = dict(row._mapping)
    account = pii.decrypt(data.pop("payee_account_enc"), context=ACCOUNT_CONTEXT)
    return WithdrawalOut.model_validate({**data, "account": mask(account)})


_WITHDRAWAL_COLUMNS = (
    Withdrawal.id,
    Withdrawal.creator_id,
    Withdrawal.amount,
    Withdrawal.currency,
    Withdrawal.channel,
    Withdrawal.payee_account_enc,
    Withdrawal.status,
    Withdrawal.reason,
    Withdrawal.payout_ref,
    Withdrawal.created_at,
    Withdrawal.reviewed_at,
    Withdrawal.paid_at,
)


async def withdrawals(
    reader: Reader,
    *,
    pii: PiiCipher,
    creator_id: int | None,
    status: str | None,
    limit: int,
    cursor: str | None,
) -> Page[WithdrawalOut]:
    """Withdrawals newest first: one creator's, or everyone's (admins), optionally by status."""
    query = select(*_WITHDRAWAL_COLUMNS)
    if creator_id is not None:
        query = query.where(Withdrawal.creator_id == creator_id)
    if status is not None:
        query = query.where(Withdrawal.status == status)
    before = _before(cursor)
    if before is not None:
        query = query.where(Withdrawal.id < before)
    rows = (await reader.execute(query.order_by(Withdrawal.id.desc()).limit(limit + 1))).all()
    return page_of([_withdrawal(row, pii) for row in rows], limit, lambda item: {"id": item.id})


async def withdrawal(
    reader: Reader, *, pii: PiiCipher, withdrawal_id: int, creator_id: int | None
) -> WithdrawalOut:
    """One withdrawal; 404 when it is another creator's."""
    query = select(*_WITHDRAWAL_COLUMNS).where(Withdrawal.id == withdrawal_id)
    if creator_id is not None:
        query = query.where(Withdrawal.creator_id == creator_id)
    row = (await reader.execute(query)).one_or_none()
    if row is None:
        raise WithdrawalNotFound()
    return _withdrawal(row, pii)


# Nothing was sold before the Unix epoch; the last year leaves room for the next month's start
# in any timezone (datetime stops at 9999-12-31).
FIRST_YEAR, LAST_YEAR = 1970, 9998


class MonthOutOfRange(ValidationFailed):
    """A well-formed month no statement can exist for: 422 like a malformed one."""

    def __init__(self) -> None:
        span = f"{FIRST_YEAR}-01 and {LAST_YEAR}-12"
        super().__init__(fields={"path.month": f"A month between {span}."})


def month_bounds(month: str, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC instants where a business-time month starts and the next one starts."""
    year, number = (int(part) for part in month.split("-"))
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise MonthOutOfRange()
    utc = ZoneInfo("UTC")
    try:
        start = datetime(year, number, 1, tzinfo=tz)
        following = datetime(year + number // 12, number % 12 + 1, 1, tzinfo=tz)
        return start.astimezone(utc), following.astimezone(utc)
    except (ValueError, OverflowError) as exc:  # year 0, or a bound past what datetime holds
        raise MonthOutOfRange() from exc


async def statement(
    reader: Reader, *, creator_id: int, month: str, tz: ZoneInfo, currency: str = "CNY"
) -> StatementOut:
    """A creator's month from the ledger (balances, refunds, withdrawals) and the earnings
    table (sales), in three queries."""
    starts_at, ends_at = month_bounds(month, tz)
    before_start = LedgerEntry.created_at < starts_at
    within = and_(LedgerEntry.created_at >= starts_at, LedgerEntry.created_at < ends_at)

    def total(condition: Any) -> Any:
        return func.coalesce(func.sum(case((condition, LedgerEntry.amount), else_=0)), 0)

    kind = LedgerTransaction.kind
    available = LedgerAccount.purpose == earnings.AVAILABLE
    row = (
        await reader.execute(
            select(
                total(before_start).label("opening"),
                total(LedgerEntry.created_at < ends_at).label("closing"),
                total(and_(within, kind == earnings.CLAWBACK)).label("refunds"),
                total(and_(within, kind.in_(("withdrawal", "withdrawal_return")))).label(
                    "withdrawals"
                ),
                total(and_(within, kind == earnings.SETTLEMENT, available)).label("settled"),
            )
            .select_from(LedgerEntry)
            .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
            .join(LedgerTransaction, LedgerTransaction.id == LedgerEntry.transaction_id)
            .where(
                LedgerAccount.owner_type == earnings.CREATOR,
                LedgerAccount.owner_id == creator_id,
                LedgerAccount.currency == currency,
                LedgerAccount.purpose.in_((earnings.PENDING, earnings.AVAILABLE)),
            )
        )
    ).one()
    sold = (
        await reader.execute(
            select(
                func.count(Earning.id),
                func.coalesce(func.sum(Earning.gross), 0),
                func.coalesce(func.sum(Earning.fee), 0),
                func.coalesce(func.sum(Earning.net), 0),
            ).where(
                Earning.creator_id == creator_id,
                Earning.currency == currency,
                Earning.created_at >= starts_at,
                Earning.created_at < ends_at,
            )
        )
    ).one()
    return StatementOut(
        month=month,
        currency=currency,
        starts_at=starts_at,
        ends_at=ends_at,
        opening_balance=int(row.opening),
        closing_balance=int(row.closing),
        sales=SalesTotals(count=sold[0], gross=int(sold[1]), fee=int(sold[2]), net=int(sold[3])),
        refunds=-int(row.refunds),
        withdrawals=-int(row.withdrawals),
        settled=int(row.settled),
    )
