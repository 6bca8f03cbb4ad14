"""Sign-in with GitHub, WeChat, QQ and Weibo; linking providers to an account."""

from __future__ import annotations

from server.http.registry import RouteTable

routes = RouteTable(
    "oauth", "Sign-in with GitHub, WeChat, QQ and Weibo; linking providers to an account."
)
