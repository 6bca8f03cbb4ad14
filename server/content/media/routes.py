"""Media: uploads, their metadata, signed links to their files, attaching them to content."""

from __future__ import annotations

from datetime import timedelta

from aiohttp import BodyPartReader, MultipartReader, web

from server import uploads
from server.content.items.access import viewer_of
from server.content.items.schemas import ContentId
from server.content.media import service
from server.content.media.checks import REFUSALS
from server.content.media.schemas import (
    AttachMedia,
    MediaId,
    MediaOut,
    MediaUrl,
    UploadQuery,
    UrlQuery,
)
from server.http.errors import ValidationFailed
from server.http.registry import RouteTable
from server.keys import RUNTIME, USER_ID

routes = RouteTable("media", "Images, audio and video: uploads, processing, signed links.")
AUTHORS = ("creator", "admin")
KINDS = ("image", "audio", "video")
MAX_PARTS = 5


def _missing(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(fields={field: message})


async def _parts(request: web.Request, kind: str | None) -> tuple[str, BodyPartReader]:
    """The kind (query or a form field before the file) and the `file` part."""

    async def read_kind(part: BodyPartReader | MultipartReader) -> None:
        nonlocal kind
        if not isinstance(part, BodyPartReader):
            raise REFUSALS.broken_multipart()
        if part.name != "kind":
            await part.release()
            return
        kind = (await part.text()).strip()[:16]
        if kind not in KINDS:
            raise _missing("kind", "One of image, audio, video.")

    part = await uploads.file_part(request, refusals=REFUSALS, max_parts=MAX_PARTS, other=read_kind)
    if kind is None:
        raise _missing("kind", "Send kind (image, audio, video) before the file.")
    return kind, part


@routes.post(
    "/api/v1/media",
    query=UploadQuery,
    response=MediaOut,
    status=201,
    roles=AUTHORS,
    errors=frozenset({400, 413, 415, 422}),
    description="multipart/form-data: a field `kind` (image, audio or video; or `?kind=`) and "
    "then one part `file`. The type is decided by the file's content (magic bytes, then opened "
    "with Pillow or ffprobe), never by its name: anything else is 415 `media.unsupported_type` "
    "(SVG never). Past the kind's size limit: 413 `media.too_large`; an image decoding to too "
    "many pixels: 422 `media.too_many_pixels`. A media worker then makes the variants; "
    "`media.ready` (or `media.failed`) and `job.progress` events follow on the owner's socket.",
)
async def upload_media(request: web.Request, query: UploadQuery) -> MediaOut:
    """Upload an image, audio or video file"""
    runtime, user_id = request.app[RUNTIME], request[USER_ID]
    settings = runtime.settings
    if query.kind:
        limit = service.max_bytes(settings, query.kind)
        uploads.refuse_declared_length(request, limit=limit, refusals=REFUSALS)
    kind, part = await _parts(request, query.kind)
    key, size, inspected = await service.receive_upload(
        runtime.storage,
        settings,
        owner_id=user_id,
        kind=kind,
        chunks=uploads.chunks_of(part, REFUSALS),
    )
    async with uploads.handing_over(runtime.storage, key), runtime.db.unit_of_work() as uow:
        return await service.create_media(
            uow,
            owner_id=user_id,
            kind=kind,
            key=key,
            size=size,
            name=part.filename,
            inspected=inspected,
            now=runtime.clock.now(),
        )


@routes.get(
    "/api/v1/media/{media_id}",
    params=MediaId,
    response=MediaOut,
    auth="optional",
    description="The owner and staff see any media; others only media attached to a content "
    "item they may at least preview (404 otherwise).",
)
async def get_media(request: web.Request, params: MediaId) -> MediaOut:
    """A media's metadata and processing state"""
    runtime = request.app[RUNTIME]
    async with runtime.db.connection() as conn:
        return await service.get_media(
            conn, viewer=viewer_of(request), media_id=params.media_id, now=runtime.clock.now()
        )


@routes.get(
    "/api/v1/media/{media_id}/url",
    params=MediaId,
    query=UrlQuery,
    response=MediaUrl,
    auth="optional",
    errors=frozenset({409}),
    description="A signed link to `/files/<key>`, valid for MEDIA_URL_SECONDS and bound to the "
    "caller when signed in (send the bearer token when fetching it). Media of a paid item "
    "need FULL access: 403 `media.paywalled` with only a preview, 404 without any; 409 "
    "`media.not_ready` while processing; 404 `media.variant_missing` for a variant it lacks.",
)
async def get_media_url(request: web.Request, params: MediaId, query: UrlQuery) -> MediaUrl:
    """A signed, expiring link to a media file"""
    runtime = request.app[RUNTIME]
    async with runtime.db.connection() as conn:
        return await service.media_url(
            conn,
            signer=runtime.signer,
            viewer=viewer_of(request),
            media_id=params.media_id,
            variant=query.variant,
            ttl=timedelta(seconds=runtime.settings.media_url_seconds),
            now=runtime.clock.now(),
        )


@routes.get(
    "/api/v1/media/{media_id}/file",
    params=MediaId,
    query=UrlQuery,
    status=302,
    auth="optional",
    errors=frozenset({409}),
    description="Redirects (302) to the signed link `/url` would answer, under the same rules. "
    "Article bodies refer to their images as `![alt](media:<id>)`, rendered to this address.",
)
async def open_media(request: web.Request, params: MediaId, query: UrlQuery) -> web.Response:
    """Go to a media file (a redirect to its signed, expiring link)"""
    link = await get_media_url(request, params=params, query=query)
    return web.Response(
        status=302, headers={"Location": link.url, "Cache-Control": "private, no-store"}
    )


@routes.post(
    "/api/v1/contents/{content_id}/media",
    params=ContentId,
    body=AttachMedia,
    response=MediaOut,
    errors=frozenset({409}),
    description="The author attaches one of their own ready media to the item; readers then get "
    "links to it as far as the item's access allows.",
)
async def attach_media(request: web.Request, params: ContentId, body: AttachMedia) -> MediaOut:
    """Attach a media to a content item"""
    runtime = request.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        return await service.attach(
            uow,
            viewer=viewer_of(request),
            content_id=params.content_id,
            media_id=body.media_id,
            now=runtime.clock.now(),
        )
