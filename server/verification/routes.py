"""Verification codes by email and SMS, code sign-in, password reset and change."""

from __future__ import annotations

from server.http.registry import RouteTable

routes = RouteTable(
    "verification", "Verification codes by email and SMS, code sign-in, password reset and change."
)
