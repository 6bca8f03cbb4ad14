"""Development in the embedded mode: SQLite, memory throttles, and codes read from the log."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from structlog.testing import capture_logs

from server.app import create_app
from tests.helpers.env import migrated_embedded_settings


async def test_code_sign_in_and_reset_work_embedded_with_the_development_log(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    settings = await migrated_embedded_settings(tmp_path)
    assert settings.environment == "development" and settings.mail_backend == "log"
    client = await aiohttp_client(create_app(settings))

    def last_code(logs: list[dict[str, Any]]) -> str:
        (entry,) = [e for e in logs if e["event"] == "mail.logged"]
        match = re.search(r"\b(\d{6})\b", entry["text"])
        assert match
        return match.group(1)

    with capture_logs() as logs:
        sent = await client.post(
            "/api/v1/auth/codes", json={"email": "dev@example.com", "purpose": "login"}
        )
    assert sent.status == 202
    assert (await sent.json())["resend_after"] == 60
    code = last_code(logs)
    signed_in = await client.post(
        "/api/v1/auth/login/code", json={"email": "dev@example.com", "code": code}
    )
    assert signed_in.status == 200
    again = await client.post(
        "/api/v1/auth/login/code", json={"email": "dev@example.com", "code": code}
    )
    assert again.status == 400

    throttled = await client.post("/api/v1/auth/password/forgot", json={"email": "dev@example.com"})
    assert throttled.status == 429, "one code a minute per address, in memory too"
