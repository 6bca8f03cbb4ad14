"""The user object of the API, the profile patch, and how emails and phones are written."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Self

import phonenumbers
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    StringConstraints,
    UrlConstraints,
    model_validator,
)

DEFAULT_PHONE_REGION = "CN"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")


def normalise_email(value: str) -> str:
    """Trimmed and lower-cased (local part too: nobody expects Ann@ and ann@ to differ)."""
    value = value.strip().lower()
    if len(value) > 254 or not _EMAIL.match(value):
        raise ValueError("Enter a valid email address.")
    return value


def normalise_phone(value: str) -> str:
    """E.164; numbers without a country code are read as Chinese."""
    try:
        number = phonenumbers.parse(value.strip(), DEFAULT_PHONE_REGION)
    except phonenumbers.NumberParseException as exc:
        raise ValueError("Enter a valid phone number.") from exc
    if not phonenumbers.is_valid_number(number):
        raise ValueError("Enter a valid phone number.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def mask_phone(e164: str | None) -> str | None:
    """`+8613812345678` -> `+86 138****5678`: enough to recognise, not to call."""
    if e164 is None:
        return None
    number = phonenumbers.parse(e164)
    national = str(number.national_number)
    keep_start = min(3, max(0, len(national) - 6))
    hidden = len(national) - keep_start - 4
    return f"+{number.country_code} {national[:keep_start]}{'*' * hidden}{national[-4:]}"


Email = Annotated[str, Field(max_length=320), AfterValidator(normalise_email)]
Phone = Annotated[str, Field(max_length=32), AfterValidator(normalise_phone)]
Nickname = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)]
AvatarUrl = Annotated[HttpUrl, UrlConstraints(max_length=500, allowed_schemes=["http", "https"])]


class UserOut(BaseModel):
    """A user as they see themselves; the phone number is masked."""

    id: int
    email: str | None
    phone: str | None = Field(description="Masked, e.g. +86 138****5678.")
    nickname: str
    avatar_url: str | None
    roles: list[str]
    created_at: datetime


class ProfilePatch(BaseModel):
    """Fields to change; `avatar_url: null` removes the avatar."""

    model_config = ConfigDict(extra="forbid")

    nickname: Nickname | None = None
    avatar_url: AvatarUrl | None = None

    @model_validator(mode="after")
    def _something_to_change(self) -> Self:
        if not self.model_fields_set:
            raise ValueError("Give at least one field to change.")
        if "nickname" in self.model_fields_set and self.nickname is None:
            raise ValueError("nickname cannot be removed.")
        return self
