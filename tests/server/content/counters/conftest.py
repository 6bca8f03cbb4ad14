"""The counters tests use the content tests' people."""

from tests.server.content.items.conftest import admin, creator, moderator, reader  # noqa: F401
