"""The notification email job: verified addresses only, relay failures retried then given up."""

from __future__ import annotations

import socket
from datetime import UTC, datetime

import pytest
from arq.worker import Retry
from sqlalchemy import update
from structlog.testing import capture_logs

from jobs import notifications as notification_jobs
from jobs import push as push_jobs
from models.identity.users import User
from models.notify.push import PushDevice
from tests.helpers.notifications import add_user


async def verify(runtime, user_id: int) -> None:
    async with runtime.db.unit_of_work() as uow:
        await uow.session.execute(
            update(User).where(User.id == user_id).values(email_verified_at=datetime.now(UTC))
        )


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_only_a_verified_address_is_mailed(recorded) -> None:
    runtime, _ = recorded
    ann = await add_user(runtime, "ann@example.com")
    ctx = {"runtime": runtime, "job_try": 1}
    kwargs = {"subject": "Your order is paid", "text": "Order 42"}
    assert await notification_jobs.email(ctx, user_id=ann, **kwargs) is False
    assert await notification_jobs.email(ctx, user_id=999_999, **kwargs) is False
    await verify(runtime, ann)
    with capture_logs() as logs:
        assert await notification_jobs.email(ctx, user_id=ann, **kwargs) is True
    assert [log["subject"] for log in logs if log["event"] == "mail.logged"] == [kwargs["subject"]]


async def test_a_relay_failure_is_retried_with_backoff_then_given_up(recorded) -> None:
    runtime, _ = recorded
    ann = await add_user(runtime, "ann@example.com")
    await verify(runtime, ann)
    runtime.settings = runtime.settings.model_copy(
        update={
            "mail_backend": "smtp",
            "smtp_port": closed_port(),
            "smtp_security": "none",
            "smtp_timeout_seconds": 2.0,
            "push_retry_base_seconds": 4.0,
            "push_max_tries": 3,
        }
    )
    with pytest.raises(Retry) as retry:
        await notification_jobs.email(
            {"runtime": runtime, "job_try": 2}, user_id=ann, subject="S", text="T"
        )
    assert retry.value.defer_score == 8_000
    with capture_logs() as logs:
        done = await notification_jobs.email(
            {"runtime": runtime, "job_try": 3}, user_id=ann, subject="S", text="T"
        )
    assert done is False
    assert "notifications.email_gave_up" in [log["event"] for log in logs]


async def test_a_device_of_an_unconfigured_provider_is_refused_not_retried(recorded) -> None:
    runtime, _ = recorded
    ann = await add_user(runtime, "ann@example.com")
    async with runtime.db.unit_of_work() as uow:
        uow.session.add(PushDevice(user_id=ann, provider="fcm", token="t" * 20, platform="android"))
    ctx = {"runtime": runtime, "job_try": 1}
    outcome = await push_jobs.send(ctx, user_id=ann, ref="notification:1", title="Hi")
    assert outcome == {"failed": 1}
    assert await push_jobs.send(ctx, user_id=ann, ref="notification:1", title="Hi") == {}
