"""Schemathesis over the whole OpenAPI document: valid and invalid data against every operation
of a real server process; no 5xx, and no invalid data accepted.

A bounded, seeded run (a few cases per operation, plus Schemathesis' coverage cases: boundaries,
wrong types, missing fields); `python -m tests.fuzz` runs the longer, documented one.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from server.settings import Settings
from tests.fuzz.__main__ import fuzz

pytestmark = pytest.mark.system

SEED = int(os.environ.get("SHARESTACK_FUZZ_SEED", "20261207"))


async def test_no_operation_answers_5xx_or_accepts_invalid_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The server decides its own settings: embedded mode in a folder of the test's own.
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    log = tmp_path / "server.log"
    arguments = [
        "--seed",
        str(SEED),
        "--max-examples",
        "3",
        "--phases",
        "examples,coverage,fuzzing",
    ]
    code = await asyncio.to_thread(fuzz, arguments, data_dir=tmp_path, log=log)
    errors = [line for line in log.read_text().splitlines() if '"level":"error"' in line]
    assert code == 0, "\n".join(errors[-20:])
