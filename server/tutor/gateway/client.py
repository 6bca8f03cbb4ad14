"""The AI gateway: streamed chat completions and embeddings from OpenAI-compatible providers.

    gateway = AIGateway(providers, first_byte_timeout=20, idle_timeout=30)
    async with contextlib.aclosing(gateway.stream_chat(routes, messages, max_tokens=800)) as pieces:
        async for piece in pieces:  # Started, then Delta..., Finish, Usage
            ...

Routes are tried in order until one starts answering. Before the first Delta a failure moves on to
the next route (so a consumer may see a second Started); after it a failure raises ProviderFailed
with `started=True`, because a reply already shown cannot be stitched to another model's. Closing
the iterator (or cancelling its task) closes the provider's connection at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing
from dataclasses import dataclass

import aiohttp
import orjson
import structlog

from server.tutor.gateway.providers import Provider, Route
from server.tutor.gateway.stream import Quiet, ServerSentEvents, Watchdog
from server.tutor.gateway.tokens import count_tokens

log = structlog.get_logger(__name__)

UNAVAILABLE = "tutor.provider_unavailable"
FAILED = "tutor.provider_failed"
TIMEOUT = "tutor.provider_timeout"
_DONE = b"[DONE]"


@dataclass(frozen=True, slots=True)
class Started:
    """A route answered 200; the pieces that follow are its own."""

    provider: str
    upstream_model: str


@dataclass(frozen=True, slots=True)
class Delta:
    text: str


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True, slots=True)
class Finish:
    reason: str  # the provider's own: "stop", "length", "content_filter", ...


Piece = Started | Delta | Usage | Finish


@dataclass
class Embedded:
    vectors: list[list[float]]
    prompt_tokens: int
    provider: str
    upstream_model: str


class ProviderFailed(Exception):
    """No provider answered (`started=False`), or the one answering broke off mid-reply."""

    def __init__(self, code: str, message: str, *, started: bool) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.started = started


class _RouteFailed(Exception):
    """One route failed; `reason` is a short summary (never a key, never the upstream body)."""

    def __init__(self, provider: str, reason: str, *, timeout: bool = False) -> None:
        super().__init__(f"{provider}: {reason}")
        self.provider = provider
        self.reason = reason
        self.timeout = timeout


class AIGateway:
    """One shared HTTP session to every configured provider."""

    def __init__(
        self,
        providers: dict[str, Provider],
        *,
        first_byte_timeout: float,
        idle_timeout: float,
        connect_timeout: float = 5.0,
    ) -> None:
        self._providers = dict(providers)
        self._headers = {
            name: {"Authorization": f"Bearer {p.api_key}", "Content-Type": "application/json"}
            for name, p in providers.items()
        }
        self._first_byte_timeout = first_byte_timeout
        self._idle_timeout = idle_timeout
        self._connect_timeout = connect_timeout
        self._session: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                # Each stream holds its connection for the whole reply: no global cap.
                connector=aiohttp.TCPConnector(limit=0, ttl_dns_cache=300),
                timeout=aiohttp.ClientTimeout(total=None, connect=self._connect_timeout),
            )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def stream_chat(
        self, routes: Sequence[Route], messages: list[dict[str, str]], *, max_tokens: int
    ) -> AsyncGenerator[Piece, None]:
        """Stream one reply from the first route that starts answering."""
        request = {
            "messages": messages,
            "max_tokens": max_tokens,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        failures: list[_RouteFailed] = []
        for route in routes:
            provider = self._providers.get(route.provider)
            if provider is None:
                failures.append(_RouteFailed(route.provider, "not configured"))
                continue
            body = orjson.dumps({"model": route.upstream_model, **request})
            replied = False
            try:
                async with aclosing(self._stream_route(provider, route, body)) as pieces:
                    async for piece in pieces:
                        replied = replied or type(piece) is Delta
                        yield piece
                return
            except _RouteFailed as failure:
                _log_failure(failure, route, started=replied)
                if replied:
                    code = TIMEOUT if failure.timeout else FAILED
                    raise ProviderFailed(
                        code, f"The AI provider broke off its reply ({failure})", started=True
                    ) from None
                failures.append(failure)
        raise _none_answered(failures)

    async def _stream_route(
        self, provider: Provider, route: Route, body: bytes
    ) -> AsyncGenerator[Piece, None]:
        deadline = asyncio.get_running_loop().time() + self._first_byte_timeout
        response = await self._send(provider, "chat/completions", body, deadline)
        watchdog: Watchdog | None = None
        complete = replied = finished = False
        try:
            if response.status != 200:
                raise _RouteFailed(provider.name, f"HTTP {response.status}")
            yield Started(provider.name, route.upstream_model)
            watchdog = Watchdog(response.content, deadline=deadline, idle=self._idle_timeout)
            events = ServerSentEvents(response.content, watchdog)
            while (data := await events.next()) is not None:
                if watchdog.deadline is not None:
                    watchdog.data_arrived()
                if data == _DONE:
                    break
                chunk = orjson.loads(data)
                if not isinstance(chunk, dict) or chunk.get("error"):
                    raise _RouteFailed(provider.name, "error event in the stream")
                if choices := chunk.get("choices"):
                    choice = choices[0]
                    if (delta := choice.get("delta")) and (text := delta.get("content")):
                        replied = True
                        yield Delta(text)
                    if reason := choice.get("finish_reason"):
                        finished = True
                        yield Finish(reason)
                if usage := chunk.get("usage"):
                    yield Usage(
                        int(usage.get("prompt_tokens") or 0),
                        int(usage.get("completion_tokens") or 0),
                    )
            # A stream may omit [DONE] after its finish_reason; an empty [DONE] is no answer.
            complete = finished or (data == _DONE and replied)
            if not complete:
                raise _RouteFailed(provider.name, "stream ended before the reply did")
        except Quiet:
            raise _RouteFailed(provider.name, "went quiet", timeout=True) from None
        except (aiohttp.ClientError, OSError, ValueError, TypeError, AttributeError) as exc:
            raise _RouteFailed(provider.name, _describe(exc)) from None
        finally:
            if watchdog is not None:
                watchdog.stop()
            # release() keeps a finished connection for reuse; close() drops an unfinished one.
            if complete:
                response.release()
            else:
                response.close()

    async def embed(self, routes: Sequence[Route], texts: list[str]) -> Embedded:
        """Vectors for `texts`, in their order, from the first route that answers."""
        if not texts:
            first = routes[0] if routes else Route("", "")
            return Embedded([], 0, first.provider, first.upstream_model)
        failures: list[_RouteFailed] = []
        for route in routes:
            provider = self._providers.get(route.provider)
            if provider is None:
                failures.append(_RouteFailed(route.provider, "not configured"))
                continue
            try:
                return await self._embed_route(provider, route, texts)
            except _RouteFailed as failure:
                _log_failure(failure, route, started=False)
                failures.append(failure)
        raise _none_answered(failures)

    async def _embed_route(self, provider: Provider, route: Route, texts: list[str]) -> Embedded:
        deadline = asyncio.get_running_loop().time() + self._first_byte_timeout + self._idle_timeout
        body = orjson.dumps({"model": route.upstream_model, "input": texts})
        response = await self._send(provider, "embeddings", body, deadline)
        try:
            if response.status != 200:
                raise _RouteFailed(provider.name, f"HTTP {response.status}")
            async with asyncio.timeout_at(deadline):
                answer = orjson.loads(await response.read())
            items = sorted(answer["data"], key=lambda item: item["index"])
            vectors = [item["embedding"] for item in items]
            if not all(isinstance(vector, list) for vector in vectors):
                raise _RouteFailed(provider.name, "vectors not in float format")
            if len(vectors) != len(texts):
                raise _RouteFailed(provider.name, f"{len(vectors)} vectors for {len(texts)} texts")
            tokens = (answer.get("usage") or {}).get("prompt_tokens")
            if not isinstance(tokens, int):  # no usage reported: bill our own count
                tokens = sum(count_tokens(text) for text in texts)
            return Embedded(vectors, tokens, provider.name, route.upstream_model)
        except TimeoutError:
            raise _RouteFailed(provider.name, "no answer in time", timeout=True) from None
        except (aiohttp.ClientError, OSError, ValueError, TypeError, KeyError) as exc:
            raise _RouteFailed(provider.name, _describe(exc)) from None
        finally:
            response.release()

    async def _send(
        self, provider: Provider, path: str, body: bytes, deadline: float
    ) -> aiohttp.ClientResponse:
        """POST to the provider, waiting for the response headers until `deadline`."""
        await self.open()
        assert self._session is not None
        try:
            async with asyncio.timeout_at(deadline):
                return await self._session.post(
                    f"{provider.base_url}/{path}",
                    data=body,
                    headers=self._headers[provider.name],
                    allow_redirects=False,
                )
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            timeout = isinstance(exc, TimeoutError)
            raise _RouteFailed(provider.name, _describe(exc), timeout=timeout) from None


def _describe(exc: BaseException) -> str:
    """A short, key-free account of a transport failure."""
    if type(exc) is TimeoutError:
        return "no answer in time"
    return type(exc).__name__


def _log_failure(failure: _RouteFailed, route: Route, *, started: bool) -> None:
    log.warning(
        "tutor.gateway.route_failed",
        provider=failure.provider,
        model=route.upstream_model,
        reason=failure.reason,
        timeout=failure.timeout,
        started=started,
    )


def _none_answered(failures: list[_RouteFailed]) -> ProviderFailed:
    timed_out = bool(failures) and all(f.timeout for f in failures)
    summary = "; ".join(str(f) for f in failures) or "no route configured"
    message = f"No AI provider answered ({summary})"
    return ProviderFailed(TIMEOUT if timed_out else UNAVAILABLE, message, started=False)
