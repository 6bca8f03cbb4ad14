"""Outgoing email: SMTP through aiosmtplib, or the log in development.

Callers get `MailError` for any failure to hand a message over (connection, TLS, login,
refusal, timeout) and decide what it means for them; the message text is never logged except by
the development backend, because it may carry a one-time code.
"""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Literal, Protocol

import aiosmtplib
import structlog

from server.settings import Settings

log = structlog.get_logger(__name__)

Security = Literal["starttls", "ssl", "none"]


class MailError(Exception):
    """The message could not be handed to the mail relay."""


class Mailer(Protocol):
    async def send(self, *, to: str, subject: str, text: str) -> None:
        """Deliver a plain-text message to one recipient, or raise MailError."""
        ...


class SmtpMailer:
    """Submits each message to an SMTP relay in its own connection."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        sender: str,
        security: Security = "starttls",
        username: str | None = None,
        password: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.host, self.port, self.sender = host, port, sender
        self.security = security
        self.username, self.password = username, password
        self.timeout = timeout

    def compose(self, *, to: str, subject: str, text: str) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = to
        message["Subject"] = subject
        message["Date"] = formatdate(localtime=False, usegmt=True)
        message["Message-ID"] = make_msgid(domain=self.sender.rpartition("@")[2].strip("> "))
        message.set_content(text)
        return message

    async def send(self, *, to: str, subject: str, text: str) -> None:
        message = self.compose(to=to, subject=subject, text=text)
        try:
            await aiosmtplib.send(
                message,
                hostname=self.host,
                port=self.port,
                username=self.username,
                password=self.password,
                use_tls=self.security == "ssl",
                # starttls: required (never fall back to clear text); none: never attempted.
                start_tls=self.security == "starttls",
                timeout=self.timeout,
            )
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            log.warning(
                "mail.send_failed", host=self.host, port=self.port, error=type(exc).__name__
            )
            raise MailError(str(exc)) from exc


class LogMailer:
    """Development backend: records that a mail went out; the text only if `reveal`."""

    def __init__(self, *, reveal: bool) -> None:
        self.reveal = reveal

    async def send(self, *, to: str, subject: str, text: str) -> None:
        if self.reveal:
            log.info("mail.logged", subject=subject, text=text)
        else:
            log.info("mail.logged", subject=subject)


def mailer_from_settings(settings: Settings) -> Mailer:
    """The configured backend; the log shows message texts only in development."""
    if settings.mail_backend == "log":
        return LogMailer(reveal=settings.environment == "development")
    password = settings.smtp_password
    return SmtpMailer(
        host=settings.smtp_host,
        port=settings.smtp_port,
        sender=settings.mail_from,
        security=settings.smtp_security,
        username=settings.smtp_username or None,
        password=password.get_secret_value() if password is not None else None,
        timeout=settings.smtp_timeout_seconds,
    )
