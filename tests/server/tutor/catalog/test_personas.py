"""Personas: administrators write them (with a chat model and a system prompt nobody else sees);
users browse the active ones of enabled models, with what answering costs."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import event, select

from models.audit import AdminLog
from models.tutor.catalog import Persona
from models.tutor.conversations import Conversation
from server.http.errors import NotFound
from server.keys import RUNTIME
from server.tutor.catalog import personas, service
from tests.helpers.env import on_both_engines
from tests.helpers.people import Person, call
from tests.server.tutor.catalog.conftest import model_body, persona_body

PERSONAS = "/admin/tutor/personas"
CATALOGUE = "/tutor/personas"


async def test_an_admin_creates_reads_lists_and_changes_a_persona(
    api: TestClient, chat_model: dict[str, Any], admin: Person
) -> None:
    body = persona_body(chat_model["id"], tags=["philosophy", " classics ", "philosophy"])
    created = await call(api, "POST", PERSONAS, admin, 201, json=body)
    assert created["tags"] == ["philosophy", "classics"]
    assert created["system_prompt"] == body["system_prompt"]
    assert (created["status"], created["retrieval"], created["memory"]) == ("active", True, True)
    pid = created["id"]
    assert await call(api, "GET", f"{PERSONAS}/{pid}", admin, 200) == created
    changed = await call(
        api,
        "PATCH",
        f"{PERSONAS}/{pid}",
        admin,
        200,
        json={"description": None, "memory": False, "status": "draft", "tags": []},
    )
    assert changed["description"] is None and changed["memory"] is False
    assert (changed["status"], changed["tags"], changed["name"]) == ("draft", [], "Socrates")
    drafts = await call(api, "GET", f"{PERSONAS}?status=draft", admin, 200)
    assert [p["id"] for p in drafts["items"]] == [pid]
    assert (await call(api, "GET", f"{PERSONAS}?status=active", admin, 200))["items"] == []
    async with api.app[RUNTIME].db.read() as session:
        logged = (
            await session.execute(
                select(AdminLog.action, AdminLog.detail, AdminLog.admin_id)
                .where(AdminLog.target_type == "tutor_persona")
                .order_by(AdminLog.id)
            )
        ).all()
    assert [row.action for row in logged] == ["tutor.persona_created", "tutor.persona_updated"]
    assert {row.admin_id for row in logged} == {admin.id}
    assert "SECRET-PROMPT" not in str(logged[0].detail), "the audit keeps no prompt"


async def test_a_persona_answers_with_an_existing_chat_model(
    api: TestClient, chat_model: dict[str, Any], admin: Person
) -> None:
    embedding = await call(
        api, "POST", "/admin/tutor/models", admin, 201, json=model_body("e", kind="embedding")
    )
    for model_id in (embedding["id"], 987_654_321):
        refused = await call(api, "POST", PERSONAS, admin, 422, json=persona_body(model_id))
        assert refused["error"]["code"] == "tutor.model_invalid"
        assert set(refused["error"]["fields"]) == {"body.model_id"}
    persona = await call(api, "POST", PERSONAS, admin, 201, json=persona_body(chat_model["id"]))
    moved = await call(
        api, "PATCH", f"{PERSONAS}/{persona['id']}", admin, 422, json={"model_id": embedding["id"]}
    )
    assert moved["error"]["code"] == "tutor.model_invalid"


@pytest.mark.parametrize(
    "changes",
    [
        {"system_prompt": ""},
        {"status": "published"},
        {"tags": ["x" * 33]},
        {"tags": [str(n) for n in range(11)]},
        {"avatar_url": "javascript:alert(1)"},
        {"description": "d" * 501},
        {"retrieval": 1},
        {"model_id": 0},
    ],
)
async def test_a_bad_persona_is_422(
    api: TestClient, chat_model: dict[str, Any], admin: Person, changes: dict[str, Any]
) -> None:
    body = {**persona_body(chat_model["id"]), **changes}
    refused = await call(api, "POST", PERSONAS, admin, 422, json=body)
    assert refused["error"]["fields"]


async def test_an_unknown_persona_is_404(api: TestClient, admin: Person) -> None:
    for method, kwargs in (("GET", {}), ("PATCH", {"json": {"name": "x"}}), ("DELETE", {})):
        missing = await call(api, method, f"{PERSONAS}/424242", admin, 404, **kwargs)
        assert missing["error"]["code"] == "tutor.persona_not_found"


@on_both_engines
async def test_removing_a_persona_archives_it_while_conversations_use_it(
    api: TestClient, chat_model: dict[str, Any], admin: Person, reader: Person
) -> None:
    used, unused = [
        (await call(api, "POST", PERSONAS, admin, 201, json=persona_body(chat_model["id"], n)))[
            "id"
        ]
        for n in ("Used", "Unused")
    ]
    async with api.app[RUNTIME].db.unit_of_work() as uow:
        uow.session.add(Conversation(user_id=reader.id, persona_id=used))
    archived = await call(api, "DELETE", f"{PERSONAS}/{used}", admin, 200)
    assert archived == {"id": used, "outcome": "archived"}
    assert (await call(api, "GET", f"{PERSONAS}/{used}", admin, 200))["status"] == "archived"
    deleted = await call(api, "DELETE", f"{PERSONAS}/{unused}", admin, 200)
    assert deleted == {"id": unused, "outcome": "deleted"}
    await call(api, "GET", f"{PERSONAS}/{unused}", admin, 404)
    # The model is still the archived persona's: it stays until that persona goes.
    await call(api, "DELETE", f"/admin/tutor/models/{chat_model['id']}", admin, 409)


async def test_the_catalogue_shows_active_personas_of_enabled_models_without_prompts(
    api: TestClient, chat_model: dict[str, Any], admin: Person, reader: Person
) -> None:
    other = await call(api, "POST", "/admin/tutor/models", admin, 201, json=model_body("other"))
    shown = await call(api, "POST", PERSONAS, admin, 201, json=persona_body(chat_model["id"]))
    draft = persona_body(chat_model["id"], "Draft", status="draft")
    await call(api, "POST", PERSONAS, admin, 201, json=draft)
    await call(api, "POST", PERSONAS, admin, 201, json=persona_body(other["id"], "Off"))
    off = {"enabled": False}
    await call(api, "PATCH", f"/admin/tutor/models/{other['id']}", admin, 200, json=off)
    for who in (None, reader):
        page = await call(api, "GET", CATALOGUE, who, 200)
        assert page == {
            "items": [
                {
                    "id": shown["id"],
                    "name": "Socrates",
                    "avatar_url": shown["avatar_url"],
                    "description": shown["description"],
                    "tags": ["philosophy", "classics"],
                    "retrieval": True,
                    "memory": True,
                    "model": {
                        "name": chat_model["name"],
                        "prompt_credits_per_1k": 2,
                        "completion_credits_per_1k": 8,
                    },
                }
            ],
            "next_cursor": None,
        }
        assert "SECRET-PROMPT" not in str(page) and "deepseek" not in str(page)
    async with api.app[RUNTIME].db.read() as session:
        assert (await service.get_active_persona(session, persona_id=shown["id"])).id == shown["id"]
        hidden = (await session.scalars(select(Persona.id).where(Persona.id != shown["id"]))).all()
        for persona_id in hidden:
            with pytest.raises(NotFound) as caught:
                await service.get_active_persona(session, persona_id=persona_id)
            assert caught.value.code == "tutor.persona_not_found"


@on_both_engines
async def test_the_catalogue_filters_by_tag_and_pages_with_a_cursor(
    api: TestClient, chat_model: dict[str, Any], admin: Person
) -> None:
    ids = [
        (
            await call(
                api,
                "POST",
                PERSONAS,
                admin,
                201,
                json=persona_body(chat_model["id"], f"P{n}", tags=tags),
            )
        )["id"]
        for n, tags in enumerate((["math"], ["math", "物理"], ["history"]))
    ]
    math = await call(api, "GET", f"{CATALOGUE}?tag=math&limit=1", None, 200)
    assert [p["id"] for p in math["items"]] == [ids[1]] and math["next_cursor"]
    more = await call(api, "GET", f"{CATALOGUE}?tag=math&cursor={math['next_cursor']}", None, 200)
    assert [p["id"] for p in more["items"]] == [ids[0]] and more["next_cursor"] is None
    physics = await call(api, "GET", f"{CATALOGUE}?tag=物理", None, 200)
    assert [p["id"] for p in physics["items"]] == [ids[1]]
    assert (await call(api, "GET", f"{CATALOGUE}?tag=mat", None, 200))["items"] == []
    admin_view = await call(api, "GET", f"{PERSONAS}?tag=history", admin, 200)
    assert [p["id"] for p in admin_view["items"]] == [ids[2]]
    bad = await call(api, "GET", f"{CATALOGUE}?cursor=not-a-cursor", None, 400)
    assert bad["error"]["code"] == "pagination.invalid_cursor"


async def test_the_catalogue_is_two_queries_whatever_the_page_size(
    api: TestClient, chat_model: dict[str, Any], admin: Person
) -> None:
    for n in range(5):
        await call(api, "POST", PERSONAS, admin, 201, json=persona_body(chat_model["id"], f"P{n}"))
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    engine = api.app[RUNTIME].db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        async with api.app[RUNTIME].db.read() as session:
            page = await personas.public_personas(session, tag="classics", limit=5, cursor=None)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(page.items) == 5
    assert len(statements) == 2 and "tutor_personas" in statements[1]
