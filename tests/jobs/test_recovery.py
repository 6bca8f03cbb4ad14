"""Work whose job Redis lost is found in the database and queued again (jobs/recovery.py), and
the arq sink queues an id again once only a finished run's result holds it (jobs/sinks.py).

Real MariaDB and Redis: a sweep commits its outbox rows, the relay hands them to arq at once,
and the tests read arq's queues.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from arq.constants import job_key_prefix, result_key_prefix
from redis.asyncio import Redis
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from jobs.recovery import SWEEPS
from jobs.sinks import ArqJobSink, arq_job_id, queue_names
from jobs.tasks import FUNCTIONS, TASKS
from models.commerce.earnings import Withdrawal
from models.commerce.invoices import InvoiceRequest, Receipt
from models.commerce.orders import Order
from models.commerce.payments import Payment, Refund
from models.content.media import Media
from models.notify.announcements import Announcement
from models.privacy.exports import DataExport
from server.identity.auth import service as auth_service
from server.outbox import MEDIA_QUEUE, Job
from server.runtime import Runtime
from server.settings import Settings
from tests.helpers.env import relaying_runtime
from tests.jobs.test_worker import RecordingEvents, run_burst

# arq's Worker.close() still calls redis-py's deprecated close().
pytestmark = pytest.mark.filterwarnings("ignore:Call to deprecated close:DeprecationWarning")

PURGE = "platform.purge_idempotency_keys"


@pytest.fixture
async def runtime(settings: Settings) -> AsyncIterator[Runtime]:
    """The runtime a worker builds: jobs to arq on the tests' Redis DB."""
    async with relaying_runtime(settings, RecordingEvents()) as runtime:
        yield runtime


async def queued(redis: Redis, settings: Settings, queue: str | None = None) -> list[str]:
    """Job ids waiting on a queue, without the deployment prefix."""
    prefix = arq_job_id(settings, "")
    ids = await redis.zrange(queue_names(settings)[queue], 0, -1)
    return sorted(i.decode().removeprefix(prefix) for i in ids)


async def sweep(runtime: Runtime, name: str) -> int:
    result: int = await FUNCTIONS[name].coroutine({"runtime": runtime})
    return result


# --- the sink -------------------------------------------------------------------------------------


async def test_a_job_id_held_only_by_a_finished_runs_result_is_queued_again(
    runtime: Runtime, settings: Settings, redis: Redis
) -> None:
    sink = ArqJobSink(runtime.redis, settings)  # type: ignore[arg-type]
    await sink.enqueue(Job(task=PURGE, job_id="purge:once"))
    await run_burst(settings, {"runtime": runtime})
    job_id = arq_job_id(settings, "purge:once")
    assert await redis.exists(result_key_prefix + job_id), "arq keeps the finished run's result"
    assert await queued(redis, settings) == []

    await sink.enqueue(Job(task=PURGE, job_id="purge:once"))

    assert await queued(redis, settings) == ["purge:once"]
    assert await redis.exists(job_key_prefix + job_id)
    await run_burst(settings, {"runtime": runtime})
    assert await queued(redis, settings) == []


async def test_a_job_id_still_queued_is_not_queued_again(
    runtime: Runtime, settings: Settings, redis: Redis
) -> None:
    sink = ArqJobSink(runtime.redis, settings)  # type: ignore[arg-type]
    await sink.enqueue(Job(task=PURGE, job_id="purge:later", defer_seconds=3600))
    queue = queue_names(settings)[None]
    job_id = arq_job_id(settings, "purge:later")
    score = await redis.zscore(queue, job_id)

    await sink.enqueue(Job(task=PURGE, job_id="purge:later"))

    assert await redis.zscore(queue, job_id) == score, "still deferred, not run now"
    assert await queued(redis, settings) == ["purge:later"]


# --- the sweeps -----------------------------------------------------------------------------------


def test_every_recovery_sweep_is_a_task_on_a_schedule() -> None:
    scheduled = {c.name for c in TASKS.cron_jobs()}
    for name in SWEEPS:
        assert name in FUNCTIONS
        assert f"cron:{name}" in scheduled


async def test_every_recovery_sweep_finds_its_rows_by_an_index_on_their_status(
    runtime: Runtime, engine: AsyncEngine
) -> None:
    # A sweep runs every minute: its query must not scan its whole table.
    selects: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            selects.append((statement, parameters))

    event.listen(runtime.db.engine.sync_engine, "before_cursor_execute", record)
    try:
        for name, (requeue, _) in SWEEPS.items():
            selects.clear()
            async with runtime.db.unit_of_work() as uow:
                await requeue(uow, before=runtime.clock.now(), limit=1)
            assert len(selects) == 1, name
            statement, parameters = selects[0]
            async with engine.connect() as conn:
                plan = await conn.exec_driver_sql("EXPLAIN " + statement, parameters)
                usable = [row._mapping["possible_keys"] or "" for row in plan]
            assert len(usable) == 1 and "_status" in usable[0], f"{name}: {usable}"
    finally:
        event.remove(runtime.db.engine.sync_engine, "before_cursor_execute", record)


async def a_user(runtime: Runtime, email: str = "stuck@example.com") -> int:
    async with runtime.db.unit_of_work() as uow:
        return await auth_service.create_user(
            uow.session, runtime.pii, email=email, phone=None, password=None, nickname=None
        )


def ages(runtime: Runtime) -> tuple[datetime, datetime]:
    """(a time older than the recovery age, a time within it)."""
    now = runtime.clock.now()
    recovery = timedelta(seconds=runtime.settings.job_recovery_after_seconds)
    return now - recovery - timedelta(minutes=1), now - timedelta(seconds=5)


async def add(runtime: Runtime, *rows: Any) -> list[int]:
    async with runtime.db.unit_of_work() as uow:
        uow.session.add_all(rows)
        await uow.session.flush()
        return [row.id for row in rows]


async def refunds_of_a_paid_order(
    runtime: Runtime, number: str, *, amount: int
) -> Callable[[str, str, datetime], Refund]:
    """A paid 6-yuan order `number` with its Alipay payment: makes refunds of `amount` of it,
    `refund(out_refund_no, status, last updated)`."""
    user_id = await a_user(runtime)
    (order_id,) = await add(
        runtime, Order(number=number, user_id=user_id, status="paid", total=600)
    )
    (payment_id,) = await add(
        runtime,
        Payment(
            order_id=order_id,
            user_id=user_id,
            provider="alipay",
            out_trade_no=f"P-{number}",
            amount=600,
        ),
    )

    def refund(no: str, status: str, updated_at: datetime) -> Refund:
        return Refund(
            order_id=order_id,
            payment_id=payment_id,
            amount=amount,
            status=status,
            out_refund_no=no,
            created_at=updated_at,
            updated_at=updated_at,
        )

    return refund


async def test_refunds_left_unsettled_get_their_job_back_and_settled_ones_do_not(
    runtime: Runtime, settings: Settings, redis: Redis
) -> None:
    old, recent = ages(runtime)
    refund = await refunds_of_a_paid_order(runtime, "R1", amount=100)
    pending, processing, *_ = await add(
        runtime,
        refund("R-a", "pending", old),
        refund("R-b", "processing", old),
        refund("R-c", "pending", recent),
        refund("R-d", "succeeded", old),
        refund("R-e", "failed", old),
    )

    assert await sweep(runtime, "recovery.refunds") == 2

    assert await queued(redis, settings) == [
        f"payments.refund:{pending}",
        f"payments.refund:{processing}",
    ]


async def test_a_second_sweep_leaves_a_requeued_refund_job_alone(
    runtime: Runtime, settings: Settings, redis: Redis
) -> None:
    old, _ = ages(runtime)
    refund = await refunds_of_a_paid_order(runtime, "R2", amount=600)
    (refund_id,) = await add(runtime, refund("R-2", "pending", old))
    await sweep(runtime, "recovery.refunds")
    queue, job_id = (
        queue_names(settings)[None],
        arq_job_id(settings, f"payments.refund:{refund_id}"),
    )
    score = await redis.zscore(queue, job_id)

    await sweep(runtime, "recovery.refunds")

    assert await redis.zscore(queue, job_id) == score
    assert await queued(redis, settings) == [f"payments.refund:{refund_id}"]


async def test_an_announcement_still_sending_gets_the_batch_after_its_cursor(
    runtime: Runtime, settings: Settings, redis: Redis
) -> None:
    admin = await a_user(runtime)
    old, recent = ages(runtime)

    def announcement(status: str, cursor: int, updated_at: datetime) -> Announcement:
        return Announcement(
            title="t",
            body="b",
            segment={"kind": "all"},
            status=status,
            cursor=cursor,
            created_by=admin,
            created_at=updated_at,
            updated_at=updated_at,
        )

    stuck, _, _ = await add(
        runtime,
        announcement("sending", 41, old),
        announcement("sending", 0, recent),
        announcement("sent", 99, old),
    )

    assert await sweep(runtime, "recovery.announcements") == 1

    assert await queued(redis, settings) == [f"announcements.fan_out:{stuck}:41"]


async def test_uploads_not_processed_get_their_job_back_on_the_media_queue(
    runtime: Runtime, settings: Settings, redis: Redis
) -> None:
    owner = await a_user(runtime)
    old, recent = ages(runtime)

    def media(status: str, updated_at: datetime) -> Media:
        return Media(
            owner_id=owner,
            kind="image",
            status=status,
            storage_key=f"media/{status}-{updated_at.timestamp()}",
            content_type="image/png",
            size_bytes=10,
            created_at=updated_at,
            updated_at=updated_at,
        )

    uploaded, processing, *_ = await add(
        runtime,
        media("uploaded", old),
        media("processing", old),
        media("uploaded", recent),
        media("ready", old),
        media("failed", old),
    )

    assert await sweep(runtime, "recovery.media") == 2

    assert await queued(redis, settings, MEDIA_QUEUE) == [
        f"media:{uploaded}",
        f"media:{processing}",
    ]
    assert await queued(redis, settings) == []


async def test_approved_withdrawals_get_their_payout_back(
    runtime: Runtime, settings: Settings, redis: Redis
) -> None:
    creator = await a_user(runtime)
    old, recent = ages(runtime)

    def withdrawal(status: str, updated_at: datetime) -> Withdrawal:
        return Withdrawal(
            creator_id=creator,
            amount=1000,
            channel="alipay",
            payee_account_enc="x",
            status=status,
            created_at=updated_at,
            updated_at=updated_at,
        )

    approved, *_ = await add(
        runtime,
        withdrawal("approved", old),
        withdrawal("approved", recent),
        withdrawal("paying", old),  # asked about by earnings.check_payouts
        withdrawal("requested", old),
    )

    assert await sweep(runtime, "recovery.payouts") == 1

    assert await queued(redis, settings) == [f"earnings.payout:{approved}"]


async def test_pending_invoices_receipts_and_exports_get_their_jobs_back(
    runtime: Runtime, settings: Settings, redis: Redis
) -> None:
    user_id = await a_user(runtime)
    old, recent = ages(runtime)

    def invoice(order_id: int, status: str, updated_at: datetime) -> InvoiceRequest:
        return InvoiceRequest(
            order_id=order_id,
            user_id=user_id,
            title_type="personal",
            title="个人",
            email_encrypted="x",
            amount=600,
            status=status,
            created_at=updated_at,
            updated_at=updated_at,
        )

    def receipt(order_id: int, status: str, created_at: datetime) -> Receipt:
        return Receipt(order_id=order_id, user_id=user_id, status=status, created_at=created_at)

    def export(status: str, created_at: datetime) -> DataExport:
        return DataExport(user_id=user_id, status=status, created_at=created_at)

    invoice_id, *_ = await add(
        runtime,
        invoice(1, "pending", old),
        invoice(2, "pending", recent),
        invoice(3, "failed", old),
    )
    await add(runtime, receipt(7, "pending", old), receipt(8, "pending", recent))
    await add(runtime, receipt(9, "ready", old))
    pending, running, *_ = await add(
        runtime,
        export("pending", old),
        export("running", old),
        export("pending", recent),
        export("ready", old),
    )

    assert await sweep(runtime, "recovery.invoices") == 1
    assert await sweep(runtime, "recovery.receipts") == 1
    assert await sweep(runtime, "recovery.exports") == 2

    assert await queued(redis, settings) == sorted(
        [
            f"invoices.issue:{invoice_id}",
            "invoices.receipt:7",
            f"export:{pending}",
            f"export:{running}",
        ]
    )
