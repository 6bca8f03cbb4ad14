"""Versions: snapshots, the diff between two, and reverting without losing the working copy."""

from __future__ import annotations

import asyncio

from tests.helpers.content import draft
from tests.helpers.env import on_both_engines
from tests.helpers.people import Person, call


async def save(api, who: Person, item: dict, revision: int, body: str) -> int:
    path = f"/contents/{item['id']}/draft"
    return (await call(api, "PUT", path, who, 200, json={"revision": revision, "body": body}))[
        "revision"
    ]


async def test_versions_are_numbered_listed_and_read_back(api, creator: Person) -> None:
    item = await draft(api, creator, body="one\n")
    first = await call(
        api, "POST", f"/contents/{item['id']}/versions", creator, 201, json={"note": "outline"}
    )
    assert first["number"] == 1 and first["note"] == "outline"
    await save(api, creator, item, 1, "one\ntwo\n")
    await call(api, "POST", f"/contents/{item['id']}/versions", creator, 201, json={})
    listed = await call(api, "GET", f"/contents/{item['id']}/versions", creator, 200)
    assert [v["number"] for v in listed] == [2, 1]
    v1 = await call(api, "GET", f"/contents/{item['id']}/versions/1", creator, 200)
    assert v1["body"] == "one\n" and v1["editor_id"] == creator.id


async def test_compare_gives_a_unified_diff(api, creator: Person) -> None:
    item = await draft(api, creator, body="alpha\nbeta\n")
    await call(api, "POST", f"/contents/{item['id']}/versions", creator, 201, json={})
    await save(api, creator, item, 1, "alpha\ngamma\n")
    await call(api, "POST", f"/contents/{item['id']}/versions", creator, 201, json={})
    diff = await call(api, "GET", f"/contents/{item['id']}/compare?from=1&to=2", creator, 200)
    assert diff["from_version"] == 1 and diff["to_version"] == 2
    assert "--- v1" in diff["diff"] and "+++ v2" in diff["diff"]
    assert "-beta" in diff["diff"] and "+gamma" in diff["diff"]
    await save(api, creator, item, 2, "alpha\ngamma\ndelta\n")
    working = await call(api, "GET", f"/contents/{item['id']}/compare?from=2", creator, 200)
    assert "+++ working copy" in working["diff"] and "+delta" in working["diff"]
    same = await call(api, "GET", f"/contents/{item['id']}/compare?from=1&to=1", creator, 200)
    assert same["diff"] == ""


async def test_revert_keeps_the_replaced_working_copy_as_a_version(api, creator: Person) -> None:
    item = await draft(api, creator, body="original\n")
    await call(api, "POST", f"/contents/{item['id']}/versions", creator, 201, json={})
    await save(api, creator, item, 1, "rewritten badly\n")
    reverted = await call(api, "POST", f"/contents/{item['id']}/versions/1/revert", creator, 200)
    assert reverted["body"] == "original\n" and reverted["revision"] == 3
    listed = await call(api, "GET", f"/contents/{item['id']}/versions", creator, 200)
    assert listed[0]["note"] == "before revert to v1"
    kept = await call(api, "GET", f"/contents/{item['id']}/versions/2", creator, 200)
    assert kept["body"] == "rewritten badly\n"


async def test_missing_versions_and_other_peoples_items_are_not_found(
    api, creator: Person, reader: Person
) -> None:
    item = await draft(api, creator)
    for path in (
        f"/contents/{item['id']}/versions/9",
        f"/contents/{item['id']}/compare?from=9",
    ):
        data = await call(api, "GET", path, creator, 404)
        assert data["error"]["code"] == "content.version_not_found"
    await call(api, "POST", f"/contents/{item['id']}/versions/9/revert", creator, 404)
    await call(api, "GET", f"/contents/{item['id']}/versions", reader, 404)
    await call(api, "POST", f"/contents/{item['id']}/versions", reader, 404, json={})
    await call(api, "GET", "/contents/999999/versions", creator, 404)
    await call(api, "GET", f"/contents/{item['id']}/compare", creator, 422)


@on_both_engines
async def test_concurrent_saves_of_versions_number_them_one_to_n(api, creator: Person) -> None:
    item = await draft(api, creator, body="one\n")
    path = f"/api/v1/contents/{item['id']}/versions"
    answers = await asyncio.gather(
        *(api.post(path, json={"note": f"v{i}"}, headers=creator.headers) for i in range(8))
    )
    assert [answer.status for answer in answers] == [201] * 8
    listed = await call(api, "GET", f"/contents/{item['id']}/versions", creator, 200)
    assert [v["number"] for v in listed] == list(range(8, 0, -1))
