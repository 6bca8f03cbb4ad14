"""Topics and posts: who opens topics, pinned first, locks, replies, screening, reports."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.helpers.people import Person, call, person
from tests.helpers.social import types_of


async def topic(api: TestClient, who: Person, slug: str = "python", **extra: Any) -> Any:
    body = {"name": f"话题 {slug}", "slug": slug, "description": "讨论", **extra}
    return await call(api, "POST", "/topics", who, 201, json=body)


async def post(api: TestClient, who: Person, topic_id: int, title: str, status: int = 201) -> Any:
    body = {"title": title, "body": f"{title} 的正文"}
    return await call(api, "POST", f"/topics/{topic_id}/posts", who, status, json=body)


async def test_creators_open_topics_and_readers_post_in_them(
    api: TestClient, creator: Person, reader: Person
) -> None:
    refused = await call(
        api, "POST", "/topics", reader, 403, json={"name": "x", "slug": "x", "description": ""}
    )
    assert refused["error"]["code"] == "auth.forbidden"
    opened = await topic(api, creator)
    again = await call(
        api, "POST", "/topics", creator, 409, json={"name": "别的", "slug": "python"}
    )
    assert again["error"]["code"] == "community.topic_exists"
    await call(api, "POST", "/topics", creator, 422, json={"name": "坏", "slug": "Not A Slug"})
    written = await post(api, reader, opened["id"], "第一帖")
    assert written["author"]["id"] == reader.id and written["status"] == "visible"
    seen = await call(api, "GET", f"/topics/{opened['id']}", None, 200)
    assert seen["post_count"] == 1
    topics = await call(api, "GET", "/topics", None, 200)
    assert [t["slug"] for t in topics["items"]] == ["python"]
    await post(api, reader, 999999, "无处", 404)


async def test_pinned_posts_come_first_then_new_or_hot_across_pages(
    api: TestClient, creator: Person, reader: Person
) -> None:
    opened = await topic(api, creator)
    ids = [(await post(api, reader, opened["id"], f"帖子 {n}"))["id"] for n in range(5)]
    refused = await call(api, "POST", f"/posts/{ids[1]}/pin", reader, 403, json={"value": True})
    assert refused["error"]["code"] == "community.forbidden"
    pinned = await call(api, "POST", f"/posts/{ids[1]}/pin", creator, 200, json={"value": True})
    assert pinned["pinned"] is True
    for _ in range(2):
        await call(api, "POST", f"/posts/{ids[2]}/comments", reader, 201, json={"body": "顶"})
    await call(api, "POST", f"/posts/{ids[0]}/comments", reader, 201, json={"body": "沙发"})

    async def walk(sort: str) -> list[int]:
        seen: list[int] = []
        cursor = None
        while True:
            query = f"?sort={sort}&limit=2" + (f"&cursor={cursor}" if cursor else "")
            page = await call(api, "GET", f"/topics/{opened['id']}/posts{query}", None, 200)
            seen += [p["id"] for p in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                return seen

    assert await walk("new") == [ids[1], ids[4], ids[3], ids[2], ids[0]]
    assert await walk("hot") == [ids[1], ids[2], ids[0], ids[4], ids[3]]
    one = await call(api, "GET", f"/posts/{ids[2]}", None, 200)
    assert one["reply_count"] == 2


async def test_a_locked_post_takes_no_replies(
    api: TestClient, creator: Person, moderator: Person, reader: Person
) -> None:
    opened = await topic(api, creator)
    written = await post(api, reader, opened["id"], "要锁的帖")
    first = await call(
        api, "POST", f"/posts/{written['id']}/comments", creator, 201, json={"body": "@x 好"}
    )
    assert await types_of(api, reader) == ["comment.created"]
    await call(api, "POST", f"/posts/{written['id']}/lock", moderator, 200, json={"value": True})
    locked = await call(
        api, "POST", f"/posts/{written['id']}/comments", reader, 409, json={"body": "还能回吗"}
    )
    assert locked["error"]["code"] == "community.locked"
    replies = await call(api, "GET", f"/posts/{written['id']}/comments", None, 200)
    assert [c["id"] for c in replies["items"]] == [first["id"]]
    await call(api, "POST", f"/posts/{written['id']}/lock", creator, 200, json={"value": False})
    await call(api, "POST", f"/posts/{written['id']}/comments", reader, 201, json={"body": "能了"})


async def test_a_pin_or_lock_value_is_true_or_false_never_a_number_or_text(
    api: TestClient, creator: Person, moderator: Person, reader: Person
) -> None:
    opened = await topic(api, creator)
    written = await post(api, reader, opened["id"], "不能用 0 锁")
    for action, who in (("pin", creator), ("lock", moderator)):
        for value in (0, 1, "true", "false", None):
            refused = await call(
                api, "POST", f"/posts/{written['id']}/{action}", who, 422, json={"value": value}
            )
            assert set(refused["error"]["fields"]) == {"body.value"}, (action, value)
    seen = await call(api, "GET", f"/posts/{written['id']}", None, 200)
    assert seen["pinned"] is False and seen["locked"] is False


async def test_only_the_author_edits_and_deleted_posts_leave_the_topic(
    api: TestClient, creator: Person, reader: Person
) -> None:
    opened = await topic(api, creator)
    written = await post(api, reader, opened["id"], "原标题")
    stranger = await person(api)
    path = f"/posts/{written['id']}"
    refused = await call(api, "PATCH", path, stranger, 403, json={"title": "改"})
    assert refused["error"]["code"] == "community.not_author"
    await call(api, "DELETE", path, stranger, 403)
    edited = await call(api, "PATCH", path, reader, 200, json={"title": "新标题"})
    assert (edited["title"], edited["edited"]) == ("新标题", True)
    await call(api, "PATCH", path, reader, 422, json={"body": "网上赌场 开业"})
    await call(api, "DELETE", path, creator, 204)  # the topic's owner may remove it
    await call(api, "GET", path, None, 404)
    await call(api, "POST", f"{path}/comments", reader, 404, json={"body": "人呢"})
    page = await call(api, "GET", f"/topics/{opened['id']}/posts", None, 200)
    assert page["items"] == []
    assert (await call(api, "GET", f"/topics/{opened['id']}", None, 200))["post_count"] == 0


async def test_posts_are_screened_reported_and_hidden_by_moderators(
    api: TestClient, creator: Person, moderator: Person, reader: Person
) -> None:
    opened = await topic(api, creator)
    flagged = await call(
        api,
        "POST",
        f"/topics/{opened['id']}/posts",
        reader,
        422,
        json={"title": "出售身份证", "body": "私聊"},
    )
    assert flagged["error"]["fields"] == {"title": "illegal_goods"}
    written = await post(api, reader, opened["id"], "普通帖子")
    report = {"target_type": "post", "target_id": written["id"], "reason": "spam"}
    await call(api, "POST", "/reports", reader, 422, json=report)
    await call(api, "POST", "/reports", creator, 201, json=report)
    queue = await call(api, "GET", "/moderation/reports?target_type=post", moderator, 200)
    assert [r["target_id"] for r in queue["items"]] == [written["id"]]
    path = f"/moderation/posts/{written['id']}"
    hidden = await call(api, "POST", f"{path}/hide", moderator, 200, json={})
    assert hidden["status"] == "hidden" and hidden["title"] is None
    await call(api, "GET", f"/posts/{written['id']}", None, 404)
    await call(api, "POST", f"{path}/restore", moderator, 200, json={})
    await call(api, "GET", f"/posts/{written['id']}", None, 200)


async def test_people_join_and_leave_topics(
    api: TestClient, creator: Person, reader: Person
) -> None:
    first, second = await topic(api, creator, "first"), await topic(api, creator, "second")
    for opened in (first, second, second):
        joined = await call(api, "POST", f"/topics/{opened['id']}/join", reader, 200)
        assert joined == {"topic_id": opened["id"], "joined": True}
    assert (await call(api, "GET", f"/topics/{second['id']}", None, 200))["member_count"] == 1
    page = await call(api, "GET", "/me/topics?limit=1", reader, 200)
    rest = await call(api, "GET", f"/me/topics?cursor={page['next_cursor']}", reader, 200)
    assert [t["id"] for t in page["items"] + rest["items"]] == [second["id"], first["id"]]
    for _ in range(2):
        await call(api, "DELETE", f"/topics/{second['id']}/join", reader, 200)
    assert (await call(api, "GET", f"/topics/{second['id']}", None, 200))["member_count"] == 0
    mine = await call(api, "GET", "/me/topics", reader, 200)
    assert [t["id"] for t in mine["items"]] == [first["id"]]
    await call(api, "POST", "/topics/999999/join", reader, 404)
    await call(api, "GET", "/me/topics?cursor=eyJhdCI6MX0", reader, 400)
