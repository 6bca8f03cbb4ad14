"""Account tasks: building data exports, erasing deleted accounts, expiring old exports."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from jobs.progress import report_progress
from jobs.registry import runtime_of, schedule, task
from server.privacy.accounts import exports, forget
from server.privacy.accounts import service as accounts_service

SWEEP_BATCH = 500


def _grace(ctx: dict[str, Any]) -> timedelta:
    return timedelta(days=runtime_of(ctx).settings.account_reactivation_days)


@task("accounts.erase", timeout=300)
async def erase(ctx: dict[str, Any], *, user_id: int) -> bool:
    """Erase a deleted account, or a deactivated one whose grace has passed; else nothing."""
    runtime = runtime_of(ctx)
    async with runtime.db.unit_of_work() as uow:
        erased = await accounts_service.erase_account(
            uow,
            user_id=user_id,
            storage=runtime.storage,
            pii=runtime.pii,
            grace=_grace(ctx),
            now=runtime.clock.now(),
        )
    if erased:
        await forget.forget_presence(
            runtime.redis, key_prefix=runtime.settings.key_prefix, user_id=user_id
        )
    return erased


@task("accounts.erase_due", timeout=1800)
async def erase_due(ctx: dict[str, Any]) -> int:
    """The daily safety net: erase every account a lost or failed erase job left behind."""
    runtime = runtime_of(ctx)
    async with runtime.db.read() as session:
        due = await accounts_service.due_for_erasure(
            session, grace=_grace(ctx), now=runtime.clock.now(), limit=SWEEP_BATCH
        )
    erased = 0
    for user_id in due:
        erased += bool(await erase(ctx, user_id=user_id))
    return erased


@task("accounts.export", timeout=600, max_tries=3)
async def build_export(ctx: dict[str, Any], *, export_id: int) -> bool:
    """Build one data export, reporting each step as a `job.progress` event to its owner."""
    runtime = runtime_of(ctx)

    async def progress(user_id: int, done: int, total: int) -> None:
        await report_progress(ctx, user_id=user_id, job=exports.EXPORT, done=done, total=total)

    return await exports.build_export(
        runtime.db,
        pii=runtime.pii,
        storage=runtime.storage,
        export_id=export_id,
        ttl=timedelta(days=runtime.settings.data_export_ttl_days),
        clock=runtime.clock,
        progress=progress,
    )


@task("accounts.expire_exports", timeout=300)
async def expire_exports(ctx: dict[str, Any]) -> int:
    """Remove the archives of exports past their expiry."""
    runtime = runtime_of(ctx)
    return await exports.expire_exports(
        runtime.db, storage=runtime.storage, now=runtime.clock.now(), limit=SWEEP_BATCH
    )


TASKS = (erase, erase_due, build_export, expire_exports)
SCHEDULES = (
    schedule(erase_due, hour=3, minute=30, second=0),
    schedule(expire_exports, minute=43, second=0),
)
