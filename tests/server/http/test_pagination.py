"""Cursor pagination: `?limit=&cursor=` in, `{"items": [...], "next_cursor": ...}` out."""

from __future__ import annotations

import base64

import orjson
import pytest

from server.http.pagination import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    InvalidCursor,
    decode_cursor,
    encode_cursor,
    page_of,
)

ITEMS = "/api/v1/probe/items"
TOTAL = 45  # the probe list route is meant to serve ids 1..45


def raw_cursor(value: bytes) -> str:
    return base64.urlsafe_b64encode(value).rstrip(b"=").decode()


async def walk(client, limit: int) -> tuple[list[int], list[int]]:
    """Follow next_cursor to the end; (ids, page sizes)."""
    ids: list[int] = []
    sizes: list[int] = []
    cursor: str | None = None
    for _ in range(100):
        params = {"limit": str(limit), **({"cursor": cursor} if cursor else {})}
        response = await client.get(ITEMS, params=params)
        assert response.status == 200
        page = await response.json()
        assert set(page) == {"items", "next_cursor"}
        ids += [item["id"] for item in page["items"]]
        sizes.append(len(page["items"]))
        cursor = page["next_cursor"]
        if cursor is None:
            return ids, sizes
    raise AssertionError("the cursor never ran out")


async def test_walking_pages_yields_every_item_once_in_order(probe_client) -> None:
    everything = await (await probe_client.get(ITEMS, params={"limit": str(MAX_LIMIT)})).json()
    total = len(everything["items"])
    assert everything["next_cursor"] is None

    ids, sizes = await walk(probe_client, 20)
    assert ids == list(range(1, total + 1))
    assert len(set(ids)) == total
    assert all(size == 20 for size in sizes[:-1])
    assert 0 < sizes[-1] <= 20


async def test_probe_list_serves_45_items_in_pages_of_20_20_5(probe_client) -> None:
    ids, sizes = await walk(probe_client, 20)
    assert ids == list(range(1, TOTAL + 1))
    assert sizes == [20, 20, 5]


async def test_a_last_page_that_is_exactly_full_has_a_null_next_cursor(probe_client) -> None:
    everything = await (await probe_client.get(ITEMS, params={"limit": str(MAX_LIMIT)})).json()
    total = len(everything["items"])
    limit = max(d for d in range(2, total) if total % d == 0)
    ids, sizes = await walk(probe_client, limit)
    assert sizes == [limit] * (total // limit), "no empty trailing page"
    assert ids == list(range(1, total + 1))


async def test_default_limit_applies_without_a_limit(probe_client) -> None:
    page = await (await probe_client.get(ITEMS)).json()
    assert len(page["items"]) == DEFAULT_LIMIT
    assert isinstance(page["next_cursor"], str)


@pytest.mark.parametrize("cursor", ["%%%not-base64%%%", "abc", raw_cursor(b"{not json")])
async def test_a_garbled_cursor_is_400_invalid_cursor(probe_client, cursor: str) -> None:
    response = await probe_client.get(ITEMS, params={"cursor": cursor})
    assert response.status == 400
    body = await response.json()
    assert body["error"]["code"] == "pagination.invalid_cursor"


@pytest.mark.parametrize("value", [b"[1, 2]", b"42", b'"after"', b"null"])
async def test_a_cursor_that_is_not_an_object_is_400(probe_client, value: bytes) -> None:
    response = await probe_client.get(ITEMS, params={"cursor": raw_cursor(value)})
    assert response.status == 400
    assert (await response.json())["error"]["code"] == "pagination.invalid_cursor"


@pytest.mark.parametrize("limit", ["0", str(MAX_LIMIT + 1), "-1", "many"])
async def test_a_limit_outside_1_to_100_is_422(probe_client, limit: str) -> None:
    response = await probe_client.get(ITEMS, params={"limit": limit})
    assert response.status == 422
    body = await response.json()
    assert body["error"]["code"] == "request.validation"
    assert "query.limit" in body["error"]["fields"]


async def test_an_overlong_cursor_is_422(probe_client) -> None:
    response = await probe_client.get(ITEMS, params={"cursor": "a" * 513})
    assert response.status == 422
    assert "query.cursor" in (await response.json())["error"]["fields"]


@pytest.mark.parametrize(
    "position",
    [
        {"after": 1},
        {"created_at": "2026-01-01T00:00:00Z", "id": 2**53 - 1},
        {"score": 1.5, "name": "中文 key", "nested": {"a": [1, None]}},
        {},
    ],
)
def test_cursor_round_trips(position: dict) -> None:
    cursor = encode_cursor(position)
    assert decode_cursor(cursor) == position


def test_cursor_is_url_safe_without_padding() -> None:
    cursor = encode_cursor({"after": "??>>~~" * 7})
    assert "=" not in cursor
    assert not set(cursor) & set("+/=")
    assert orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))


def test_no_cursor_decodes_to_none() -> None:
    assert decode_cursor(None) is None


@pytest.mark.parametrize("cursor", ["!!", raw_cursor(b"\xff\xfe"), raw_cursor(b"[]")])
def test_decode_rejects_what_encode_never_makes(cursor: str) -> None:
    with pytest.raises(InvalidCursor):
        decode_cursor(cursor)


def test_page_of_uses_the_extra_row_only_to_know_there_is_more() -> None:
    page = page_of([1, 2, 3], 2, lambda item: {"after": item})
    assert page.items == [1, 2]
    assert decode_cursor(page.next_cursor) == {"after": 2}
    last = page_of([1, 2], 2, lambda item: {"after": item})
    assert last.items == [1, 2]
    assert last.next_cursor is None
    assert page_of([], 2, lambda item: {"after": item}).next_cursor is None
