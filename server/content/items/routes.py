"""Content: reading, writing, versions, review, categories, tags and entitlements."""

from __future__ import annotations

from aiohttp import web

from server import screening
from server.content import counters
from server.content.items import lifecycle, queries, service, taxonomy
from server.content.items.access import viewer_of
from server.content.items.schemas import (
    CategoryId,
    CategoryIn,
    CategoryOut,
    CompareQuery,
    Comparison,
    ContentCreate,
    ContentId,
    ContentOut,
    ContentPatch,
    ContentSummary,
    DraftOut,
    DraftSave,
    DraftSaved,
    EntitlementGrant,
    EntitlementOut,
    ListQuery,
    MineQuery,
    Rejection,
    Review,
    Submit,
    TagOut,
    TagQuery,
    VersionCreate,
    VersionDetail,
    VersionOut,
    VersionPath,
)
from server.http.limits import client_ip
from server.http.pagination import Page, PageQuery
from server.http.registry import RouteTable
from server.keys import RUNTIME, SETTINGS, USER_ID

routes = RouteTable("content", "Articles, audio, video and courses: reading, writing, review.")
AUTHORS = ("creator", "admin")
MODERATORS = ("moderator", "admin")


@routes.get("/api/v1/contents", query=ListQuery, response=Page[ContentSummary], auth="optional")
async def list_contents(request: web.Request, query: ListQuery) -> Page[ContentSummary]:
    """Published content, newest first, filtered by kind, category, tag, author or price"""
    runtime = request.app[RUNTIME]
    async with runtime.db.connection() as conn:
        return await queries.list_published(conn, query=query, now=runtime.clock.now())


@routes.post(
    "/api/v1/contents",
    body=ContentCreate,
    response=DraftOut,
    status=201,
    roles=AUTHORS,
    errors=frozenset({422}),
)
async def create_content(request: web.Request, body: ContentCreate) -> DraftOut:
    """Start a draft (an article, audio, video, course, or a chapter of one of your courses)"""
    runtime = request.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        return await service.create_content(
            uow, viewer=viewer_of(request), body=body, now=runtime.clock.now()
        )


@routes.get("/api/v1/contents/{content_id}", params=ContentId, response=ContentOut, auth="optional")
async def get_content(request: web.Request, params: ContentId) -> ContentOut:
    """A published item: the whole body if you may read it, else its free preview"""
    runtime, viewer = request.app[RUNTIME], viewer_of(request)
    async with runtime.db.connection() as conn:
        item = await queries.get_published(
            conn, viewer=viewer, content_id=params.content_id, now=runtime.clock.now()
        )
    ip = client_ip(request, request.app[SETTINGS].trust_forwarded_for)
    await counters.record_view(runtime, content_id=item.id, user_id=viewer.user_id, ip=ip)
    return item


@routes.patch(
    "/api/v1/contents/{content_id}",
    params=ContentId,
    body=ContentPatch,
    response=DraftOut,
    errors=frozenset({422}),
)
async def update_content(request: web.Request, params: ContentId, body: ContentPatch) -> DraftOut:
    """Change price, access, category, tags, cover or position"""
    runtime = request.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        return await service.update_settings(
            uow,
            viewer=viewer_of(request),
            content_id=params.content_id,
            changes=body,
            now=runtime.clock.now(),
        )


@routes.delete(
    "/api/v1/contents/{content_id}", params=ContentId, status=204, errors=frozenset({409})
)
async def delete_content(request: web.Request, params: ContentId) -> None:
    """Delete a draft that was never published"""
    runtime = request.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        await service.delete_draft(
            uow, viewer=viewer_of(request), content_id=params.content_id, now=runtime.clock.now()
        )


@routes.get("/api/v1/contents/{content_id}/draft", params=ContentId, response=DraftOut)
async def get_draft(request: web.Request, params: ContentId) -> DraftOut:
    """The working copy and state (author, moderators)"""
    async with request.app[RUNTIME].db.read() as session:
        return await service.get_draft(
            session, viewer=viewer_of(request), content_id=params.content_id
        )


@routes.put(
    "/api/v1/contents/{content_id}/draft",
    params=ContentId,
    body=DraftSave,
    response=DraftSaved,
    errors=frozenset({409}),
)
async def save_draft(request: web.Request, params: ContentId, body: DraftSave) -> DraftSaved:
    """Autosave the working copy (409 when another save came first)"""
    runtime = request.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        return await service.save_draft(
            uow,
            viewer=viewer_of(request),
            content_id=params.content_id,
            changes=body,
            now=runtime.clock.now(),
        )


@routes.post(
    "/api/v1/contents/{content_id}/versions",
    params=ContentId,
    body=VersionCreate,
    response=VersionOut,
    status=201,
)
async def save_version(request: web.Request, params: ContentId, body: VersionCreate) -> VersionOut:
    """Keep the working copy as a version"""
    runtime = request.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        return await service.save_version(
            uow,
            viewer=viewer_of(request),
            content_id=params.content_id,
            note=body.note,
            now=runtime.clock.now(),
        )


@routes.get("/api/v1/contents/{content_id}/versions", params=ContentId, response=list[VersionOut])
async def list_versions(request: web.Request, params: ContentId) -> list[VersionOut]:
    """Versions, newest first"""
    async with request.app[RUNTIME].db.read() as session:
        return await service.list_versions(
            session, viewer=viewer_of(request), content_id=params.content_id
        )


@routes.get(
    "/api/v1/contents/{content_id}/versions/{number}", params=VersionPath, response=VersionDetail
)
async def get_version(request: web.Request, params: VersionPath) -> VersionDetail:
    """One version in full"""
    async with request.app[RUNTIME].db.read() as session:
        return await service.get_version(
            session, viewer=viewer_of(request), content_id=params.content_id, number=params.number
        )


@routes.get(
    "/api/v1/contents/{content_id}/compare",
    params=ContentId,
    query=CompareQuery,
    response=Comparison,
)
async def compare_versions(
    request: web.Request, params: ContentId, query: CompareQuery
) -> Comparison:
    """A unified diff between two versions, or a version and the working copy"""
    async with request.app[RUNTIME].db.read() as session:
        return await service.compare(
            session,
            viewer=viewer_of(request),
            content_id=params.content_id,
            start=query.from_,
            end=query.to,
        )


@routes.post(
    "/api/v1/contents/{content_id}/versions/{number}/revert",
    params=VersionPath,
    response=DraftOut,
    errors=frozenset({409}),
)
async def revert_version(request: web.Request, params: VersionPath) -> DraftOut:
    """Make a version the working copy (the current one is kept as a version first)"""
    runtime = request.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        return await service.revert(
            uow,
            viewer=viewer_of(request),
            content_id=params.content_id,
            number=params.number,
            now=runtime.clock.now(),
        )


@routes.post(
    "/api/v1/contents/{content_id}/submit",
    params=ContentId,
    body=Submit,
    response=DraftOut,
    errors=frozenset({409}),
)
async def submit(request: web.Request, params: ContentId, body: Submit) -> DraftOut:
    """Send the working copy for review, to be published now or at `publish_at`"""
    runtime = request.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        return await lifecycle.submit(
            uow,
            viewer=viewer_of(request),
            content_id=params.content_id,
            publish_at=body.publish_at,
            review_required=request.app[SETTINGS].content_review_required,
            now=runtime.clock.now(),
            screening_policy=screening.policy_of(request.app[SETTINGS]),
        )


@routes.post(
    "/api/v1/contents/{content_id}/archive",
    params=ContentId,
    response=DraftOut,
    errors=frozenset({409}),
)
async def archive(request: web.Request, params: ContentId) -> DraftOut:
    """Withdraw a published item (those entitled keep reading it)"""
    runtime = request.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        return await lifecycle.archive(
            uow, viewer=viewer_of(request), content_id=params.content_id, now=runtime.clock.now()
        )


@routes.post(
    "/api/v1/contents/{content_id}/restore",
    params=ContentId,
    response=DraftOut,
    errors=frozenset({409}),
)
async def restore(request: web.Request, params: ContentId) -> DraftOut:
    """Publish an archived item again"""
    runtime = request.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        return await lifecycle.restore(
            uow, viewer=viewer_of(request), content_id=params.content_id, now=runtime.clock.now()
        )


@routes.get("/api/v1/me/contents", query=MineQuery, response=Page[ContentSummary])
async def my_contents(request: web.Request, query: MineQuery) -> Page[ContentSummary]:
    """Your own content in every state, newest first"""
    async with request.app[RUNTIME].db.connection() as conn:
        return await queries.list_mine(
            conn,
            author_id=request[USER_ID],
            status=query.status,
            limit=query.limit,
            cursor=query.cursor,
        )


@routes.get(
    "/api/v1/moderation/contents",
    query=PageQuery,
    response=Page[ContentSummary],
    roles=MODERATORS,
)
async def review_queue(request: web.Request, query: PageQuery) -> Page[ContentSummary]:
    """Content waiting for review, oldest first"""
    async with request.app[RUNTIME].db.connection() as conn:
        return await queries.review_queue(conn, limit=query.limit, cursor=query.cursor)


@routes.post(
    "/api/v1/moderation/contents/{content_id}/approve",
    params=ContentId,
    body=Review,
    response=DraftOut,
    roles=MODERATORS,
    errors=frozenset({409}),
)
async def approve(request: web.Request, params: ContentId, body: Review) -> DraftOut:
    """Approve the version in review: published now or at its scheduled time"""
    runtime = request.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        return await lifecycle.approve(
            uow, content_id=params.content_id, note=body.note, now=runtime.clock.now()
        )


@routes.post(
    "/api/v1/moderation/contents/{content_id}/reject",
    params=ContentId,
    body=Rejection,
    response=DraftOut,
    roles=MODERATORS,
    errors=frozenset({409}),
)
async def reject(request: web.Request, params: ContentId, body: Rejection) -> DraftOut:
    """Send the version in review back to its author with a reason"""
    runtime = request.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        return await lifecycle.reject(
            uow, content_id=params.content_id, reason=body.reason, now=runtime.clock.now()
        )


@routes.get("/api/v1/categories", response=list[CategoryOut], auth=False)
async def list_categories(request: web.Request) -> list[CategoryOut]:
    """The category tree, parents before their children"""
    async with request.app[RUNTIME].db.connection() as conn:
        return await taxonomy.list_categories(conn)


@routes.post(
    "/api/v1/categories",
    body=CategoryIn,
    response=CategoryOut,
    status=201,
    roles=("admin",),
    errors=frozenset({409}),
)
async def create_category(request: web.Request, body: CategoryIn) -> CategoryOut:
    """Add a category"""
    async with request.app[RUNTIME].db.unit_of_work() as uow:
        return await taxonomy.create_category(uow.session, body=body)


@routes.delete(
    "/api/v1/categories/{category_id}",
    params=CategoryId,
    status=204,
    roles=("admin",),
    errors=frozenset({409}),
)
async def delete_category(request: web.Request, params: CategoryId) -> None:
    """Remove an empty category"""
    async with request.app[RUNTIME].db.unit_of_work() as uow:
        await taxonomy.delete_category(uow.session, category_id=params.category_id)


@routes.get("/api/v1/tags", query=TagQuery, response=list[TagOut], auth=False)
async def list_tags(request: web.Request, query: TagQuery) -> list[TagOut]:
    """Tags by use, optionally those starting with `q`"""
    async with request.app[RUNTIME].db.connection() as conn:
        return await taxonomy.popular_tags(conn, prefix=query.q, limit=query.limit)


@routes.post(
    "/api/v1/admin/entitlements",
    body=EntitlementGrant,
    response=EntitlementOut,
    status=201,
    roles=("admin",),
)
async def grant_entitlement(request: web.Request, body: EntitlementGrant) -> EntitlementOut:
    """Let a user read a content item, a plan's contents or everything members read"""
    runtime = request.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        return await service.grant_by_admin(
            uow.session, admin_id=request[USER_ID], body=body, now=runtime.clock.now()
        )
