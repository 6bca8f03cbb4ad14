"""Identity housekeeping: expired one-time codes, OAuth authorisations and sign-in challenges."""

from __future__ import annotations

from typing import Any

from jobs.registry import runtime_of, schedule, task
from server.identity.auth import challenges
from server.identity.oauth import states as oauth_states
from server.identity.verification import codes


@task("identity.purge_expired", timeout=120)
async def purge_expired(ctx: dict[str, Any]) -> dict[str, int]:
    """Delete codes, OAuth states and two-step challenges that expired over a day ago."""
    runtime = runtime_of(ctx)
    now = runtime.clock.now()
    async with runtime.db.unit_of_work() as uow:
        return {
            "codes": await codes.purge_expired(uow.session, now=now),
            "oauth_states": await oauth_states.purge_expired_states(uow.session, now=now),
            "challenges": await challenges.purge_expired(uow.session, now=now),
        }


TASKS = (purge_expired,)
SCHEDULES = (schedule(purge_expired, minute=23, second=0),)
