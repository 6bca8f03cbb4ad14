"""Message and conversation lists: a constant number of queries whatever the page size, each
reading an index in order (no filesort) on MariaDB."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import event

from server.keys import RUNTIME
from server.social.messages import queries
from tests.helpers.people import call, person
from tests.server.social.messages.test_messages import direct, send

Statement = tuple[str, Any]


async def run_counting(
    api: TestClient, read: Callable[[Any], Awaitable[Any]]
) -> tuple[Any, list[Statement]]:
    runtime = api.app[RUNTIME]
    statements: list[Statement] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_args: Any) -> None:
        statements.append((statement, parameters))

    engine = runtime.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        async with runtime.db.read() as session:
            result = await read(session)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return result, statements


async def explain(api: TestClient, statement: Statement) -> list[dict[str, Any]]:
    sql, parameters = statement
    async with api.app[RUNTIME].db.engine.connect() as conn:
        result = await conn.exec_driver_sql(f"EXPLAIN {sql}", parameters)
        return [dict(row._mapping) for row in result]


async def test_lists_run_constant_queries_and_read_indexes_in_order(api: TestClient) -> None:
    ann = await person(api)
    others = [await person(api) for _ in range(12)]
    conversations = [(await direct(api, ann, other))["id"] for other in others]
    for n, cid in enumerate(conversations):
        await send(api, ann, cid, f"hello {n}", f"c{n}")
    for n in range(12):
        await send(api, ann, conversations[0], f"more {n}", f"m{n}")

    sizes = []
    for limit in (2, 12):
        page, statements = await run_counting(
            api,
            lambda s, limit=limit: queries.list_conversations(
                s, user_id=ann.id, limit=limit, cursor=None
            ),
        )
        sizes.append((len(page.items), len(statements)))
        page_statement = statements[0]
    assert sizes == [(2, 3), (12, 3)]
    plan = await explain(api, page_statement)
    members = next(row for row in plan if row["table"] == "conversation_members")
    assert members["key"] == "ix_conversation_members_user_id_activity", plan
    assert "filesort" not in (members["Extra"] or ""), plan

    sizes = []
    for limit in (2, 12):
        page, statements = await run_counting(
            api,
            lambda s, limit=limit: queries.list_messages(
                s, conversation_id=conversations[0], user_id=ann.id, limit=limit, cursor=None
            ),
        )
        sizes.append((len(page.items), len(statements)))
    assert sizes == [(2, 2), (12, 2)]
    plan = await explain(api, statements[1])
    messages = next(row for row in plan if row["table"] == "messages")
    assert messages["key"] == "ix_messages_conversation_id_id", plan
    assert "filesort" not in (messages["Extra"] or ""), plan
    listed = await call(api, "GET", "/conversations?limit=12", ann, 200)
    assert listed["items"][0]["id"] == conversations[0]
