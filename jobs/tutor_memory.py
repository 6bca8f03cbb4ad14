"""Conversation memory: folding a conversation's older turns into its rolling summary after an
answer is stored. On the tutor queue (it calls a provider); a retry is harmless, because a fold
never moves the summary backwards and finds nothing left to fold once done."""

from __future__ import annotations

from typing import Any

from jobs.registry import runtime_of, task
from server.outbox import TUTOR_QUEUE
from server.tutor.memory import service as memory
from server.tutor.runs import tools

# Up to FOLD_ROUNDS summarising calls, each bounded by the gateway's own timeouts.
FOLD_TIMEOUT = 180


@task(memory.FOLD, timeout=FOLD_TIMEOUT, max_tries=2, queue=TUTOR_QUEUE)
async def fold_memory(ctx: dict[str, Any], *, conversation_id: int) -> int:
    """Fold what no longer fits the memory budget; how many summaries were written."""
    runtime = runtime_of(ctx)
    gateway = tools.tools_of(runtime).gateway
    written = 0
    while written < memory.FOLD_ROUNDS and await memory.fold(
        runtime, gateway=gateway, conversation_id=conversation_id
    ):
        written += 1
    return written


TASKS = (fold_memory,)
