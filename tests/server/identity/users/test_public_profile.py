"""GET /api/v1/users/{id} (a user as others see them) and GET /api/v1/users?q= (search)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers.profiles import Person, json_of, set_columns, sign_up

PROFILE = "/api/v1/me/profile"


def user_url(person: Person) -> str:
    return f"/api/v1/users/{person.id}"


@pytest.fixture
async def ann(api) -> Person:
    ann = await sign_up(api, "Ann")
    body = {"bio": "Hi", "birthday": "1990-07-30", "mbti": "INTJ", "gender": "female"}
    await json_of(await api.patch(PROFILE, json=body, headers=ann.headers), 200)
    return ann


@pytest.fixture
async def bob(api) -> Person:
    return await sign_up(api, "Bob")


async def public(api, person: Person, viewer: Person | None = None, status: int = 200) -> Any:
    headers = viewer.headers if viewer else {}
    return await json_of(await api.get(user_url(person), headers=headers), status)


async def set_privacy(api, person: Person, **privacy: Any) -> None:
    body = {"privacy": privacy}
    await json_of(await api.patch(PROFILE, json=body, headers=person.headers), 200)


async def test_anyone_sees_the_public_fields_and_not_the_private_ones(api, ann) -> None:
    body = await public(api, ann)
    assert body["id"] == ann.id and body["nickname"] == "Ann" and body["bio"] == "Hi"
    assert (body["mbti"], body["zodiac"], body["gender"]) == ("INTJ", "leo", "female")
    assert body["birthday"] is None  # hidden by default
    assert (body["follower_count"], body["following_count"]) == (0, 0)
    assert (body["is_following"], body["follows_you"]) == (None, None)
    assert not {"email", "phone", "preferences", "privacy"} & set(body)


async def test_a_signed_in_viewer_learns_how_they_relate(api, ann, bob) -> None:
    body = await public(api, ann, bob)
    assert (body["is_following"], body["follows_you"]) == (False, False)
    await json_of(await api.post(f"{user_url(ann)}/follow", headers=bob.headers), 200)
    body = await public(api, ann, bob)
    assert (body["is_following"], body["follows_you"], body["follower_count"]) == (True, False, 1)
    assert (await public(api, bob, ann))["follows_you"] is True


async def test_privacy_hides_counts_and_shows_the_birthday_only_when_allowed(api, ann, bob) -> None:
    await set_privacy(api, ann, show_followers=False, show_following=False, show_birthday=True)
    body = await public(api, ann, bob)
    assert (body["follower_count"], body["following_count"]) == (None, None)
    assert body["birthday"] == "1990-07-30"
    own = await public(api, ann, ann)
    assert (own["follower_count"], own["following_count"]) == (0, 0)
    assert (own["is_following"], own["follows_you"]) == (None, None)


async def test_the_owner_always_sees_their_own_birthday(api, ann) -> None:
    assert (await public(api, ann, ann))["birthday"] == "1990-07-30"


async def test_only_public_roles_are_shown_as_badges(api, ann) -> None:
    await set_columns(api, ann.id, roles=["reader", "creator", "admin"])
    assert (await public(api, ann))["roles"] == ["reader", "creator"]


@pytest.mark.parametrize("status", ["banned", "deleted", "deactivated"])
async def test_accounts_that_are_not_active_are_not_found(api, ann, bob, status) -> None:
    await set_columns(api, ann.id, status=status)
    error = (await public(api, ann, bob, status=404))["error"]
    assert error["code"] == "users.not_found"


async def test_unknown_and_malformed_ids_are_refused(api, bob) -> None:
    response = await api.get("/api/v1/users/999999", headers=bob.headers)
    assert (await json_of(response, 404))["error"]["code"] == "users.not_found"
    assert (await api.get("/api/v1/users/abc")).status == 422
    assert (await api.get("/api/v1/users/0")).status == 422


async def test_a_bad_token_is_401_not_a_signed_out_view(api, ann) -> None:
    response = await api.get(user_url(ann), headers={"Authorization": "Bearer nonsense"})
    assert response.status == 401


# --- search -----------------------------------------------------------------------------------


async def search(api, viewer: Person, status: int = 200, **query: Any) -> Any:
    return await json_of(
        await api.get("/api/v1/users", params=query, headers=viewer.headers), status
    )


async def test_search_finds_nicknames_containing_the_text_newest_first(api, bob) -> None:
    ann = await sign_up(api, "Ann")
    joanna = await sign_up(api, "Joanna")
    body = await search(api, bob, q="an")
    assert [item["id"] for item in body["items"]] == [joanna.id, ann.id]
    assert set(body["items"][0]) == {"id", "nickname", "avatar_url", "bio", "roles"}
    assert body["next_cursor"] is None
    assert [i["id"] for i in (await search(api, bob, q="JOA"))["items"]] == [joanna.id]


async def test_search_skips_users_who_opted_out_or_are_not_active(api, ann, bob) -> None:
    carl = await sign_up(api, "Annabel")
    await sign_up(api, "Annette")
    await set_privacy(api, ann, searchable=False)
    await set_columns(api, carl.id, status="banned")
    names = [item["nickname"] for item in (await search(api, bob, q="Ann"))["items"]]
    assert names == ["Annette"]
    await set_privacy(api, ann, searchable=True)
    names = [item["nickname"] for item in (await search(api, bob, q="Ann"))["items"]]
    assert names == ["Annette", "Ann"]


async def test_like_wildcards_in_the_query_match_only_themselves(api, bob) -> None:
    await sign_up(api, "100%_real")
    await sign_up(api, "1000")
    assert [i["nickname"] for i in (await search(api, bob, q="0%_"))["items"]] == ["100%_real"]
    assert (await search(api, bob, q="!"))["items"] == []


async def test_search_pages_with_a_cursor(api, bob) -> None:
    people = [await sign_up(api, f"Reader{n}") for n in range(5)]
    first = await search(api, bob, q="reader", limit=3)
    second = await search(api, bob, q="reader", limit=3, cursor=first["next_cursor"])
    ids = [item["id"] for item in first["items"] + second["items"]]
    assert ids == [p.id for p in reversed(people)]
    assert second["next_cursor"] is None


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ({}, 422),
        ({"q": ""}, 422),
        ({"q": "x" * 33}, 422),
        ({"q": "a", "limit": 0}, 422),
        ({"q": "a", "cursor": "!!!"}, 400),
        ({"q": "a", "cursor": "eyJpZCI6ICJ4In0"}, 400),
    ],
)
async def test_bad_search_queries_are_refused(api, bob, query, status) -> None:
    await search(api, bob, status=status, **query)


async def test_search_needs_a_token(api) -> None:
    assert (await api.get("/api/v1/users", params={"q": "a"})).status == 401
