"""The commercial terms a process runs with (platform fee, settlement delay, business timezone),
read from the settings of the runtime whose session factory made the caller's session
(`server.runtime` puts itself in every session's `info`): the web process, a worker and a test
app each apply their own settings, whatever the environment says."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, cast
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from server.settings import Settings

if TYPE_CHECKING:
    from server.runtime import Runtime


def runtime_of(session: AsyncSession) -> Runtime:
    """The runtime that made this session; a session made outside one is a programming error."""
    runtime = session.info.get("runtime")
    if runtime is None:
        raise RuntimeError("This session was not made by a runtime's session factory.")
    return cast("Runtime", runtime)


def settings_of(session: AsyncSession) -> Settings:
    return runtime_of(session).settings


def business_tz(session: AsyncSession) -> ZoneInfo:
    """The business timezone of the process running this session."""
    return ZoneInfo(settings_of(session).business_tz)


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
