"""Platform tasks: the outbox sweep and the idempotency-key purge."""

from __future__ import annotations

from typing import Any

from jobs.registry import runtime_of, schedule, task
from server.http.idempotency import purge_expired


@task("platform.sweep_outbox", timeout=30)
async def sweep_outbox(ctx: dict[str, Any]) -> int:
    """Send outbox rows the fast path missed (a crash or a Redis outage after commit)."""
    runtime = runtime_of(ctx)
    if runtime.relay is None:
        return 0
    sent = await runtime.relay.sweep()
    if sent and ctx.get("metrics") is not None:
        ctx["metrics"].outbox_relayed.labels("sweep").inc(sent)
    return sent


@task("platform.purge_idempotency_keys", timeout=120)
async def purge_idempotency_keys(ctx: dict[str, Any]) -> int:
    """Forget stored idempotent responses older than their 24 h window."""
    runtime = runtime_of(ctx)
    return await purge_expired(runtime.db.sessions, runtime.clock.now())


TASKS = (sweep_outbox, purge_idempotency_keys)
SCHEDULES = (
    schedule(sweep_outbox, second={0, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55}),
    schedule(purge_idempotency_keys, minute=17, second=0),
)
