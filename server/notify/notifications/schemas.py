"""The notification object of the API and the list, path and count shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from server.http.fields import StrictBool
from server.http.ids import Id
from server.http.pagination import PageQuery


class NotificationOut(BaseModel):
    """A notification as its recipient sees it; `read_at` null while unread."""

    id: int
    type: str = Field(description="`<domain>.<what>`, e.g. `system.welcome`.")
    title: str
    body: str
    data: dict[str, Any] = Field(description="What the client needs to open the subject.")
    actor_id: int | None = Field(description="The user who caused it, if any (the latest).")
    count: int = Field(1, description="How many actors a folded burst counts (1 if not folded).")
    actor_ids: list[int] = Field(
        default_factory=list, description="The latest actors of a folded burst, newest first."
    )
    group_key: str | None = Field(None, description="The burst key it folds by, if any.")
    read_at: datetime | None
    created_at: datetime
    updated_at: datetime | None = Field(None, description="When the latest fold happened.")


class NotificationQuery(PageQuery):
    unread_only: StrictBool = Field(False, description="Only notifications not yet read.")


class NotificationPath(BaseModel):
    id: Id = Field(description="The notification id.")


class UnreadCount(BaseModel):
    unread: int


class ReadAllOut(BaseModel):
    updated: int = Field(description="How many notifications were unread and are now read.")


class PreferenceOut(BaseModel):
    """One notification type and where the user gets it."""

    type: str
    description: str
    in_app: bool = Field(description="Stored and shown live in the app.")
    push: bool = Field(description="Pushed to the user's registered devices.")
    email: bool = Field(description="Sent by email (to a verified address).")
    required: bool = Field(description="The in-app channel cannot be turned off.")
    customised: bool = Field(description="False while the type's defaults apply.")


class PreferencesOut(BaseModel):
    items: list[PreferenceOut]


class PreferenceIn(BaseModel):
    """Channels to change for one type; a missing channel keeps its value."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(min_length=1, max_length=64)
    in_app: StrictBool | None = None
    push: StrictBool | None = None
    email: StrictBool | None = None


class PreferencesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[PreferenceIn] = Field(min_length=1, max_length=100)


Provider = Literal["apns", "fcm", "jpush"]
Platform = Literal["ios", "android", "web"]


class DeviceIn(BaseModel):
    """A push token from the app: APNs device token, FCM registration token or JPush id."""

    model_config = ConfigDict(extra="forbid")

    provider: Provider
    token: str = Field(min_length=8, max_length=255, pattern=r"^[A-Za-z0-9_:.\-]+$")
    platform: Platform
    app_version: str | None = Field(None, max_length=32)


class DeviceOut(BaseModel):
    id: int
    provider: Provider
    platform: Platform
    app_version: str | None
    token_suffix: str = Field(description="The token's last six characters.")
    created_at: datetime
    last_seen_at: datetime
    disabled_at: datetime | None = Field(description="Set once the provider rejected the token.")
    disabled_reason: str | None


class DevicePath(BaseModel):
    id: Id = Field(description="The device id.")
