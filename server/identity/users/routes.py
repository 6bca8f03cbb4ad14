"""Profiles: your own (with settings and the avatar upload), other users', and user search."""

from __future__ import annotations

from aiohttp import web

from server import screening, uploads
from server.http.pagination import Page
from server.http.registry import RouteTable
from server.identity.users import avatars, service
from server.identity.users.schemas import (
    AvatarAccepted,
    ProfileOut,
    ProfilePatch,
    ProfileUpdate,
    PublicProfileOut,
    UserOut,
    UserPath,
    UserSearchQuery,
    UserSummary,
)
from server.keys import RUNTIME, SETTINGS, USER_ID

routes = RouteTable("users", "Profiles.")
# Parts (other fields) skipped before the avatar's file part.
MAX_SKIPPED_PARTS = 8


@routes.get("/api/v1/me", response=UserOut)
async def get_me(request: web.Request) -> UserOut:
    """The signed-in user"""
    async with request.app[RUNTIME].db.connection() as conn:
        return await service.get_profile(conn, user_id=request[USER_ID])


@routes.patch("/api/v1/me", body=ProfilePatch, response=UserOut)
async def update_me(request: web.Request, body: ProfilePatch) -> UserOut:
    """Change the nickname or the avatar"""
    runtime = request.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        return await service.update_profile(
            uow.session,
            user_id=request[USER_ID],
            changes=body,
            clock=runtime.clock,
            word_list=screening.policy_of(request.app[SETTINGS]).word_list,
        )


@routes.get("/api/v1/me/profile", response=ProfileOut)
async def get_my_profile(request: web.Request) -> ProfileOut:
    """Your whole profile, with preferences and privacy settings"""
    async with request.app[RUNTIME].db.read() as session:
        return await service.get_own_profile(session, user_id=request[USER_ID])


@routes.patch("/api/v1/me/profile", body=ProfileUpdate, response=ProfileOut)
async def update_my_profile(request: web.Request, body: ProfileUpdate) -> ProfileOut:
    """Change profile fields; preferences and privacy change only the keys sent"""
    runtime = request.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        return await service.update_own_profile(
            uow.session,
            user_id=request[USER_ID],
            changes=body,
            clock=runtime.clock,
            word_list=screening.policy_of(request.app[SETTINGS]).word_list,
        )


@routes.post(
    "/api/v1/me/avatar",
    response=AvatarAccepted,
    status=202,
    errors=frozenset({400, 413, 415, 422}),
    description="multipart/form-data with one part `file`: a JPEG, PNG, WebP or GIF image "
    "(checked by its content, not its name). The 256 and 64 px sizes are made in the background; "
    "a `user.updated` event with the new `avatar_url` follows (`user.avatar_failed` if the image "
    "cannot be decoded).",
)
async def upload_avatar(request: web.Request) -> AvatarAccepted:
    """Upload a new avatar image"""
    runtime, user_id = request.app[RUNTIME], request[USER_ID]
    settings = runtime.settings
    refusals = avatars.REFUSALS
    uploads.refuse_declared_length(request, limit=settings.avatar_max_bytes, refusals=refusals)
    part = await uploads.file_part(request, refusals=refusals, max_parts=MAX_SKIPPED_PARTS + 1)
    key = await avatars.receive_avatar(
        runtime.storage,
        user_id=user_id,
        chunks=uploads.chunks_of(part, refusals),
        max_bytes=settings.avatar_max_bytes,
        max_pixels=settings.avatar_max_pixels,
    )
    async with uploads.handing_over(runtime.storage, key), runtime.db.unit_of_work() as uow:
        service.queue_avatar(uow, user_id=user_id, key=key)
    return AvatarAccepted()


@routes.get(
    "/api/v1/users",
    query=UserSearchQuery,
    response=Page[UserSummary],
    errors=frozenset({400}),
)
async def search_users(request: web.Request, query: UserSearchQuery) -> Page[UserSummary]:
    """Find users by part of their nickname (those who allow it)"""
    async with request.app[RUNTIME].db.read() as session:
        return await service.search_users(
            session, q=query.q, limit=query.limit, cursor=query.cursor
        )


@routes.get(
    "/api/v1/users/{id}",
    params=UserPath,
    response=PublicProfileOut,
    auth="optional",
    errors=frozenset({401}),
    description="Open to everyone; with a bearer token it also says how you and the user "
    "follow each other.",
)
async def get_user(request: web.Request, params: UserPath) -> PublicProfileOut:
    """A user's public profile"""
    viewer = request.get(USER_ID)
    async with request.app[RUNTIME].db.read() as session:
        return await service.get_public_profile(session, user_id=params.id, viewer_id=viewer)
