"""Administration: users (search, ban, roles) and the audit log."""

from __future__ import annotations

from server.http.registry import RouteTable

routes = RouteTable("admin", "Administration: users, roles, bans and the audit log.")
