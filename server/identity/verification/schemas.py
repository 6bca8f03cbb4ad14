"""Requests and answers of verification codes, code sign-in and password reset and change."""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from server.identity.auth.schemas import Credentials
from server.identity.users.schemas import Email, Phone

# Purposes a client may ask a code for; verify_* need the caller to be signed in.
CodePurpose = Literal["login", "reset_password", "verify_email", "verify_phone"]
SIGNED_IN_PURPOSES = frozenset({"verify_email", "verify_phone"})

Code = Annotated[
    str,
    StringConstraints(strip_whitespace=True, pattern=r"^[0-9]{6}$"),
    Field(description="The 6-digit code that was sent.", examples=["042917"]),
]
# The same rules as a password chosen at registration (RegisterIn.password).
NewPassword = Annotated[str, Field(min_length=8, max_length=128)]


class Address(BaseModel):
    """An email or a phone number, exactly one of them."""

    model_config = ConfigDict(extra="forbid")

    email: Email | None = None
    phone: Phone | None = None

    @model_validator(mode="after")
    def _one_address(self) -> Self:
        if (self.email is None) == (self.phone is None):
            raise ValueError("Give either an email or a phone number.")
        return self


class CodeRequest(BaseModel):
    """Where to send a code, and what it will be good for."""

    model_config = ConfigDict(extra="forbid")

    email: Email | None = None
    phone: Phone | None = None
    purpose: CodePurpose = Field(
        description="login and reset_password need no sign-in; verify_email and verify_phone "
        "do, and without an address they go to the account's own."
    )

    @model_validator(mode="after")
    def _address_fits_purpose(self) -> Self:
        if self.email is not None and self.phone is not None:
            raise ValueError("Give either an email or a phone number, not both.")
        if self.purpose in SIGNED_IN_PURPOSES:
            wrong = self.phone if self.purpose == "verify_email" else self.email
            if wrong is not None:
                raise ValueError(f"A {self.purpose} code goes to the matching kind of address.")
        elif self.email is None and self.phone is None:
            raise ValueError("Give either an email or a phone number.")
        return self


class CodeSent(BaseModel):
    """A code is on its way (answered alike whether an account uses the address or not)."""

    sent_to: str = Field(description="The address, masked.", examples=["a***@example.com"])
    expires_in: int = Field(description="Seconds the code stays valid.")
    resend_after: int = Field(description="Seconds before another code may be sent there.")


class CodeLoginIn(Credentials):
    """Sign in with a code sent to an email or phone; an unknown address gets a new account."""

    code: Code


class PasswordResetIn(Address):
    code: Code
    new_password: NewPassword


class PasswordChangeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    current_password: str | None = Field(
        None, min_length=1, max_length=128, description="Required if the account has one."
    )
    new_password: NewPassword


class EmailVerifyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: Code
    email: Email | None = Field(None, description="A new address to bind; default: the account's.")


class PhoneVerifyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: Code
    phone: Phone | None = Field(None, description="A new number to bind; default: the account's.")
