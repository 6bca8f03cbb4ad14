"""HTTP routes: topics and community posts (replies are comments: /posts/{id}/comments)."""

from __future__ import annotations

from aiohttp import web

from server import screening
from server.content.items.access import viewer_of
from server.http.limits import client_ip
from server.http.pagination import Page, PageQuery
from server.http.registry import RouteTable
from server.keys import RUNTIME, SETTINGS, USER_ID
from server.social.community import members, queries, reports, service
from server.social.community.schemas import (
    Flag,
    Membership,
    ModerationNote,
    PostIn,
    PostListQuery,
    PostOut,
    PostPatch,
    PostPath,
    TopicIn,
    TopicOut,
    TopicPath,
)

routes = RouteTable("community", "Topics and the posts people write in them.")
MODERATORS = ("moderator", "admin")
STEER = "The topic's owner, moderators and admins only (403 `community.forbidden`)."
# Who may join `post:<id>`; registered in server/app.py.
room_check = reports.room_check


@routes.post(
    "/api/v1/topics",
    body=TopicIn,
    response=TopicOut,
    status=201,
    roles=service.TOPIC_ROLES,
    errors=frozenset({409}),
    description="Creators, moderators and admins open topics; names and slugs are unique.",
)
async def create_topic(request: web.Request, body: TopicIn) -> TopicOut:
    """Open a topic"""
    runtime = request.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        return await service.create_topic(
            uow,
            creator_id=request[USER_ID],
            name=body.name,
            slug=body.slug,
            description=body.description,
            now=runtime.clock.now(),
        )


@routes.get(
    "/api/v1/topics", query=PageQuery, response=Page[TopicOut], auth=False, errors=frozenset({400})
)
async def list_topics(request: web.Request, query: PageQuery) -> Page[TopicOut]:
    """Topics, newest first"""
    async with request.app[RUNTIME].db.connection() as conn:
        return await queries.list_topics(conn, limit=query.limit, cursor=query.cursor)


@routes.get("/api/v1/topics/{id}", params=TopicPath, response=TopicOut, auth=False)
async def get_topic(request: web.Request, params: TopicPath) -> TopicOut:
    """One topic"""
    async with request.app[RUNTIME].db.connection() as conn:
        return await queries.get_topic(conn, topic_id=params.id)


@routes.post(
    "/api/v1/topics/{id}/join",
    params=TopicPath,
    response=Membership,
    description="Joining again is a no-op.",
)
async def join_topic(request: web.Request, params: TopicPath) -> Membership:
    """Join a topic"""
    runtime = request.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        return await members.join_topic(
            uow, user_id=request[USER_ID], topic_id=params.id, now=runtime.clock.now()
        )


@routes.delete("/api/v1/topics/{id}/join", params=TopicPath, response=Membership)
async def leave_topic(request: web.Request, params: TopicPath) -> Membership:
    """Leave a topic"""
    async with request.app[RUNTIME].db.unit_of_work() as uow:
        return await members.leave_topic(uow, user_id=request[USER_ID], topic_id=params.id)


@routes.get("/api/v1/me/topics", query=PageQuery, response=Page[TopicOut], errors=frozenset({400}))
async def my_topics(request: web.Request, query: PageQuery) -> Page[TopicOut]:
    """The topics I joined, latest first"""
    async with request.app[RUNTIME].db.connection() as conn:
        return await queries.my_topics(
            conn, user_id=request[USER_ID], limit=query.limit, cursor=query.cursor
        )


@routes.post(
    "/api/v1/topics/{id}/posts",
    params=TopicPath,
    body=PostIn,
    response=PostOut,
    status=201,
    idempotent=True,
    errors=frozenset({422}),
    description="Screened like content: 422 `moderation.flagged`, or held as `pending`.",
)
async def create_post(request: web.Request, params: TopicPath, body: PostIn) -> PostOut:
    """Post in a topic"""
    runtime = request.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        return await service.create_post(
            uow,
            author_id=request[USER_ID],
            topic_id=params.id,
            title=body.title,
            body=body.body,
            policy=screening.policy_of(request.app[SETTINGS]),
            now=runtime.clock.now(),
        )


@routes.get(
    "/api/v1/topics/{id}/posts",
    params=TopicPath,
    query=PostListQuery,
    response=Page[PostOut],
    auth="optional",
    errors=frozenset({400}),
)
async def list_posts(
    request: web.Request, params: TopicPath, query: PostListQuery
) -> Page[PostOut]:
    """A topic's posts: pinned first, then newest or most replied"""
    async with request.app[RUNTIME].db.connection() as conn:
        return await queries.list_posts(
            conn,
            viewer=viewer_of(request),
            topic_id=params.id,
            sort=query.sort,
            limit=query.limit,
            cursor=query.cursor,
        )


@routes.get("/api/v1/posts/{id}", params=PostPath, response=PostOut, auth="optional")
async def get_post(request: web.Request, params: PostPath) -> PostOut:
    """One post"""
    async with request.app[RUNTIME].db.connection() as conn:
        return await queries.get_post(conn, viewer=viewer_of(request), post_id=params.id)


@routes.patch(
    "/api/v1/posts/{id}",
    params=PostPath,
    body=PostPatch,
    response=PostOut,
    errors=frozenset({409, 422}),
    description="The author only (403 `community.not_author`); marked edited, screened again.",
)
async def edit_post(request: web.Request, params: PostPath, body: PostPatch) -> PostOut:
    """Edit one's own post"""
    runtime = request.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        return await service.edit_post(
            uow,
            viewer=viewer_of(request),
            post_id=params.id,
            title=body.title,
            body=body.body,
            policy=screening.policy_of(request.app[SETTINGS]),
            now=runtime.clock.now(),
        )


@routes.delete(
    "/api/v1/posts/{id}",
    params=PostPath,
    status=204,
    description="Its author, the topic's owner or staff.",
)
async def delete_post(request: web.Request, params: PostPath) -> None:
    """Delete a post"""
    async with request.app[RUNTIME].db.unit_of_work() as uow:
        await service.delete_post(uow, viewer=viewer_of(request), post_id=params.id)


async def _steer(request: web.Request, post_id: int, what: str, value: bool) -> PostOut:
    async with request.app[RUNTIME].db.unit_of_work() as uow:
        return await service.steer_post(
            uow, viewer=viewer_of(request), post_id=post_id, what=what, value=value
        )


@routes.post(
    "/api/v1/posts/{id}/pin", params=PostPath, body=Flag, response=PostOut, description=STEER
)
async def pin_post(request: web.Request, params: PostPath, body: Flag) -> PostOut:
    """Pin a post to the top of its topic, or unpin it"""
    return await _steer(request, params.id, "pinned", body.value)


@routes.post(
    "/api/v1/posts/{id}/lock",
    params=PostPath,
    body=Flag,
    response=PostOut,
    description=STEER + " A locked post takes no new replies (409 `community.locked`).",
)
async def lock_post(request: web.Request, params: PostPath, body: Flag) -> PostOut:
    """Lock a post against new replies, or unlock it"""
    return await _steer(request, params.id, "locked", body.value)


async def _moderate(request: web.Request, post_id: int, action: str, note: str | None) -> PostOut:
    runtime = request.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        return await service.moderate_post(
            uow,
            moderator=viewer_of(request),
            post_id=post_id,
            action=action,
            note=note,
            ip=client_ip(request, request.app[SETTINGS].trust_forwarded_for),
            clock=runtime.clock,
        )


@routes.post(
    "/api/v1/moderation/posts/{id}/hide",
    params=PostPath,
    body=ModerationNote,
    response=PostOut,
    roles=MODERATORS,
    errors=frozenset({409}),
)
async def hide_post(request: web.Request, params: PostPath, body: ModerationNote) -> PostOut:
    """Hide a post (moderators)"""
    return await _moderate(request, params.id, "hide", body.note)


@routes.post(
    "/api/v1/moderation/posts/{id}/restore",
    params=PostPath,
    body=ModerationNote,
    response=PostOut,
    roles=MODERATORS,
    errors=frozenset({409}),
)
async def restore_post(request: web.Request, params: PostPath, body: ModerationNote) -> PostOut:
    """Restore a hidden or held post (moderators)"""
    return await _moderate(request, params.id, "restore", body.note)
