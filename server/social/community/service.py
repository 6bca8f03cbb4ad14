"""Topics and community posts.

Topics are opened by creators, moderators and admins (readers join the discussion in them, so
the list of topics stays curated); anyone signed in posts in a topic. A post's topic owner
(the topic's creator), moderators and admins pin and lock it; a locked post takes no new
replies (409 `community.locked`, checked where replies are written: `server.social.comments`). Posts
are screened like content: block mode refuses flagged text (422 `moderation.flagged`), queue
mode holds the post as `pending` with an automatic flag until a moderator restores it.
`post_count` counts a topic's visible posts.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import IntegrityError

from models.identity.users import User
from models.social.community import Post, Topic
from server import screening
from server.audit import record_admin_action
from server.clock import Clock
from server.content.items.access import Viewer
from server.content.items.schemas import AuthorOut
from server.db import Reader, UnitOfWork
from server.http.errors import Conflict, Forbidden, NotFound
from server.social.community.schemas import PostOut, TopicOut

TOPIC_ROLES = ("creator", "moderator", "admin")


class TopicNotFound(NotFound):
    code, message = "community.topic_not_found", "There is no such topic."


class TopicExists(Conflict):
    code, message = "community.topic_exists", "A topic with this name or slug exists."


class PostNotFound(NotFound):
    code, message = "community.post_not_found", "There is no such post."


class NotAllowed(Forbidden):
    code, message = "community.forbidden", "Only the topic's owner or a moderator can do this."


class NotAuthor(Forbidden):
    code, message = "community.not_author", "Only its author can change this post."


class NotEditable(Conflict):
    code, message = "community.not_editable", "A deleted or hidden post cannot be changed."


def topic_out(row: Any) -> TopicOut:
    return TopicOut.model_construct(
        id=row.id,
        name=row.name,
        slug=row.slug,
        description=row.description,
        creator_id=row.creator_id,
        post_count=row.post_count,
        member_count=row.member_count,
        created_at=row.created_at,
    )


def post_out(row: Any, *, author: AuthorOut | None, viewer_id: int | None) -> PostOut:
    """A post; title and body only while visible (its author still sees a pending one)."""
    shown = row.status == "visible" or (row.status == "pending" and row.author_id == viewer_id)
    return PostOut.model_construct(
        id=row.id,
        topic_id=row.topic_id,
        author=author,
        title=row.title if shown else None,
        body=row.body if shown else None,
        status=row.status,
        pinned=bool(row.pinned),
        locked=bool(row.locked),
        reply_count=row.reply_count,
        edited=row.edited_at is not None,
        created_at=row.created_at,
    )


async def create_topic(
    uow: UnitOfWork, *, creator_id: int, name: str, slug: str, description: str, now: datetime
) -> TopicOut:
    """Open a topic; names and slugs are unique (409 `community.topic_exists`)."""
    topic = Topic(
        name=name,
        slug=slug,
        description=description,
        creator_id=creator_id,
        post_count=0,
        member_count=0,
        created_at=now,
    )
    uow.session.add(topic)
    try:
        async with uow.session.begin_nested():
            await uow.session.flush()
    except IntegrityError as exc:
        raise TopicExists() from exc
    return topic_out(topic)


async def load_topic(uow: UnitOfWork, topic_id: int) -> Topic:
    topic = await uow.session.get(Topic, topic_id)
    if topic is None:
        raise TopicNotFound()
    return topic


async def _move_post_count(uow: UnitOfWork, topic_id: int, delta: int) -> None:
    if delta:
        await uow.session.execute(
            update(Topic)
            .where(Topic.id == topic_id)
            .values(post_count=Topic.post_count + delta)
            .execution_options(synchronize_session=False)
        )


def _screen(texts: dict[str, str], policy: screening.ScreeningPolicy) -> screening.Screening:
    result = screening.screen(texts, policy.word_list)
    if not result.ok and policy.mode == "block":
        raise screening.Flagged(
            fields={name: ", ".join(cats) for name, cats in result.fields().items()}
        )
    return result


_AUTHORS = select(User.id, User.nickname, User.avatar_url).where(
    User.id.in_(bindparam("ids", expanding=True))
)


async def authors(reader: Reader, ids: set[int]) -> dict[int, AuthorOut]:
    """Several people as post authors, in one query."""
    if not ids:
        return {}
    return {
        row.id: AuthorOut(id=row.id, nickname=row.nickname, avatar_url=row.avatar_url)
        for row in await reader.execute(_AUTHORS, {"ids": sorted(ids)})
    }


async def _author(uow: UnitOfWork, user_id: int) -> AuthorOut | None:
    return (await authors(uow.session, {user_id})).get(user_id)


async def create_post(
    uow: UnitOfWork,
    *,
    author_id: int,
    topic_id: int,
    title: str,
    body: str,
    policy: screening.ScreeningPolicy,
    now: datetime,
) -> PostOut:
    """Post in a topic (screened)."""
    topic = await load_topic(uow, topic_id)
    result = _screen({"title": title, "body": body}, policy)
    post = Post(
        topic_id=topic.id,
        author_id=author_id,
        title=title,
        body=body,
        pinned=False,
        locked=False,
        status="visible" if result.ok else "pending",
        reply_count=0,
        hot_score=0,
        created_at=now,
    )
    uow.session.add(post)
    await uow.session.flush()
    if result.ok:
        await _move_post_count(uow, topic.id, 1)
    else:
        await screening.record_flag(uow, target_type="post", target_id=post.id, result=result)
    return post_out(post, author=await _author(uow, author_id), viewer_id=author_id)


async def _post(uow: UnitOfWork, post_id: int) -> Post:
    post = (
        await uow.session.scalars(select(Post).where(Post.id == post_id).with_for_update())
    ).one_or_none()
    if post is None:
        raise PostNotFound()
    return post


def _visible_delta(old: str, new: str) -> int:
    return int(new == "visible") - int(old == "visible")


async def edit_post(
    uow: UnitOfWork,
    *,
    viewer: Viewer,
    post_id: int,
    title: str | None,
    body: str | None,
    policy: screening.ScreeningPolicy,
    now: datetime,
) -> PostOut:
    """Change one's own post (screened again; marked edited)."""
    post = await _post(uow, post_id)
    if post.author_id != viewer.user_id:
        raise NotAuthor()
    if post.status in ("deleted", "hidden"):
        raise NotEditable()
    new_title, new_body = title or post.title, body or post.body
    result = _screen({"title": new_title, "body": new_body}, policy)
    old = post.status
    post.title, post.body, post.edited_at = new_title, new_body, now
    if not result.ok:
        post.status = "pending"
        await screening.record_flag(uow, target_type="post", target_id=post.id, result=result)
    await uow.session.flush()
    await _move_post_count(uow, post.topic_id, _visible_delta(old, post.status))
    return post_out(post, author=await _author(uow, post.author_id), viewer_id=viewer.user_id)


async def _can_steer(uow: UnitOfWork, *, viewer: Viewer, post: Post) -> bool:
    """The post's topic owner, moderators and admins steer a post."""
    if viewer.is_staff:
        return True
    topic = await load_topic(uow, post.topic_id)
    return topic.creator_id == viewer.user_id


async def delete_post(uow: UnitOfWork, *, viewer: Viewer, post_id: int) -> None:
    """Delete a post (its author, the topic owner or staff); the replies stay unreachable
    with it. Deleting twice is a no-op."""
    post = await _post(uow, post_id)
    if post.author_id != viewer.user_id and not await _can_steer(uow, viewer=viewer, post=post):
        raise NotAuthor()
    old = post.status
    post.status = "deleted"
    post.body = ""
    await uow.session.flush()
    await _move_post_count(uow, post.topic_id, _visible_delta(old, post.status))


async def steer_post(
    uow: UnitOfWork, *, viewer: Viewer, post_id: int, what: str, value: bool
) -> PostOut:
    """Pin or lock a post (`what` is pinned or locked), or undo it."""
    post = await _post(uow, post_id)
    if not await _can_steer(uow, viewer=viewer, post=post):
        raise NotAllowed()
    setattr(post, what, value)
    await uow.session.flush()
    return post_out(post, author=await _author(uow, post.author_id), viewer_id=viewer.user_id)


async def moderate_post(
    uow: UnitOfWork,
    *,
    moderator: Viewer,
    post_id: int,
    action: str,
    note: str | None,
    ip: str | None,
    clock: Clock,
) -> PostOut:
    """Hide a post, or make a hidden or held one visible again; audited."""
    assert moderator.user_id is not None
    post = await _post(uow, post_id)
    old = post.status
    if old == "deleted":
        raise NotEditable()
    post.status = "hidden" if action == "hide" else "visible"
    await uow.session.flush()
    await _move_post_count(uow, post.topic_id, _visible_delta(old, post.status))
    await record_admin_action(
        uow.session,
        admin_id=moderator.user_id,
        action=f"post.{'hidden' if action == 'hide' else 'restored'}",
        target_type="post",
        target_id=post.id,
        detail={"from": old, "note": note},
        ip=ip,
        clock=clock,
    )
    return post_out(post, author=await _author(uow, post.author_id), viewer_id=moderator.user_id)


async def forget_posts(uow: UnitOfWork, *, user_id: int) -> int:
    """Tombstone an erased account's posts (their topics count them no more); how many."""
    rows = (
        await uow.session.execute(
            select(Post.id, Post.topic_id, Post.status)
            .where(Post.author_id == user_id, Post.status != "deleted")
            .with_for_update()
        )
    ).all()
    for row in rows:
        await _move_post_count(uow, row.topic_id, _visible_delta(row.status, "deleted"))
    if rows:
        await uow.session.execute(
            update(Post)
            .where(Post.id.in_([row.id for row in rows]))
            .values(status="deleted", body="", title="")
        )
    return len(rows)
