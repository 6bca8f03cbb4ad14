"""OAuth in the embedded mode: the same flow on SQLite, without Redis."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from server.app import create_app
from server.settings import Settings
from tests.helpers.auth import bearer
from tests.helpers.env import migrated_embedded_settings
from tests.helpers.oauth import authorize, callback, consent, provider_settings
from tests.server.identity.oauth.fake_providers import FakeProviders, Person


async def test_sign_in_link_and_unlink_work_on_sqlite(
    aiohttp_client: Any, fake: FakeProviders, tmp_path: Path
) -> None:
    base = await migrated_embedded_settings(tmp_path)
    settings = Settings(**{**base.model_dump(), **provider_settings(fake.base_url)})
    api = await aiohttp_client(create_app(settings))
    fake.consent_as("github", Person("ann", "Ann"))
    started = await authorize(api, "github")
    code, state = await consent(started["authorize_url"])
    response = await callback(api, "github", code, state)
    assert response.status == 200, await response.text()
    ann = await response.json()
    assert (await callback(api, "github", code, state)).status == 400
    headers = bearer(ann["access_token"])
    fake.consent_as("qq", Person("ann", "Ann"))
    started = await authorize(api, "qq", mode="bind", headers=headers)
    code, state = await consent(started["authorize_url"])
    assert (await callback(api, "qq", code, state, headers=headers)).status == 200
    assert (await api.delete("/api/v1/me/oauth/github", headers=headers)).status == 204
    assert (await api.delete("/api/v1/me/oauth/qq", headers=headers)).status == 409
