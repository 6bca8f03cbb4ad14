"""Tutor retrieval tasks: rebuilding an item's passages when its published text changes, and the
sweep that heals a lost rebuild."""

from __future__ import annotations

from typing import Any

from jobs.registry import runtime_of, schedule, task
from server.tutor.catalog import service as catalog
from server.tutor.retrieval import indexing, vectors
from server.tutor.runs.tools import tools_of

# Items the sweep rebuilds per run: a bound, the next run takes the rest.
SWEEP_LIMIT = 50


@task(indexing.INDEX_TASK, timeout=120)
async def index_content(ctx: dict[str, Any], *, content_id: int) -> int:
    """Rebuild one item's chunks from its published version, then embed the new ones when an
    embedding model is enabled (without one: keyword retrieval only). Safe to run twice."""
    runtime = runtime_of(ctx)
    async with runtime.db.unit_of_work() as uow:
        count = await indexing.rebuild_chunks(
            uow.session, content_id=content_id, now=runtime.clock.now()
        )
        model = await catalog.embedding_model(uow.session) if count else None
    if model is None:
        return count
    embed = vectors.gateway_embedder(tools_of(runtime).gateway, model.routes)
    await indexing.embed_pending(runtime.db, content_id=content_id, model=model.name, embed=embed)
    return count


@task("tutor.index_due", timeout=300)
async def index_due(ctx: dict[str, Any]) -> int:
    """The safety net: rebuild items whose chunks are missing or stale or not yet embedded, drop
    those of items no longer published; how many items it rebuilt."""
    runtime = runtime_of(ctx)
    async with runtime.db.read() as session:
        model = await catalog.embedding_model(session)
        due = await indexing.due_for_indexing(
            session, model=model.name if model else None, limit=SWEEP_LIMIT
        )
    for content_id in due:
        try:
            await index_content(ctx, content_id=content_id)
        except Exception:  # one broken item must not starve the others; it is logged
            continue
    return len(due)


TASKS = (index_content, index_due)
SCHEDULES = (schedule(index_due, minute=set(range(0, 60, 10)), second=40),)
