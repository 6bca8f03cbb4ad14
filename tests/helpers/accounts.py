"""Account lifecycle helpers: a user who owns a row in every account table, tasks run in place."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import update

from jobs.tasks import FUNCTIONS
from models.audit import AdminLog
from models.identity.auth import Device, LoginChallenge, RecoveryCode, TotpSecret
from models.identity.creators import CreatorApplication
from models.identity.oauth import OAuthAccount, OAuthState
from models.identity.users import User
from models.identity.verification import VerificationCode
from models.notify.notifications import Notification
from models.privacy.exports import DataExport
from models.social.follows import Follow
from server.identity.users import avatars
from server.identity.users import service as users_service
from server.keys import RUNTIME
from tests.helpers.auth import bearer, register

ME = "/api/v1/me"
EXPORTS = "/api/v1/me/exports"
PHONE = "+8613812345678"


def advance(client: TestClient, *, days: float) -> None:
    """Move this app's clock forward (JWT lifetimes still follow the real clock)."""
    offset = timedelta(days=days)
    client.app[RUNTIME].clock.now = lambda: datetime.now(UTC) + offset


async def run_task(client: TestClient, name: str, **kwargs: Any) -> Any:
    """Run a registered task the way a worker would, on this app's runtime."""
    ctx = {"runtime": client.app[RUNTIME], "job_id": f"test:{name}"}
    return await FUNCTIONS[name].coroutine(ctx, **kwargs)


@dataclass
class Account:
    user_id: int
    headers: dict[str, str]
    tokens: dict[str, Any]
    friend: int
    fan: int
    avatar_key: str
    upload_key: str
    export_key: str


async def rich_account(client: TestClient, email: str = "ann@example.com") -> Account:
    """Ann, with a phone, a profile, a follow each way, second factors, devices, codes, a
    notification, an OAuth link, a creator application, an export file and an avatar file."""
    runtime = client.app[RUNTIME]
    signed_in = await register(client, email=email)
    user_id = signed_in["user"]["id"]
    friend = (await register(client, email=f"friend-{email}"))["user"]["id"]
    fan = (await register(client, email=f"fan-{email}"))["user"]["id"]
    now = runtime.clock.now()
    avatar_key = f"{avatars.public_prefix(user_id)}/a1b2-256.webp"
    upload_key = f"{avatars.upload_prefix(user_id)}/c3d4"
    export_key = f"exports/{user_id}/old.zip"
    await runtime.storage.put(avatar_key, b"RIFF....WEBP")
    await runtime.storage.put(upload_key, b"an upload not yet processed")
    await runtime.storage.put(export_key, b"PK old export")
    async with runtime.db.unit_of_work() as uow:
        s = uow.session
        await s.execute(
            update(User)
            .where(User.id == user_id)
            .values(
                **users_service.phone_columns(runtime.pii, PHONE),
                avatar_url=f"{runtime.settings.public_base_url}/files/{avatar_key}",
                bio="Poetry and tea",
                gender="female",
                birthday=datetime(1990, 3, 7).date(),
                mbti="INFJ",
                zodiac="pisces",
                preferences={"topics": ["poetry"]},
                privacy={"show_follows": False},
                following_count=1,
                follower_count=1,
                email_verified_at=now,
            )
        )
        await s.execute(update(User).where(User.id == friend).values(follower_count=1))
        await s.execute(update(User).where(User.id == fan).values(following_count=1))
        s.add_all(
            [
                Follow(follower_id=user_id, followee_id=friend, created_at=now),
                Follow(follower_id=fan, followee_id=user_id, created_at=now),
                OAuthAccount(
                    user_id=user_id,
                    provider="github",
                    provider_user_id="4242",
                    display_name="ann-gh",
                    profile={"access_token": "gho_secret", "login": "ann-gh"},
                ),
                OAuthState(
                    state_hash="s" * 64,
                    provider="github",
                    redirect_uri="https://app.example/cb",
                    user_id=user_id,
                    expires_at=now + timedelta(minutes=5),
                ),
                TotpSecret(user_id=user_id, secret_enc="v1:x", enabled_at=now),
                RecoveryCode(user_id=user_id, code_hash="r" * 64),
                LoginChallenge(
                    token_hash="c" * 64,
                    user_id=user_id,
                    client={},
                    expires_at=now + timedelta(minutes=5),
                ),
                Device(
                    user_id=user_id,
                    platform="ios",
                    provider="apns",
                    push_token="apns-token-secret",
                    name="Ann's iPhone",
                ),
                VerificationCode(
                    purpose="verify_email",
                    channel="email",
                    target_hash="t" * 64,
                    code_hash="h" * 64,
                    user_id=user_id,
                    expires_at=now + timedelta(minutes=10),
                ),
                Notification(user_id=user_id, type="system.notice", title="Hi", body="", data={}),
                CreatorApplication(
                    user_id=user_id,
                    status="rejected",
                    real_name_enc=runtime.pii.encrypt("张三", context="creators.real_name"),
                    id_number_enc=runtime.pii.encrypt(
                        "11010519491231002X", context="creators.id_number"
                    ),
                    id_number_hash="i" * 64,
                    pitch="A pitch of twenty characters or more.",
                    links=[],
                    verification={"provider": "fake", "reference": "r1", "result": "match"},
                    reason="Not now",
                ),
                DataExport(
                    user_id=user_id,
                    status="ready",
                    progress=100,
                    storage_key=export_key,
                    size_bytes=13,
                    finished_at=now,
                    expires_at=now + timedelta(days=7),
                ),
                AdminLog(
                    admin_id=user_id,
                    action="content.hide",
                    target_type="content",
                    target_id=9,
                    detail={},
                ),
            ]
        )
    return Account(
        user_id=user_id,
        headers=bearer(signed_in["access_token"]),
        tokens=signed_in,
        friend=friend,
        fan=fan,
        avatar_key=avatar_key,
        upload_key=upload_key,
        export_key=export_key,
    )
