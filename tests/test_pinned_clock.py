"""Date-sensitive tests pass whatever the hour: a few of them run again in a pytest of their own,
its clock pinned with SHARESTACK_TEST_NOW just after midnight in Shanghai and in UTC.

Deselect with `-m "not pinned_clock"`; run the whole of a directory at an instant of your choice
with `SHARESTACK_TEST_NOW=2026-12-31T15:59:30Z pytest tests/server/commerce/payments`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.helpers.env import TEST_NOW

ROOT = Path(__file__).parent.parent
# Tests whose outcome depends on the day they run: the reconciliation of today's bills (the
# business day in Shanghai), and a refund inside the 7 days after the gateway's payment time.
DATE_SENSITIVE = [
    "tests/server/commerce/payments/test_query_and_reconcile.py::"
    "test_reconciliation_finds_what_bills_and_records_disagree_on",
    "tests/server/commerce/payments/test_query_and_reconcile.py::"
    "test_a_failed_bill_download_is_recorded_and_retried",
    "tests/server/commerce/payments/test_refunds.py::test_admin_partial_refund_through_alipay",
]
# Whatever the machine's load, two small runs must not hold the suite for long.
TIMEOUT = 150


def just_after_midnight(zone: str, now: datetime) -> datetime:
    """30 s after the next midnight in `zone`: ahead of the real clock, as Redis prefers."""
    tz = ZoneInfo(zone)
    tomorrow = now.astimezone(tz).date() + timedelta(days=1)
    return (datetime.combine(tomorrow, time(0, 0, 30), tz)).astimezone(UTC)


def pinned_run(instant: datetime) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST")}
    env[TEST_NOW] = instant.isoformat()
    command = [sys.executable, "-m", "pytest", *DATE_SENSITIVE, "-p", "no:cacheprovider"]
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


@pytest.mark.pinned_clock
def test_date_sensitive_tests_pass_just_after_midnight_in_shanghai_and_in_utc() -> None:
    now = datetime.now(UTC)
    instants = [just_after_midnight(zone, now) for zone in ("Asia/Shanghai", "UTC")]
    runs = [(instant, pinned_run(instant)) for instant in instants]  # side by side: half the wait
    outputs = [finish(run) for _, run in runs]
    for (instant, run), output in zip(runs, outputs, strict=True):
        assert run.returncode == 0, f"pinned to {instant.isoformat()}:\n{output[-6000:]}"
        # The run did see the instant (and so proves something).
        assert f"wall clock pinned by {TEST_NOW} to {instant.isoformat()}" in output, output
        assert f"{len(DATE_SENSITIVE)} passed" in output, output[-2000:]


def finish(run: subprocess.Popen[str]) -> str:
    """The run's output once it ends; killed after TIMEOUT (it then fails)."""
    try:
        output, _ = run.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        run.kill()
        output, _ = run.communicate()
        output += f"\n(killed after {TIMEOUT} s)"
    return output
