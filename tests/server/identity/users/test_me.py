"""GET and PATCH /api/v1/me: the signed-in user's own profile."""

from __future__ import annotations

import pytest

from tests.helpers.auth import bearer, register

ME = "/api/v1/me"


@pytest.fixture
async def ann(api) -> dict[str, str]:
    data = await register(api, email="ann@example.com", nickname="Ann")
    return bearer(data["access_token"])


async def test_get_me_answers_the_user_object(api, ann) -> None:
    response = await api.get(ME, headers=ann)
    assert response.status == 200
    body = await response.json()
    assert set(body) == {"id", "email", "phone", "nickname", "avatar_url", "roles", "created_at"}
    assert body["email"] == "ann@example.com"
    assert body["nickname"] == "Ann"


async def test_patch_changes_the_nickname_and_avatar(api, ann) -> None:
    response = await api.patch(
        ME,
        json={"nickname": "  Annie  ", "avatar_url": "https://cdn.example.com/a.png"},
        headers=ann,
    )
    assert response.status == 200
    body = await response.json()
    assert body["nickname"] == "Annie"
    assert body["avatar_url"] == "https://cdn.example.com/a.png"
    assert await (await api.get(ME, headers=ann)).json() == body


async def test_patch_with_only_one_field_keeps_the_other(api, ann) -> None:
    await api.patch(ME, json={"avatar_url": "http://cdn.example.com/a.png"}, headers=ann)
    body = await (await api.patch(ME, json={"nickname": "Annie"}, headers=ann)).json()
    assert body["avatar_url"] == "http://cdn.example.com/a.png"


async def test_patch_avatar_null_removes_it(api, ann) -> None:
    await api.patch(ME, json={"avatar_url": "https://cdn.example.com/a.png"}, headers=ann)
    body = await (await api.patch(ME, json={"avatar_url": None}, headers=ann)).json()
    assert body["avatar_url"] is None


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"nickname": ""},
        {"nickname": "   "},
        {"nickname": "n" * 33},
        {"nickname": None},
        {"avatar_url": "javascript:alert(1)"},
        {"avatar_url": "ftp://example.com/a.png"},
        {"avatar_url": "https://example.com/" + "a" * 500},
        {"avatar_url": "not a url"},
        {"roles": ["admin"]},
        {"email": "other@example.com"},
    ],
)
async def test_patch_rejects_bad_or_unknown_fields_with_422(api, ann, body) -> None:
    response = await api.patch(ME, json=body, headers=ann)
    assert response.status == 422, await response.text()
    assert (await response.json())["error"]["code"] == "request.validation"


async def test_me_requires_a_token(api) -> None:
    assert (await api.get(ME)).status == 401
    assert (await api.patch(ME, json={"nickname": "x"})).status == 401
