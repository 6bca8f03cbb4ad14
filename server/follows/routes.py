"""Following creators and readers."""

from __future__ import annotations

from server.http.registry import RouteTable

routes = RouteTable("follows", "Following creators and readers.")
