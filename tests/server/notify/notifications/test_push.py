"""The push.send job against local APNs (HTTP/2), FCM and JPush servers checking credentials."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from arq.worker import Retry
from pydantic import SecretStr
from sqlalchemy import select, update

from jobs import push as push_jobs
from jobs.sinks import ArqJobSink
from models.identity.users import User
from models.notify.push import PushDelivery, PushDevice
from server.notify.notifications import service
from server.notify.notifications.push import apns, fcm
from server.runtime import Runtime
from server.settings import Settings
from tests.helpers.notifications import Recorder, add_user
from tests.jobs.test_worker import RecordingEvents, run_burst
from tests.server.notify.notifications.fakes import (
    FakeApns,
    FakeFcm,
    FakeJPush,
    ec_key_pem,
    rsa_key_pem,
)

pytestmark = pytest.mark.filterwarnings("ignore:Call to deprecated close:DeprecationWarning")

TOKENS = {"apns": "a1b2c3" * 10 + "d4e5", "fcm": "fcm:" + "x" * 60, "jpush": "1a0018970a9b"}


@dataclass
class Env:
    runtime: Runtime
    recorder: Recorder
    settings: Settings
    apns: FakeApns
    fcm: FakeFcm
    jpush: FakeJPush


@pytest.fixture
async def env(settings: Settings) -> AsyncIterator[Env]:
    apns_pem, apns_public = ec_key_pem()
    fcm_pem, fcm_public = rsa_key_pem()
    fake_apns = FakeApns(
        key_id="KEY123", team_id="TEAM45", topic="app.sharestack", public_key=apns_public
    )
    fake_fcm = FakeFcm(
        project_id="share-stack", client_email="push@share-stack.iam", public_key=fcm_public
    )
    fake_jpush = FakeJPush(app_key="jp-app-key", master_secret="jp-master")
    apns_url, fcm_url, jpush_url = (
        await fake_apns.start(),
        await fake_fcm.start(),
        await fake_jpush.start(),
    )
    configured = settings.model_copy(
        update={
            "apns_key_id": "KEY123",
            "apns_team_id": "TEAM45",
            "apns_private_key": SecretStr(apns_pem),
            "apns_topic": "app.sharestack",
            "apns_base_url": apns_url,
            "fcm_project_id": "share-stack",
            "fcm_client_email": "push@share-stack.iam",
            "fcm_private_key": SecretStr(fcm_pem),
            "fcm_token_url": fake_fcm.token_url,
            "fcm_base_url": fcm_url,
            "jpush_app_key": "jp-app-key",
            "jpush_master_secret": SecretStr("jp-master"),
            "jpush_base_url": jpush_url,
            "push_retry_base_seconds": 0.0,
            "push_max_tries": 3,
        }
    )
    apns._tokens.clear()
    fcm._access.clear()
    runtime = await Runtime.open(configured)
    recorder = Recorder()
    runtime.attach(jobs=recorder, events=recorder)
    yield Env(runtime, recorder, configured, fake_apns, fake_fcm, fake_jpush)
    await runtime.close()
    for fake in (fake_apns, fake_fcm, fake_jpush):
        await fake.stop()


async def user_with_devices(runtime: Runtime, *providers: str) -> int:
    ann = await add_user(runtime, "ann@example.com")
    async with runtime.db.unit_of_work() as uow:
        for provider in providers:
            platform = "ios" if provider == "apns" else "android"
            device = PushDevice(
                user_id=ann, provider=provider, token=TOKENS[provider], platform=platform
            )
            uow.session.add(device)
    return ann


async def send(env: Env, user_id: int, *, job_try: int = 1, ref: str = "notification:1") -> Any:
    ctx = {"runtime": env.runtime, "job_try": job_try}
    data = {"type": "comment.reply", "content_id": 7}
    return await push_jobs.send(
        ctx, user_id=user_id, ref=ref, title="Bob replied", body="Nice", data=data
    )


async def devices(runtime: Runtime) -> dict[str, PushDevice]:
    async with runtime.db.read() as session:
        return {d.provider: d for d in await session.scalars(select(PushDevice))}


async def deliveries(runtime: Runtime) -> list[tuple[str, int]]:
    async with runtime.db.read() as session:
        rows = await session.scalars(select(PushDelivery).order_by(PushDelivery.id))
        return [(row.status, row.attempts) for row in rows]


async def test_each_provider_gets_the_message_with_its_real_credentials_once(env) -> None:
    ann = await user_with_devices(env.runtime, "apns", "fcm", "jpush")
    assert await send(env, ann) == {"sent": 3}
    [to_apple] = env.apns.received
    assert env.apns.protocols == {"h2"}, "APNs is spoken over HTTP/2"
    assert to_apple["token"] == TOKENS["apns"]
    assert to_apple["payload"]["aps"]["alert"] == {"title": "Bob replied", "body": "Nice"}
    assert to_apple["payload"]["content_id"] == 7
    [to_google] = env.fcm.received
    assert to_google["token"] == TOKENS["fcm"]
    assert to_google["notification"] == {"title": "Bob replied", "body": "Nice"}
    assert to_google["data"] == {"type": "comment.reply", "content_id": "7"}
    [to_jpush] = env.jpush.received
    assert to_jpush["audience"] == {"registration_id": [TOKENS["jpush"]]}
    assert to_jpush["notification"]["ios"]["alert"]["title"] == "Bob replied"
    assert env.apns.rejected == env.fcm.rejected == env.jpush.rejected == []
    assert await deliveries(env.runtime) == [("sent", 1)] * 3
    assert await send(env, ann) == {}, "a re-run sends nothing twice"
    assert len(env.apns.received) == len(env.fcm.received) == len(env.jpush.received) == 1
    assert await send(env, ann, ref="notification:2") == {"sent": 3}
    assert env.fcm.token_requests == 1, "the access token is reused"


async def test_dead_tokens_disable_their_devices_and_later_notices_do_not_push(env) -> None:
    ann = await user_with_devices(env.runtime, "apns", "fcm", "jpush")
    for fake, provider in ((env.apns, "apns"), (env.fcm, "fcm"), (env.jpush, "jpush")):
        fake.dead.add(TOKENS[provider])
    assert await send(env, ann) == {"dead": 3}
    found = await devices(env.runtime)
    assert {p: (d.disabled_at is not None, d.disabled_reason) for p, d in found.items()} == {
        "apns": (True, "Unregistered"),
        "fcm": (True, "UNREGISTERED"),
        "jpush": (True, "jpush 1011"),
    }
    async with env.runtime.db.unit_of_work() as uow:
        await service.notify(uow, user_id=ann, type="comment.reply", title="Again")
    assert env.recorder.jobs == [], "no active device: no push job"
    assert await send(env, ann, ref="notification:2") == {}


async def test_transient_failures_are_retried_with_backoff_then_given_up(env) -> None:
    ann = await user_with_devices(env.runtime, "apns", "fcm", "jpush")
    for fake, provider in ((env.apns, "apns"), (env.fcm, "fcm"), (env.jpush, "jpush")):
        fake.flaky[TOKENS[provider]] = 1
    env.runtime.settings = env.settings.model_copy(update={"push_retry_base_seconds": 5.0})
    with pytest.raises(Retry) as retry:
        await send(env, ann, job_try=2)
    assert retry.value.defer_score == 10_000, "5 s doubled on the second try"
    assert await deliveries(env.runtime) == [("failed", 1)] * 3
    assert await send(env, ann, job_try=3) == {"sent": 3}
    assert await deliveries(env.runtime) == [("sent", 2)] * 3
    env.apns.flaky[TOKENS["apns"]] = 5
    assert await send(env, ann, job_try=3, ref="notification:2") == {"retry": 1, "sent": 2}


async def test_wrong_credentials_are_refused_and_the_device_stays(env) -> None:
    ann = await user_with_devices(env.runtime, "apns", "jpush")
    other_pem, _ = ec_key_pem()
    wrong = {"apns_private_key": SecretStr(other_pem), "jpush_master_secret": SecretStr("nope")}
    env.runtime.settings = env.settings.model_copy(update=wrong)
    assert await send(env, ann) == {"failed": 2}
    assert env.apns.rejected == ["InvalidProviderToken"] and env.jpush.rejected == ["1004"]
    assert all(d.disabled_at is None for d in (await devices(env.runtime)).values())
    assert await deliveries(env.runtime) == [("refused", 1)] * 2


async def test_a_notification_reaches_the_device_through_a_real_worker_with_retries(
    env, redis
) -> None:
    runtime = env.runtime
    assert runtime.redis is not None
    runtime.attach(jobs=ArqJobSink(runtime.redis, env.settings), events=RecordingEvents())
    ann = await user_with_devices(runtime, "apns", "fcm")
    env.apns.flaky[TOKENS["apns"]] = 2
    async with runtime.db.unit_of_work() as uow:
        made = await service.notify(uow, user_id=ann, type="comment.reply", title="Hi", body="B")
    assert made is not None
    worker = await run_burst(env.settings, {"runtime": runtime})
    assert worker.jobs_complete == 1 and worker.jobs_retried == 2 and worker.jobs_failed == 0
    assert [r["token"] for r in env.apns.received] == [TOKENS["apns"]]
    assert len(env.fcm.received) == 1, "sent once although the job ran three times"
    assert await deliveries(runtime) == [("sent", 3), ("sent", 1)]


async def test_expired_credentials_are_renewed_and_a_down_provider_is_retried(env) -> None:
    ann = await user_with_devices(env.runtime, "apns", "fcm")
    assert await send(env, ann) == {"sent": 2}
    first_apns = apns._tokens[("KEY123", "TEAM45")][0]
    env.apns.expired.add(first_apns)
    env.fcm.issued.clear()  # every access token FCM gave out is revoked
    assert await send(env, ann, ref="notification:2") == {"sent": 2}
    assert apns._tokens[("KEY123", "TEAM45")][0] != first_apns, "a new provider token"
    assert env.fcm.token_requests == 2 and env.fcm.rejected == ["UNAUTHENTICATED"]
    await env.apns.stop()
    await env.fcm.stop()
    assert await send(env, ann, ref="notification:3", job_try=3) == {"retry": 2}


async def test_an_account_no_longer_active_gets_no_push(env) -> None:
    ann = await user_with_devices(env.runtime, "apns")
    async with env.runtime.db.unit_of_work() as uow:
        await uow.session.execute(update(User).where(User.id == ann).values(status="banned"))
    assert await send(env, ann) == {}
    assert env.apns.received == []
