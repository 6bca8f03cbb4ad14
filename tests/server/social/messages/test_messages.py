"""Conversations and messages over REST: sending, retries, receipts, unread counts, recall,
delete for me, search, privacy, blocks, reports and who may see what."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from models.social.messages import Message
from server.keys import RUNTIME
from tests.helpers.people import Person, call, person


async def direct(api: TestClient, a: Person, b: Person) -> dict[str, Any]:
    return await call(api, "POST", "/conversations", a, 201, json={"user_ids": [b.id]})


async def send(
    api: TestClient, who: Person, conversation: int, body: str, cid: str, status: int = 201
) -> Any:
    return await call(
        api,
        "POST",
        f"/conversations/{conversation}/messages",
        who,
        status,
        json={"client_message_id": cid, "body": body},
    )


async def test_a_direct_conversation_is_one_per_pair(api: TestClient) -> None:
    ann, bob = await person(api), await person(api)
    first = await direct(api, ann, bob)
    again = await direct(api, bob, ann)
    assert first["id"] == again["id"] and first["kind"] == "direct"
    assert {m["id"] for m in first["members"]} == {ann.id, bob.id}
    assert first["last_message"] is None and first["unread_count"] == 0


async def test_send_lists_and_counts_unread(api: TestClient) -> None:
    ann, bob = await person(api), await person(api)
    cid = (await direct(api, ann, bob))["id"]
    one = await send(api, ann, cid, "你好 Bob", "c1")
    two = await send(api, ann, cid, "second", "c2")
    assert one["sender_id"] == ann.id and one["body"] == "你好 Bob" and not one["recalled"]

    page = await call(api, "GET", f"/conversations/{cid}/messages?limit=1", bob, 200)
    assert [m["id"] for m in page["items"]] == [two["id"]]
    rest = await call(
        api, "GET", f"/conversations/{cid}/messages?cursor={page['next_cursor']}", bob, 200
    )
    assert [m["id"] for m in rest["items"]] == [one["id"]]

    mine = await call(api, "GET", "/conversations", bob, 200)
    assert mine["items"][0]["unread_count"] == 2
    assert mine["items"][0]["last_message"]["id"] == two["id"]
    assert (await call(api, "GET", "/me/messages/unread", bob, 200)) == {"total": 2}
    assert (await call(api, "GET", "/me/messages/unread", ann, 200)) == {"total": 0}

    read = await call(
        api, "POST", f"/conversations/{cid}/read", bob, 200, json={"message_id": one["id"]}
    )
    assert read == {"conversation_id": cid, "last_read_message_id": one["id"], "unread_count": 1}
    back = await call(api, "POST", f"/conversations/{cid}/read", bob, 200, json={"message_id": 1})
    assert back["last_read_message_id"] == one["id"]
    beyond = await call(
        api, "POST", f"/conversations/{cid}/read", bob, 200, json={"message_id": 2**40}
    )
    assert beyond["last_read_message_id"] == two["id"] and beyond["unread_count"] == 0


async def test_conversations_list_most_recent_first_in_pages(api: TestClient) -> None:
    ann, bob, cat = await person(api), await person(api), await person(api)
    with_bob = (await direct(api, ann, bob))["id"]
    with_cat = (await direct(api, ann, cat))["id"]
    await send(api, ann, with_bob, "later", "x1")
    first = await call(api, "GET", "/conversations?limit=1", ann, 200)
    assert [c["id"] for c in first["items"]] == [with_bob]
    rest = await call(api, "GET", f"/conversations?limit=1&cursor={first['next_cursor']}", ann, 200)
    assert [c["id"] for c in rest["items"]] == [with_cat] and rest["next_cursor"] is None
    await call(api, "GET", "/conversations?cursor=e30", ann, 400)


async def test_a_retry_with_the_same_client_id_sends_once(api: TestClient) -> None:
    ann, bob = await person(api), await person(api)
    cid = (await direct(api, ann, bob))["id"]
    first = await send(api, ann, cid, "once", "retry-1")
    again = await send(api, ann, cid, "once", "retry-1")
    assert again == first
    headers = {**ann.headers, "Idempotency-Key": "k-1"}
    body = {"client_message_id": "retry-2", "body": "with a key"}
    path = f"/api/v1/conversations/{cid}/messages"
    replies = [await api.post(path, json=body, headers=headers) for _ in range(2)]
    assert [r.status for r in replies] == [201, 201]
    async with api.app[RUNTIME].db.read() as session:
        count = await session.scalar(select(func.count()).select_from(Message))
    assert count == 2
    other = (await direct(api, ann, await person(api)))["id"]
    reused = await send(api, ann, other, "elsewhere", "retry-1", 409)
    assert reused["error"]["code"] == "messages.client_id_reused"


async def test_strangers_cannot_read_send_or_see_a_conversation(api: TestClient) -> None:
    ann, bob, eve = await person(api), await person(api), await person(api)
    cid = (await direct(api, ann, bob))["id"]
    message = await send(api, ann, cid, "private", "p1")
    for method, path, kwargs in (
        ("GET", f"/conversations/{cid}", {}),
        ("GET", f"/conversations/{cid}/messages", {}),
        ("POST", f"/conversations/{cid}/read", {"json": {"message_id": message["id"]}}),
        ("POST", f"/messages/{message['id']}/recall", {}),
        ("DELETE", f"/messages/{message['id']}", {}),
    ):
        await call(api, method, path, eve, 404, **kwargs)
    refused = await send(api, eve, cid, "let me in", "e1", 404)
    assert refused["error"]["code"] == "messages.conversation_not_found"
    found = await call(api, "GET", "/me/messages/search?q=private", eve, 200)
    assert found["items"] == []
    await call(api, "GET", f"/conversations/{cid}", None, 401)


async def test_recall_within_the_window_only_by_the_sender(api: TestClient) -> None:
    ann, bob = await person(api), await person(api)
    cid = (await direct(api, ann, bob))["id"]
    message = await send(api, ann, cid, "oops", "r1")
    refused = await call(api, "POST", f"/messages/{message['id']}/recall", bob, 403)
    assert refused["error"]["code"] == "messages.not_sender"
    recalled = await call(api, "POST", f"/messages/{message['id']}/recall", ann, 200)
    assert recalled["recalled"] and recalled["body"] == ""
    assert (await call(api, "GET", "/me/messages/unread", bob, 200)) == {"total": 0}
    assert (await call(api, "GET", "/me/messages/search?q=oops", ann, 200))["items"] == []

    late = await send(api, ann, cid, "too late", "r2")
    async with api.app[RUNTIME].db.unit_of_work() as uow:
        row = await uow.session.get(Message, late["id"])
        assert row is not None
        row.created_at = row.created_at.replace(year=2020)
    expired = await call(api, "POST", f"/messages/{late['id']}/recall", ann, 409)
    assert expired["error"]["code"] == "messages.recall_expired"


async def test_delete_for_me_hides_it_only_for_me(api: TestClient) -> None:
    ann, bob = await person(api), await person(api)
    cid = (await direct(api, ann, bob))["id"]
    message = await send(api, ann, cid, "hide me", "h1")
    await call(api, "DELETE", f"/messages/{message['id']}", bob, 204)
    await call(api, "DELETE", f"/messages/{message['id']}", bob, 204)
    assert (await call(api, "GET", f"/conversations/{cid}/messages", bob, 200))["items"] == []
    assert (await call(api, "GET", "/me/messages/unread", bob, 200)) == {"total": 0}
    theirs = await call(api, "GET", f"/conversations/{cid}/messages", ann, 200)
    assert [m["id"] for m in theirs["items"]] == [message["id"]]
    await call(api, "DELETE", "/messages/999999999", bob, 404)


async def test_search_finds_my_messages_by_words_and_chinese(api: TestClient) -> None:
    ann, bob = await person(api), await person(api)
    cid = (await direct(api, ann, bob))["id"]
    hit = await send(api, ann, cid, "明天一起讨论知识付费 Python", "s1")
    await send(api, bob, cid, "别的事情", "s2")
    for q in ("知识付费", "python", "讨论 PYTHON", "知"):
        found = await call(api, "GET", f"/me/messages/search?q={q}", bob, 200)
        assert [m["id"] for m in found["items"]] == [hit["id"]], q
    assert (await call(api, "GET", "/me/messages/search?q=付知", bob, 200))["items"] == []
    empty = await call(api, "GET", "/me/messages/search?q=%20!!", bob, 422)
    assert empty["error"]["code"] == "messages.empty_query"


async def test_privacy_and_blocks_refuse_messages(api: TestClient) -> None:
    ann, bob = await person(api), await person(api)
    cid = (await direct(api, ann, bob))["id"]
    await call(
        api, "PATCH", "/me/profile", bob, 200, json={"privacy": {"who_can_message": "nobody"}}
    )
    refused = await send(api, ann, cid, "hi", "v1", 403)
    assert refused["error"]["code"] == "messages.not_allowed"
    await call(
        api, "PATCH", "/me/profile", bob, 200, json={"privacy": {"who_can_message": "following"}}
    )
    await send(api, ann, cid, "hi", "v2", 403)
    await call(api, "POST", f"/users/{ann.id}/follow", bob, 200)
    await send(api, ann, cid, "hi", "v3")

    await call(api, "POST", f"/users/{ann.id}/block", bob, 200)
    await send(api, ann, cid, "hi", "v4", 403)
    await send(api, bob, cid, "hi", "v5", 403)
    cat = await person(api)
    await call(api, "POST", f"/users/{cat.id}/block", ann, 200)
    opened = await call(api, "POST", "/conversations", cat, 403, json={"user_ids": [ann.id]})
    assert opened["error"]["code"] == "messages.not_allowed"


async def test_bodies_attachments_and_groups_are_checked(api: TestClient) -> None:
    ann, bob = await person(api), await person(api)
    cid = (await direct(api, ann, bob))["id"]
    await send(api, ann, cid, "   ", "b1", 422)
    await send(api, ann, cid, "x" * 4001, "b2", 422)
    bad = {"client_message_id": "b3", "body": "see", "attachments": [123456]}
    await call(api, "POST", f"/conversations/{cid}/messages", ann, 422, json=bad)
    await call(api, "POST", "/conversations", ann, 404, json={"user_ids": [999999999]})
    await call(api, "POST", "/conversations", ann, 422, json={"user_ids": [ann.id]})
    many = {"user_ids": list(range(1, 30))}
    assert (await call(api, "POST", "/conversations", ann, 422, json=many))["error"][
        "code"
    ] == "messages.too_many_members"
    cat = await person(api)
    group = await call(
        api,
        "POST",
        "/conversations",
        ann,
        201,
        json={"user_ids": [bob.id, cat.id], "title": "三人"},
    )
    assert group["kind"] == "group" and group["title"] == "三人" and len(group["members"]) == 3
    await send(api, cat, group["id"], "大家好", "g1")
    assert (await call(api, "GET", "/me/messages/unread", bob, 200)) == {"total": 1}


async def test_screened_terms_are_refused(api: TestClient) -> None:
    ann, bob = await person(api), await person(api)
    cid = (await direct(api, ann, bob))["id"]
    refused = await send(api, ann, cid, "可以代开发票", "m1", 422)
    assert refused["error"]["code"] == "moderation.flagged"


async def test_members_may_report_messages_they_received(api: TestClient) -> None:
    ann, bob, eve = await person(api), await person(api), await person(api)
    cid = (await direct(api, ann, bob))["id"]
    message = await send(api, ann, cid, "rude words", "q1")
    body = {"target_type": "message", "target_id": message["id"], "reason": "abuse"}
    report = await call(api, "POST", "/reports", bob, 201, json=body)
    assert report["target_type"] == "message"
    await call(api, "POST", "/reports", ann, 422, json=body)
    await call(api, "POST", "/reports", eve, 404, json=body)
    user_report = {"target_type": "user", "target_id": ann.id, "reason": "abuse"}
    await call(api, "POST", "/reports", bob, 201, json=user_report)


async def test_concurrent_sends_to_one_conversation_all_count(api: TestClient) -> None:
    ann, bob = await person(api), await person(api)
    cid = (await direct(api, ann, bob))["id"]
    path = f"/api/v1/conversations/{cid}/messages"

    async def one(n: int, who: Person) -> int:
        body = {"client_message_id": f"burst-{n}", "body": f"burst {n}"}
        response = await api.post(path, json=body, headers=who.headers)
        return response.status

    statuses = await asyncio.gather(*(one(n, ann) for n in range(12)))
    assert statuses == [201] * 12
    assert (await call(api, "GET", "/me/messages/unread", bob, 200)) == {"total": 12}
    # Replying reads what came before; the reply is unread for the other side.
    await one(99, bob)
    assert (await call(api, "GET", "/me/messages/unread", bob, 200)) == {"total": 0}
    assert (await call(api, "GET", "/me/messages/unread", ann, 200)) == {"total": 1}


async def test_delivery_and_read_receipts_show_in_the_conversation(api: TestClient) -> None:
    ann, bob = await person(api), await person(api)
    cid = (await direct(api, ann, bob))["id"]
    one = await send(api, ann, cid, "one", "d1")
    two = await send(api, ann, cid, "two", "d2")
    path = f"/conversations/{cid}/delivered"
    got = await call(api, "POST", path, bob, 200, json={"message_id": one["id"]})
    assert got == {"conversation_id": cid, "last_delivered_message_id": one["id"]}
    back = await call(api, "POST", path, bob, 200, json={"message_id": 1})
    assert back["last_delivered_message_id"] == one["id"]
    await call(api, "POST", f"/conversations/{cid}/read", bob, 200, json={"message_id": two["id"]})
    seen = await call(api, "GET", f"/conversations/{cid}", ann, 200)
    receipts = {r["user_id"]: r for r in seen["receipts"]}
    assert receipts[bob.id]["last_delivered_message_id"] == two["id"]  # reading is receiving
    assert receipts[bob.id]["last_read_message_id"] == two["id"]
    assert receipts[ann.id]["last_read_message_id"] == two["id"]
    await call(api, "POST", path, await person(api), 404, json={"message_id": one["id"]})
