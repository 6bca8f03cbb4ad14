"""HTTP routes: presence."""

from __future__ import annotations

from server.http.registry import RouteTable

routes = RouteTable("presence")
