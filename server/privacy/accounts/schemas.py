"""Deactivating, deleting and exporting one's own account: requests and answers."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from server.http.ids import Id


class DeactivateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: str | None = Field(
        None, min_length=1, max_length=128, description="Required if the account has a password."
    )


class DeleteIn(DeactivateIn):
    confirm: Literal["DELETE"] = Field(description='Type "DELETE" to confirm.')


class DeletionOut(BaseModel):
    status: Literal["deleted"] = "deleted"
    deleted_at: datetime


class ExportParams(BaseModel):
    id: Id


class ExportOut(BaseModel):
    """A data export: built by a job, then downloadable by a signed link until it expires."""

    id: int
    status: Literal["pending", "running", "ready", "failed", "expired"]
    progress: int = Field(description="Percent done, 0-100.")
    created_at: datetime
    finished_at: datetime | None = None
    expires_at: datetime | None = None
    size_bytes: int | None = None
    download_url: str | None = Field(
        None, description="Only when ready: a signed link for you alone, valid a few minutes."
    )
