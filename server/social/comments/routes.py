"""HTTP routes: comments on content and on community posts, threads, likes, moderation."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from server import screening
from server.content.items.access import viewer_of
from server.http.limits import client_ip
from server.http.pagination import Page, PageQuery
from server.http.registry import RouteTable
from server.keys import RUNTIME, SETTINGS
from server.social.comments import likes, queries, service
from server.social.comments.schemas import (
    CommentEdit,
    CommentIn,
    CommentListQuery,
    CommentOut,
    CommentPath,
    HeldQuery,
    LikeState,
    ModerationNote,
    TargetPath,
    ThreadOut,
)

routes = RouteTable("comments", "Comments and replies on content and community posts.")
MODERATORS = ("moderator", "admin")
WRITE_ERRORS = frozenset({403, 404, 409, 422})
ACCESS = (
    "Comments on content are read by whoever can see the item (preview or full access); "
    "writing one takes full access to a published item (403 `comments.not_entitled`). "
)


async def _create(request: web.Request, target_type: str, target_id: int, body: CommentIn) -> Any:
    runtime = request.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        change = await service.create_comment(
            uow,
            viewer=viewer_of(request),
            target_type=target_type,
            target_id=target_id,
            body=body.body,
            parent_id=body.parent_id,
            policy=screening.policy_of(request.app[SETTINGS]),
            now=runtime.clock.now(),
        )
    return change.comment


async def _list(
    request: web.Request, target_type: str, target_id: int, query: CommentListQuery
) -> Page[CommentOut]:
    runtime = request.app[RUNTIME]
    async with runtime.db.connection() as conn:
        return await queries.list_comments(
            conn,
            viewer=viewer_of(request),
            target_type=target_type,
            target_id=target_id,
            sort=query.sort,
            limit=query.limit,
            cursor=query.cursor,
            now=runtime.clock.now(),
        )


@routes.get(
    "/api/v1/contents/{id}/comments",
    params=TargetPath,
    query=CommentListQuery,
    response=Page[CommentOut],
    auth="optional",
    errors=frozenset({404}),
    description=ACCESS + "Root comments only; a thread's replies are at /comments/{id}/thread.",
)
async def list_content_comments(
    request: web.Request, params: TargetPath, query: CommentListQuery
) -> Page[CommentOut]:
    """Comments on a content item, newest or hottest first"""
    return await _list(request, "content", params.id, query)


@routes.post(
    "/api/v1/contents/{id}/comments",
    params=TargetPath,
    body=CommentIn,
    response=CommentOut,
    status=201,
    idempotent=True,
    errors=WRITE_ERRORS,
    description=ACCESS + "Notifies the item's author (`comment.created`), the answered author "
    "(`comment.reply`) and each @mentioned person (`comment.mention`); the room "
    "`content:<id>` receives `comment.created`. Blocked by the author or the answered "
    "person: 403 `comments.blocked`. Flagged text: 422 `moderation.flagged`, or held as "
    "`pending` for a moderator.",
)
async def comment_on_content(
    request: web.Request, params: TargetPath, body: CommentIn
) -> CommentOut:
    """Comment on a content item, or reply to one of its comments"""
    return await _create(request, "content", params.id, body)


@routes.get(
    "/api/v1/posts/{id}/comments",
    params=TargetPath,
    query=CommentListQuery,
    response=Page[CommentOut],
    auth="optional",
    errors=frozenset({404}),
)
async def list_post_comments(
    request: web.Request, params: TargetPath, query: CommentListQuery
) -> Page[CommentOut]:
    """Replies to a community post, newest or hottest first"""
    return await _list(request, "post", params.id, query)


@routes.post(
    "/api/v1/posts/{id}/comments",
    params=TargetPath,
    body=CommentIn,
    response=CommentOut,
    status=201,
    idempotent=True,
    errors=WRITE_ERRORS,
    description="A locked post takes no replies (409 `community.locked`); the room "
    "`post:<id>` receives `comment.created`.",
)
async def comment_on_post(request: web.Request, params: TargetPath, body: CommentIn) -> CommentOut:
    """Reply to a community post, or to one of its replies"""
    return await _create(request, "post", params.id, body)


@routes.get(
    "/api/v1/comments/{id}",
    params=CommentPath,
    response=CommentOut,
    auth="optional",
    errors=frozenset({404}),
)
async def get_comment(request: web.Request, params: CommentPath) -> CommentOut:
    """One comment"""
    runtime = request.app[RUNTIME]
    async with runtime.db.connection() as conn:
        return await queries.get_comment(
            conn, viewer=viewer_of(request), comment_id=params.id, now=runtime.clock.now()
        )


@routes.get(
    "/api/v1/comments/{id}/thread",
    params=CommentPath,
    query=PageQuery,
    response=ThreadOut,
    auth="optional",
    errors=frozenset({404}),
    description="Any comment of a thread names it; deleted comments stay as tombstones "
    "(`status` deleted, `body` null) so the replies keep their place.",
)
async def get_thread(request: web.Request, params: CommentPath, query: PageQuery) -> ThreadOut:
    """A thread: its root comment and its replies, oldest first"""
    runtime = request.app[RUNTIME]
    async with runtime.db.connection() as conn:
        return await queries.get_thread(
            conn,
            viewer=viewer_of(request),
            comment_id=params.id,
            limit=query.limit,
            cursor=query.cursor,
            now=runtime.clock.now(),
        )


@routes.patch(
    "/api/v1/comments/{id}",
    params=CommentPath,
    body=CommentEdit,
    response=CommentOut,
    errors=WRITE_ERRORS,
    description="Only the author (403 `comments.not_author`); the comment is marked edited.",
)
async def edit_comment(request: web.Request, params: CommentPath, body: CommentEdit) -> CommentOut:
    """Edit one's own comment"""
    runtime = request.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        change = await service.edit_comment(
            uow,
            viewer=viewer_of(request),
            comment_id=params.id,
            body=body.body,
            policy=screening.policy_of(request.app[SETTINGS]),
            now=runtime.clock.now(),
        )
    return change.comment


@routes.delete(
    "/api/v1/comments/{id}",
    params=CommentPath,
    response=CommentOut,
    errors=frozenset({403, 404}),
    description="The author (or staff) only. The comment stays as a tombstone: its text is "
    "erased, its replies stay.",
)
async def delete_comment(request: web.Request, params: CommentPath) -> CommentOut:
    """Delete a comment"""
    runtime = request.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        change = await service.delete_comment(uow, viewer=viewer_of(request), comment_id=params.id)
    return change.comment


@routes.post(
    "/api/v1/comments/{id}/like",
    params=CommentPath,
    response=LikeState,
    errors=frozenset({404}),
    description="Liking again is a no-op; a new like notifies the author (`comment.liked`, "
    "folded per comment).",
)
async def like_comment(request: web.Request, params: CommentPath) -> LikeState:
    """Like a comment"""
    runtime = request.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        return await likes.like_comment(
            uow, viewer=viewer_of(request), comment_id=params.id, now=runtime.clock.now()
        )


@routes.delete(
    "/api/v1/comments/{id}/like", params=CommentPath, response=LikeState, errors=frozenset({404})
)
async def unlike_comment(request: web.Request, params: CommentPath) -> LikeState:
    """Take back a like"""
    runtime = request.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        return await likes.unlike_comment(
            uow, viewer=viewer_of(request), comment_id=params.id, now=runtime.clock.now()
        )


async def _moderate(request: web.Request, comment_id: int, action: str, note: str | None) -> Any:
    runtime = request.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        change = await service.moderate_comment(
            uow,
            moderator=viewer_of(request),
            comment_id=comment_id,
            action=action,
            note=note,
            ip=client_ip(request, request.app[SETTINGS].trust_forwarded_for),
            clock=runtime.clock,
        )
    return change.comment


@routes.get(
    "/api/v1/moderation/comments",
    query=HeldQuery,
    response=Page[CommentOut],
    roles=MODERATORS,
    errors=frozenset({400}),
    description="Held (`pending`) or hidden comments with their text, oldest first.",
)
async def held_comments(request: web.Request, query: HeldQuery) -> Page[CommentOut]:
    """Comments awaiting a moderator (moderators)"""
    async with request.app[RUNTIME].db.connection() as conn:
        return await queries.held_comments(
            conn,
            moderator=viewer_of(request),
            status=query.status,
            limit=query.limit,
            cursor=query.cursor,
        )


@routes.post(
    "/api/v1/moderation/comments/{id}/hide",
    params=CommentPath,
    body=ModerationNote,
    response=CommentOut,
    roles=MODERATORS,
    errors=frozenset({409}),
)
async def hide_comment(request: web.Request, params: CommentPath, body: ModerationNote) -> Any:
    """Hide a comment (moderators)"""
    return await _moderate(request, params.id, "hide", body.note)


@routes.post(
    "/api/v1/moderation/comments/{id}/restore",
    params=CommentPath,
    body=ModerationNote,
    response=CommentOut,
    roles=MODERATORS,
    errors=frozenset({409}),
    description="Makes a hidden comment, or one screening held, visible again.",
)
async def restore_comment(request: web.Request, params: CommentPath, body: ModerationNote) -> Any:
    """Restore a hidden or held comment (moderators)"""
    return await _moderate(request, params.id, "restore", body.note)
