"""The media API: requests and responses."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from server.http.ids import Id

MediaKind = Literal["image", "audio", "video"]
MediaStatus = Literal["uploaded", "processing", "ready", "failed"]
Variant = Literal["original", "thumb", "large", "poster", "rendition"]


class MediaId(BaseModel):
    media_id: Id


class UploadQuery(BaseModel):
    kind: MediaKind | None = Field(
        None, description="The kind, when not sent as a form field before the file part."
    )


class UrlQuery(BaseModel):
    variant: Variant | None = Field(
        None,
        description="Which file: images `large` (default) or `thumb`; video `rendition` "
        "(default), `poster`, `thumb` or `original`; audio `rendition` (default) or `original`.",
    )


class AttachMedia(BaseModel):
    model_config = ConfigDict(extra="forbid")

    media_id: Id


class MediaOut(BaseModel):
    id: int
    owner_id: int
    kind: MediaKind
    status: MediaStatus
    content_type: str
    size_bytes: int
    name: str = Field(description="The uploaded file's name, sanitised; for display only.")
    width: int | None
    height: int | None
    duration_ms: int | None
    variants: list[str] = Field(description="The variants a link can be asked for.")
    tags: dict[str, str] = Field(description="Audio tags (title, artist, album...).")
    error: str | None
    content_id: int | None
    created_at: datetime
    updated_at: datetime


class MediaUrl(BaseModel):
    url: str
    expires_at: datetime


def media_out(row: Any) -> MediaOut:
    variants = sorted(row.variants or {})
    if row.kind != "image" and row.status == "ready":
        variants = sorted({*variants, "original"})
    tags = (row.details or {}).get("tags") or {}
    return MediaOut(
        id=row.id,
        owner_id=row.owner_id,
        kind=row.kind,
        status=row.status,
        content_type=row.content_type,
        size_bytes=row.size_bytes,
        name=row.original_name,
        width=row.width,
        height=row.height,
        duration_ms=row.duration_ms,
        variants=variants,
        tags=tags,
        error=row.error,
        content_id=row.content_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
