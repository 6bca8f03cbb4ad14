"""Business time: the timezone the business keeps its days in, and the days it cuts.

The timezone is the setting of the runtime whose session factory made the caller's session, so
the web process, a worker and a test app each keep their own, whatever the environment says.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from server.runtime import settings_of


def business_tz(session: AsyncSession) -> ZoneInfo:
    """The business timezone of the process running this session."""
    return ZoneInfo(settings_of(session).business_tz)


def business_day_bounds(day: date, tz: str) -> tuple[datetime, datetime]:
    """The UTC start and end of `day` in the business timezone."""
    start = datetime.combine(day, time(), ZoneInfo(tz))
    return start.astimezone(UTC), (start + timedelta(days=1)).astimezone(UTC)


def previous_business_day(now: datetime, tz: str) -> date:
    """The business day before the one `now` falls on."""
    return now.astimezone(ZoneInfo(tz)).date() - timedelta(days=1)
