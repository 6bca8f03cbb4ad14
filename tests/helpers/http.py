"""HTTP platform helpers: the probe routes' header authentication."""

from __future__ import annotations

from aiohttp import web

from server.keys import ROUTES
from tests.server.http import probe


def with_header_auth(app: web.Application) -> None:
    app[ROUTES].authenticate = probe.header_user
