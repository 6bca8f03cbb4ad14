"""New messages reach offline members' phones: a `push.send` job per offline member with a
device, never the sender, nobody across a block, once per message, in constant queries."""

from __future__ import annotations

from functools import partial
from typing import Any

from aiohttp.test_utils import TestClient
from arq.jobs import Job as ArqJob
from arq.jobs import JobStatus
from sqlalchemy import event, select

from models.content.media import Media
from models.identity.users import User
from models.notify.push import PushDevice
from server.keys import RUNTIME
from server.social.messages import push, service
from server.social.messages.schemas import MessageSend
from server.social.presence import service as presence
from tests.helpers.people import Person, call, person
from tests.server.social.messages.test_messages import direct, send


async def with_device(api: TestClient, who: Person) -> None:
    async with api.app[RUNTIME].db.unit_of_work() as uow:
        uow.session.add(
            PushDevice(
                user_id=who.id, provider="fcm", token=f"fcm:{who.id:0>60}", platform="android"
            )
        )


async def push_jobs(api: TestClient) -> dict[int, dict[str, Any]]:
    """The queued `push.send` jobs, by user id: their keyword arguments."""
    runtime = api.app[RUNTIME]
    prefix = f"arq:job:{runtime.settings.key_prefix}:push:"
    found: dict[int, dict[str, Any]] = {}
    async for key in runtime.redis.scan_iter(match=f"{prefix}*", count=1000):
        job = ArqJob(
            key.decode().removeprefix("arq:job:"),
            runtime.redis,
            _queue_name=runtime.settings.channel("queue"),
        )
        info = await job.info()
        assert info is not None and info.function == "push.send"
        assert await job.status() == JobStatus.queued
        found[info.kwargs["user_id"]] = info.kwargs
    return found


async def nickname(api: TestClient, who: Person) -> str:
    async with api.app[RUNTIME].db.read() as session:
        return str(await session.scalar(select(User.nickname).where(User.id == who.id)))


async def group(api: TestClient, owner: Person, others: list[Person], title: str | None) -> int:
    body = {"user_ids": [o.id for o in others], "title": title}
    return int((await call(api, "POST", "/conversations", owner, 201, json=body))["id"])


async def test_an_offline_recipient_with_a_device_gets_one_push_per_message(
    api: TestClient,
) -> None:
    ann, bob = await person(api), await person(api)
    await with_device(api, ann)
    await with_device(api, bob)
    cid = (await direct(api, ann, bob))["id"]
    sent = await send(api, ann, cid, "Are you coming to the reading tonight? " * 3, "p1")

    jobs = await push_jobs(api)
    assert list(jobs) == [bob.id], "the recipient, never the sender"
    job = jobs[bob.id]
    assert job["ref"] == f"message:{sent['id']}:{bob.id}"
    assert job["title"] == await nickname(api, ann), "the sender's nickname"
    assert len(job["body"]) == push.PREVIEW_CHARS and job["body"].endswith("…")
    assert job["data"] == {
        "type": "message.created",
        "conversation_id": cid,
        "message_id": sent["id"],
    }

    again = await send(api, ann, cid, "Are you coming to the reading tonight? " * 3, "p1")
    assert again["id"] == sent["id"]
    assert list(await push_jobs(api)) == [bob.id], "a retried send pushes nothing more"


async def test_no_device_or_push_turned_off_means_no_push(api: TestClient) -> None:
    ann, bob = await person(api), await person(api)
    cid_bob = (await direct(api, ann, bob))["id"]
    await send(api, ann, cid_bob, "hello", "n1")
    assert await push_jobs(api) == {}, "no device, no push"

    await with_device(api, bob)
    body = {"items": [{"type": "message.created", "push": False}]}
    await call(api, "PUT", "/me/notification-preferences", bob, 200, json=body)
    await send(api, ann, cid_bob, "hello again", "n2")
    assert await push_jobs(api) == {}, "push off for messages"


async def test_groups_push_their_title_and_skip_members_across_a_block(api: TestClient) -> None:
    ann, bob, cat, dan = [await person(api) for _ in range(4)]
    for who in (bob, cat, dan):
        await with_device(api, who)
    cid = await group(api, ann, [bob, cat, dan], "Book club")
    await call(api, "POST", f"/users/{ann.id}/block", dan, 200)
    await send(api, ann, cid, "Chapter 3 tonight", "g1")
    jobs = await push_jobs(api)
    assert set(jobs) == {bob.id, cat.id}, "dan blocked the sender"
    assert jobs[bob.id]["title"] == "Book club"
    assert jobs[bob.id]["body"].endswith(": Chapter 3 tonight")


async def test_attachments_are_previewed_by_kind(api: TestClient) -> None:
    ann, bob = await person(api), await person(api)
    await with_device(api, bob)
    cid = (await direct(api, ann, bob))["id"]
    async with api.app[RUNTIME].db.unit_of_work() as uow:
        media = [
            Media(
                owner_id=ann.id,
                kind=kind,
                status="ready",
                storage_key=f"k/{kind}",
                content_type="image/png" if kind == "image" else "audio/mpeg",
                size_bytes=10,
            )
            for kind in ("image", "audio")
        ]
        uow.session.add_all(media)
        await uow.session.flush()
        ids = [m.id for m in media]
    body = {"client_message_id": "a1", "body": "", "attachments": ids}
    await call(api, "POST", f"/conversations/{cid}/messages", ann, 201, json=body)
    assert (await push_jobs(api))[bob.id]["body"] == "[image] [audio]"


def test_previews() -> None:
    assert push.preview("hi", [], screened=False) == "hi"
    assert push.preview("bad words", [], screened=True) == "[message]"
    assert push.preview("", ["video"], screened=False) == "[video]"
    assert push.preview("see this", ["image"], screened=False) == "see this"


async def test_unknown_presence_pushes_everyone_and_online_members_are_skipped() -> None:
    async def down(_ids: list[int]) -> set[int]:
        raise ConnectionError("redis is down")

    async def two_online(_ids: list[int]) -> set[int]:
        return {2}

    assert await push.offline_of(down, [1, 2, 3]) == [1, 2, 3]
    assert await push.offline_of(None, [1, 2]) == [1, 2]
    assert await push.offline_of(two_online, [1, 2, 3]) == [1, 3]


async def count_send(api: TestClient, who: Person, cid: int, client_id: str) -> int:
    """Statements of one send, its commit and outbox rows included (auth is not counted)."""
    runtime = api.app[RUNTIME]
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    engine = runtime.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        async with runtime.db.unit_of_work() as uow:
            _message, new = await service.send_message(
                uow,
                sender_id=who.id,
                conversation_id=cid,
                body=MessageSend(client_message_id=client_id, body="hello everyone"),
                settings=runtime.settings,
                now=runtime.clock.now(),
                online=partial(presence.online_ids, runtime),
            )
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert new
    return len(statements)


async def test_a_group_of_five_sends_in_as_many_queries_as_a_group_of_three(
    api: TestClient,
) -> None:
    ann, *others = [await person(api) for _ in range(5)]
    for who in others:
        await with_device(api, who)
    three = await group(api, ann, others[:2], "Three")
    five = await group(api, ann, others, "Five")
    small = await count_send(api, ann, three, "c1")
    large = await count_send(api, ann, five, "c2")
    assert large == small, "one query per step whatever the number of members"
    assert len(await push_jobs(api)) == 4
