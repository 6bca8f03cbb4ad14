"""Follower and following lists (privacy, mutual flags, constant queries) and suggested creators."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event, text

from server.keys import RUNTIME
from server.social.follows import service
from tests.helpers.profiles import Person, json_of, many, set_columns
from tests.server.social.follows.test_follows import follow

SUGGESTED = "/api/v1/me/suggested_creators"


def list_url(person: Person, which: str) -> str:
    return f"/api/v1/users/{person.id}/{which}"


async def listing(
    api: Any, owner: Person, which: str, viewer: Person | None = None, status: int = 200, **query
) -> Any:
    headers = viewer.headers if viewer else {}
    response = await api.get(list_url(owner, which), params=query, headers=headers)
    return await json_of(response, status)


async def set_privacy(api: Any, person: Person, **privacy: Any) -> None:
    body = {"privacy": privacy}
    await json_of(await api.patch("/api/v1/me/profile", json=body, headers=person.headers), 200)


@pytest.fixture
async def crowd(api) -> list[Person]:
    return await many(api, 6)


async def test_followers_are_listed_newest_first_with_mutual_flags(api, crowd) -> None:
    ann, bob, cat, dan, *_ = crowd
    for who in (bob, cat, dan):
        await follow(api, who, ann)
    await follow(api, ann, cat)  # ann and cat follow each other

    body = await listing(api, ann, "followers")

    assert [item["user"]["id"] for item in body["items"]] == [dan.id, cat.id, bob.id]
    assert [item["mutual"] for item in body["items"]] == [False, True, False]
    assert set(body["items"][0]["user"]) == {"id", "nickname", "avatar_url", "bio", "roles"}
    assert (
        body["items"][0]["followed_at"].endswith("Z") or "+00:00" in body["items"][0]["followed_at"]
    )
    assert body["next_cursor"] is None


async def test_following_is_listed_newest_first_with_mutual_flags(api, crowd) -> None:
    ann, bob, cat, *_ = crowd
    await follow(api, ann, bob)
    await follow(api, ann, cat)
    await follow(api, bob, ann)

    body = await listing(api, ann, "following", viewer=cat)

    assert [(i["user"]["id"], i["mutual"]) for i in body["items"]] == [
        (cat.id, False),
        (bob.id, True),
    ]


async def test_lists_page_with_a_cursor(api, crowd) -> None:
    ann, *fans = crowd
    for fan in fans:
        await follow(api, fan, ann)
    first = await listing(api, ann, "followers", limit=2)
    second = await listing(api, ann, "followers", limit=2, cursor=first["next_cursor"])
    third = await listing(api, ann, "followers", limit=2, cursor=second["next_cursor"])
    ids = [i["user"]["id"] for page in (first, second, third) for i in page["items"]]
    assert ids == [fan.id for fan in reversed(fans)]
    assert third["next_cursor"] is None


async def test_hidden_lists_are_403_for_others_and_open_to_their_owner(api, crowd) -> None:
    ann, bob, *_ = crowd
    await follow(api, bob, ann)
    await follow(api, ann, bob)
    await set_privacy(api, ann, show_followers=False, show_following=False)
    for which in ("followers", "following"):
        error = (await listing(api, ann, which, viewer=bob, status=403))["error"]
        assert error["code"] == "follows.hidden"
        assert (await listing(api, ann, which, status=403))["error"]["code"] == "follows.hidden"
        assert len((await listing(api, ann, which, viewer=ann))["items"]) == 1


async def test_one_hidden_list_leaves_the_other_open(api, crowd) -> None:
    ann, bob, *_ = crowd
    await set_privacy(api, ann, show_following=False)
    await listing(api, ann, "followers", viewer=bob)
    await listing(api, ann, "following", viewer=bob, status=403)


async def test_inactive_accounts_drop_out_of_lists(api, crowd) -> None:
    ann, bob, cat, *_ = crowd
    await follow(api, bob, ann)
    await follow(api, cat, ann)
    await set_columns(api, bob.id, status="banned")
    body = await listing(api, ann, "followers")
    assert [i["user"]["id"] for i in body["items"]] == [cat.id]
    await set_columns(api, ann.id, status="deleted")
    assert (await listing(api, ann, "followers", status=404))["error"]["code"] == "users.not_found"


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ({"limit": 0}, 422),
        ({"limit": 101}, 422),
        ({"cursor": "%%%"}, 400),
        ({"cursor": "e30"}, 400),
    ],
)
async def test_bad_list_queries_are_refused(api, crowd, query, status) -> None:
    await listing(api, crowd[0], "followers", status=status, **query)


async def test_a_cursor_of_the_wrong_shape_is_400(api, crowd) -> None:
    body = await listing(api, crowd[0], "following", status=400, cursor="eyJpZCI6IC0xfQ")
    assert body["error"]["code"] == "pagination.invalid_cursor"


async def test_a_list_runs_three_queries_whatever_the_page_size(api) -> None:
    people = await many(api, 40)
    owner, fans = people[0], people[1:]
    for fan in fans:
        await follow(api, fan, owner)
    for fan in fans[::2]:
        await follow(api, owner, fan)
    runtime = api.app[RUNTIME]
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    engine = runtime.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        sizes = []
        for limit in (3, 39):
            statements.clear()
            async with runtime.db.read() as session:
                page = await service.list_followers(
                    session, owner_id=owner.id, viewer_id=None, limit=limit, cursor=None
                )
            sizes.append((len(page.items), len(statements)))
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert sizes == [(3, 3), (39, 3)]
    assert sum(item.mutual for item in page.items) == 20


@pytest.mark.parametrize("before", [None, 10**9])
@pytest.mark.parametrize(
    ("followers", "index"),
    [(True, "ix_follows_followee_id_id"), (False, "ix_follows_follower_id_id")],
)
async def test_a_list_page_reads_its_index_in_order_without_sorting(
    api, crowd, followers, index, before
) -> None:
    ann, *fans = crowd
    for fan in fans:
        await follow(api, fan, ann)
        await follow(api, ann, fan)
    query = service.list_query(owner_id=ann.id, followers=followers, before=before, limit=21)
    runtime = api.app[RUNTIME]
    compiled = query.compile(runtime.db.engine, compile_kwargs={"literal_binds": True})
    async with runtime.db.read() as session:
        plan = (await session.execute(text(f"EXPLAIN {compiled}"))).mappings().all()
    follows_row = next(row for row in plan if row["table"] == "follows")
    assert follows_row["key"] == index, plan
    assert "filesort" not in (follows_row["Extra"] or ""), plan


# --- suggested creators ---------------------------------------------------------------------


async def suggested(api: Any, viewer: Person, status: int = 200, **query: Any) -> Any:
    return await json_of(await api.get(SUGGESTED, params=query, headers=viewer.headers), status)


async def test_suggestions_rank_active_creators_not_yet_followed(api) -> None:
    me, top, mid, low, followed, banned, reader, *fans = await many(api, 12)
    for creator in (top, mid, low, followed, banned):
        await set_columns(api, creator.id, roles=["reader", "creator"])
    await set_columns(api, me.id, roles=["reader", "creator"])  # never suggested to oneself
    for creator, fan_count in ((top, 3), (mid, 2), (low, 0), (banned, 5)):
        for fan in fans[:fan_count]:
            await follow(api, fan, creator)
    await set_columns(api, banned.id, status="banned")
    await follow(api, me, followed)
    await follow(api, fans[0], reader)

    body = await suggested(api, me)

    assert [item["id"] for item in body["items"]] == [top.id, mid.id, low.id]
    assert [item["follower_count"] for item in body["items"]] == [3, 2, 0]
    assert body["items"][0]["roles"] == ["reader", "creator"]
    assert body["next_cursor"] is None


async def test_suggestions_page_by_rank_and_hide_counts_their_creators_hide(api) -> None:
    me, *creators = await many(api, 6)
    for n, creator in enumerate(creators):
        await set_columns(api, creator.id, roles=["creator"], follower_count=10 if n < 3 else 1)
    await set_privacy(api, creators[0], show_followers=False)

    first = await suggested(api, me, limit=2)
    second = await suggested(api, me, limit=2, cursor=first["next_cursor"])
    third = await suggested(api, me, limit=2, cursor=second["next_cursor"])

    ids = [i["id"] for page in (first, second, third) for i in page["items"]]
    expected = [c.id for c in reversed(creators[:3])] + [c.id for c in reversed(creators[3:])]
    assert ids == expected
    assert third["next_cursor"] is None
    counts = {
        i["id"]: i["follower_count"] for page in (first, second, third) for i in page["items"]
    }
    assert counts[creators[0].id] is None and counts[creators[1].id] == 10


@pytest.mark.parametrize(
    "cursor", ["%%", "e30", "eyJjIjogLTEsICJpZCI6IDF9", "eyJjIjogMSwgImlkIjogIngifQ"]
)
async def test_a_bad_suggestion_cursor_is_400(api, crowd, cursor) -> None:
    body = await suggested(api, crowd[0], status=400, cursor=cursor)
    assert body["error"]["code"] in ("pagination.invalid_cursor", "request.invalid")


async def test_suggestions_need_a_token(api) -> None:
    assert (await api.get(SUGGESTED)).status == 401
