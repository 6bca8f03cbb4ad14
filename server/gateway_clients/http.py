"""The one way payment code talks HTTP to a gateway: aiohttp, a timeout, transport errors mapped."""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp
from multidict import CIMultiDictProxy

from server.gateway_clients.errors import GatewayUnavailable


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")


async def send(
    method: str,
    url: str,
    *,
    seconds: float,
    data: bytes | str | None = None,
    headers: dict[str, str] | None = None,
    session: aiohttp.ClientSession | None = None,
) -> Answer:
    """Send one request; a refused connection, a timeout or a 5xx raises GatewayUnavailable."""
    try:
        if session is None:
            async with aiohttp.ClientSession() as own:
                answer = await _exchange(own, method, url, seconds, data, headers)
        else:
            answer = await _exchange(session, method, url, seconds, data, headers)
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        raise GatewayUnavailable(f"{method} {url}: {type(exc).__name__}") from exc
    if answer.status >= 500:
        raise GatewayUnavailable(f"{method} {url}: HTTP {answer.status}", status=answer.status)
    return answer


async def _exchange(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    seconds: float,
    data: bytes | str | None,
    headers: dict[str, str] | None,
) -> Answer:
    async with session.request(
        method,
        url,
        data=data,
        headers=headers,
        timeout=aiohttp.ClientTimeout(total=seconds),
        allow_redirects=False,
    ) as response:
        body = await response.read()
        return Answer(response.status, response.headers, body)
