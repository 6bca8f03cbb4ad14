"""Moderation helpers: the test word list."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp.test_utils import TestClient

# Terms of the test word list (the built-in list is on as well).
WORDS = "免费领取\tspam\n赌博网站\tgambling\ncasino\tgambling\n# a comment\n\nscam coin\n"
MakeApi = Callable[..., Awaitable[TestClient]]
