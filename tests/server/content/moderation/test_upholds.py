"""Upheld reports on comments, posts, messages and reviews take them from readers, through the
uphold actions their domains register with the moderation registry."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from jobs.tasks import FUNCTIONS
from models.commerce.catalog import Product
from models.commerce.reviews import Review
from models.content.counters import ContentCounter
from models.content.items import Content
from models.notify.notifications import Notification
from models.platform import OutboxMessage
from models.social.comments import Comment
from models.social.community import Post, Topic
from models.social.messages import Conversation, ConversationMember, Message, MessageToken
from server.content.counters import RECORD_TASK, flush
from server.content.items.access import Viewer
from server.content.moderation.service import resolve_report
from server.keys import RUNTIME
from server.runtime import Runtime
from tests.helpers.people import Person, call, person


def report(target_type: str, target_id: int) -> dict[str, Any]:
    return {"target_type": target_type, "target_id": target_id, "reason": "abuse"}


async def add(api: TestClient, *rows: Any) -> None:
    async with api.app[RUNTIME].db.unit_of_work() as uow:
        for row in rows:
            uow.session.add(row)
            await uow.session.flush()


async def uphold(
    api: TestClient, reporter: Person, moderator: Person, target_type: str, target_id: int
) -> dict[str, Any]:
    """File a report and uphold it; the audit detail of the resolution."""
    filed = await call(api, "POST", "/reports", reporter, 201, json=report(target_type, target_id))
    path = f"/moderation/reports/{filed['id']}/resolve"
    done = await call(api, "POST", path, moderator, 200, json={"action": "uphold", "note": "No."})
    assert done["status"] == "resolved"
    return done


async def removal_notices(engine: AsyncEngine, user_id: int) -> list[Any]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(Notification.data).where(
                Notification.user_id == user_id, Notification.type == "content.removed"
            )
        )
        return [row.data for row in rows]


async def test_an_upheld_comment_is_hidden_and_its_author_told(
    api: TestClient, moderator: Person, engine: AsyncEngine
) -> None:
    author, reporter = await person(api), await person(api)
    item = Content(author_id=author.id, kind="article", status="published", title="T")
    await add(api, item)
    comment = Comment(target_type="content", target_id=item.id, author_id=author.id, body="rude")
    await add(api, comment)
    await uphold(api, reporter, moderator, "comment", comment.id)
    shown = await call(api, "GET", f"/comments/{comment.id}", reporter, 200)
    assert shown["status"] == "hidden" and shown["body"] is None
    assert await removal_notices(engine, author.id) == [
        {"target_type": "comment", "target_id": comment.id}
    ]
    # A second report upheld on the hidden comment removes nothing more and tells nobody.
    await uphold(api, await person(api), moderator, "comment", comment.id)
    assert len(await removal_notices(engine, author.id)) == 1


async def test_an_upheld_post_is_hidden(
    api: TestClient, moderator: Person, engine: AsyncEngine
) -> None:
    author, reporter = await person(api), await person(api)
    topic = Topic(name="tea", slug="tea", creator_id=author.id, post_count=1)
    await add(api, topic)
    post = Post(topic_id=topic.id, author_id=author.id, title="Buy now", body="spam")
    await add(api, post)
    await uphold(api, reporter, moderator, "post", post.id)
    async with engine.connect() as conn:
        status = await conn.scalar(select(Post.status).where(Post.id == post.id))
        count = await conn.scalar(select(Topic.post_count).where(Topic.id == topic.id))
    assert status == "hidden" and count == 0
    await call(api, "GET", f"/posts/{post.id}", reporter, 404)
    assert [n["target_type"] for n in await removal_notices(engine, author.id)] == ["post"]


async def test_an_upheld_message_is_withdrawn_for_everyone(
    api: TestClient, moderator: Person, engine: AsyncEngine
) -> None:
    sender, reporter = await person(api), await person(api)
    conversation = Conversation(kind="direct", direct_key=f"{sender.id}:{reporter.id}")
    await add(api, conversation)
    message = Message(
        conversation_id=conversation.id,
        sender_id=sender.id,
        client_message_id="m1",
        body="threat",
        attachments=[],
    )
    await add(api, message)
    await add(
        api,
        ConversationMember(conversation_id=conversation.id, user_id=sender.id),
        ConversationMember(conversation_id=conversation.id, user_id=reporter.id, unread_count=1),
        MessageToken(token="threat", message_id=message.id),
    )
    await uphold(api, reporter, moderator, "message", message.id)
    page = await call(api, "GET", f"/conversations/{conversation.id}/messages", sender, 200)
    [shown] = page["items"]
    assert shown["recalled"] is True and shown["body"] == ""
    async with engine.connect() as conn:
        unread = await conn.scalar(
            select(ConversationMember.unread_count).where(ConversationMember.user_id == reporter.id)
        )
        tokens = (await conn.scalars(select(MessageToken.token))).all()
    assert unread == 0 and tokens == []
    # The sender is not notified (the tombstone says it), and a second uphold changes nothing.
    assert await removal_notices(engine, sender.id) == []
    await uphold(api, reporter, moderator, "message", message.id)
    async with engine.connect() as conn:
        assert await conn.scalar(select(ConversationMember.unread_count).where(
            ConversationMember.user_id == reporter.id
        )) == 0  # fmt: skip


async def test_an_upheld_review_is_removed_and_the_rating_follows(
    api: TestClient, moderator: Person, engine: AsyncEngine
) -> None:
    author, reporter, seller = await person(api), await person(api), await person(api)
    product = Product(
        creator_id=seller.id,
        kind="course",
        title="Course",
        price=100,
        status="active",
        rating_count=1,
        rating_sum=1,
    )
    await add(api, product)
    review = Review(product_id=product.id, user_id=author.id, order_item_id=1, rating=1, body="x")
    await add(api, review)
    await uphold(api, reporter, moderator, "review", review.id)
    async with engine.connect() as conn:
        assert await conn.scalar(select(Review.id)) is None
        rating = (
            await conn.execute(
                select(Product.rating_count, Product.rating_sum).where(Product.id == product.id)
            )
        ).one()
    assert tuple(rating) == (0, 0)
    assert [n["target_id"] for n in await removal_notices(engine, author.id)] == [review.id]


async def test_an_upheld_comments_count_change_commits_with_the_resolution_in_the_outbox(
    api: TestClient, moderator: Person, runtime: Runtime, engine: AsyncEngine
) -> None:
    author, reporter = await person(api), await person(api)
    item = Content(author_id=author.id, kind="article", status="published", title="T")
    await add(api, item)
    comment = Comment(target_type="content", target_id=item.id, author_id=author.id, body="rude")
    await add(api, comment, ContentCounter(content_id=item.id, comments=1))
    filed = await call(api, "POST", "/reports", reporter, 201, json=report("comment", comment.id))
    staff = Viewer(moderator.id, frozenset({"moderator"}))

    async def resolve(*, crash: bool) -> None:
        # `runtime` relays nothing: what its units of work write to the outbox stays to be read.
        async with runtime.db.unit_of_work() as uow:
            await resolve_report(
                uow,
                moderator=staff,
                report_id=filed["id"],
                action="uphold",
                note=None,
                ip=None,
                clock=runtime.clock,
            )
            if crash:
                raise LookupError("the process dies before the commit")

    with pytest.raises(LookupError):
        await resolve(crash=True)
    assert await outbox_jobs(engine, RECORD_TASK) == []
    await resolve(crash=False)
    # No follow-up waits in the process: the count change is committed with the resolution.
    [job] = await outbox_jobs(engine, RECORD_TASK)
    assert (job["field"], job["changes"]) == ("comments", {str(item.id): -1})
    record = FUNCTIONS[RECORD_TASK].coroutine
    assert await record({"runtime": runtime}, **job) is True
    assert await record({"runtime": runtime}, **job) is False, "a job run twice counts once"
    await flush(runtime)
    async with engine.connect() as conn:
        counted = await conn.scalar(
            select(ContentCounter.comments).where(ContentCounter.content_id == item.id)
        )
    assert counted == 0


async def outbox_jobs(engine: AsyncEngine, task: str) -> list[dict[str, Any]]:
    """The arguments of the `task` jobs waiting in the outbox."""
    async with engine.connect() as conn:
        payloads = await conn.scalars(
            select(OutboxMessage.payload).where(OutboxMessage.name == task)
        )
        return [payload["kwargs"] for payload in payloads]
