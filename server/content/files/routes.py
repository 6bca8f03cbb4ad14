"""GET /files/<key>: stored files, public or through signed expiring links."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, Field

from server.content.files import service
from server.http.registry import RouteTable
from server.keys import RUNTIME, USER_ID

routes = RouteTable("files", "Stored files: public avatars, and signed links to the rest.")


class FilePath(BaseModel):
    key: str = Field(max_length=1000)


class FileLink(BaseModel):
    expires: str | None = Field(None, max_length=20, description="Unix seconds (signed links).")
    sig: str | None = Field(None, max_length=100, description="The link's signature.")
    uid: str | None = Field(None, max_length=20, description="The user a link was made for.")


def _headers(stored: service.StoredFile, max_age: int) -> dict[str, str]:
    disposition = "inline" if stored.inline else "attachment"
    return {
        "Content-Type": stored.content_type,
        "Content-Disposition": f'{disposition}; filename="{stored.filename}"',
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Cache-Control": (
            f"public, max-age={max_age}, immutable" if stored.public else "private, no-store"
        ),
    }


@routes.get(
    "/files/{key:.+}",
    params=FilePath,
    query=FileLink,
    auth="optional",
    errors=frozenset({401, 403}),
    description="`public/...` keys need nothing; other keys need `expires` and `sig` from a "
    "signed link, and a link made for one user (`uid`) also needs that user's bearer token.",
)
async def serve_file(request: web.Request, params: FilePath, query: FileLink) -> web.StreamResponse:
    """A stored file"""
    runtime = request.app[RUNTIME]
    key = service.checked_key(params.key)
    caller = request.get(USER_ID) if query.uid else None
    service.authorize(
        runtime.signer,
        key,
        expires=query.expires,
        sig=query.sig,
        uid=query.uid,
        caller_id=caller,
        now=runtime.clock.now(),
    )
    stored = await service.locate(runtime.storage, key)
    headers = _headers(stored, runtime.settings.public_files_max_age_seconds)
    if stored.path is not None:
        return web.FileResponse(stored.path, headers=headers)
    return web.Response(body=await runtime.storage.read(key), headers=headers)
