"""What comments hang on: a content item or a community post, and who may read or write there.

Content follows THE access policy (`server.content.items.access`): whoever may see the item's page
(level PREVIEW or FULL) reads its comments and likes them; writing a comment or a reply takes
FULL, so on a paid, subscription or members-only item only those entitled discuss it (as its
buyers would expect), and only while it is published. Posts are read by everyone while visible
(their author and staff always) and take replies unless locked (409 `community.locked`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from models.content.items import Content
from models.social.community import Post
from server.content.items.access import Item, Level, Viewer, can_read
from server.db import Reader
from server.http.errors import Conflict, Forbidden, NotFound


class TargetNotFound(NotFound):
    code, message = "comments.target_not_found", "There is nothing to comment on here."


class NotEntitled(Forbidden):
    code, message = (
        "comments.not_entitled",
        "Only readers with full access to this item can comment on it.",
    )


class CommentsClosed(Conflict):
    code, message = "comments.closed", "This item takes no new comments."


class Locked(Conflict):
    code, message = "community.locked", "This post is locked: it takes no new replies."


@dataclass(frozen=True, slots=True)
class Target:
    type: str
    id: int
    owner_id: int
    writable: bool
    closed: bool
    locked: bool = False

    @property
    def room(self) -> str:
        return f"{self.type}:{self.id}"

    def check_writable(self) -> None:
        """Raise unless the viewer may add a comment here."""
        if self.locked:
            raise Locked()
        if self.closed:
            raise CommentsClosed()
        if not self.writable:
            raise NotEntitled()


async def content_target(
    reader: Reader, *, viewer: Viewer, content_id: int, now: datetime
) -> Target:
    """A content item the viewer can see (404 otherwise)."""
    row = (
        await reader.execute(
            select(
                Content.id, Content.author_id, Content.status, Content.access, Content.parent_id
            ).where(Content.id == content_id)
        )
    ).one_or_none()
    if row is None:
        raise TargetNotFound()
    item = Item(row.id, row.author_id, row.status, row.access, row.parent_id)
    level = await can_read(reader, viewer=viewer, item=item, now=now)
    if level is Level.NONE:
        raise TargetNotFound()
    return Target(
        "content",
        row.id,
        row.author_id,
        writable=level is Level.FULL,
        closed=row.status != "published",
    )


async def post_target(reader: Reader, *, viewer: Viewer, post_id: int) -> Target:
    """A community post the viewer can see (404 otherwise)."""
    row = (
        await reader.execute(
            select(Post.id, Post.author_id, Post.status, Post.locked).where(Post.id == post_id)
        )
    ).one_or_none()
    own = row is not None and row.author_id == viewer.user_id
    if row is None or row.status == "deleted":
        raise TargetNotFound()
    if row.status != "visible" and not (own or viewer.is_staff):
        raise TargetNotFound()
    return Target(
        "post",
        row.id,
        row.author_id,
        writable=True,
        closed=row.status != "visible",
        locked=bool(row.locked),
    )


async def target_of(
    reader: Reader, *, viewer: Viewer, target_type: str, target_id: int, now: datetime
) -> Target:
    if target_type == "content":
        return await content_target(reader, viewer=viewer, content_id=target_id, now=now)
    return await post_target(reader, viewer=viewer, post_id=target_id)
