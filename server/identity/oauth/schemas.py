"""OAuth sign-in and linking requests and answers."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from server.identity.auth.schemas import SignedIn, TwoFactorChallenge

ProviderName = Field(min_length=1, max_length=16, pattern=r"^[a-z_]+$", examples=["github"])


class ProviderPath(BaseModel):
    provider: str = ProviderName


class ProviderOut(BaseModel):
    """An enabled provider: `redirect` ones use authorize + callback, the mini-program its SDK."""

    provider: str
    name: str
    flow: Literal["redirect", "mini_program"]


class ProvidersOut(BaseModel):
    items: list[ProviderOut]
    next_cursor: None = Field(None, description="Always null: the list is short.")


class AuthorizeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    redirect_uri: str = Field(
        min_length=1,
        max_length=500,
        description="Our client page the provider sends the user back to; must be allowlisted.",
    )
    mode: Literal["login", "bind"] = Field(
        "login", description="bind links the provider to the signed-in account (needs a token)."
    )


class AuthorizeOut(BaseModel):
    authorize_url: str = Field(description="Send the user's browser here.")
    state: str = Field(description="Comes back with the code; single use.")
    expires_in: int = Field(description="Seconds the state stays valid.")


class DeviceFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    device_name: str | None = Field(None, max_length=100, description="Shown in session lists.")
    platform: str | None = Field(None, max_length=32, examples=["web", "ios", "miniprogram"])


class CallbackIn(DeviceFields):
    code: str = Field(min_length=1, max_length=512, description="The code the provider sent.")
    state: str = Field(min_length=1, max_length=128, description="The state it sent back.")


class MiniProgramLoginIn(DeviceFields):
    code: str = Field(min_length=1, max_length=512, description="The code from wx.login().")


class LinkedAccountOut(BaseModel):
    """A provider account linked to ours."""

    provider: str
    display_name: str | None
    avatar_url: str | None
    linked_at: datetime
    last_login_at: datetime | None


class LinkedAccountsOut(BaseModel):
    items: list[LinkedAccountOut]
    next_cursor: None = Field(None, description="Always null: one account per provider at most.")


CallbackOut = SignedIn | TwoFactorChallenge | LinkedAccountOut
