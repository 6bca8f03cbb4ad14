"""Signed-in sessions, two-factor authentication and push devices."""

from __future__ import annotations

from server.http.registry import RouteTable

routes = RouteTable("sessions", "Signed-in sessions, two-factor authentication and push devices.")
