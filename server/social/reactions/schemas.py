"""The likes and favorites API contract."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from server.http.fields import StrictBool
from server.http.ids import Id

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


class ContentPath(BaseModel):
    id: Id


class CollectionPath(BaseModel):
    id: Id


class ItemPath(BaseModel):
    id: Id
    content_id: Id


class LikeOut(BaseModel):
    content_id: int
    liked: bool


class LikedItem(BaseModel):
    content_id: int
    title: str | None = Field(description="null once the item is no longer published.")
    liked_at: datetime


class CollectionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    is_public: StrictBool = Field(False, description="Public collections can be read by anyone.")


class CollectionPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    is_public: StrictBool | None = None


class CollectionOut(BaseModel):
    id: int
    user_id: int
    name: str
    is_public: bool
    item_count: int
    created_at: datetime
    updated_at: datetime


class FavoriteItem(BaseModel):
    content_id: int
    title: str | None = Field(description="null once the item is no longer published.")
    added_at: datetime


class FavoriteState(BaseModel):
    collection_id: int
    content_id: int
    saved: bool


class MyReactions(BaseModel):
    content_id: int
    liked: bool
    collection_ids: list[int] = Field(description="My collections holding the item.")
