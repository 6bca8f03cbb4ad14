"""Who sees media and who gets links: the access policy decides for attached media; links are
signed, expire, are bound to their user and cannot be moved to another file."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from server.keys import RUNTIME
from server.signing import LinkInvalid
from tests.helpers.content import draft, publish
from tests.helpers.media import error_code, process, upload
from tests.helpers.people import Person, call, person
from tests.server.content.media.samples import image_bytes


async def ready_image(api: Any, owner: Person) -> dict[str, Any]:
    media = await upload(api, owner, image_bytes("PNG", (800, 600)))
    assert await process(api, media["id"]) == "ready"
    return media


async def attached(api: Any, owner: Person, item: dict[str, Any]) -> dict[str, Any]:
    media = await ready_image(api, owner)
    body = {"media_id": media["id"]}
    out = await call(api, "POST", f"/contents/{item['id']}/media", owner, 200, json=body)
    assert out["content_id"] == item["id"]
    return media


def link_parts(url: str) -> tuple[str, dict[str, Any]]:
    parts = urlsplit(url)
    assert parts.path.startswith("/files/")
    query: dict[str, Any] = {"uid": None}
    query.update({k: v[0] for k, v in parse_qs(parts.query).items()})
    return parts.path.removeprefix("/files/"), query


async def fetch(api: Any, url: str, who: Person | None) -> Any:
    parts = urlsplit(url)
    return await api.get(f"{parts.path}?{parts.query}", headers=who.headers if who else {})


async def test_the_access_matrix_of_a_paid_items_media(api, creator, moderator, admin) -> None:
    item = await publish(api, creator, moderator, access="paid", price_cents=990)
    media = await attached(api, creator, item)
    path = f"/media/{media['id']}/url"
    reader, buyer = await person(api), await person(api)
    grant = {"user_id": buyer.id, "subject_type": "content", "subject_id": item["id"]}
    await call(api, "POST", "/admin/entitlements", admin, 201, json=grant)

    # Anyone may see the metadata (they may preview the item); only FULL readers get links.
    for who in (None, reader):
        meta = await call(api, "GET", f"/media/{media['id']}", who, 200)
        assert meta["status"] == "ready" and meta["content_id"] == item["id"]
        assert error_code(await call(api, "GET", path, who, 403)) == "media.paywalled"

    runtime = api.app[RUNTIME]
    for who in (buyer, creator, moderator):
        link = await call(api, "GET", path, who, 200)
        key, query = link_parts(link["url"])
        assert key.endswith("-large.webp") or key.endswith("-large.jpg")
        now = runtime.clock.now()
        assert query["uid"] == str(who.id)
        ttl = runtime.settings.media_url_seconds
        assert now < link_expires(link) <= now + timedelta(seconds=ttl + 1)
        assert runtime.signer.verify(key, now=now, **query) == who.id
        response = await fetch(api, link["url"], who)
        assert response.status == 200 and response.content_type.startswith("image/")

    # A link is its user's: not usable anonymously or by another account.
    link = await call(api, "GET", path, buyer, 200)
    assert (await fetch(api, link["url"], None)).status in (401, 403)
    assert (await fetch(api, link["url"], reader)).status == 403

    # A revoked purchase (here: an entitlement for someone else only) leaves the reader out.
    other = await call(api, "GET", f"{path}?variant=thumb", buyer, 200)
    assert link_parts(other["url"])[0].endswith(("-thumb.webp", "-thumb.jpg"))


def link_expires(link: dict[str, Any]) -> Any:
    from datetime import datetime

    return datetime.fromisoformat(link["expires_at"])


async def test_expired_and_tampered_links_are_refused(api, creator, moderator) -> None:
    item = await publish(api, creator, moderator)  # free: links for anyone
    media = await attached(api, creator, item)
    link = await call(api, "GET", f"/media/{media['id']}/url", None, 200)
    key, query = link_parts(link["url"])
    assert query["uid"] is None, "an anonymous link is bound to nobody"
    assert (await fetch(api, link["url"], None)).status == 200
    runtime = api.app[RUNTIME]
    signer, now = runtime.signer, runtime.clock.now()

    later = now + timedelta(seconds=runtime.settings.media_url_seconds + 5)
    with pytest.raises(LinkInvalid):
        signer.verify(key, now=later, **query)
    expired, _ = signer.sign(key, now=now - timedelta(hours=1), ttl=timedelta(seconds=60))
    assert (await fetch(api, expired, None)).status == 403

    tampered = [
        link["url"].replace(
            f"expires={query['expires']}", f"expires={int(query['expires']) + 999}"
        ),
        link["url"].replace(f"sig={query['sig']}", f"sig={query['sig'][:-2]}AA"),
        link["url"].replace("-large.", "-thumb."),  # moved to another file
        link["url"] + "&uid=1",
    ]
    for url in tampered:
        assert (await fetch(api, url, None)).status == 403, url
        with pytest.raises(LinkInvalid):
            tampered_key, tampered_query = link_parts(url)
            signer.verify(tampered_key, now=now, **tampered_query)


async def test_unattached_and_unpublished_media_are_the_owners_only(
    api, creator, moderator, reader
) -> None:
    loose = await ready_image(api, creator)
    for who in (None, reader):
        assert error_code(await call(api, "GET", f"/media/{loose['id']}", who, 404)) == (
            "media.not_found"
        )
        await call(api, "GET", f"/media/{loose['id']}/url", who, 404)
    assert (await call(api, "GET", f"/media/{loose['id']}", creator, 200))["id"] == loose["id"]
    assert (await call(api, "GET", f"/media/{loose['id']}", moderator, 200))["id"] == loose["id"]

    item = await draft(api, creator)
    media = await attached(api, creator, item)
    await call(api, "GET", f"/media/{media['id']}", reader, 404)
    await call(api, "GET", f"/media/{media['id']}/url", reader, 404)
    await call(api, "GET", f"/media/{media['id']}/url", creator, 200)
    await call(api, "GET", "/media/999999999", creator, 404)


async def test_links_need_a_ready_media_and_an_existing_variant(api, creator) -> None:
    media = await upload(api, creator, image_bytes("PNG"))
    data = await call(api, "GET", f"/media/{media['id']}/url", creator, 409)
    assert error_code(data) == "media.not_ready"
    await process(api, media["id"])
    for variant in ("poster", "original"):  # images are only served re-encoded
        data = await call(api, "GET", f"/media/{media['id']}/url?variant={variant}", creator, 404)
        assert error_code(data) == "media.variant_missing"
    await call(api, "GET", f"/media/{media['id']}/url?variant=nope", creator, 422)


async def test_only_the_author_attaches_their_own_ready_media(
    api, creator, moderator, reader
) -> None:
    item = await draft(api, creator)
    other_item = await draft(api, creator)
    mine = await ready_image(api, creator)
    path = f"/contents/{item['id']}/media"

    stranger = await person(api, "creator")
    theirs = await ready_image(api, stranger)
    data = await call(api, "POST", path, creator, 404, json={"media_id": theirs["id"]})
    assert error_code(data) == "media.not_found"
    pending = await upload(api, creator, image_bytes("JPEG"))
    data = await call(api, "POST", path, creator, 409, json={"media_id": pending["id"]})
    assert error_code(data) == "media.not_ready"

    # Someone else's item: 404 if they cannot see it, 403 if they can (a moderator).
    await call(api, "POST", path, stranger, 404, json={"media_id": theirs["id"]})
    data = await call(api, "POST", path, moderator, 403, json={"media_id": mine["id"]})
    assert error_code(data) == "content.not_author"
    await call(api, "POST", "/contents/999999999/media", creator, 404, json={"media_id": 1})

    await call(api, "POST", path, creator, 200, json={"media_id": mine["id"]})
    again = await call(api, "POST", path, creator, 200, json={"media_id": mine["id"]})
    assert again["content_id"] == item["id"], "attaching twice is fine"
    data = await call(
        api,
        "POST",
        f"/contents/{other_item['id']}/media",
        creator,
        409,
        json={"media_id": mine["id"]},
    )
    assert error_code(data) == "media.already_attached"
    await call(api, "POST", path, creator, 422, json={"media_id": 0})


async def test_article_images_refer_to_media_and_open_through_the_policy(
    api, creator, moderator
) -> None:
    free = await publish(api, creator, moderator)
    media = await attached(api, creator, free)
    body = f"Look: ![chart](media:{media['id']})\n"
    item = await publish(api, creator, moderator, body=body)
    seen = await call(api, "GET", f"/contents/{item['id']}", None, 200)
    src = f"/api/v1/media/{media['id']}/file"
    assert f'<img src="{src}" alt="chart">' in seen["html"]

    opened = await api.get(src, allow_redirects=False)
    assert opened.status == 302
    _key, query = link_parts(opened.headers["Location"])
    assert query["uid"] is None, "anonymous readers get an unbound link to a free item's file"
    assert (await fetch(api, opened.headers["Location"], None)).status == 200
    thumb = await api.get(f"{src}?variant=thumb", allow_redirects=False)
    assert link_parts(thumb.headers["Location"])[0].endswith(("-thumb.webp", "-thumb.jpg"))


async def test_opening_a_paid_items_image_needs_full_access(api, creator, moderator, admin) -> None:
    item = await publish(api, creator, moderator, access="paid", price_cents=990)
    media = await attached(api, creator, item)
    src = f"/api/v1/media/{media['id']}/file"
    refused = await api.get(src, allow_redirects=False)
    assert refused.status == 403
    assert (await refused.json())["error"]["code"] == "media.paywalled"
    buyer = await person(api)
    grant = {"user_id": buyer.id, "subject_type": "content", "subject_id": item["id"]}
    await call(api, "POST", "/admin/entitlements", admin, 201, json=grant)
    opened = await api.get(src, headers=buyer.headers, allow_redirects=False)
    assert opened.status == 302
    assert link_parts(opened.headers["Location"])[1]["uid"] == str(buyer.id)
    missing = await api.get("/api/v1/media/999999/file", allow_redirects=False)
    assert missing.status == 404
