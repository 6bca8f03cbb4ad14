"""The notifications API: list, unread count, mark one read, mark all read, and who may do what."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event

from server.keys import RUNTIME
from server.notify.notifications import service
from tests.helpers.auth import bearer, register
from tests.helpers.notifications import NOTIFICATIONS, add_notifications

FIELDS = {
    "id",
    "type",
    "title",
    "body",
    "data",
    "actor_id",
    "count",
    "actor_ids",
    "group_key",
    "read_at",
    "created_at",
    "updated_at",
}


async def sign_up(api: Any, email: str) -> tuple[int, dict[str, str]]:
    data = await register(api, email=email)
    return data["user"]["id"], bearer(data["access_token"])


@pytest.fixture
async def ann(api) -> tuple[int, dict[str, str]]:
    return await sign_up(api, "ann@example.com")


@pytest.fixture
async def bob(api) -> tuple[int, dict[str, str]]:
    return await sign_up(api, "bob@example.com")


async def get_json(api: Any, path: str, headers: dict[str, str], status: int = 200) -> Any:
    response = await api.get(path, headers=headers)
    body = await response.json()
    assert response.status == status, body
    return body


async def post_json(api: Any, path: str, headers: dict[str, str], status: int = 200) -> Any:
    response = await api.post(path, headers=headers)
    body = await response.json()
    assert response.status == status, body
    return body


async def test_the_list_is_newest_first_and_the_cursor_walks_every_page(api, ann) -> None:
    user_id, headers = ann
    ids = await add_notifications(api.app[RUNTIME], user_id, 7)

    seen: list[int] = []
    cursor: str | None = None
    pages = 0
    while True:
        query = f"?limit=3&cursor={cursor}" if cursor else "?limit=3"
        page = await get_json(api, NOTIFICATIONS + query, headers)
        assert set(page) == {"items", "next_cursor"}
        seen += [item["id"] for item in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert seen == list(reversed(ids))
    assert pages == 3


async def test_a_notification_has_the_public_fields_only(api, ann) -> None:
    user_id, headers = ann
    async with api.app[RUNTIME].db.unit_of_work() as uow:
        await service.notify(
            uow,
            user_id=user_id,
            type="comment.created",
            title="Bob commented",
            body="你好",
            data={"content_id": 3},
            actor_id=99,
        )
    [item] = (await get_json(api, NOTIFICATIONS, headers))["items"]
    assert set(item) == FIELDS
    assert item["type"] == "comment.created" and item["body"] == "你好"
    assert item["data"] == {"content_id": 3} and item["actor_id"] == 99
    assert item["read_at"] is None and item["created_at"].endswith("Z")


async def test_an_empty_list_has_no_next_cursor(api, ann) -> None:
    assert await get_json(api, NOTIFICATIONS, ann[1]) == {"items": [], "next_cursor": None}


async def test_unread_only_lists_the_unread_and_the_count_counts_them(api, ann) -> None:
    user_id, headers = ann
    ids = await add_notifications(api.app[RUNTIME], user_id, 4)
    await post_json(api, f"{NOTIFICATIONS}/{ids[1]}/read", headers)

    unread = await get_json(api, NOTIFICATIONS + "?unread_only=true", headers)
    assert [i["id"] for i in unread["items"]] == [ids[3], ids[2], ids[0]]
    every = await get_json(api, NOTIFICATIONS + "?unread_only=false", headers)
    assert len(every["items"]) == 4
    assert await get_json(api, NOTIFICATIONS + "/unread_count", headers) == {"unread": 3}


async def test_marking_one_read_answers_it_and_is_idempotent(api, ann) -> None:
    user_id, headers = ann
    [first, _] = await add_notifications(api.app[RUNTIME], user_id, 2)

    read = await post_json(api, f"{NOTIFICATIONS}/{first}/read", headers)
    assert set(read) == FIELDS
    assert read["id"] == first and read["read_at"] is not None
    again = await post_json(api, f"{NOTIFICATIONS}/{first}/read", headers)
    assert again == read, "a second read keeps the first read_at"
    assert await get_json(api, NOTIFICATIONS + "/unread_count", headers) == {"unread": 1}


async def test_read_all_marks_every_unread_and_says_how_many(api, ann) -> None:
    user_id, headers = ann
    ids = await add_notifications(api.app[RUNTIME], user_id, 3)
    await post_json(api, f"{NOTIFICATIONS}/{ids[0]}/read", headers)

    assert await post_json(api, NOTIFICATIONS + "/read_all", headers) == {"updated": 2}
    assert await post_json(api, NOTIFICATIONS + "/read_all", headers) == {"updated": 0}
    assert await get_json(api, NOTIFICATIONS + "/unread_count", headers) == {"unread": 0}
    page = await get_json(api, NOTIFICATIONS, headers)
    assert all(item["read_at"] is not None for item in page["items"])


async def test_another_users_notifications_are_invisible_and_untouchable(api, ann, bob) -> None:
    ann_id, ann_headers = ann
    _, bob_headers = bob
    [mine] = await add_notifications(api.app[RUNTIME], ann_id, 1)

    assert (await get_json(api, NOTIFICATIONS, bob_headers))["items"] == []
    assert await get_json(api, NOTIFICATIONS + "/unread_count", bob_headers) == {"unread": 0}
    error = await post_json(api, f"{NOTIFICATIONS}/{mine}/read", bob_headers, status=404)
    assert error["error"]["code"] == "notifications.not_found"
    missing = await post_json(api, f"{NOTIFICATIONS}/{mine + 1000}/read", bob_headers, 404)
    assert missing == error, "someone else's id answers exactly like an id that does not exist"
    assert await post_json(api, NOTIFICATIONS + "/read_all", bob_headers) == {"updated": 0}

    assert await get_json(api, NOTIFICATIONS + "/unread_count", ann_headers) == {"unread": 1}
    [item] = (await get_json(api, NOTIFICATIONS, ann_headers))["items"]
    assert item["read_at"] is None


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", NOTIFICATIONS),
        ("GET", NOTIFICATIONS + "/unread_count"),
        ("POST", NOTIFICATIONS + "/1/read"),
        ("POST", NOTIFICATIONS + "/read_all"),
    ],
)
async def test_every_route_requires_a_token(api, method: str, path: str) -> None:
    response = await api.request(method, path)
    assert response.status == 401
    assert (await response.json())["error"]["code"] == "auth.unauthorized"


@pytest.mark.parametrize(
    "query",
    [
        "?limit=0",
        "?limit=101",
        "?limit=abc",
        "?unread_only=maybe",
        "?unread_only=0",
        "?unread_only=1",
        "?unread_only=yes",
        "?cursor=" + "a" * 513,
    ],
)
async def test_bad_list_parameters_are_422(api, ann, query: str) -> None:
    body = await get_json(api, NOTIFICATIONS + query, ann[1], status=422)
    assert body["error"]["code"] == "request.validation"


@pytest.mark.parametrize("cursor", ["not-a-cursor!", "eyJ4IjoxfQ", "eyJpZCI6ImEifQ", "WzFd"])
async def test_a_cursor_this_server_did_not_issue_is_400(api, ann, cursor: str) -> None:
    # The shared pagination helper answers undecodable cursors with 400 invalid_cursor.
    body = await get_json(api, f"{NOTIFICATIONS}?cursor={cursor}", ann[1], status=400)
    assert body["error"]["code"] == "pagination.invalid_cursor"


@pytest.mark.parametrize("notification_id", ["abc", "0", "-1", "1.5", str(2**63)])
async def test_a_bad_notification_id_is_422(api, ann, notification_id: str) -> None:
    body = await post_json(api, f"{NOTIFICATIONS}/{notification_id}/read", ann[1], status=422)
    assert body["error"]["code"] == "request.validation"


async def test_the_list_endpoint_reads_notifications_with_one_query_for_any_limit(api, ann) -> None:
    user_id, headers = ann
    await add_notifications(api.app[RUNTIME], user_id, 60)
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "notifications" in statement:
            statements.append(statement)

    engine = api.app[RUNTIME].db.engine.sync_engine
    counts = []
    event.listen(engine, "before_cursor_execute", record)
    try:
        for limit in (5, 50):
            statements.clear()
            page = await get_json(api, f"{NOTIFICATIONS}?limit={limit}", headers)
            assert len(page["items"]) == limit
            counts.append(len(statements))
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert counts == [1, 1]
