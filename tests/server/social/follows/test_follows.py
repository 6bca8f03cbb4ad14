"""Follow and unfollow: idempotent, notifying once, counters exact under concurrency."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from models.identity.users import User
from models.social.follows import Follow
from server.app import create_app
from server.keys import RUNTIME
from server.social.follows import service
from tests.helpers.env import make_settings, migrated_embedded_settings
from tests.helpers.profiles import Person, column, json_of, many, set_columns, sign_up


def follow_url(person: Person) -> str:
    return f"/api/v1/users/{person.id}/follow"


async def follow(api: Any, who: Person, whom: Person, status: int = 200) -> Any:
    return await json_of(await api.post(follow_url(whom), headers=who.headers), status)


async def unfollow(api: Any, who: Person, whom: Person, status: int = 200) -> Any:
    return await json_of(await api.delete(follow_url(whom), headers=who.headers), status)


async def notifications(api: Any, person: Person) -> list[dict[str, Any]]:
    body = await json_of(await api.get("/api/v1/notifications", headers=person.headers), 200)
    items: list[dict[str, Any]] = body["items"]
    return items


async def counts(api: Any, person: Person) -> tuple[int, int]:
    return (
        await column(api, person.id, "follower_count"),
        await column(api, person.id, "following_count"),
    )


@pytest.fixture
async def ann(api) -> Person:
    return await sign_up(api, "Ann")


@pytest.fixture
async def bob(api) -> Person:
    return await sign_up(api, "Bob")


async def test_following_answers_the_state_and_counts_both_sides(api, ann, bob) -> None:
    assert await follow(api, ann, bob) == {"following": True, "follower_count": 1}
    assert await counts(api, bob) == (1, 0)
    assert await counts(api, ann) == (0, 1)


async def test_following_twice_is_a_no_op_and_notifies_once(api, ann, bob) -> None:
    await follow(api, ann, bob)
    assert await follow(api, ann, bob) == {"following": True, "follower_count": 1}
    assert await counts(api, bob) == (1, 0)
    [notice] = await notifications(api, bob)
    assert (notice["type"], notice["actor_id"]) == ("follow.created", ann.id)
    assert notice["data"] == {"follower_id": ann.id}
    assert "Ann" in notice["body"]


async def test_unfollowing_answers_the_state_and_twice_is_a_no_op(api, ann, bob) -> None:
    await follow(api, ann, bob)
    assert await unfollow(api, ann, bob) == {"following": False, "follower_count": 0}
    assert await unfollow(api, ann, bob) == {"following": False, "follower_count": 0}
    assert await counts(api, bob) == (0, 0) and await counts(api, ann) == (0, 0)


async def test_following_again_after_unfollowing_is_a_new_follow(api, ann, bob) -> None:
    await follow(api, ann, bob)
    await unfollow(api, ann, bob)
    await follow(api, ann, bob)
    # Following again soon after is not news: one notification (see notify's group_key).
    assert len(await notifications(api, bob)) == 1
    assert await counts(api, bob) == (1, 0)


async def test_the_count_is_hidden_when_the_user_hides_their_followers(api, ann, bob) -> None:
    body = {"privacy": {"show_followers": False}}
    await json_of(await api.patch("/api/v1/me/profile", json=body, headers=bob.headers), 200)
    assert await follow(api, ann, bob) == {"following": True, "follower_count": None}


async def test_following_yourself_is_400(api, ann) -> None:
    error = (await follow(api, ann, ann, 400))["error"]
    assert error["code"] == "follows.self"
    assert (await unfollow(api, ann, ann, 400))["error"]["code"] == "follows.self"
    assert await counts(api, ann) == (0, 0)


@pytest.mark.parametrize("status", ["banned", "deleted", "deactivated"])
async def test_only_active_users_can_be_followed(api, ann, bob, status) -> None:
    await set_columns(api, bob.id, status=status)
    assert (await follow(api, ann, bob, 404))["error"]["code"] == "users.not_found"
    assert await counts(api, ann) == (0, 0)


async def test_a_banned_user_can_still_be_unfollowed(api, ann, bob) -> None:
    await follow(api, ann, bob)
    await set_columns(api, bob.id, status="banned")
    assert (await unfollow(api, ann, bob))["following"] is False
    assert await counts(api, ann) == (0, 0)


async def test_unknown_users_are_404(api, ann) -> None:
    ghost = Person(999_999, {})
    assert (await follow(api, ann, ghost, 404))["error"]["code"] == "users.not_found"
    assert (await unfollow(api, ann, ghost, 404))["error"]["code"] == "users.not_found"


async def test_following_needs_a_token(api, bob) -> None:
    assert (await api.post(follow_url(bob))).status == 401
    assert (await api.delete(follow_url(bob))).status == 401


async def rows_and_counters(
    api: Any,
) -> tuple[dict[int, tuple[int, int]], dict[int, tuple[int, int]]]:
    async with api.app[RUNTIME].db.read() as session:
        stored = {
            row.id: (row.follower_count, row.following_count)
            for row in await session.execute(
                select(User.id, User.follower_count, User.following_count)
            )
        }
        followers = dict(
            (
                await session.execute(
                    select(Follow.followee_id, func.count()).group_by(Follow.followee_id)
                )
            ).all()
        )
        following = dict(
            (
                await session.execute(
                    select(Follow.follower_id, func.count()).group_by(Follow.follower_id)
                )
            ).all()
        )
    counted = {uid: (followers.get(uid, 0), following.get(uid, 0)) for uid in stored}
    return stored, counted


@pytest.fixture
async def storm_api(make_client, database_url):
    """The app with room in its pool for every request in flight waiting on one hot row."""
    return await make_client(make_settings(database_url=database_url, database_pool_size=20))


async def storm(requests: list[Any], *, at_once: int = 30) -> None:
    """Run the requests in a random order, `at_once` in flight at any moment: enough to race
    on the same rows, not so many that waiting for a pooled connection times out (503)."""
    random.Random(7).shuffle(requests)
    gate = asyncio.Semaphore(at_once)

    async def gated(request: Any) -> Any:
        async with gate:
            return await request

    results = await asyncio.gather(*(gated(request) for request in requests))
    assert all("error" not in result for result in results), results


async def test_a_storm_of_concurrent_follows_and_unfollows_keeps_counters_equal_to_rows(
    storm_api,
) -> None:
    api = storm_api
    people = await many(api, 50)
    star, others = people[0], people[1:]
    # Everyone follows the star, twice at once; the star follows some back at the same time.
    await storm(
        [follow(api, p, star) for p in others]
        + [follow(api, p, star) for p in others]
        + [follow(api, star, p) for p in others[:20]]
    )
    stored, counted = await rows_and_counters(api)
    assert stored == counted and stored[star.id] == (49, 20)

    # Half leave while the star follows the rest back and others follow and leave each other.
    rng = random.Random(11)
    pairs = [(p, rng.choice(others)) for p in others]
    await storm(
        [unfollow(api, p, star) for p in others[::2]]
        + [follow(api, star, p) for p in others[20:]]
        + [follow(api, a, b) for a, b in pairs if a is not b]
        + [unfollow(api, b, a) for a, b in pairs if a is not b]
    )
    stored, counted = await rows_and_counters(api)
    assert stored == counted and stored[star.id] == (24, 49)

    # The same pairs followed and unfollowed at once: whichever wins, the counters agree.
    await storm(
        [follow(api, a, b) for a, b in pairs[:25] if a is not b]
        + [unfollow(api, a, b) for a, b in pairs[:25] if a is not b]
        + [unfollow(api, star, p) for p in others]
    )
    stored, counted = await rows_and_counters(api)
    assert stored == counted and stored[star.id][1] == 0


async def test_removing_every_follow_of_an_account_keeps_the_others_counters_exact(
    api,
) -> None:
    ann, bob, cat = await many(api, 3)
    for who, whom in ((ann, bob), (bob, ann), (cat, ann), (ann, cat), (bob, cat)):
        await follow(api, who, whom)

    async with api.app[RUNTIME].db.unit_of_work() as uow:
        removed = await service.remove_all_follows(uow, user_id=ann.id)

    assert removed == 4
    stored, counted = await rows_and_counters(api)
    assert stored == counted
    assert stored[ann.id] == (0, 0) and stored[cat.id] == (1, 0) and stored[bob.id] == (0, 1)
    async with api.app[RUNTIME].db.read() as session:
        assert await service.count_rows(session, user_id=cat.id) == (1, 0)


async def test_in_the_embedded_mode_follows_work_on_sqlite(aiohttp_client, tmp_path: Path) -> None:
    settings = await migrated_embedded_settings(tmp_path)
    embedded = await aiohttp_client(create_app(settings))
    ann, bob = await many(embedded, 2)

    results = await asyncio.gather(*(follow(embedded, ann, bob) for _ in range(5)))

    assert {r["follower_count"] for r in results} == {1}
    assert await unfollow(embedded, ann, bob) == {"following": False, "follower_count": 0}
    await follow(embedded, bob, ann)
    stored, counted = await rows_and_counters(embedded)
    assert stored == counted
    found = await json_of(
        await embedded.get("/api/v1/users", params={"q": "reader"}, headers=ann.headers), 200
    )
    assert [item["id"] for item in found["items"]] == [bob.id, ann.id]
    body = {"privacy": {"searchable": False}}
    await json_of(await embedded.patch("/api/v1/me/profile", json=body, headers=bob.headers), 200)
    found = await json_of(
        await embedded.get("/api/v1/users", params={"q": "reader"}, headers=ann.headers), 200
    )
    assert [item["id"] for item in found["items"]] == [ann.id]
