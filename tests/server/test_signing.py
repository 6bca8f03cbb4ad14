"""Signed links to files: bound to the key, the expiry and (optionally) the user."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from server.signing import LinkInvalid, UrlSigner

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
SIGNER = UrlSigner(b"s" * 32, "https://api.example/")


def parts(url: str) -> tuple[str, dict[str, str]]:
    split = urlsplit(url)
    query = {name: values[0] for name, values in parse_qs(split.query).items()}
    return split.path.removeprefix("/files/"), query


def verify(key: str, query: dict[str, str], now: datetime = NOW, signer: UrlSigner = SIGNER):
    return signer.verify(
        key, expires=query["expires"], sig=query["sig"], uid=query.get("uid"), now=now
    )


def test_a_signed_link_verifies_until_it_expires() -> None:
    url, expires_at = SIGNER.sign("exports/1/a.zip", now=NOW, ttl=timedelta(minutes=10))
    assert url.startswith("https://api.example/files/exports/1/a.zip?")
    assert expires_at == NOW + timedelta(minutes=10)
    key, query = parts(url)
    assert verify(key, query) is None
    assert verify(key, query, now=NOW + timedelta(minutes=10)) is None
    with pytest.raises(LinkInvalid):
        verify(key, query, now=NOW + timedelta(minutes=10, seconds=1))


def test_a_link_bound_to_a_user_names_them() -> None:
    url, _ = SIGNER.sign("exports/1/a.zip", now=NOW, ttl=timedelta(minutes=1), user_id=7)
    key, query = parts(url)
    assert verify(key, query) == 7
    with pytest.raises(LinkInvalid):
        verify(key, {**query, "uid": "8"})
    with pytest.raises(LinkInvalid):
        verify(key, {k: v for k, v in query.items() if k != "uid"})


@pytest.mark.parametrize(
    "change",
    [
        {"key": "exports/1/b.zip"},
        {"expires": "extend"},
        {"sig": "AAAA"},
        {"sig": "é" * 43},
        {"sig": "\ud800"},
        {"expires": "not-a-number"},
        {"uid": "x"},
    ],
)
def test_a_moved_extended_or_forged_link_is_refused(change: dict[str, str]) -> None:
    url, _ = SIGNER.sign("exports/1/a.zip", now=NOW, ttl=timedelta(minutes=1))
    key, query = parts(url)
    key = change.pop("key", key)
    if change.get("expires") == "extend":
        change["expires"] = str(int(query["expires"]) + 3600)
    with pytest.raises(LinkInvalid):
        verify(key, {**query, **change})


def test_another_deployments_secret_does_not_verify() -> None:
    url, _ = SIGNER.sign("k", now=NOW, ttl=timedelta(minutes=1))
    key, query = parts(url)
    with pytest.raises(LinkInvalid):
        verify(key, query, signer=UrlSigner(b"t" * 32, "https://api.example"))
