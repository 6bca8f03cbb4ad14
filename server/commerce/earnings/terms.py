"""The commercial terms a process runs with (platform fee, settlement delay, business timezone),
read from the settings of the runtime whose session factory made the caller's session
(`server.runtime` puts itself in every session's `info`): the web process, a worker and a test
app each apply their own settings, whatever the environment says."""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from server.runtime import settings_of
from server.settings import Settings


@dataclass(frozen=True, slots=True)
class Terms:
    """The split and settlement settings earnings are recorded with."""

    fee_bps: int
    settlement_days: int
    tz: ZoneInfo

    @classmethod
    def of(cls, settings: Settings) -> Terms:
        return cls(
            fee_bps=settings.earnings_platform_fee_bps,
            settlement_days=settings.earnings_settlement_days,
            tz=ZoneInfo(settings.business_tz),
        )


def terms(session: AsyncSession) -> Terms:
    return Terms.of(settings_of(session))
