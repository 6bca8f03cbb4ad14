"""Sign-in with GitHub, WeChat, QQ and Weibo; linking providers to an account."""

from __future__ import annotations

from aiohttp import web

from server import screening
from server.http.errors import ApiError
from server.http.limits import client_ip
from server.http.registry import RouteTable
from server.identity.auth.responses import SIGN_IN_DESCRIPTION, SignInResult, signed_in_response
from server.identity.auth.service import Client
from server.identity.oauth import service, states
from server.identity.oauth.providers import ProviderIdentity
from server.identity.oauth.schemas import (
    AuthorizeIn,
    AuthorizeOut,
    CallbackIn,
    CallbackOut,
    DeviceFields,
    LinkedAccountOut,
    LinkedAccountsOut,
    MiniProgramLoginIn,
    ProviderPath,
    ProvidersOut,
)
from server.keys import RUNTIME, SESSION_GUARD, SETTINGS, TOKENS, USER_ID

routes = RouteTable(
    "oauth", "Sign-in with GitHub, WeChat, QQ and Weibo; linking providers to an account."
)


def _client(request: web.Request, body: DeviceFields) -> Client:
    return Client(
        ip=client_ip(request, request.app[SETTINGS].trust_forwarded_for),
        user_agent=request.headers.get("User-Agent"),
        device_name=body.device_name,
        platform=body.platform,
    )


async def _caller(request: web.Request) -> int | None:
    """The user of a valid bearer token, if one came: a bind must be finished by its starter,
    while a stale token left in a client never stands in the way of signing in."""
    if "Authorization" not in request.headers:
        return None
    try:
        return await request.app[SESSION_GUARD](request)
    except ApiError:
        return None


@routes.get("/api/v1/auth/oauth/providers", response=ProvidersOut, auth=False)
async def list_providers(request: web.Request) -> ProvidersOut:
    """The sign-in providers enabled on this deployment"""
    return ProvidersOut(items=service.list_providers(request.app[SETTINGS]))


@routes.post(
    "/api/v1/auth/oauth/{provider}/authorize",
    params=ProviderPath,
    body=AuthorizeIn,
    response=AuthorizeOut,
    auth=False,
    errors=frozenset({401, 403}),
    description="`mode: bind` needs a bearer token and links the provider to that account.",
)
async def authorize(request: web.Request, params: ProviderPath, body: AuthorizeIn) -> AuthorizeOut:
    """Start a sign-in (or a link): where to send the user, and the state to expect back"""
    runtime, settings = request.app[RUNTIME], request.app[SETTINGS]
    provider = service.provider_for(settings, params.provider)
    user_id = await request.app[SESSION_GUARD](request) if body.mode == "bind" else None
    async with runtime.db.unit_of_work() as uow:
        return await states.start_authorization(
            uow.session,
            provider=provider,
            redirect_uri=body.redirect_uri,
            allowlist=settings.oauth_redirect_allowlist,
            user_id=user_id,
            ttl_seconds=settings.oauth_state_seconds,
            now=runtime.clock.now(),
        )


@routes.post(
    "/api/v1/auth/oauth/{provider}/callback",
    params=ProviderPath,
    body=CallbackIn,
    response=CallbackOut,
    auth=False,
    errors=frozenset({403, 409}),
    description="Login: " + SIGN_IN_DESCRIPTION + " Bind (send the token of the account that "
    "started it): answers the linked account. The state is spent whatever the provider says.",
)
async def callback(
    request: web.Request, params: ProviderPath, body: CallbackIn
) -> web.Response | LinkedAccountOut:
    """Finish a sign-in or a link with the code and state the provider sent back"""
    runtime, settings = request.app[RUNTIME], request.app[SETTINGS]
    provider = service.provider_for(settings, params.provider)
    caller_id = await _caller(request)
    async with runtime.db.unit_of_work() as uow:
        pending = await states.claim_state(
            uow.session,
            provider=provider.name,
            state=body.state,
            caller_id=caller_id,
            now=runtime.clock.now(),
        )
    identity = await service.identify(
        provider,
        code=body.code,
        pending=pending,
        timeout_seconds=settings.oauth_http_timeout_seconds,
    )
    if pending.user_id is None:
        return await _sign_in(request, identity, _client(request, body))
    async with runtime.db.unit_of_work() as uow:
        return await service.link(
            uow.session, identity=identity, user_id=pending.user_id, now=runtime.clock.now()
        )


@routes.post(
    "/api/v1/auth/oauth/wechat_mini/login",
    body=MiniProgramLoginIn,
    response=SignInResult,
    auth=False,
    errors=frozenset({403, 404, 409}),
    description=SIGN_IN_DESCRIPTION,
)
async def wechat_mini_login(request: web.Request, body: MiniProgramLoginIn) -> web.Response:
    """Sign in from the WeChat mini-program with the code of wx.login()"""
    settings = request.app[SETTINGS]
    provider = service.provider_for(settings, "wechat_mini", redirect=False)
    identity = await service.identify(
        provider, code=body.code, pending=None, timeout_seconds=settings.oauth_http_timeout_seconds
    )
    return await _sign_in(request, identity, _client(request, body))


async def _sign_in(
    request: web.Request, identity: ProviderIdentity, client: Client
) -> web.Response:
    """Sign in; a first sign-in racing another for the same identity is retried once."""
    runtime = request.app[RUNTIME]

    async def attempt() -> web.Response:
        async with runtime.db.unit_of_work() as uow:
            result = await service.sign_in(
                uow,
                identity=identity,
                tokens=request.app[TOKENS],
                pii=runtime.pii,
                client=client,
                now=runtime.clock.now(),
                word_list=screening.policy_of(request.app[SETTINGS]).word_list,
            )
        return signed_in_response(result)

    try:
        return await attempt()
    except service.SignInRace:
        return await attempt()


@routes.get("/api/v1/me/oauth", response=LinkedAccountsOut)
async def list_linked_accounts(request: web.Request) -> LinkedAccountsOut:
    """The provider accounts linked to yours"""
    async with request.app[RUNTIME].db.read() as session:
        return LinkedAccountsOut(items=await service.list_links(session, user_id=request[USER_ID]))


@routes.delete(
    "/api/v1/me/oauth/{provider}", params=ProviderPath, status=204, errors=frozenset({409})
)
async def unlink(request: web.Request, params: ProviderPath) -> None:
    """Unlink a provider (not the last way your account can sign in)"""
    async with request.app[RUNTIME].db.unit_of_work() as uow:
        await service.unlink(uow.session, user_id=request[USER_ID], provider=params.provider)
