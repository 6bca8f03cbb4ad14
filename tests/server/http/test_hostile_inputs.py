"""Inputs a hostile or broken client sends are refused with a 4xx in the envelope, never a 500."""

from __future__ import annotations

import re
import typing
from collections.abc import Iterator
from datetime import UTC, datetime
from types import UnionType
from typing import Annotated, Any, Union

import pytest
from aiohttp.http_exceptions import BadHttpMessage, HttpProcessingError, LineTooLong
from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo

from server.app import ROUTE_TABLES, create_app
from server.commerce.earnings.service import dashboard_room_check
from server.content.items.queries import room_check as content_rooms
from server.http.guards import Principal
from server.http.ids import MAX_ID
from server.http.middleware import to_api_error
from server.social.community.reports import room_check as post_rooms
from server.social.messages.sockets import room_check as conversation_rooms
from server.social.presence.routes import room_check as presence_rooms
from tests.helpers.auth import bearer, register
from tests.helpers.env import AppClient, migrated_embedded_settings

FORM = "/api/v1/probe/form"


def multipart(disposition: bytes) -> bytes:
    return b"--xx\r\nContent-Disposition: " + disposition + b"\r\n\r\nhello\r\n--xx--\r\n"


async def test_a_well_formed_form_reaches_the_handler(probe_client) -> None:
    body = multipart(b'form-data; name="file"; filename="a.txt"')
    headers = {"Content-Type": "multipart/form-data; boundary=xx"}
    response = await probe_client.post(FORM, data=body, headers=headers)
    assert response.status == 200
    assert await response.json() == {"fields": ["file"]}


@pytest.mark.parametrize(
    "disposition",
    [
        b'form-data; name="file"; filename="a\x00.txt"',
        b'form-data; name="file"; filename="a\r.txt"',
        b'form-data; name="file"; filename="' + b"a" * 70000 + b'"',
    ],
)
async def test_a_nul_or_a_broken_line_in_a_multipart_header_is_400(
    probe_client, disposition: bytes
) -> None:
    headers = {"Content-Type": "multipart/form-data; boundary=xx"}
    response = await probe_client.post(FORM, data=multipart(disposition), headers=headers)
    assert response.status == 400
    body = await response.json()
    assert body["error"]["code"] == "request.invalid"
    assert "internal" not in body["error"]["message"]


@pytest.mark.parametrize(
    "exc",
    [HttpProcessingError(), BadHttpMessage("bad"), LineTooLong("line", "8190", "9000")],
)
def test_aiohttp_parsing_errors_map_to_a_400(exc: Exception) -> None:
    error = to_api_error(exc)
    assert error is not None
    assert (error.status, error.code) == (400, "request.invalid")


# -- ids ----------------------------------------------------------------------------------------

ID_NAME = re.compile(r"(^id$|_id$|^ids$|_ids$)")


def _strip(annotation: Any) -> Any:
    while typing.get_origin(annotation) is Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def _holds_ints(annotation: Any) -> bool:
    annotation = _strip(annotation)
    if annotation is int:
        return True
    return typing.get_origin(annotation) in (list, set, Union, UnionType) and any(
        _holds_ints(arg) for arg in typing.get_args(annotation) if arg is not type(None)
    )


def _models(annotation: Any) -> Iterator[type[BaseModel]]:
    annotation = _strip(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for arg in typing.get_args(annotation):
        yield from _models(arg)


def request_ids() -> list[tuple[str, str, FieldInfo]]:
    """Every id field of every path, query and body model of the API (nested ones too)."""
    return request_fields(lambda name: ID_NAME.search(name) is not None)


def request_fields(named: Any) -> list[tuple[str, str, FieldInfo]]:
    """Every integer field whose name `named` accepts, in every request model of the API."""
    found: dict[str, tuple[str, str, FieldInfo]] = {}
    pending = [
        model
        for table in ROUTE_TABLES
        for route in table.routes
        for model in (route.params, route.query, route.body)
        if model is not None
    ]
    seen: set[type[BaseModel]] = set()
    while pending:
        model = pending.pop()
        if model in seen:
            continue
        seen.add(model)
        for name, info in model.model_fields.items():
            if named(name) and _holds_ints(info.annotation):
                where = f"{model.__module__}.{model.__qualname__}.{name}"
                found[where] = (where, name, info)
            pending.extend(_models(info.annotation))
    return sorted(found.values(), key=lambda row: row[0])


def test_the_api_takes_ids_in_paths_queries_and_bodies() -> None:
    names = {where.rsplit(".", 2)[-2] + "." + name for where, name, _ in request_ids()}
    assert {"ContentId.content_id", "MediaId.media_id", "ConversationCreate.user_ids"} <= names
    assert {"ListQuery.category_id", "OrderLineIn.product_id"} <= names


@pytest.mark.parametrize(
    ("where", "name", "info"), [pytest.param(*row, id=row[0]) for row in request_ids()]
)
def test_every_request_id_is_bounded_like_a_bigint(where: str, name: str, info: FieldInfo) -> None:
    adapter: TypeAdapter[Any] = TypeAdapter(Annotated[info.annotation, info])
    many = typing.get_origin(_strip(info.annotation)) in (list, set) or name.endswith("ids")

    def value(n: int) -> Any:
        return [n] if many else n

    assert adapter.validate_python(value(MAX_ID)) in (value(MAX_ID), {MAX_ID})
    for outside in (MAX_ID + 1, 2**64, 10**30, -1):
        with pytest.raises(ValidationError):
            adapter.validate_python(value(outside))


@pytest.fixture(params=["embedded", "mariadb"])
async def any_engine(
    request: pytest.FixtureRequest, aiohttp_client: Any, make_client: AppClient, tmp_path: Any
) -> Any:
    """The real application on SQLite (the embedded mode) and on MariaDB + Redis."""
    if request.param == "mariadb":
        return await make_client()
    return await aiohttp_client(create_app(await migrated_embedded_settings(tmp_path)))


OUTSIDE = [str(MAX_ID + 1), str(2**64), "1" + "0" * 30, "0", "-1"]


async def test_ids_past_a_bigint_are_422_on_every_engine(any_engine: Any) -> None:
    token = (await register(any_engine))["access_token"]
    for outside in OUTSIDE:
        for path in (f"/api/v1/contents/{outside}", f"/api/v1/media/{outside}"):
            response = await any_engine.get(path, headers=bearer(token))
            body = await response.json()
            assert response.status == 422, (path, body)
            assert body["error"]["code"] == "request.validation"
        response = await any_engine.get(f"/api/v1/contents?category_id={outside}")
        assert response.status == 422, (outside, await response.text())
        assert set((await response.json())["error"]["fields"]) == {"query.category_id"}
        response = await any_engine.post(
            "/api/v1/conversations",
            data=f'{{"user_ids": [{outside}]}}',
            headers={**bearer(token), "Content-Type": "application/json"},
        )
        assert response.status == 422, (outside, await response.text())
        assert set((await response.json())["error"]["fields"]) == {"body.user_ids.0"}


async def test_the_largest_id_is_looked_up_and_missing_on_every_engine(any_engine: Any) -> None:
    token = (await register(any_engine))["access_token"]
    for path in (f"/api/v1/contents/{MAX_ID}", f"/api/v1/media/{MAX_ID}"):
        response = await any_engine.get(path, headers=bearer(token))
        assert response.status == 404, (path, await response.text())
    response = await any_engine.get(f"/api/v1/contents?category_id={MAX_ID}")
    assert response.status in (200, 404), await response.text()
    response = await any_engine.post(
        "/api/v1/conversations", json={"user_ids": [MAX_ID]}, headers=bearer(token)
    )
    assert 400 <= response.status < 500 and response.status != 422, await response.text()


# -- room names and searches: digits that int() refuses -----------------------------------------


def _no_runtime() -> Any:
    raise AssertionError("a room name that is no id must be refused before any lookup")


@pytest.mark.parametrize(
    "room_check",
    [content_rooms, post_rooms, presence_rooms, conversation_rooms],
    ids=["content", "post", "presence", "conversation"],
)
@pytest.mark.parametrize("room_id", ["²", "١٢", "٣" * 19, "", "1" * 19])
async def test_a_room_named_with_other_digits_is_refused(room_check: Any, room_id: str) -> None:
    principal = Principal(7, 1, frozenset({"reader"}), datetime.now(UTC))
    assert await room_check(_no_runtime)(principal, room_id) is False


@pytest.mark.parametrize("room_id", ["²", "٧"])
async def test_a_dashboard_room_named_with_other_digits_is_refused(room_id: str) -> None:
    creator = Principal(7, 1, frozenset({"reader", "creator"}), datetime.now(UTC))
    assert await dashboard_room_check(creator, room_id) is False


def request_ints() -> list[tuple[str, str, FieldInfo]]:
    """Every integer field of every path, query and body model of the API (nested ones too)."""
    return request_fields(lambda name: True)


@pytest.mark.parametrize(
    ("where", "name", "info"), [pytest.param(*row, id=row[0]) for row in request_ints()]
)
def test_every_request_integer_fits_a_bigint(where: str, name: str, info: FieldInfo) -> None:
    """Past 64 bits SQLite cannot even bind a number: every integer a client sends is bounded."""
    adapter: TypeAdapter[Any] = TypeAdapter(Annotated[info.annotation, info])
    many = typing.get_origin(_strip(info.annotation)) in (list, set)
    for outside in (MAX_ID + 1, 10**30):
        with pytest.raises(ValidationError):
            adapter.validate_python([outside] if many else outside)
