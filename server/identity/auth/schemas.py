"""Sign-up, sign-in and token requests and answers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from server.identity.users.schemas import Email, Nickname, Phone, UserOut


class Credentials(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email | None = None
    phone: Phone | None = None
    device_name: str | None = Field(None, max_length=100, description="Shown in session lists.")
    platform: str | None = Field(None, max_length=32, examples=["web", "ios", "android"])

    @model_validator(mode="after")
    def _one_identifier(self) -> Self:
        if (self.email is None) == (self.phone is None):
            raise ValueError("Give either an email or a phone number.")
        return self

    @property
    def identifier(self) -> str:
        """The normalised email or phone, whichever was given."""
        return self.email or self.phone or ""


class RegisterIn(Credentials):
    password: str = Field(min_length=8, max_length=128)
    nickname: Nickname | None = None


class LoginIn(Credentials):
    password: str = Field(min_length=1, max_length=128)


class RefreshIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    refresh_token: str = Field(min_length=1, max_length=256)


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds until the access token expires.")


class SignedIn(TokenPair):
    """A new session's tokens and its user."""

    user: UserOut


class TokenInfo(BaseModel):
    """Introspection of the bearer token."""

    active: Literal[True] = True
    user_id: int
    session_id: int
    roles: list[str]
    expires_at: datetime


class Jwk(BaseModel):
    """An RSA public key (RFC 7517); `kid` is its RFC 7638 thumbprint."""

    kty: Literal["RSA"]
    use: Literal["sig"]
    alg: Literal["RS256"]
    kid: str
    n: str
    e: str


class Jwks(BaseModel):
    keys: list[Jwk]


class TwoFactorChallenge(BaseModel):
    """The first factor passed; the sign-in waits for a second one (answered with HTTP 202)."""

    two_factor_required: Literal[True] = True
    challenge: str = Field(description="Send it to POST /api/v1/auth/2fa/verify with a code.")
    methods: list[Literal["totp", "recovery_code"]] = Field(
        default=["totp", "recovery_code"], description="Codes the second step accepts."
    )
    expires_in: int = Field(description="Seconds the challenge stays valid.")


# An authenticator code (6 digits) or a recovery code; spaces and dashes are ignored.
SecondFactorCode = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=6, max_length=32)
]


class TwoFactorVerifyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    challenge: str = Field(min_length=1, max_length=128)
    code: SecondFactorCode
