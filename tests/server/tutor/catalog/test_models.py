"""Administrators keep the tutor's models: provider routes from the configured providers,
prices, a unique name; a model personas use is disabled, not deleted."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from models.audit import AdminLog
from server.keys import RUNTIME
from server.settings import Settings
from server.tutor.catalog import service
from tests.helpers.env import make_settings, on_both_engines
from tests.helpers.people import Person, call
from tests.server.tutor.catalog.conftest import model_body, persona_body

MODELS = "/admin/tutor/models"


async def audit_actions(api: TestClient, target_type: str) -> list[str]:
    async with api.app[RUNTIME].db.read() as session:
        query = select(AdminLog.action).where(AdminLog.target_type == target_type)
        return list((await session.scalars(query.order_by(AdminLog.id))).all())


def test_configured_providers_are_the_comma_list_lower_cased_once() -> None:
    settings = make_settings(ai_providers=" DeepSeek, qwen,,deepseek ")
    assert service.configured_providers(settings) == ["deepseek", "qwen"]
    assert service.configured_providers(make_settings(ai_providers="")) == []


@on_both_engines
async def test_an_admin_creates_reads_lists_changes_and_deletes_a_model(
    api: TestClient, admin: Person
) -> None:
    created = await call(api, "POST", MODELS, admin, 201, json=model_body())
    assert created["routes"] == model_body()["routes"] and created["enabled"] is True
    assert (created["prompt_credits_per_1k"], created["completion_credits_per_1k"]) == (2, 8)
    assert created["created_at"] == created["updated_at"]
    mid = created["id"]
    assert await call(api, "GET", f"{MODELS}/{mid}", admin, 200) == created
    changed = await call(
        api,
        "PATCH",
        f"{MODELS}/{mid}",
        admin,
        200,
        json={"enabled": False, "routes": [{"provider": "QWEN", "upstream_model": "qwen-max"}]},
    )
    assert changed["enabled"] is False
    assert changed["routes"] == [{"provider": "qwen", "upstream_model": "qwen-max"}]
    assert changed["name"] == created["name"] and changed["updated_at"] >= created["updated_at"]
    await call(api, "DELETE", f"{MODELS}/{mid}", admin, 204)
    missing = await call(api, "GET", f"{MODELS}/{mid}", admin, 404)
    assert missing["error"]["code"] == "tutor.model_not_found"
    assert await audit_actions(api, "tutor_model") == [
        "tutor.model_created",
        "tutor.model_updated",
        "tutor.model_deleted",
    ]


async def test_models_are_listed_newest_first_with_a_cursor_and_filters(
    api: TestClient, admin: Person
) -> None:
    ids = [
        (await call(api, "POST", MODELS, admin, 201, json=model_body(f"m{n}", kind=kind)))["id"]
        for n, kind in enumerate(("chat", "embedding", "chat"))
    ]
    first = await call(api, "GET", f"{MODELS}?limit=2", admin, 200)
    assert [m["id"] for m in first["items"]] == ids[::-1][:2] and first["next_cursor"]
    rest = await call(api, "GET", f"{MODELS}?limit=2&cursor={first['next_cursor']}", admin, 200)
    assert [m["id"] for m in rest["items"]] == [ids[0]] and rest["next_cursor"] is None
    embedding = await call(api, "GET", f"{MODELS}?kind=embedding", admin, 200)
    assert [m["id"] for m in embedding["items"]] == [ids[1]]
    assert (await call(api, "GET", f"{MODELS}?enabled=false", admin, 200))["items"] == []


async def test_an_unknown_provider_is_422_naming_the_route(api: TestClient, admin: Person) -> None:
    routes = [
        {"provider": "deepseek", "upstream_model": "deepseek-chat"},
        {"provider": "openai", "upstream_model": "gpt-4o"},
    ]
    refused = await call(api, "POST", MODELS, admin, 422, json=model_body(routes=routes))
    assert refused["error"]["code"] == "tutor.unknown_provider"
    assert set(refused["error"]["fields"]) == {"body.routes.1.provider"}
    model = await call(api, "POST", MODELS, admin, 201, json=model_body())
    patched = await call(
        api, "PATCH", f"{MODELS}/{model['id']}", admin, 422, json={"routes": routes[1:]}
    )
    assert set(patched["error"]["fields"]) == {"body.routes.0.provider"}


async def test_no_provider_is_known_when_none_is_configured(
    make_client: Any, database_url: str, settings: Settings
) -> None:
    bare = await make_client(make_settings(database_url=database_url, ai_providers=""))
    from tests.helpers.people import person

    admin = await person(bare, "admin")
    refused = await call(bare, "POST", MODELS, admin, 422, json=model_body())
    assert refused["error"]["code"] == "tutor.unknown_provider"


@pytest.mark.parametrize(
    "changes",
    [
        {"routes": []},
        {"routes": [{"provider": "deepseek"}]},
        {"routes": [{"provider": "deepseek", "upstream_model": "x", "key": "sk-1"}]},
        {"kind": "vision"},
        {"max_output_tokens": 0},
        {"max_output_tokens": 32_769},
        {"prompt_credits_per_1k": -1},
        {"completion_credits_per_1k": 1.5},
        {"enabled": "yes"},
        {"name": "   "},
        {"name": "x" * 65},
        {"api_key": "sk-secret"},
    ],
)
async def test_a_bad_model_is_422(api: TestClient, admin: Person, changes: dict[str, Any]) -> None:
    refused = await call(api, "POST", MODELS, admin, 422, json=model_body(**changes))
    assert refused["error"]["fields"]


@pytest.mark.parametrize(
    "patch", [{}, {"name": None}, {"enabled": None}, {"max_output_tokens": 40_000}]
)
async def test_a_bad_model_change_is_422(
    api: TestClient, chat_model: dict[str, Any], admin: Person, patch: dict[str, Any]
) -> None:
    await call(api, "PATCH", f"{MODELS}/{chat_model['id']}", admin, 422, json=patch)


@on_both_engines
async def test_a_model_name_is_taken_once(
    api: TestClient, chat_model: dict[str, Any], admin: Person
) -> None:
    again = await call(api, "POST", MODELS, admin, 409, json=model_body(chat_model["name"]))
    assert again["error"]["code"] == "tutor.model_name_taken"
    other = await call(api, "POST", MODELS, admin, 201, json=model_body("other"))
    renamed = await call(
        api, "PATCH", f"{MODELS}/{other['id']}", admin, 409, json={"name": chat_model["name"]}
    )
    assert renamed["error"]["code"] == "tutor.model_name_taken"
    same = await call(
        api, "PATCH", f"{MODELS}/{chat_model['id']}", admin, 200, json={"name": chat_model["name"]}
    )
    assert same["name"] == chat_model["name"]
    racing = await asyncio.gather(
        *(
            api.post(f"/api/v1{MODELS}", json=model_body("raced"), headers=admin.headers)
            for _ in range(3)
        )
    )
    assert sorted(r.status for r in racing) == [201, 409, 409]


@on_both_engines
async def test_a_model_personas_use_is_disabled_not_deleted(
    api: TestClient, chat_model: dict[str, Any], admin: Person
) -> None:
    mid = chat_model["id"]
    await call(api, "POST", "/admin/tutor/personas", admin, 201, json=persona_body(mid))
    in_use = await call(api, "DELETE", f"{MODELS}/{mid}", admin, 409)
    assert in_use["error"]["code"] == "tutor.model_in_use"
    assert "disable" in in_use["error"]["message"]
    kind = await call(api, "PATCH", f"{MODELS}/{mid}", admin, 409, json={"kind": "embedding"})
    assert kind["error"]["code"] == "tutor.model_in_use"
    disabled = await call(api, "PATCH", f"{MODELS}/{mid}", admin, 200, json={"enabled": False})
    assert disabled["enabled"] is False
    assert (await call(api, "GET", f"{MODELS}/{mid}", admin, 200))["kind"] == "chat"


async def test_the_embedding_model_is_the_first_enabled_one(api: TestClient, admin: Person) -> None:
    async with api.app[RUNTIME].db.read() as session:
        assert await service.embedding_model(session) is None
    first, second = [
        await call(api, "POST", MODELS, admin, 201, json=model_body(name, kind="embedding"))
        for name in ("embed-a", "embed-b")
    ]
    await call(api, "POST", MODELS, admin, 201, json=model_body("chat"))
    async with api.app[RUNTIME].db.read() as session:
        found = await service.embedding_model(session)
        assert found is not None and found.id == first["id"]
    await call(api, "PATCH", f"{MODELS}/{first['id']}", admin, 200, json={"enabled": False})
    async with api.app[RUNTIME].db.read() as session:
        found = await service.embedding_model(session)
        assert found is not None and found.id == second["id"]
        model = await service.get_model(session, model_id=first["id"])
        assert model.enabled is False and model.kind == "embedding"
