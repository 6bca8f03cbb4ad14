"""The identity housekeeping job: expired codes, OAuth states and challenges go; live ones stay."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, insert, select

from jobs.tasks import FUNCTIONS, TASKS
from models.identity.auth import LoginChallenge
from models.identity.oauth import OAuthState
from models.identity.users import User
from models.identity.verification import VerificationCode
from server.runtime import Runtime


async def count(runtime: Runtime, model: type) -> int:
    async with runtime.db.read() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_the_purge_deletes_only_what_expired_over_a_day_ago(runtime: Runtime) -> None:
    now = runtime.clock.now()
    old, recent = now - timedelta(days=2), now - timedelta(hours=1)
    async with runtime.db.unit_of_work() as uow:
        user = (
            await uow.session.execute(
                insert(User).values(nickname="ann", roles=["reader"], status="active")
            )
        ).inserted_primary_key[0]
        for n, expires in enumerate((old, recent)):
            uow.session.add_all(
                [
                    VerificationCode(
                        purpose="login",
                        channel="email",
                        target_hash=f"t{n}",
                        code_hash="c",
                        created_at=expires - timedelta(minutes=10),
                        expires_at=expires,
                    ),
                    OAuthState(
                        state_hash=f"s{n}",
                        provider="github",
                        redirect_uri="https://a.example/cb",
                        created_at=expires - timedelta(minutes=10),
                        expires_at=expires,
                    ),
                    LoginChallenge(
                        token_hash=f"h{n}",
                        user_id=user,
                        client={},
                        created_at=expires - timedelta(minutes=5),
                        expires_at=expires,
                    ),
                ]
            )
    purge = FUNCTIONS["identity.purge_expired"].coroutine
    assert await purge({"runtime": runtime}) == {"codes": 1, "oauth_states": 2, "challenges": 1}
    assert await count(runtime, VerificationCode) == 1
    assert await count(runtime, LoginChallenge) == 1
    assert await count(runtime, OAuthState) == 0, "an expired authorisation is useless at once"
    assert await purge({"runtime": runtime}) == {"codes": 0, "oauth_states": 0, "challenges": 0}


def test_the_purge_runs_hourly() -> None:
    assert any(job.name == "cron:identity.purge_expired" for job in TASKS.cron_jobs())
