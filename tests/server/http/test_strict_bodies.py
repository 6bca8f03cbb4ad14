"""JSON bodies are read as strictly as JSON is typed: an integer is a JSON integer (never `false`,
`1.0` or "1"), a boolean `true` or `false`; times, dates and enum values stay strings. A refused
body changes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.helpers.people import Person, call


@pytest.mark.parametrize("position", [False, True, 1.0, "1", None])
async def test_an_integer_in_a_body_is_a_json_integer(
    api: TestClient, admin: Person, position: Any
) -> None:
    body = {"name": "编程", "slug": "code", "position": position}
    answer = await call(api, "POST", "/categories", admin, 422, json=body)
    assert answer["error"]["code"] == "request.validation"
    assert "body.position" in answer["error"]["fields"]
    assert await call(api, "GET", "/categories", None, 200) == []


async def test_a_json_integer_and_strings_for_times_and_enums_are_read(
    api: TestClient, admin: Person, creator: Person
) -> None:
    body = {"name": "编程", "slug": "code", "position": 2}
    category = await call(api, "POST", "/categories", admin, 201, json=body)
    assert category["position"] == 2
    grant = {
        "user_id": creator.id,
        "subject_type": "membership",
        "ends_at": "2999-01-01T08:00:00+08:00",
    }
    granted = await call(api, "POST", "/admin/entitlements", admin, 201, json=grant)
    assert granted["ends_at"] == "2999-01-01T00:00:00Z"


@pytest.mark.parametrize("subject_id", [False, "7", 7.0])
async def test_an_id_in_a_body_is_never_a_boolean_a_string_or_a_float(
    api: TestClient, admin: Person, creator: Person, subject_id: Any
) -> None:
    grant = {"user_id": creator.id, "subject_type": "plan", "subject_id": subject_id}
    answer = await call(api, "POST", "/admin/entitlements", admin, 422, json=grant)
    assert "body.subject_id" in answer["error"]["fields"]
