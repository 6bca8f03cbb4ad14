"""The composition root: the one place that wires the whole application."""

from __future__ import annotations

from aiohttp import web

from realtime.namespace import CLIENT_EVENTS, ROOMS, ClientEvents
from realtime.rooms import RoomAccess, requires_role
from realtime.server import create_socket_server
from server.commerce.cart import routes as cart_routes
from server.commerce.catalog import routes as catalog_routes
from server.commerce.coupons import routes as coupons_routes
from server.commerce.earnings import routes as earnings_routes
from server.commerce.earnings import service as earnings_service
from server.commerce.iap import routes as iap_routes
from server.commerce.invoices import routes as invoices_routes
from server.commerce.orders import routes as orders_routes
from server.commerce.payments import routes as payments_routes
from server.commerce.reviews import reports as reviews_reports
from server.commerce.reviews import routes as reviews_routes
from server.commerce.shipping import routes as shipping_routes
from server.commerce.subscriptions import routes as subscriptions_routes
from server.commerce.wallet import routes as wallet_routes
from server.content.discovery import routes as discovery_routes
from server.content.files import routes as files_routes
from server.content.items import indexing as content_indexing
from server.content.items import queries as content_queries
from server.content.items import routes as content_routes
from server.content.media import routes as media_routes
from server.content.moderation import routes as moderation_routes
from server.content.moderation import service as moderation_service
from server.content.search import routes as search_routes
from server.content.search import service as search_service
from server.http import system
from server.http.cors import CorsPolicy
from server.http.headers import hide_server_version, secure_headers
from server.http.idempotency import idempotent
from server.http.limits import limit_per_account
from server.http.middleware import pipeline
from server.http.registry import RouteRegistry, RouteTable
from server.identity.admin import routes as admin_routes
from server.identity.admin.routes import require_admin_second_factor
from server.identity.auth import passwords
from server.identity.auth import routes as auth_routes
from server.identity.auth.sessions import SessionGuard
from server.identity.auth.tokens import TokenService
from server.identity.creators import routes as creators_routes
from server.identity.oauth import routes as oauth_routes
from server.identity.sessions import routes as sessions_routes
from server.identity.users import routes as users_routes
from server.identity.verification import routes as verification_routes
from server.keys import METRICS, ROUTES, RUNTIME, SESSION_GUARD, SETTINGS, SOCKETS, TOKENS
from server.metrics import Metrics
from server.notify.announcements import routes as announcements_routes
from server.notify.notifications import routes as notifications_routes
from server.privacy.accounts import routes as accounts_routes
from server.resources import jobs_ctx, rate_limit_ctx, runtime_ctx, sockets_ctx
from server.settings import Settings
from server.social.blocks import routes as blocks_routes
from server.social.comments import reports as comments_reports
from server.social.comments import routes as comments_routes
from server.social.community import reports as community_reports
from server.social.community import routes as community_routes
from server.social.follows import routes as follows_routes
from server.social.messages import routes as messages_routes
from server.social.messages import service as messages_service
from server.social.messages import sockets as messages_sockets
from server.social.presence import routes as presence_routes
from server.social.reactions import routes as reactions_routes
from server.tutor.catalog import routes as tutor_catalog_routes
from server.tutor.conversations import routes as tutor_conversations_routes
from server.tutor.quotas import routes as tutor_quotas_routes
from server.tutor.retrieval import indexing as tutor_indexing
from server.tutor.runs import routes as tutor_runs_routes

# Domains add their route tables here, in the order they appear in the API document.
ROUTE_TABLES = [
    system.routes,
    auth_routes.routes,
    verification_routes.routes,
    oauth_routes.routes,
    sessions_routes.routes,
    users_routes.routes,
    follows_routes.routes,
    files_routes.routes,
    content_routes.routes,
    moderation_routes.routes,
    discovery_routes.routes,
    media_routes.routes,
    search_routes.routes,
    creators_routes.routes,
    accounts_routes.routes,
    catalog_routes.routes,
    cart_routes.routes,
    coupons_routes.routes,
    orders_routes.routes,
    payments_routes.routes,
    wallet_routes.routes,
    iap_routes.routes,
    subscriptions_routes.routes,
    earnings_routes.routes,
    reviews_routes.routes,
    shipping_routes.routes,
    invoices_routes.routes,
    comments_routes.routes,
    reactions_routes.routes,
    community_routes.routes,
    messages_routes.routes,
    blocks_routes.routes,
    presence_routes.routes,
    announcements_routes.routes,
    notifications_routes.routes,
    # -- tutor --
    tutor_catalog_routes.routes,
    tutor_conversations_routes.routes,
    tutor_runs_routes.routes,
    tutor_quotas_routes.routes,
    admin_routes.routes,
]


def register_moderation_targets() -> None:
    """What reports may name beyond content and users (moderation's own), and what upholding
    one does to its target. Registering again replaces the same entries."""
    register = moderation_service.register_target
    register("comment", comments_reports.check_comment, comments_reports.uphold_comment)
    register("post", community_reports.check_post, community_reports.uphold_post)
    register("message", messages_service.check_report, messages_service.uphold_report)
    register("review", reviews_reports.check_review, reviews_reports.uphold_review)


def cors_policy(settings: Settings) -> CorsPolicy:
    """Origins from settings; any origin in development when none is configured."""
    allow_any = not settings.cors_origins and settings.environment != "production"
    return CorsPolicy(settings.cors_origins, allow_any=allow_any)


def create_app(
    settings: Settings | None = None, *, route_tables: list[RouteTable] | None = None
) -> web.Application:
    settings = settings or Settings()
    # Ports a domain fills from another it may not import: publishing keeps search current.
    content_indexing.register(search_service)
    content_indexing.follow(tutor_indexing.published_text_changed)
    passwords.configure(
        time_cost=settings.password_hash_time_cost,
        memory_kib=settings.password_hash_memory_kib,
        parallelism=settings.password_hash_parallelism,
    )
    app = web.Application(
        middlewares=[
            pipeline(
                cors_policy(settings),
                access_log=settings.logs_requests,
                trust_forwarded_for=settings.trust_forwarded_for,
            )
        ],
        client_max_size=settings.max_body_bytes,
    )
    app.on_response_prepare.append(secure_headers)
    hide_server_version()
    app[SETTINGS] = settings
    app[METRICS] = Metrics()
    # Reads (or, outside production, generates once) the signing key pair.
    app[TOKENS] = tokens = TokenService.from_settings(settings)
    app[SESSION_GUARD] = guard = SessionGuard(tokens, cache_seconds=settings.session_cache_seconds)

    registry = RouteRegistry()
    for table in ROUTE_TABLES if route_tables is None else route_tables:
        registry.include(table)
    registry.authenticate = guard
    registry.after_auth.extend([limit_per_account, require_admin_second_factor])
    registry.around_handler = idempotent
    registry.mount(app)
    app[ROUTES] = registry
    system.add_plain_routes(app)
    register_moderation_targets()

    sockets = create_socket_server(settings)
    sockets.attach(app)
    app[SOCKETS] = sockets
    # Who may join which room; domains add their checks here (they never import realtime).
    app[ROOMS] = rooms = RoomAccess()
    rooms.register("dashboard:platform", requires_role("admin"))
    rooms.register("content", content_queries.room_check(lambda: app[RUNTIME]))
    # -- commerce rooms --
    rooms.register("dashboard:creator", earnings_service.dashboard_room_check)
    # -- social rooms --
    rooms.register("post", community_routes.room_check(lambda: app[RUNTIME]))
    rooms.register("conversation", messages_sockets.room_check(lambda: app[RUNTIME]))
    rooms.register("presence", presence_routes.room_check(lambda: app[RUNTIME]))
    # Client events beyond subscribe/unsubscribe/auth.refresh, by name.
    app[CLIENT_EVENTS] = client_events = ClientEvents()
    for name, handler in messages_sockets.client_events(lambda: app[RUNTIME]).items():
        client_events.register(name, handler)

    app.cleanup_ctx.extend([runtime_ctx, sockets_ctx, rate_limit_ctx, jobs_ctx])
    return app
