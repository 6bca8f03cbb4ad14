"""Data exports: requested, built by a job with progress events, downloaded by a signed link."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from models.notify.notifications import Notification
from models.privacy.exports import DataExport
from server.keys import RUNTIME
from server.outbox import Event
from server.signing import LinkInvalid
from tests.helpers.accounts import EXPORTS, PHONE, advance, rich_account, run_task
from tests.helpers.auth import bearer, error_code, register

FILES = {
    "profile.json",
    "sessions.json",
    "notifications.json",
    "follows.json",
    "oauth.json",
    "creator_applications.json",
    "devices.json",
    "orders.json",
    "shipments.json",
    "credits.json",
    "subscriptions.json",
    "reviews.json",
    "invoices.json",
    "comments.json",
    "posts.json",
    "likes.json",
    "favorites.json",
    "blocks.json",
    "messages.json",
    "notification_preferences.json",
    "push_devices.json",
    "earnings.json",
    "withdrawals.json",
    "tutor.json",
}


class RecordingEvents:
    def __init__(self) -> None:
        self.sent: list[Event] = []

    async def send(self, event: Event) -> None:
        self.sent.append(event)


@pytest.fixture
def progress(api: TestClient) -> RecordingEvents:
    """job.progress events the export job sends, recorded instead of pushed."""
    recorder = RecordingEvents()
    api.app[RUNTIME].events = recorder
    return recorder


async def request_export(api: TestClient, headers: dict[str, str]) -> dict[str, Any]:
    response = await api.post(EXPORTS, headers=headers)
    assert response.status == 202, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def export_of(api: TestClient, headers: dict[str, str], export_id: int) -> Any:
    return await api.get(f"{EXPORTS}/{export_id}", headers=headers)


async def test_an_export_is_built_with_progress_and_downloaded_by_its_owner(
    api: TestClient, engine: AsyncEngine, progress: RecordingEvents
) -> None:
    account = await rich_account(api)
    requested = await request_export(api, account.headers)
    assert requested["status"] == "pending" and requested["progress"] == 0
    assert requested["download_url"] is None
    pending = await (await export_of(api, account.headers, requested["id"])).json()
    assert pending["status"] == "pending"

    assert await run_task(api, "accounts.export", export_id=requested["id"]) is True

    steps = [e.data for e in progress.sent if e.type == "job.progress"]
    total = len(FILES) + 1
    assert [s["done"] for s in steps] == list(range(1, total + 1))
    assert {s["total"] for s in steps} == {total}
    assert steps[-1]["percent"] == 100 and {s["job"] for s in steps} == {"accounts.export"}
    assert all(e.user_ids == (account.user_id,) for e in progress.sent)

    ready = await (await export_of(api, account.headers, requested["id"])).json()
    assert ready["status"] == "ready" and ready["progress"] == 100
    assert ready["size_bytes"] > 0 and ready["expires_at"] and ready["finished_at"]
    url = urlsplit(ready["download_url"])
    key = url.path.removeprefix("/files/")
    assert key.startswith(f"exports/{account.user_id}/") and key.endswith(".zip")
    query = {name: values[0] for name, values in parse_qs(url.query).items()}
    runtime = api.app[RUNTIME]
    signer, now = runtime.signer, runtime.clock.now()
    assert (
        signer.verify(key, expires=query["expires"], sig=query["sig"], uid=query["uid"], now=now)
        == account.user_id
    )
    with pytest.raises(LinkInvalid):
        signer.verify(
            key, expires=query["expires"], sig=query["sig"], uid=str(account.fan), now=now
        )

    download = await api.get(f"{url.path}?{url.query}", headers=account.headers)
    assert download.status == 200
    archive = zipfile.ZipFile(io.BytesIO(await download.read()))
    assert set(archive.namelist()) == FILES
    docs = {name: json.loads(archive.read(name)) for name in FILES}
    check_contents(docs, account.user_id)

    other = await register(api, email="eve@example.com")
    stolen = await api.get(f"{url.path}?{url.query}", headers=bearer(other["access_token"]))
    assert stolen.status in (401, 403)
    async with engine.connect() as conn:
        notices = (
            (
                await conn.execute(
                    select(Notification.type).where(Notification.user_id == account.user_id)
                )
            )
            .scalars()
            .all()
        )
    assert "accounts.export_ready" in notices


def check_contents(docs: dict[str, Any], user_id: int) -> None:
    profile = docs["profile.json"]
    assert profile["id"] == user_id and profile["email"] == "ann@example.com"
    assert profile["phone"] == PHONE and profile["bio"] == "Poetry and tea"
    assert profile["birthday"] == "1990-03-07" and profile["created_at"].endswith("Z")
    assert len(docs["sessions.json"]) == 1 and "ip" in docs["sessions.json"][0]
    assert [n["title"] for n in docs["notifications.json"]] == ["Hi"]
    follows = docs["follows.json"]
    assert len(follows["following"]) == 1 and len(follows["followers"]) == 1
    assert docs["oauth.json"] == [
        {
            "provider": "github",
            "provider_user_id": "4242",
            "display_name": "ann-gh",
            "created_at": docs["oauth.json"][0]["created_at"],
            "last_login_at": None,
        }
    ]
    [application] = docs["creator_applications.json"]
    assert application["real_name"] == "张三" and application["id_number"] == "1101**********002X"
    assert application["status"] == "rejected"
    [device] = docs["devices.json"]
    assert device["name"] == "Ann's iPhone" and "push_token" not in device
    everything = json.dumps(docs, ensure_ascii=False)
    for secret in ("gho_secret", "apns-token-secret", "11010519491231002X", "password"):
        assert secret not in everything


async def test_one_export_at_a_time(api: TestClient, progress: RecordingEvents) -> None:
    signed_in = await register(api)
    headers = bearer(signed_in["access_token"])
    first = await request_export(api, headers)
    busy = await api.post(EXPORTS, headers=headers)
    assert busy.status == 409 and await error_code(busy) == "accounts.export_running"
    await run_task(api, "accounts.export", export_id=first["id"])
    second = await request_export(api, headers)
    assert second["id"] != first["id"]


async def test_a_rerun_of_a_finished_export_does_nothing(
    api: TestClient, engine: AsyncEngine, progress: RecordingEvents
) -> None:
    signed_in = await register(api)
    headers = bearer(signed_in["access_token"])
    export = await request_export(api, headers)
    await run_task(api, "accounts.export", export_id=export["id"])
    before = await (await export_of(api, headers, export["id"])).json()
    assert await run_task(api, "accounts.export", export_id=export["id"]) is False
    assert await run_task(api, "accounts.export", export_id=999_999) is False
    after = await (await export_of(api, headers, export["id"])).json()
    assert (
        before["size_bytes"] == after["size_bytes"]
        and before["finished_at"] == after["finished_at"]
    )


async def test_someone_elses_export_is_404(api: TestClient, progress: RecordingEvents) -> None:
    ann = await register(api, email="ann@example.com")
    eve = await register(api, email="eve@example.com")
    export = await request_export(api, bearer(ann["access_token"]))
    await run_task(api, "accounts.export", export_id=export["id"])
    for export_id in (export["id"], 999_999):
        response = await export_of(api, bearer(eve["access_token"]), export_id)
        assert response.status == 404 and await error_code(response) == "accounts.export_not_found"
        body = await response.text()
        assert "download_url" not in body
    assert (await api.get(f"{EXPORTS}/0", headers=bearer(eve["access_token"]))).status == 422
    assert (await api.get(f"{EXPORTS}/abc", headers=bearer(eve["access_token"]))).status == 422
    assert (await api.post(EXPORTS)).status == 401


async def test_an_expired_export_has_no_link_and_its_file_is_removed(
    api: TestClient, engine: AsyncEngine, progress: RecordingEvents
) -> None:
    signed_in = await register(api)
    headers = bearer(signed_in["access_token"])
    export = await request_export(api, headers)
    await run_task(api, "accounts.export", export_id=export["id"])
    async with engine.connect() as conn:
        key = await conn.scalar(select(DataExport.storage_key))
    storage = api.app[RUNTIME].storage
    assert await storage.exists(key)

    advance(api, days=6.99)
    url = (await (await export_of(api, headers, export["id"])).json())["download_url"]
    expires = int(parse_qs(urlsplit(url).query)["expires"][0])
    assert expires <= int(api.app[RUNTIME].clock.now().timestamp()) + 900
    assert await run_task(api, "accounts.expire_exports") == 0

    advance(api, days=7.01)
    late = await (await export_of(api, headers, export["id"])).json()
    assert late["status"] == "expired" and late["download_url"] is None
    assert await run_task(api, "accounts.expire_exports") == 1
    assert not await storage.exists(key)
    gone = await (await export_of(api, headers, export["id"])).json()
    assert gone["status"] == "expired" and gone["download_url"] is None


async def test_a_failed_build_is_reported_failed(
    api: TestClient, progress: RecordingEvents, monkeypatch: pytest.MonkeyPatch
) -> None:
    signed_in = await register(api)
    headers = bearer(signed_in["access_token"])
    export = await request_export(api, headers)

    async def broken(key: str, data: bytes) -> int:
        raise OSError("disk full")

    monkeypatch.setattr(api.app[RUNTIME].storage, "put", broken)
    with pytest.raises(OSError):
        await run_task(api, "accounts.export", export_id=export["id"])
    failed = await (await export_of(api, headers, export["id"])).json()
    assert failed["status"] == "failed" and failed["download_url"] is None
    # A failed export does not block a new one.
    assert (await api.post(EXPORTS, headers=headers)).status == 202


async def test_an_account_erased_while_its_export_is_built_keeps_no_archive(
    api: TestClient, engine: AsyncEngine, progress: RecordingEvents, monkeypatch: pytest.MonkeyPatch
) -> None:
    signed_in = await register(api)
    user_id = signed_in["user"]["id"]
    headers = bearer(signed_in["access_token"])
    export = await request_export(api, headers)
    await api.post(
        "/api/v1/me/delete",
        json={"password": "correct horse battery", "confirm": "DELETE"},
        headers=headers,
    )
    stored: list[str] = []
    original_put = api.app[RUNTIME].storage.put

    async def put_then_erase(key: str, data: bytes) -> int:
        stored.append(key)
        size = await original_put(key, data)
        assert await run_task(api, "accounts.erase", user_id=user_id) is True
        return size

    monkeypatch.setattr(api.app[RUNTIME].storage, "put", put_then_erase)
    assert await run_task(api, "accounts.export", export_id=export["id"]) is False
    assert stored and not await api.app[RUNTIME].storage.exists(stored[0])
