"""HTTP routes: creator earnings, statements and withdrawals; the admin withdrawal review."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from aiohttp import web

from server.commerce.earnings import payouts, queries, withdrawals
from server.commerce.earnings.schemas import (
    EarningOut,
    EarningsSummary,
    RejectIn,
    StatementOut,
    StatementPath,
    WithdrawalIn,
    WithdrawalOut,
    WithdrawalPath,
    WithdrawalQuery,
)
from server.http import idempotency
from server.http.errors import ValidationFailed
from server.http.limits import client_ip
from server.http.pagination import Page, PageQuery
from server.http.registry import Replay, RouteTable
from server.keys import RUNTIME, SETTINGS, USER_ID

routes = RouteTable(
    "earnings",
    "Creators' shares of their sales (pending until settled, then available), monthly "
    "statements and withdrawals to Alipay or WeChat Pay, reviewed by admins.",
)
ADMIN = ("admin",)


class ChannelUnavailable(ValidationFailed):
    code, message = "earnings.channel_unavailable", "This payout channel is not available."


async def _my_withdrawal(request: web.Request, withdrawal_id: int) -> WithdrawalOut:
    runtime = request.app[RUNTIME]
    async with runtime.db.read() as session:
        return await queries.withdrawal(
            session, pii=runtime.pii, withdrawal_id=withdrawal_id, creator_id=request[USER_ID]
        )


@routes.get("/api/v1/earnings/summary", response=EarningsSummary)
async def earnings_summary(request: web.Request) -> EarningsSummary:
    """My earnings balances"""
    async with request.app[RUNTIME].db.read() as session:
        return await queries.summary(session, creator_id=request[USER_ID])


@routes.get("/api/v1/earnings/sales", query=PageQuery, response=Page[EarningOut])
async def list_sales(request: web.Request, query: PageQuery) -> Page[EarningOut]:
    """My sales, newest first"""
    async with request.app[RUNTIME].db.read() as session:
        return await queries.sales(
            session, creator_id=request[USER_ID], limit=query.limit, cursor=query.cursor
        )


@routes.get(
    "/api/v1/earnings/statements/{month}",
    params=StatementPath,
    response=StatementOut,
    description="Months are cut in the business timezone.",
)
async def monthly_statement(request: web.Request, params: StatementPath) -> StatementOut:
    """My statement for one month"""
    tz = ZoneInfo(request.app[SETTINGS].business_tz)
    async with request.app[RUNTIME].db.read() as session:
        return await queries.statement(
            session, creator_id=request[USER_ID], month=params.month, tz=tz
        )


@routes.post(
    "/api/v1/earnings/withdrawals",
    body=WithdrawalIn,
    response=WithdrawalOut,
    status=201,
    idempotent=True,
    replay=Replay("withdrawal", _my_withdrawal),
    errors=frozenset({409}),
    description="Needs a verified real name (403 `earnings.real_name_required`), at least the "
    "minimum amount (422 `earnings.below_minimum`) and enough available earnings (409 "
    "`earnings.insufficient_balance`); the amount is held until an admin reviews it.",
)
async def request_withdrawal(request: web.Request, body: WithdrawalIn) -> WithdrawalOut:
    """Withdraw available earnings"""
    runtime = request.app[RUNTIME]
    settings = runtime.settings
    if body.channel not in payouts.channels(settings):
        raise ChannelUnavailable(fields={"channel": "not configured"})
    async with runtime.db.unit_of_work() as uow:
        row = await withdrawals.request(
            uow,
            pii=runtime.pii,
            creator_id=request[USER_ID],
            amount=body.amount,
            currency="CNY",
            channel=body.channel,
            account=body.account.strip(),
            min_amount=settings.withdrawal_min_amount,
            now=runtime.clock.now(),
        )
        idempotency.produced("withdrawal", row.id)
    return await _my_withdrawal(request, row.id)


@routes.get("/api/v1/earnings/withdrawals", query=WithdrawalQuery, response=Page[WithdrawalOut])
async def list_withdrawals(request: web.Request, query: WithdrawalQuery) -> Page[WithdrawalOut]:
    """My withdrawals, newest first"""
    runtime = request.app[RUNTIME]
    async with runtime.db.read() as session:
        return await queries.withdrawals(
            session,
            pii=runtime.pii,
            creator_id=request[USER_ID],
            status=query.status,
            limit=query.limit,
            cursor=query.cursor,
        )


@routes.get("/api/v1/earnings/withdrawals/{id}", params=WithdrawalPath, response=WithdrawalOut)
async def get_withdrawal(request: web.Request, params: WithdrawalPath) -> WithdrawalOut:
    """One of my withdrawals"""
    return await _my_withdrawal(request, params.id)


@routes.get(
    "/api/v1/admin/withdrawals", query=WithdrawalQuery, response=Page[WithdrawalOut], roles=ADMIN
)
async def admin_list_withdrawals(
    request: web.Request, query: WithdrawalQuery
) -> Page[WithdrawalOut]:
    """Withdrawals of every creator, newest first"""
    runtime = request.app[RUNTIME]
    async with runtime.db.read() as session:
        return await queries.withdrawals(
            session,
            pii=runtime.pii,
            creator_id=None,
            status=query.status,
            limit=query.limit,
            cursor=query.cursor,
        )


async def _review(
    request: web.Request, withdrawal_id: int, *, approve: bool, reason: str | None
) -> WithdrawalOut:
    runtime = request.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        await withdrawals.review(
            uow,
            withdrawal_id=withdrawal_id,
            approve=approve,
            admin_id=request[USER_ID],
            reason=reason,
            ip=client_ip(request, runtime.settings.trust_forwarded_for),
            now=runtime.clock.now(),
        )
    async with runtime.db.read() as session:
        return await queries.withdrawal(
            session, pii=runtime.pii, withdrawal_id=withdrawal_id, creator_id=None
        )


@routes.post(
    "/api/v1/admin/withdrawals/{id}/approve",
    params=WithdrawalPath,
    response=WithdrawalOut,
    roles=ADMIN,
    errors=frozenset({409}),
    description="Queues the payout; audited.",
)
async def approve_withdrawal(request: web.Request, params: WithdrawalPath) -> WithdrawalOut:
    """Approve a withdrawal"""
    return await _review(request, params.id, approve=True, reason=None)


@routes.post(
    "/api/v1/admin/withdrawals/{id}/reject",
    params=WithdrawalPath,
    body=RejectIn,
    response=WithdrawalOut,
    roles=ADMIN,
    errors=frozenset({409}),
    description="Returns the amount to the creator's available earnings; audited.",
)
async def reject_withdrawal(
    request: web.Request, params: WithdrawalPath, body: RejectIn
) -> WithdrawalOut:
    """Reject a withdrawal"""
    return await _review(request, params.id, approve=False, reason=body.reason)
