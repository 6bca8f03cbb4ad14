"""Blocks: one-way rows, effects both ways; following and follows end."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from server.keys import RUNTIME
from server.social import reach
from tests.helpers.people import call, person


async def test_block_ends_follows_both_ways_and_refuses_new_ones(api: TestClient) -> None:
    alice, bob = await person(api), await person(api)
    await call(api, "POST", f"/users/{bob.id}/follow", alice, 200)
    await call(api, "POST", f"/users/{alice.id}/follow", bob, 200)

    state = await call(api, "POST", f"/users/{bob.id}/block", alice, 200)
    assert state == {"blocked": True}
    assert (await call(api, "POST", f"/users/{bob.id}/block", alice, 200)) == {"blocked": True}

    me = await call(api, "GET", "/me", alice, 200)
    assert me is not None
    following = await call(api, "GET", f"/users/{alice.id}/following", alice, 200)
    followers = await call(api, "GET", f"/users/{alice.id}/followers", alice, 200)
    assert following["items"] == [] and followers["items"] == []
    refused = await call(api, "POST", f"/users/{alice.id}/follow", bob, 403)
    assert refused["error"]["code"] == "follows.blocked"
    refused = await call(api, "POST", f"/users/{bob.id}/follow", alice, 403)
    assert refused["error"]["code"] == "follows.blocked"

    async with api.app[RUNTIME].db.read() as session:
        assert await reach.is_blocked(session, owner_id=alice.id, other_id=bob.id)
        assert not await reach.is_blocked(session, owner_id=bob.id, other_id=alice.id)
        assert await reach.blocked_between(session, bob.id, alice.id)
        assert await reach.blocked_ids(session, user_id=bob.id, others=[alice.id]) == {alice.id}

    await call(api, "DELETE", f"/users/{bob.id}/block", alice, 200)
    await call(api, "POST", f"/users/{alice.id}/follow", bob, 200)


async def test_block_list_pages_newest_first(api: TestClient) -> None:
    owner = await person(api)
    others = [await person(api) for _ in range(3)]
    for other in others:
        await call(api, "POST", f"/users/{other.id}/block", owner, 200)
    first = await call(api, "GET", "/me/blocks?limit=2", owner, 200)
    assert [item["user"]["id"] for item in first["items"]] == [others[2].id, others[1].id]
    rest = await call(api, "GET", f"/me/blocks?limit=2&cursor={first['next_cursor']}", owner, 200)
    assert [item["user"]["id"] for item in rest["items"]] == [others[0].id]
    assert rest["next_cursor"] is None
    bad = await call(api, "GET", "/me/blocks?cursor=bm9wZQ", owner, 400)
    assert bad["error"]["code"] == "pagination.invalid_cursor"


async def test_blocking_yourself_or_nobody_is_refused(api: TestClient) -> None:
    owner = await person(api)
    assert (await call(api, "POST", f"/users/{owner.id}/block", owner, 400))["error"][
        "code"
    ] == "blocks.self"
    await call(api, "DELETE", f"/users/{owner.id}/block", owner, 400)
    await call(api, "POST", "/users/999999999/block", owner, 404)
    await call(api, "DELETE", "/users/999999999/block", owner, 404)
    await call(api, "POST", f"/users/{owner.id}/block", None, 401)
