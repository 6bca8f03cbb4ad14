"""The mail and SMS senders on their own: SMTP login, TLS modes, signatures, the log backends."""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs

from server.mail import LogMailer, MailError, SmtpMailer, mailer_from_settings
from server.settings import Settings
from server.sms import HttpSms, LogSms, SmsError, signature, sms_from_settings
from tests.helpers.verification import SMS_SECRET

TEXT = "Your code to sign in is 314159."


async def test_smtp_mailer_logs_in_when_credentials_are_set(smtp) -> None:
    smtp.logins["mailer"] = "relay-password"
    mailer = mailer_from_settings(
        Settings(
            mail_backend="smtp",
            smtp_host="127.0.0.1",
            smtp_port=smtp.port,
            smtp_security="none",
            smtp_username="mailer",
            smtp_password="relay-password",
            mail_from="ShareStack <no-reply@sharestack.example>",
        )
    )
    await mailer.send(to="ann@example.com", subject="Hello", text=TEXT)
    (mail,) = smtp.mails
    assert smtp.authenticated == ["mailer"]
    assert mail.recipients == ["ann@example.com"]
    assert mail.message["From"] == "ShareStack <no-reply@sharestack.example>"
    assert mail.message["Subject"] == "Hello"
    assert mail.message["Message-ID"].endswith("@sharestack.example>")
    assert mail.text.strip() == TEXT


async def test_smtp_mailer_with_wrong_credentials_fails(smtp) -> None:
    smtp.logins["mailer"] = "relay-password"
    mailer = SmtpMailer(
        host="127.0.0.1",
        port=smtp.port,
        sender="no-reply@example.com",
        security="none",
        username="mailer",
        password="wrong",
    )
    with pytest.raises(MailError):
        await mailer.send(to="ann@example.com", subject="Hello", text=TEXT)
    assert smtp.mails == []


@pytest.mark.parametrize("security", ["starttls", "ssl"])
async def test_smtp_mailer_never_falls_back_to_clear_text(smtp, security) -> None:
    # The fake relay offers no TLS: a mailer told to use it must refuse to send.
    mailer = SmtpMailer(
        host="127.0.0.1", port=smtp.port, sender="a@example.com", security=security, timeout=3
    )
    with pytest.raises(MailError):
        await mailer.send(to="ann@example.com", subject="Hello", text=TEXT)
    assert smtp.mails == []


@pytest.mark.parametrize(
    ("environment", "reveals"), [("development", True), ("test", False), ("production", False)]
)
async def test_log_backends_show_the_text_only_in_development(environment, reveals) -> None:
    settings = Settings(environment=environment, mail_backend="log", sms_backend="log")
    mailer, sms = mailer_from_settings(settings), sms_from_settings(settings)
    assert isinstance(mailer, LogMailer) and isinstance(sms, LogSms)
    with capture_logs() as logs:
        await mailer.send(to="ann@example.com", subject="Your code", text=TEXT)
        await sms.send(to="+8613812345678", text=TEXT)
    assert [entry["event"] for entry in logs] == ["mail.logged", "sms.logged"]
    assert ("314159" in repr(logs)) is reveals
    assert "ann@example.com" not in repr(logs) and "13812345678" not in repr(logs)


def test_the_signature_is_an_hmac_of_timestamp_and_body() -> None:
    # Known answer, computed independently: HMAC-SHA256("k", "1700000000.{}").
    expected = "sha256=" + __import__("hmac").new(b"k", b"1700000000.{}", "sha256").hexdigest()
    assert signature(b"k", "1700000000", b"{}") == expected


async def test_http_sms_without_url_or_secret_fails_without_sending() -> None:
    sender = sms_from_settings(Settings(sms_backend="http"))
    assert isinstance(sender, HttpSms)
    with pytest.raises(SmsError):
        await sender.send(to="+8613812345678", text=TEXT)


async def test_http_sms_to_an_unreachable_gateway_fails() -> None:
    sender = HttpSms(url="http://127.0.0.1:1/v1/messages", secret=SMS_SECRET, timeout=2)
    with pytest.raises(SmsError):
        await sender.send(to="+8613812345678", text=TEXT)


async def test_http_sms_posts_signed_json(sms_gateway) -> None:
    sender = HttpSms(url=sms_gateway.url, secret=SMS_SECRET)
    await sender.send(to="+8613812345678", text=TEXT)
    assert sms_gateway.texts == [{"to": "+8613812345678", "text": TEXT}]
