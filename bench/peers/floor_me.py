"""The B2 floor: ``GET /api/v1/me`` on bare aiohttp + uvloop + orjson + an asyncmy pool, no ORM.

    DATABASE_URL=mysql+asyncmy://u:p@127.0.0.1:3306/db JWT_PUBLIC_KEY_FILE=pub.pem \\
        python -m bench.peers.floor_me --port 8081

Per request: the bearer JWT verified with PyJWT (RS256, issuer and audience, the same key as
ours), the session's state from a per-process dict cached for ``SESSION_CACHE_SECONDS`` (on a miss
one primary-key read of ``auth_sessions`` joined to ``users``, the same query ours runs), then one
``SELECT ... FROM users WHERE id = %s`` on an autocommit connection: one round trip. The answer is
the same JSON object as ours. What ours does and this does not: no ``last_seen_at`` touch (ours
writes it at most once a minute per session), no middleware, no transaction around the reads.
"""

from __future__ import annotations

import argparse
import os
import time
import urllib.parse
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncmy
import jwt
import orjson
import uvloop
from aiohttp import web
from asyncmy.pool import Pool

from bench.peers import load_public_key

ISSUER, AUDIENCE = "sharestack", "sharestack-api"
REQUIRED_CLAIMS = ["exp", "iat", "sub", "sid", "iss", "aud"]

SESSION_SQL = (
    "SELECT s.user_id, s.revoked_at, u.status, u.roles FROM auth_sessions s "
    "JOIN users u ON u.id = s.user_id WHERE s.id = %s"
)
USER_SQL = (
    "SELECT id, email, phone_masked, nickname, avatar_url, roles, created_at"
    " FROM users WHERE id = %s"
)
POOL = web.AppKey("pool", Pool)


@dataclass(frozen=True, slots=True)
class SessionState:
    user_id: int
    live: bool  # not revoked, user active


class Floor:
    def __init__(self, public_key: bytes, cache_seconds: float) -> None:
        self.public_key = load_public_key(public_key)
        self.cache_seconds = cache_seconds
        self.sessions: dict[int, tuple[float, SessionState | None]] = {}

    async def session_state(self, pool: Pool, session_id: int) -> SessionState | None:
        now = time.monotonic()
        cached = self.sessions.get(session_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        async with pool.acquire() as conn, conn.cursor() as cursor:
            await cursor.execute(SESSION_SQL, (session_id,))
            row = await cursor.fetchone()
        state = None if row is None else SessionState(row[0], row[1] is None and row[2] == "active")
        self.sessions[session_id] = (now + self.cache_seconds, state)
        return state

    async def me(self, request: web.Request) -> web.Response:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return _error(401, "auth.unauthorized")
        try:
            claims = jwt.decode(
                token,
                self.public_key,
                algorithms=["RS256"],
                audience=AUDIENCE,
                issuer=ISSUER,
                leeway=5,
                options={"require": REQUIRED_CLAIMS},
            )
            user_id, session_id = int(claims["sub"]), int(claims["sid"])
        except (jwt.PyJWTError, ValueError, TypeError):
            return _error(401, "auth.invalid_token")
        pool = request.app[POOL]
        state = await self.session_state(pool, session_id)
        if state is None or state.user_id != user_id or not state.live:
            return _error(401, "auth.invalid_token")
        async with pool.acquire() as conn, conn.cursor() as cursor:
            await cursor.execute(USER_SQL, (user_id,))
            row = await cursor.fetchone()
        if row is None:
            return _error(404, "users.not_found")
        body = {
            "id": row[0],
            "email": row[1],
            "phone": row[2],  # stored masked (the number itself is encrypted)
            "nickname": row[3],
            "avatar_url": row[4],
            "roles": orjson.loads(row[5]),
            "created_at": _utc(row[6]),
        }
        return web.Response(
            body=orjson.dumps(body, option=orjson.OPT_UTC_Z), content_type="application/json"
        )


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC)


def _error(status: int, code: str) -> web.Response:
    return web.Response(
        status=status,
        body=orjson.dumps({"error": {"code": code}}),
        content_type="application/json",
    )


async def healthz(_request: web.Request) -> web.Response:
    return web.Response(body=b'{"status":"ok"}', content_type="application/json")


def pool_arguments(url: str, pool_size: int) -> dict[str, Any]:
    """asyncmy.create_pool arguments for a SQLAlchemy-style ``mysql+asyncmy://`` URL."""
    parts = urllib.parse.urlsplit(url)
    return {
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or 3306,
        "user": urllib.parse.unquote(parts.username or ""),
        "password": urllib.parse.unquote(parts.password or ""),
        "db": parts.path.lstrip("/"),
        "charset": "utf8mb4",
        "autocommit": True,
        # As many connections as ours may hold: SQLAlchemy's pool_size plus max_overflow.
        "minsize": pool_size,
        "maxsize": 2 * pool_size,
        "connect_timeout": 5,
    }


def make_app(url: str, public_key: bytes, pool_size: int, cache_seconds: float) -> web.Application:
    floor = Floor(public_key, cache_seconds)
    app = web.Application()

    async def pool_context(app: web.Application) -> AsyncIterator[None]:
        pool = await asyncmy.create_pool(**pool_arguments(url, pool_size))
        app[POOL] = pool
        yield
        pool.close()
        await pool.wait_closed()

    app.cleanup_ctx.append(pool_context)
    app.router.add_get("/api/v1/me", floor.me)
    app.router.add_get("/healthz", healthz)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    app = make_app(
        os.environ["DATABASE_URL"],
        Path(os.environ["JWT_PUBLIC_KEY_FILE"]).read_bytes(),
        int(os.environ.get("DATABASE_POOL_SIZE", "10")),
        float(os.environ.get("SESSION_CACHE_SECONDS", "2")),
    )
    web.run_app(
        app,
        host=args.host,
        port=args.port,
        access_log=None,
        print=None,
        loop=uvloop.new_event_loop(),
    )


if __name__ == "__main__":
    main()
