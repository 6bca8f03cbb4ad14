"""The user object of the API, the profile and its settings, how emails and phones are written."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal, Self

import phonenumbers
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    HttpUrl,
    StringConstraints,
    UrlConstraints,
    model_validator,
)
from pydantic_core import PydanticCustomError

from server.http.fields import IsoDate, StrictBool
from server.http.ids import Id
from server.identity.users.text import clean_nickname, visible_text

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


def _nickname(value: str) -> str:
    cleaned = clean_nickname(value)
    if not cleaned:
        raise PydanticCustomError(
            "users.nickname_invalid", "A nickname needs letters, digits or symbols one can see."
        )
    return cleaned


def _bio(value: str) -> str:
    return visible_text(value, multiline=True)


# Invisible and control characters are taken out (server/identity/users/text.py); a name with
# nothing
# visible left is refused with 422 `users.nickname_invalid`.
Nickname = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=32),
    AfterValidator(_nickname),
]
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


# --- The profile (ID4) ---------------------------------------------------------------------------

GENDERS = ("male", "female", "other", "unspecified")
MBTI_TYPES = tuple(
    a + b + c + d for a in "EI" for b in "SN" for c in "TF" for d in "JP"
)  # the 16 types: ESTJ ... INFP
# (sign, first day as (month, day)); a sign runs until the day before the next one starts.
ZODIAC_STARTS = (
    ("capricorn", (1, 1)),
    ("aquarius", (1, 20)),
    ("pisces", (2, 19)),
    ("aries", (3, 21)),
    ("taurus", (4, 20)),
    ("gemini", (5, 21)),
    ("cancer", (6, 21)),
    ("leo", (7, 23)),
    ("virgo", (8, 23)),
    ("libra", (9, 23)),
    ("scorpio", (10, 23)),
    ("sagittarius", (11, 22)),
    ("capricorn", (12, 22)),
)
ZODIAC_SIGNS = tuple(dict.fromkeys(sign for sign, _ in ZODIAC_STARTS))
# Public roles are shown as badges; staff roles are not advertised.
PUBLIC_ROLES = ("reader", "creator")
EARLIEST_BIRTHDAY = date(1900, 1, 1)

Gender = Literal["male", "female", "other", "unspecified"]
Language = Literal["zh-CN", "zh-TW", "en"]
Theme = Literal["light", "dark", "system"]
ContentKind = Literal["article", "audio", "video", "course"]
CONTENT_KINDS: tuple[ContentKind, ...] = ("article", "audio", "video", "course")
WhoCanMessage = Literal["everyone", "following", "nobody"]


def zodiac_of(birthday: date) -> str:
    """The western sign of a birthday (tropical dates, e.g. aries from March 21)."""
    sign = ZODIAC_STARTS[0][0]
    for name, start in ZODIAC_STARTS:
        if (birthday.month, birthday.day) >= start:
            sign = name
    return sign


def latest_birthday() -> date:
    """Today where the calendar is furthest ahead (UTC+14), so nobody's today is 'the future'."""
    return (datetime.now(UTC) + timedelta(hours=14)).date()


def _birthday(value: date | None) -> date | None:
    if value is None:
        return None
    if value < EARLIEST_BIRTHDAY:
        raise ValueError("A birthday cannot be before 1900.")
    if value > latest_birthday():
        raise ValueError("A birthday cannot be in the future.")
    return value


def _upper(value: object) -> object:
    return value.strip().upper() if isinstance(value, str) else value


def _lower(value: object) -> object:
    return value.strip().lower() if isinstance(value, str) else value


def _unique(kinds: list[str]) -> list[str]:
    return list(dict.fromkeys(kinds))


Mbti = Annotated[
    Literal[MBTI_TYPES],  # type: ignore[valid-type]
    BeforeValidator(_upper),
    Field(description="One of the 16 MBTI types; any case in, upper case out."),
]
Zodiac = Annotated[
    Literal[ZODIAC_SIGNS],  # type: ignore[valid-type]
    BeforeValidator(_lower),
    Field(description="A western sign, lower case (aries ... pisces)."),
]
Bio = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500), AfterValidator(_bio)]
Birthday = Annotated[IsoDate, AfterValidator(_birthday)]


class _Stored(BaseModel):
    """A settings object kept as JSON on the user: unknown or broken stored keys fall back."""

    @classmethod
    def stored(cls, data: object) -> Self:
        """Read what the database holds, keeping every valid known field and defaulting the rest."""
        values: dict[str, Any] = {}
        if isinstance(data, dict):
            for name in cls.model_fields:
                if name in data:
                    try:
                        cls.model_validate({name: data[name]})
                    except ValueError:
                        continue
                    values[name] = data[name]
        return cls.model_validate(values)

    def merged(self, changes: Self) -> Self:
        """These settings with the fields `changes` was given replaced."""
        return self.model_copy(update={k: getattr(changes, k) for k in changes.model_fields_set})


class Preferences(_Stored):
    """How the apps behave for this user; a PATCH changes only the fields it names."""

    model_config = ConfigDict(extra="forbid")

    language: Language = Field("zh-CN", description="Interface language; default zh-CN.")
    theme: Theme = Field("system", description="Colour theme; default system.")
    content_kinds: Annotated[list[ContentKind], AfterValidator(_unique)] = Field(
        default_factory=lambda: list(CONTENT_KINDS),
        max_length=4,
        description="Kinds of content to recommend; default all four.",
    )
    email_digest: StrictBool = Field(True, description="Weekly email digest; default on.")


class Privacy(_Stored):
    """Who sees what; a PATCH changes only the fields it names."""

    model_config = ConfigDict(extra="forbid")

    who_can_message: WhoCanMessage = Field(
        "everyone", description="Who may start a conversation; default everyone."
    )
    show_followers: StrictBool = Field(
        True, description="Others see the follower list and count; default on."
    )
    show_following: StrictBool = Field(
        True, description="Others see the following list and count; default on."
    )
    searchable: StrictBool = Field(
        True, description="Found by nickname in user search; default on."
    )
    show_birthday: StrictBool = Field(False, description="Others see the birthday; default off.")


class ProfileOut(BaseModel):
    """The signed-in user's whole profile."""

    id: int
    nickname: str
    avatar_url: str | None
    bio: str | None
    gender: Gender
    birthday: date | None
    mbti: str | None
    zodiac: str | None
    preferences: Preferences
    privacy: Privacy
    roles: list[str]
    follower_count: int
    following_count: int
    created_at: datetime


class ProfileUpdate(BaseModel):
    """Profile fields to change; null clears bio, birthday, mbti, zodiac and gender.

    The zodiac sign follows the birthday: setting a birthday without a zodiac sets the sign of
    that date; a zodiac given in the same request wins.
    """

    model_config = ConfigDict(extra="forbid")

    nickname: Nickname | None = None
    bio: Bio | None = None
    gender: Gender | None = None
    birthday: Birthday | None = None
    mbti: Mbti | None = None
    zodiac: Zodiac | None = None
    preferences: Preferences | None = None
    privacy: Privacy | None = None

    @model_validator(mode="after")
    def _something_to_change(self) -> Self:
        if not self.model_fields_set:
            raise ValueError("Give at least one field to change.")
        for name in ("nickname", "preferences", "privacy"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be removed.")
        return self


class UserSummary(BaseModel):
    """A user as lists show them."""

    id: int
    nickname: str
    avatar_url: str | None
    bio: str | None
    roles: list[str] = Field(description="Public badges only: reader, creator.")


class PublicProfileOut(BaseModel):
    """A user as others see them; hidden fields are null."""

    id: int
    nickname: str
    avatar_url: str | None
    bio: str | None
    gender: Gender
    mbti: str | None
    zodiac: str | None
    birthday: date | None = Field(description="Only when the user shows it.")
    roles: list[str] = Field(description="Public badges only: reader, creator.")
    follower_count: int | None = Field(description="Null when the user hides their followers.")
    following_count: int | None = Field(description="Null when the user hides who they follow.")
    created_at: datetime
    is_following: bool | None = Field(description="You follow them; null when signed out.")
    follows_you: bool | None = Field(description="They follow you; null when signed out.")


class UserSearchQuery(BaseModel):
    q: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)] = (
        Field(description="Part of a nickname.")
    )
    limit: int = Field(20, ge=1, le=100, description="Items per page.")
    cursor: str | None = Field(None, max_length=512, description="`next_cursor` of the last page.")


class UserPath(BaseModel):
    id: Id


class AvatarAccepted(BaseModel):
    """The upload is stored and checked; the sizes are made in the background."""

    status: Literal["processing"] = "processing"
