"""HTTP routes: cart."""

from __future__ import annotations

from server.http.registry import RouteTable

routes = RouteTable("cart")
