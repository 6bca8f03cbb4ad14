"""New comments reach the item's room live, through a real Socket.IO client."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from tests.helpers.content import publish
from tests.helpers.people import call, person
from tests.helpers.realtime import Connect
from tests.helpers.social import comment


async def test_a_new_comment_reaches_everyone_in_the_content_room(
    server: TestClient, connect: Connect
) -> None:
    creator, moderator = await person(server, "creator"), await person(server, "moderator")
    watcher, writer = await person(server), await person(server)
    item = await publish(server, creator, moderator)
    token = watcher.headers["Authorization"].removeprefix("Bearer ")
    socket = await connect(server, {"token": token})
    room = f"content:{item['id']}"
    assert await socket.call("subscribe", {"room": room}) == {"ok": True, "data": {"room": room}}

    written = await comment(server, writer, item["id"], "直播评论")
    while True:
        name, payload = await socket.next()
        if name == "comment.created":
            break
    assert payload["event_id"] is None  # room events are ephemeral
    assert payload["type"] == "comment.created"
    assert payload["data"]["id"] == written["id"]
    assert payload["data"]["body"] == "直播评论"
    assert payload["data"]["author"]["id"] == writer.id


async def test_a_new_reply_reaches_the_post_room(server: TestClient, connect: Connect) -> None:
    creator, writer = await person(server, "creator"), await person(server)
    topic = await call(
        server, "POST", "/topics", creator, 201, json={"name": "直播", "slug": "live"}
    )
    post = await call(
        server,
        "POST",
        f"/topics/{topic['id']}/posts",
        writer,
        201,
        json={"title": "t", "body": "b"},
    )
    token = creator.headers["Authorization"].removeprefix("Bearer ")
    socket = await connect(server, {"token": token})
    room = f"post:{post['id']}"
    assert (await socket.call("subscribe", {"room": room}))["ok"] is True
    refused = await socket.call("subscribe", {"room": "post:999999"})
    assert refused["ok"] is False
    await call(server, "POST", f"/posts/{post['id']}/comments", writer, 201, json={"body": "回帖"})
    names: list[str] = []
    while "comment.created" not in names:
        name, _payload = await socket.next()
        names.append(name)
