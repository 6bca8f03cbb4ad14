"""Signed-in sessions, push devices and two-factor settings as the API shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from server.http.ids import Id
from server.identity.auth.schemas import SecondFactorCode

Platform = Literal["ios", "android", "web", "desktop"]
PushProvider = Literal["apns", "fcm", "jpush"]


class SessionOut(BaseModel):
    """A signed-in device of the user; `current` is the session making the request."""

    id: int
    device_name: str | None
    platform: str | None
    ip: str | None
    user_agent: str | None
    created_at: datetime
    last_seen_at: datetime
    current: bool


class SessionPath(BaseModel):
    id: Id


class RevokedOut(BaseModel):
    revoked: int = Field(description="How many sessions were ended.")


class DeviceIn(BaseModel):
    """An app installation's push registration; the same token again updates it."""

    model_config = ConfigDict(extra="forbid")

    platform: Platform
    provider: PushProvider
    push_token: str = Field(min_length=1, max_length=255)
    name: str | None = Field(None, max_length=100)
    app_version: str | None = Field(None, max_length=32)


class DeviceOut(BaseModel):
    """A registered device; it is removed when the session it was registered from ends."""

    id: int
    platform: str
    provider: str
    name: str | None
    app_version: str | None
    session_id: int | None
    current: bool = Field(description="Registered from the session making the request.")
    created_at: datetime
    last_seen_at: datetime


class DevicePath(BaseModel):
    id: Id


class TotpSetupOut(BaseModel):
    """A pending TOTP secret: scan the QR code (or type the secret), then enable with a code."""

    secret: str = Field(description="Base32, for typing into an authenticator by hand.")
    otpauth_uri: str
    qr_svg: str = Field(description="The otpauth URI as an SVG QR code.")


class CodeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: SecondFactorCode = Field(description="A 6-digit authenticator code or a recovery code.")


class RecoveryCodesOut(BaseModel):
    """Shown once: each code signs in once when the authenticator is lost."""

    recovery_codes: list[str]


class TwoFactorStatus(BaseModel):
    enabled: bool
    recovery_codes_left: int
