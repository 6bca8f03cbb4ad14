"""The report queue and the flag list read their indexes in order, with no sort step."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncEngine

from models.content.moderation import ModerationFlag, ModerationReport
from server.content.moderation.service import flags_statement, reports_statement
from server.keys import RUNTIME
from tests.helpers.people import Person


async def plan_of(api: Any, engine: AsyncEngine, statement: Any, table: str) -> dict[str, Any]:
    dialect = api.app[RUNTIME].db.engine.dialect
    sql = str(statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
    async with engine.connect() as conn:
        await conn.execute(text(f"ANALYZE TABLE {table}"))
        plan = [dict(r._mapping) for r in await conn.execute(text(f"EXPLAIN {sql}"))]
    [row] = plan
    return row


async def test_the_report_queue_walks_the_status_index(
    api, reader: Person, engine: AsyncEngine
) -> None:
    now = datetime.now(UTC)
    statuses = ("open", "resolved", "dismissed")
    rows = [
        {
            "reporter_id": reader.id,
            "target_type": ("content", "user")[n % 2],
            "target_id": n,
            "reason": "spam",
            "status": statuses[n % 3],
            "is_open": True if n % 3 == 0 else None,
            "created_at": now,
        }
        for n in range(1, 301)
    ]
    async with engine.begin() as conn:
        await conn.execute(insert(ModerationReport), rows)
    for statement in (
        reports_statement(status="open", target_type=None, after=None, limit=21),
        reports_statement(status="resolved", target_type="user", after=50, limit=21),
    ):
        row = await plan_of(api, engine, statement, "moderation_reports")
        assert row["key"] == "ix_moderation_reports_status_id", row
        assert "filesort" not in (row["Extra"] or ""), row


async def test_the_flag_list_reads_the_target_index_backwards(api, engine: AsyncEngine) -> None:
    now = datetime.now(UTC)
    rows = [
        {
            "target_type": "content",
            "target_id": n % 20,
            "categories": ["spam"],
            "fields": {"body": ["spam"]},
            "terms_count": 1,
            "created_at": now,
        }
        for n in range(300)
    ]
    async with engine.begin() as conn:
        await conn.execute(insert(ModerationFlag), rows)
    for before in (None, 200):
        statement = flags_statement(content_id=3, before=before, limit=21)
        row = await plan_of(api, engine, statement, "moderation_flags")
        assert row["key"] == "ix_moderation_flags_target", row
        assert "filesort" not in (row["Extra"] or ""), row
