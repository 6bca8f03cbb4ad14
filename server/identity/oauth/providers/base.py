"""What every provider adapter is: an authorize URL, a code-for-identity exchange, and the
HTTP calls they share (JSON whatever the content type, one timeout, failures mapped to 400/503)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import aiohttp
import orjson
import structlog

from server.http.errors import ApiError, ServiceUnavailable

log = structlog.get_logger(__name__)


class CodeRejected(ApiError):
    status, code, message = 400, "oauth.code_invalid", "The provider rejected this sign-in code."


class ProviderUnavailable(ServiceUnavailable):
    code, message = (
        "oauth.provider_unavailable",
        "The sign-in provider did not answer; retry later.",
    )


@dataclass(frozen=True, slots=True)
class ProviderIdentity:
    """Who the provider says the user is. `email` is set only when the provider verified it."""

    provider: str
    provider_user_id: str
    display_name: str | None = None
    avatar_url: str | None = None
    union_id: str | None = None
    email: str | None = None
    profile: dict[str, Any] = field(default_factory=dict)


class ProviderHttp:
    """One provider conversation: a client session whose failures answer 503."""

    def __init__(self, provider: str) -> None:
        self.provider = provider
        # The caller bounds the whole conversation with one deadline.
        self.session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=None), headers={"User-Agent": "ShareStack"}
        )

    async def __aenter__(self) -> ProviderHttp:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.session.close()

    async def request(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, str] | None = None,
        form: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        """(status, parsed JSON). Network failures, timeouts, 5xx and non-JSON answer 503."""
        try:
            async with self.session.request(
                method, url, params=params, data=form, headers=headers
            ) as response:
                raw = await response.read()
                status = response.status
        except (aiohttp.ClientError, OSError) as exc:
            log.warning(
                "oauth.provider_unreachable", provider=self.provider, error=type(exc).__name__
            )
            raise ProviderUnavailable() from exc
        if status >= 500:
            log.warning("oauth.provider_failed", provider=self.provider, status=status)
            raise ProviderUnavailable()
        try:
            # WeChat and QQ send JSON as text/plain or text/html: read the body, not the header.
            return status, orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            log.warning("oauth.provider_not_json", provider=self.provider, status=status)
            raise ProviderUnavailable() from exc

    async def json_object(
        self, method: str, url: str, **options: Any
    ) -> tuple[int, dict[str, Any]]:
        """Like `request`, for endpoints that answer a JSON object."""
        status, data = await self.request(method, url, **options)
        if not isinstance(data, dict):
            log.warning("oauth.provider_unexpected", provider=self.provider, status=status)
            raise ProviderUnavailable()
        return status, data


def misconfigured(provider: str, reason: str) -> ProviderUnavailable:
    """Our credentials or settings were refused: not the user's fault, so 503 (and a log line)."""
    log.error("oauth.provider_misconfigured", provider=provider, reason=reason)
    return ProviderUnavailable()


def required(data: dict[str, Any], name: str, provider: str) -> str:
    """A field the provider must send; its absence means the provider misbehaves (503)."""
    value = data.get(name)
    if value is None or value == "":
        log.warning("oauth.provider_unexpected", provider=provider, missing=name)
        raise ProviderUnavailable()
    return str(value)


def with_query(base: str, params: list[tuple[str, str]]) -> str:
    """`base?params`, keeping the order (WeChat insists on it)."""
    return f"{base}?{urlencode(params)}"


class Provider(ABC):
    """One sign-in provider's wire format."""

    name: str
    label: str
    # Browser redirect flow (authorize -> callback) or code from a client SDK only.
    redirect: bool = True
    pkce: bool = False

    @abstractmethod
    def authorize_url(self, *, state: str, redirect_uri: str, code_challenge: str | None) -> str:
        """The provider page the user is sent to."""

    @abstractmethod
    async def identify(
        self, http: ProviderHttp, *, code: str, redirect_uri: str, code_verifier: str | None
    ) -> ProviderIdentity:
        """Exchange an authorisation code for the user's identity at the provider."""
