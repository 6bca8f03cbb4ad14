"""Keyword screening: what a text contains from the word list, and the hook that screens a
submission before it becomes a version."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from models.content.items import Content
from models.content.moderation import ModerationFlag
from server.db import UnitOfWork
from server.http.errors import ValidationFailed
from server.screening import words
from server.settings import Settings

Mode = Literal["block", "queue"]
SUBMISSION_FIELDS = ("title", "summary", "body")


@dataclass(frozen=True, slots=True)
class Hit:
    term: str
    category: str
    field: str


@dataclass(frozen=True, slots=True)
class Screening:
    """The outcome: ok when nothing matched; otherwise the hits and a reason naming categories."""

    hits: tuple[Hit, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.hits

    @property
    def categories(self) -> list[str]:
        return sorted({hit.category for hit in self.hits})

    def fields(self) -> dict[str, list[str]]:
        """Each field with hits -> its categories (sorted), in the order the fields were given."""
        found: dict[str, set[str]] = {}
        for hit in self.hits:
            found.setdefault(hit.field, set()).add(hit.category)
        return {name: sorted(categories) for name, categories in found.items()}

    @property
    def reason(self) -> str:
        if self.ok:
            return ""
        parts = [f"{name}: {', '.join(cats)}" for name, cats in self.fields().items()]
        return "Flagged by keyword screening (" + "; ".join(parts) + ")."

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "hits": [{"term": h.term, "category": h.category, "field": h.field} for h in self.hits],
            "reason": self.reason,
        }


def screen(texts: dict[str, str], word_list: words.WordList) -> Screening:
    """Screen each named text; one hit per (field, term) however often the term occurs."""
    hits: list[Hit] = []
    for name, text in texts.items():
        seen: set[str] = set()
        for match in word_list.find(text):
            if match.term not in seen:
                seen.add(match.term)
                hits.append(Hit(match.term, match.category, name))
    return Screening(tuple(hits))


@dataclass(frozen=True, slots=True)
class ScreeningPolicy:
    """How submissions are screened: the word list, and whether a hit blocks or queues."""

    mode: Mode = "block"
    word_list: words.WordList = field(default_factory=lambda: words.load(None))


def policy_of(settings: Settings) -> ScreeningPolicy:
    """The deployment's policy (the word list file is re-read only when it changes)."""
    return ScreeningPolicy(
        mode=settings.moderation_mode,
        word_list=words.load(
            settings.moderation_words_file, builtin=settings.moderation_builtin_words
        ),
    )


class Flagged(ValidationFailed):
    code, message = (
        "moderation.flagged",
        "The text contains terms that are not allowed here; change the fields named.",
    )


async def record_flag(
    uow: UnitOfWork, *, target_type: str, target_id: int, result: Screening
) -> ModerationFlag:
    """Store what screening found (categories and fields, never the terms) for moderators."""
    flag = ModerationFlag(
        target_type=target_type,
        target_id=target_id,
        categories=result.categories,
        fields=result.fields(),
        terms_count=len({hit.term for hit in result.hits}),
        created_at=datetime.now(UTC),
    )
    uow.session.add(flag)
    await uow.session.flush()
    return flag


async def screen_submission(
    uow: UnitOfWork, *, content: Content, policy: ScreeningPolicy | None = None
) -> bool:
    """Screen the working copy; True when it must wait for a moderator whatever the settings.

    Block mode refuses flagged text with 422 `moderation.flagged` before anything changes; queue
    mode records a flag and lets the submission go to review.
    """
    policy = policy or ScreeningPolicy()
    result = screen(
        {name: getattr(content, name) or "" for name in SUBMISSION_FIELDS}, policy.word_list
    )
    if result.ok:
        return False
    if policy.mode == "block":
        raise Flagged(fields={name: ", ".join(cats) for name, cats in result.fields().items()})
    await record_flag(uow, target_type="content", target_id=content.id, result=result)
    return True
