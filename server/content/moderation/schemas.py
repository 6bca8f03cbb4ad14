"""Moderation API contract: reports, their resolution, and automatic flags."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from server.http.ids import Id
from server.http.pagination import PageQuery

TargetType = Literal["content", "comment", "message", "user", "post", "review"]
Reason = Literal[
    "spam", "scam", "abuse", "sexual", "violence", "illegal", "copyright", "privacy", "other"
]
ReportStatus = Literal["open", "resolved", "dismissed"]


class ReportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    target_type: TargetType
    target_id: Id
    reason: Reason
    detail: str | None = Field(None, max_length=2000, description="What is wrong, in words.")


class ReportOut(BaseModel):
    id: int
    reporter_id: int
    target_type: str
    target_id: int
    reason: str
    detail: str | None
    status: str = Field(description="open, resolved or dismissed.")
    resolved_by: int | None
    resolved_at: datetime | None
    resolution_note: str | None
    created_at: datetime


class ReportQuery(PageQuery):
    status: ReportStatus = Field("open", description="Which reports; open ones by default.")
    target_type: TargetType | None = None


class ReportId(BaseModel):
    report_id: Id


class Resolution(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["dismiss", "uphold"] = Field(
        description=(
            "dismiss: nothing wrong; uphold: the report is right (content is archived, a "
            "comment or post hidden, a message withdrawn for everyone, a review removed)."
        )
    )
    note: str | None = Field(None, max_length=500, description="Why; sent to the author on uphold.")


class FlagOut(BaseModel):
    id: int
    target_type: str
    target_id: int
    categories: list[str]
    fields: dict[str, list[str]]
    terms_count: int
    created_at: datetime
