"""Applying to become a creator, with real-name verification."""

from __future__ import annotations

from server.http.registry import RouteTable

routes = RouteTable("creators", "Applying to become a creator, with real-name verification.")
