"""Writing comments: create (with replies, mentions and notifications), edit, delete as a
tombstone, like, and moderators' hide and restore.

Counts hold visible comments only: a content item's `comments` counter (written to the outbox in
the change's own transaction, `server.content.counters.count_on_commit`), a root's `reply_count`
and a post's `reply_count` change whenever a comment enters or leaves the visible state.
Screening holds a flagged comment as `pending` (queue mode) or refuses it (block mode, 422
`moderation.flagged`); a pending comment
notifies nobody until a moderator restores it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from models.social.comments import Comment
from models.social.community import Post
from server import screening
from server.audit import record_admin_action
from server.clock import Clock
from server.content.counters import count_on_commit
from server.content.items.access import Viewer
from server.content.items.schemas import AuthorOut
from server.db import UnitOfWork
from server.http.errors import Conflict, Forbidden, ValidationFailed
from server.notify.notifications import service as notifications
from server.social import reach
from server.social.comments import mentions, queries
from server.social.comments.queries import CommentNotFound
from server.social.comments.schemas import CommentOut
from server.social.comments.targets import Target, target_of


class NotAuthor(Forbidden):
    code, message = "comments.not_author", "Only its author can change this comment."


class Blocked(Forbidden):
    code, message = "comments.blocked", "This person does not accept comments from you."


class NotEditable(Conflict):
    code, message = "comments.not_editable", "A deleted or hidden comment cannot be changed."


class InvalidParent(ValidationFailed):
    code, message = "comments.invalid_parent", "The comment answered is not one you can answer."


@dataclass(frozen=True, slots=True)
class Change:
    """A comment after a change, and the content counter change it wrote to the outbox."""

    comment: CommentOut
    counter: tuple[int, int] | None = None


def _changed(uow: UnitOfWork, comment: CommentOut, counter: tuple[int, int] | None) -> Change:
    """The change, its content counter change written to the outbox in the same transaction."""
    if counter is not None:
        content_id, delta = counter
        count_on_commit(uow, "comments", {content_id: delta})
    return Change(comment, counter)


def _visible_delta(old: str | None, new: str) -> int:
    return int(new == "visible") - int(old == "visible")


async def _recount(uow: UnitOfWork, row: Any, delta: int) -> tuple[int, int] | None:
    """Move the counts a visible comment belongs to by `delta` (+1 or -1)."""
    if not delta:
        return None
    session = uow.session
    if row.root_id is not None:
        await session.execute(
            update(Comment)
            .where(Comment.id == row.root_id)
            .values(
                reply_count=Comment.reply_count + delta, hot_score=Comment.hot_score + 2 * delta
            )
        )
    if row.target_type == "post":
        await session.execute(
            update(Post)
            .where(Post.id == row.target_id)
            .values(reply_count=Post.reply_count + delta, hot_score=Post.hot_score + delta)
        )
        return None
    return (row.target_id, delta)


def _screen(body: str, policy: screening.ScreeningPolicy) -> screening.Screening:
    """Screen a comment; block mode refuses a hit here, before anything changes."""
    result = screening.screen({"body": body}, policy.word_list)
    if not result.ok and policy.mode == "block":
        raise screening.Flagged(fields={"body": ", ".join(result.categories)})
    return result


async def _parent(uow: UnitOfWork, *, target: Target, parent_id: int, author_id: int) -> Any:
    parent = await queries.one(uow.session, parent_id)
    if (
        parent is None
        or parent.target_type != target.type
        or parent.target_id != target.id
        or parent.status != "visible"
    ):
        raise InvalidParent(fields={"parent_id": "not a visible comment on this item"})
    if await reach.is_blocked(uow.session, owner_id=parent.author_id, other_id=author_id):
        raise Blocked()
    return parent


async def create_comment(
    uow: UnitOfWork,
    *,
    viewer: Viewer,
    target_type: str,
    target_id: int,
    body: str,
    parent_id: int | None,
    policy: screening.ScreeningPolicy,
    now: datetime,
) -> Change:
    """Comment on a target, or reply to one of its comments."""
    assert viewer.user_id is not None
    session = uow.session
    target = await target_of(
        session, viewer=viewer, target_type=target_type, target_id=target_id, now=now
    )
    target.check_writable()
    if await reach.is_blocked(session, owner_id=target.owner_id, other_id=viewer.user_id):
        raise Blocked()
    parent = None
    if parent_id is not None:
        parent = await _parent(uow, target=target, parent_id=parent_id, author_id=viewer.user_id)
    result = _screen(body, policy)
    comment = Comment(
        target_type=target.type,
        target_id=target.id,
        author_id=viewer.user_id,
        parent_id=None if parent is None else parent.id,
        root_id=None if parent is None else (parent.root_id or parent.id),
        body=body,
        status="visible" if result.ok else "pending",
        like_count=0,
        reply_count=0,
        hot_score=0,
        created_at=now,
    )
    session.add(comment)
    await session.flush()
    if not result.ok:
        await screening.record_flag(uow, target_type="comment", target_id=comment.id, result=result)
    counter = await _recount(uow, comment, _visible_delta(None, comment.status))
    author = await _author(uow, viewer.user_id)
    reply_to = None if parent is None else await _author(uow, parent.author_id)
    out = queries.out(comment, author=author, reply_to=reply_to, viewer_id=viewer.user_id)
    if comment.status == "visible":
        await _announce(uow, target=target, comment=comment, parent=parent, out=out)
    return _changed(uow, out, counter)


async def _author(uow: UnitOfWork, user_id: int) -> AuthorOut | None:
    return (await queries.authors(uow.session, {user_id})).get(user_id)


async def _announce(
    uow: UnitOfWork, *, target: Target, comment: Comment, parent: Any, out: CommentOut
) -> None:
    """Tell the target's room, the answered author, the target's owner and everyone mentioned."""
    actor = comment.author_id
    name = out.author.nickname if out.author else "Someone"
    data = {"comment_id": comment.id, "target_type": target.type, "target_id": target.id}
    uow.outbox.publish("comment.created", out.model_dump(mode="json"), room=target.room)
    told = {actor}
    if parent is not None and parent.author_id not in told:
        told.add(parent.author_id)
        await notifications.notify(
            uow,
            user_id=parent.author_id,
            type="comment.reply",
            title=f"{name} replied to your comment",
            body=comment.body[:140],
            data=data,
            actor_id=actor,
        )
    if parent is None and target.owner_id not in told:
        told.add(target.owner_id)
        await notifications.notify(
            uow,
            user_id=target.owner_id,
            type="comment.created",
            title=f"{name} commented on your {'post' if target.type == 'post' else 'content'}",
            body=comment.body[:140],
            data=data,
            actor_id=actor,
            group_key=f"comment:{target.type}:{target.id}",
        )
    for user_id in await mentions.resolve(uow.session, comment.body):
        if user_id in told or await reach.is_blocked(uow.session, owner_id=user_id, other_id=actor):
            continue
        told.add(user_id)
        await notifications.notify(
            uow,
            user_id=user_id,
            type="comment.mention",
            title=f"{name} mentioned you in a comment",
            body=comment.body[:140],
            data=data,
            actor_id=actor,
        )


async def _locked_row(uow: UnitOfWork, comment_id: int) -> Comment:
    comment = (
        await uow.session.scalars(select(Comment).where(Comment.id == comment_id).with_for_update())
    ).one_or_none()
    if comment is None:
        raise CommentNotFound()
    return comment


async def _present_one(uow: UnitOfWork, comment: Comment, viewer_id: int | None) -> CommentOut:
    return (await queries.present(uow.session, [comment], viewer_id=viewer_id))[0]


async def edit_comment(
    uow: UnitOfWork,
    *,
    viewer: Viewer,
    comment_id: int,
    body: str,
    policy: screening.ScreeningPolicy,
    now: datetime,
) -> Change:
    """Change one's own comment's text; it is marked edited (and screened again)."""
    comment = await _locked_row(uow, comment_id)
    if comment.author_id != viewer.user_id:
        raise NotAuthor()
    if comment.status in ("deleted", "hidden"):
        raise NotEditable()
    result = _screen(body, policy)
    old = comment.status
    comment.body = body
    comment.edited_at = now
    if not result.ok:
        comment.status = "pending"
        await screening.record_flag(uow, target_type="comment", target_id=comment.id, result=result)
    await uow.session.flush()
    counter = await _recount(uow, comment, _visible_delta(old, comment.status))
    return _changed(uow, await _present_one(uow, comment, viewer.user_id), counter)


async def delete_comment(uow: UnitOfWork, *, viewer: Viewer, comment_id: int) -> Change:
    """Delete one's own comment (staff may delete any): a tombstone keeps the thread's shape,
    its text is erased, its replies stay. Deleting twice is a no-op."""
    comment = await _locked_row(uow, comment_id)
    if comment.author_id != viewer.user_id and not viewer.is_staff:
        raise NotAuthor()
    old = comment.status
    comment.status = "deleted"
    comment.body = ""
    await uow.session.flush()
    counter = await _recount(uow, comment, _visible_delta(old, comment.status))
    return _changed(uow, await _present_one(uow, comment, viewer.user_id), counter)


async def moderate_comment(
    uow: UnitOfWork,
    *,
    moderator: Viewer,
    comment_id: int,
    action: str,
    note: str | None,
    ip: str | None,
    clock: Clock,
) -> Change:
    """Hide a comment (`hide`) or make a hidden or pending one visible again (`restore`); a
    held comment let through notifies and reaches its room then."""
    assert moderator.user_id is not None
    comment = await _locked_row(uow, comment_id)
    old = comment.status
    if old == "deleted":
        raise NotEditable()
    comment.status = "hidden" if action == "hide" else "visible"
    await uow.session.flush()
    counter = await _recount(uow, comment, _visible_delta(old, comment.status))
    await record_admin_action(
        uow.session,
        admin_id=moderator.user_id,
        action=f"comment.{'hidden' if action == 'hide' else 'restored'}",
        target_type="comment",
        target_id=comment.id,
        detail={"from": old, "note": note},
        ip=ip,
        clock=clock,
    )
    out = await _present_one(uow, comment, moderator.user_id)
    if old == "pending" and comment.status == "visible":
        await _release(uow, moderator=moderator, comment=comment, out=out, now=clock.now())
    return _changed(uow, out, counter)


async def _release(
    uow: UnitOfWork, *, moderator: Viewer, comment: Comment, out: CommentOut, now: datetime
) -> None:
    """A held comment a moderator let through is announced as a new one would have been."""
    target = await target_of(
        uow.session,
        viewer=moderator,
        target_type=comment.target_type,
        target_id=comment.target_id,
        now=now,
    )
    parent = (
        None if comment.parent_id is None else await queries.one(uow.session, comment.parent_id)
    )
    await _announce(uow, target=target, comment=comment, parent=parent, out=out)
