"""Earnings tasks: settling sales after their delay, paying out approved withdrawals."""

from __future__ import annotations

from typing import Any

from jobs.registry import runtime_of, schedule, task
from server.commerce.earnings import payouts, withdrawals
from server.commerce.earnings import service as earnings


@task("earnings.settle_due", timeout=120)
async def settle_due(ctx: dict[str, Any]) -> int:
    """Make every sale whose settlement delay has passed available, each in its own transaction."""
    runtime = runtime_of(ctx)
    async with runtime.db.read() as session:
        due = await earnings.due_for_settlement(session, now=runtime.clock.now())
    settled = 0
    for earning_id in due:
        async with runtime.db.unit_of_work() as uow:
            settled += await earnings.settle(uow, earning_id=earning_id, now=runtime.clock.now())
    return settled


@task(withdrawals.PAYOUT_TASK, timeout=60)
async def pay_out(ctx: dict[str, Any], *, withdrawal_id: int) -> str | None:
    """Send one approved withdrawal to its channel and record the answer (safe to run twice:
    the channel de-duplicates by our transfer number)."""
    runtime = runtime_of(ctx)
    async with runtime.db.unit_of_work() as uow:
        started = await withdrawals.start_payout(
            uow, withdrawal_id=withdrawal_id, pii=runtime.pii, now=runtime.clock.now()
        )
    if started is None:
        return None
    channel = payouts.channels(runtime.settings).get(started.channel)
    if channel is None:
        return "paying"  # left for the sweep once the channel is configured again
    result = await channel.transfer(
        number=withdrawals.transfer_number(withdrawal_id),
        amount=started.amount,
        payee=started.payee,
    )
    async with runtime.db.unit_of_work() as uow:
        return await withdrawals.finish_payout(
            uow, withdrawal_id=withdrawal_id, result=result, now=runtime.clock.now()
        )


@task("earnings.check_payouts", timeout=120)
async def check_payouts(ctx: dict[str, Any]) -> int:
    """Ask the channel about payouts still `paying` after a while; how many finished."""
    runtime = runtime_of(ctx)
    found = payouts.channels(runtime.settings)
    async with runtime.db.read() as session:
        rows = await withdrawals.payouts_to_check(session, now=runtime.clock.now())
    finished = 0
    for withdrawal_id, channel_name in rows:
        channel = found.get(channel_name)
        if channel is None:
            continue
        result = await channel.check(number=withdrawals.transfer_number(withdrawal_id))
        async with runtime.db.unit_of_work() as uow:
            status = await withdrawals.finish_payout(
                uow, withdrawal_id=withdrawal_id, result=result, now=runtime.clock.now()
            )
        finished += status in ("paid", "failed")
    return finished


TASKS = (settle_due, pay_out, check_payouts)
SCHEDULES = (
    schedule(settle_due, minute=5, second=0),
    schedule(check_payouts, minute=set(range(0, 60, 5)), second=40),
)
