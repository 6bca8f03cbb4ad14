"""HTTP routes: invoices."""

from __future__ import annotations

from server.http.registry import RouteTable

routes = RouteTable("invoices")
