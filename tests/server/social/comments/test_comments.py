"""Comments: threads and tombstones, sorts, pagination, mentions and notifications, access."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from tests.helpers.content import publish
from tests.helpers.people import Person, call, person
from tests.helpers.social import comment, entitle, nickname, notifications_of, types_of


async def test_a_thread_keeps_its_replies_around_a_deleted_root(
    api: TestClient, creator: Person, moderator: Person, reader: Person
) -> None:
    item = await publish(api, creator, moderator)
    other = await person(api)
    root = await comment(api, reader, item["id"], "第一条评论")
    reply = await comment(api, other, item["id"], "回复一下", parent_id=root["id"])
    deep = await comment(api, reader, item["id"], "再回复", parent_id=reply["id"])
    assert (reply["root_id"], reply["parent_id"]) == (root["id"], root["id"])
    assert (deep["root_id"], deep["parent_id"]) == (root["id"], reply["id"])
    assert deep["reply_to"]["id"] == other.id

    await call(api, "DELETE", f"/comments/{root['id']}", reader, 200)
    thread = await call(api, "GET", f"/comments/{deep['id']}/thread", None, 200)
    assert thread["root"]["id"] == root["id"]
    assert thread["root"]["status"] == "deleted" and thread["root"]["body"] is None
    assert [r["id"] for r in thread["replies"]] == [reply["id"], deep["id"]]
    assert thread["replies"][0]["body"] == "回复一下"
    page = await call(api, "GET", f"/contents/{item['id']}/comments", None, 200)
    assert [c["id"] for c in page["items"]] == [root["id"]]
    assert page["items"][0]["reply_count"] == 2
    # Deleting again is harmless; replying to a tombstone is not possible.
    await call(api, "DELETE", f"/comments/{root['id']}", reader, 200)
    refused = await comment(api, other, item["id"], "还在吗", 422, parent_id=root["id"])
    assert refused["error"]["code"] == "comments.invalid_parent"


async def test_new_and_hot_sorts_page_through_every_root_once(
    api: TestClient, creator: Person, moderator: Person, reader: Person
) -> None:
    item = await publish(api, creator, moderator)
    ids = [(await comment(api, reader, item["id"], f"评论 {n}"))["id"] for n in range(5)]
    fans = [await person(api) for _ in range(2)]
    for fan in fans:
        await call(api, "POST", f"/comments/{ids[1]}/like", fan, 200)
    await call(api, "POST", f"/comments/{ids[3]}/like", fans[0], 200)

    async def walk(sort: str) -> list[int]:
        seen: list[int] = []
        cursor = None
        while True:
            query = f"?sort={sort}&limit=2" + (f"&cursor={cursor}" if cursor else "")
            page = await call(api, "GET", f"/contents/{item['id']}/comments{query}", None, 200)
            seen += [c["id"] for c in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                return seen

    assert await walk("new") == ids[::-1]
    assert await walk("hot") == [ids[1], ids[3], ids[4], ids[2], ids[0]]
    bad = await call(api, "GET", f"/contents/{item['id']}/comments?cursor=xyz", None, 400)
    assert bad["error"]["code"] == "pagination.invalid_cursor"


async def test_edit_marks_the_comment_and_only_its_author_may_change_it(
    api: TestClient, creator: Person, moderator: Person, reader: Person
) -> None:
    item = await publish(api, creator, moderator)
    mine = await comment(api, reader, item["id"], "原文")
    assert mine["edited"] is False
    edited = await call(api, "PATCH", f"/comments/{mine['id']}", reader, 200, json={"body": "改过"})
    assert (edited["body"], edited["edited"]) == ("改过", True)
    stranger = await person(api)
    for method, body in (("PATCH", {"body": "hacked"}), ("DELETE", None)):
        refused = await call(api, method, f"/comments/{mine['id']}", stranger, 403, json=body)
        assert refused["error"]["code"] == "comments.not_author"
    still = await call(api, "GET", f"/comments/{mine['id']}", None, 200)
    assert still["body"] == "改过" and still["status"] == "visible"
    await call(api, "DELETE", f"/comments/{mine['id']}", reader, 200)
    gone = await call(api, "PATCH", f"/comments/{mine['id']}", reader, 409, json={"body": "x"})
    assert gone["error"]["code"] == "comments.not_editable"
    await call(api, "GET", "/comments/999999", None, 404)


async def test_comments_replies_mentions_and_likes_notify_the_right_people(
    api: TestClient, creator: Person, moderator: Person, reader: Person
) -> None:
    item = await publish(api, creator, moderator)
    friend, replier = await person(api), await person(api)
    await nickname(api, friend, "小明")
    root = await comment(api, reader, item["id"], "写得好 @小明 来看看")
    assert await types_of(api, creator) == ["comment.created"]
    assert await types_of(api, friend) == ["comment.mention"]
    await comment(api, replier, item["id"], "同意", parent_id=root["id"])
    assert await types_of(api, reader) == ["comment.reply"]
    assert await types_of(api, creator) == ["comment.created"]  # replies go to the answered
    await call(api, "POST", f"/comments/{root['id']}/like", replier, 200)
    again = await call(api, "POST", f"/comments/{root['id']}/like", replier, 200)
    assert again == {"liked": True, "like_count": 1}
    notes = await notifications_of(api, reader)
    assert [n["type"] for n in notes] == ["comment.liked", "comment.reply"]
    assert notes[0]["data"]["comment_id"] == root["id"]
    undone = await call(api, "DELETE", f"/comments/{root['id']}/like", replier, 200)
    assert undone == {"liked": False, "like_count": 0}
    own = await comment(api, creator, item["id"], "谢谢 @小明")  # own item: no self-notice
    assert own["status"] == "visible"
    assert await types_of(api, creator) == ["comment.created"]
    assert await types_of(api, friend) == ["comment.mention", "comment.mention"]


async def test_a_paid_item_is_discussed_by_those_entitled_only(
    api: TestClient, creator: Person, moderator: Person, reader: Person
) -> None:
    item = await publish(api, creator, moderator, access="paid", price_cents=990)
    refused = await comment(api, reader, item["id"], "能看吗", 403)
    assert refused["error"]["code"] == "comments.not_entitled"
    # The preview reader still reads the discussion.
    await call(api, "GET", f"/contents/{item['id']}/comments", reader, 200)
    await entitle(api, reader, item["id"])
    await comment(api, reader, item["id"], "买了，值")
    page = await call(api, "GET", f"/contents/{item['id']}/comments", None, 200)
    assert [c["body"] for c in page["items"]] == ["买了，值"]


async def test_drafts_have_no_comments_for_readers(
    api: TestClient, creator: Person, reader: Person
) -> None:
    item = await call(
        api,
        "POST",
        "/contents",
        creator,
        201,
        json={"kind": "article", "title": "草稿", "body": "x"},
    )
    await call(api, "GET", f"/contents/{item['id']}/comments", reader, 404)
    missing = await comment(api, reader, item["id"], "hi", 404)
    assert missing["error"]["code"] == "comments.target_not_found"
    closed = await comment(api, creator, item["id"], "自己的草稿", 409)
    assert closed["error"]["code"] == "comments.closed"


async def test_forged_cursors_are_refused_not_failed(
    api: TestClient, creator: Person, moderator: Person, reader: Person
) -> None:
    from server.http.pagination import encode_cursor

    item = await publish(api, creator, moderator)
    forged = [
        {"id": 2**63},
        {"id": "7"},
        {"h": -1, "id": 3},
        {"h": 1},
    ]
    for position in forged:
        cursor = encode_cursor(position)
        for sort in ("new", "hot"):
            path = f"/contents/{item['id']}/comments?sort={sort}&cursor={cursor}"
            if sort == "new" and "h" in position and "id" in position:
                continue  # a hot cursor's id still reads as a position in the new sort
            await call(api, "GET", path, None, 400)
    await call(api, "GET", f"/me/likes?cursor={encode_cursor({'at': 'x', 'id': 1})}", reader, 400)
    bad = encode_cursor({"at": "2026-01-01T00:00:00+00:00", "id": 2**63})
    await call(api, "GET", f"/me/likes?cursor={bad}", reader, 400)
