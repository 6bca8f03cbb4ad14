"""Inputs a hostile or broken client sends are refused with a 4xx in the envelope, never a 500."""

from __future__ import annotations

import pytest
from aiohttp.http_exceptions import BadHttpMessage, HttpProcessingError, LineTooLong

from server.http.middleware import to_api_error

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
