"""@mentions: `@nickname` in a comment names an account.

A mention runs from `@` to the next space or punctuation, so nicknames holding spaces cannot be
mentioned. A nickname several active accounts share names nobody (we cannot tell whom it
meant); at most MAX_MENTIONS names per comment are looked up, in one query.
"""

from __future__ import annotations

import re

from sqlalchemy import select

from models.identity.users import User
from server.db import Reader

MAX_MENTIONS = 10
_MENTION = re.compile(r"@([^\s@,.;:!?()\[\]{}<>\"'，。；：！？、（）【】《》“”‘’]{1,32})")


def names_in(text: str) -> list[str]:
    """The distinct nicknames a text mentions, in order of appearance."""
    seen: dict[str, None] = {}
    for match in _MENTION.finditer(text):
        seen.setdefault(match.group(1), None)
        if len(seen) == MAX_MENTIONS:
            break
    return list(seen)


async def resolve(reader: Reader, text: str) -> dict[int, str]:
    """Account id -> nickname for each unambiguous mention of an active account."""
    names = names_in(text)
    if not names:
        return {}
    rows = await reader.execute(
        select(User.id, User.nickname).where(User.nickname.in_(names), User.status == "active")
    )
    found: dict[str, list[int]] = {}
    for row in rows:
        found.setdefault(row.nickname, []).append(row.id)
    return {ids[0]: name for name, ids in found.items() if len(ids) == 1}
