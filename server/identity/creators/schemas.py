"""Creator applications: what an applicant sends, what they and the reviewers see."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    StringConstraints,
    UrlConstraints,
)

from server.http.ids import Id
from server.http.pagination import PageQuery
from server.identity.creators.resident_id import normalise_id_number, normalise_real_name

RealName = Annotated[
    str, Field(max_length=60, examples=["张三"]), AfterValidator(normalise_real_name)
]
IdNumber = Annotated[
    str, Field(max_length=32, examples=["11010519491231002X"]), AfterValidator(normalise_id_number)
]
Link = Annotated[HttpUrl, UrlConstraints(max_length=500, allowed_schemes=["http", "https"])]
Status = Literal["pending", "approved", "rejected"]


class ApplicationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    real_name: RealName = Field(description="As on the resident identity card, 2-30 characters.")
    id_number: IdNumber = Field(description="18-character PRC resident identity number.")
    pitch: Annotated[str, StringConstraints(strip_whitespace=True, min_length=20, max_length=2000)]
    links: list[Link] = Field(default_factory=list, max_length=5)


class ApplicationOut(BaseModel):
    """An application as its applicant sees it: name and ID number masked."""

    id: int
    status: Status
    real_name: str | None = Field(description="Masked, e.g. 张*; null once the account is erased.")
    id_number: str | None = Field(description="Masked, e.g. 1101**********123X.")
    pitch: str
    links: list[str]
    reason: str | None = Field(description="Why it was rejected.")
    created_at: datetime
    reviewed_at: datetime | None


class ReviewedApplicationOut(ApplicationOut):
    """An application as a reviewer sees it: the real name in full, never the ID number."""

    user_id: int
    verification: dict[str, Any] = Field(description="The provider's verdict and reference.")
    reviewed_by: int | None


class ApplicationQuery(PageQuery):
    status: Status | None = None


class ApplicationParams(BaseModel):
    id: Id


class RejectIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
