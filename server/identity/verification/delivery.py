"""What a code message says, and handing it to the mail relay or the SMS provider.

Sent inline after the code's row commits, never through the outbox: an outbox row would keep
the code in clear in the database until it was relayed.
"""

from __future__ import annotations

from dataclasses import dataclass

from server.http.errors import ServiceUnavailable
from server.identity.verification.codes import Target
from server.mail import MailError, mailer_from_settings
from server.settings import Settings
from server.sms import SmsError, sms_from_settings

PRODUCT = "ShareStack"

_WHAT = {
    "login": "sign in",
    "reset_password": "reset your password",
    "verify_email": "confirm this email address",
    "verify_phone": "confirm this phone number",
}


class SendFailed(ServiceUnavailable):
    code, message = "verification.send_failed", "The code could not be sent; try again later."


@dataclass(frozen=True, slots=True)
class Message:
    subject: str
    text: str
    sms: str


def code_message(*, purpose: str, code: str, ttl_seconds: int) -> Message:
    what, minutes = _WHAT[purpose], max(1, ttl_seconds // 60)
    return Message(
        subject=f"Your {PRODUCT} code",
        text=(
            f"Your code to {what} is {code}.\n\n"
            f"It works once, for {minutes} minutes. Nobody from {PRODUCT} will ever ask you "
            "for it. If you did not ask for this code, ignore this message."
        ),
        sms=f"[{PRODUCT}] {code} is your code to {what}; valid {minutes} min. Never share it.",
    )


def no_account_message() -> Message:
    """Sent instead of a reset code to an address no account uses (the answer is the same)."""
    return Message(
        subject=f"Your {PRODUCT} password",
        text=(
            f"Someone asked to reset the password of the {PRODUCT} account using this address, "
            "but no account uses it. If it was you, sign up or try another address; otherwise "
            "ignore this message."
        ),
        sms=f"[{PRODUCT}] A password reset was asked for this number, but no account uses it.",
    )


async def deliver(settings: Settings, *, target: Target, message: Message) -> None:
    """Send by email or SMS, whichever the target is; 503 `verification.send_failed` if not."""
    try:
        if target.channel == "email":
            mailer = mailer_from_settings(settings)
            await mailer.send(to=target.address, subject=message.subject, text=message.text)
        else:
            await sms_from_settings(settings).send(to=target.address, text=message.sms)
    except (MailError, SmsError) as exc:
        raise SendFailed() from exc
