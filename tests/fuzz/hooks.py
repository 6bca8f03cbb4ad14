"""Schemathesis hooks for `python -m tests.fuzz`: every request is signed in as the fuzzed
server's administrator (who reaches every route), signing in again whenever the fuzzer itself
ended the session (logout, revoked sessions, a ban) and registering a fresh account when the
administrator can no longer sign in at all."""

from __future__ import annotations

import json
import os
import secrets
import urllib.error
import urllib.request
from typing import Any

import schemathesis

BASE_URL = os.environ.get("FUZZ_BASE_URL", "http://127.0.0.1:8080")
ADMIN_EMAIL = os.environ.get("FUZZ_ADMIN_EMAIL", "")
ADMIN_PASSWORD = os.environ.get("FUZZ_ADMIN_PASSWORD", "")


def _post(path: str, body: dict[str, Any]) -> dict[str, Any] | None:
    request = urllib.request.Request(
        f"{BASE_URL}/api/v1{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            answer: dict[str, Any] = json.loads(response.read())
            return answer
    except (urllib.error.HTTPError, urllib.error.URLError):
        return None


def sign_in() -> str:
    """An access token: the administrator's, or a new reader's when that account is gone."""
    answer = _post("/auth/login", {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    if answer is None:
        password = secrets.token_urlsafe(16)
        answer = _post(
            "/auth/register",
            {"email": f"fuzz-{secrets.token_hex(4)}@example.com", "password": password},
        )
    if answer is None:
        raise RuntimeError("the fuzzed server lets nobody sign in")
    return str(answer["access_token"])


@schemathesis.auth(refresh_interval=60)
class AdminToken:
    def get(self, case: Any, ctx: Any) -> str:
        return sign_in()

    def set(self, case: Any, data: str, ctx: Any) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}
