"""Deactivating, deleting and exporting one's own account."""

from __future__ import annotations

from server.http.registry import RouteTable

routes = RouteTable("accounts", "Deactivating, deleting and exporting one's own account.")
