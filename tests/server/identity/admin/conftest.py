"""Admin tests use the live-socket fixtures of the session tests."""

from __future__ import annotations

from tests.server.identity.sessions.conftest import connect, live, sockets  # noqa: F401
