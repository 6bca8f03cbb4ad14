"""Subscription periods, cut in the business timezone."""

from __future__ import annotations

import calendar
from datetime import datetime
from zoneinfo import ZoneInfo

INTERVAL_MONTHS = {"month": 1, "year": 12}


def add_months(moment: datetime, months: int, tz: ZoneInfo) -> datetime:
    """The same local time `months` later on the same local calendar day, clamped to the
    month's last day (Jan 31 + 1 month = Feb 28 or 29)."""
    local = moment.astimezone(tz)
    index = local.month - 1 + months
    year, month = local.year + index // 12, index % 12 + 1
    day = min(local.day, calendar.monthrange(year, month)[1])
    return local.replace(year=year, month=month, day=day).astimezone(moment.tzinfo)


def period_end(anchor: datetime, *, interval: str, periods: int, tz: ZoneInfo) -> datetime:
    """When paid period number `periods` (1 = the first) ends, counting from the anchor."""
    return add_months(anchor, INTERVAL_MONTHS[interval] * periods, tz)
