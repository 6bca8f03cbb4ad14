"""Who may see what, across domains: a buyer, another reader, the seller and an admin against
one buyer's order, its invoice and receipt, her credits ledger, her notifications, her
conversation with the seller and the seller's withdrawals. Foreign access is 403 or 404 and
never carries the owner's data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient

from models.commerce.earnings import Withdrawal
from server.commerce.earnings.withdrawals import ACCOUNT_CONTEXT, NAME_CONTEXT
from server.keys import RUNTIME
from server.settings import Settings
from server.tutor.catalog import routes as tutor_catalog_routes
from server.tutor.conversations import routes as tutor_conversations_routes
from server.tutor.quotas import routes as tutor_quotas_routes
from server.tutor.runs import routes as tutor_runs_routes
from tests.helpers.env import AppClient, make_settings
from tests.helpers.orders import checkout, deliver_paid, product
from tests.helpers.people import Person, call, person

SECRET = "matrix-sandbox-secret"


@dataclass
class World:
    buyer: Person
    reader: Person
    seller: Person
    admin: Person
    order: dict[str, Any]
    conversation: int
    message: int
    notification: int
    withdrawal: int


@pytest.fixture
async def api(make_client: AppClient, database_url: str, settings: Settings) -> TestClient:
    return await make_client(
        make_settings(database_url=database_url, payment_sandbox_secret=SECRET)
    )


async def paid_order(api: TestClient, buyer: Person, seller: Person) -> dict[str, Any]:
    product_id = await product(api, creator_id=seller.id, price=900, credits=50)
    order = await checkout(api, buyer, [(product_id, 1)])
    payment = await call(
        api, "POST", f"/orders/{order['id']}/payments", buyer, 201, json={"provider": "sandbox"}
    )
    answer = await api.post(f"/api/v1/payments/sandbox/{payment['out_trade_no']}/pay")
    assert (await answer.json())["outcome"] == "taken"
    paid = await call(api, "GET", f"/orders/{order['id']}", buyer, 200)
    assert paid["status"] == "paid"  # delivered by the job its payment queued:
    assert await deliver_paid(api.app[RUNTIME]) == 1
    done: dict[str, Any] = await call(api, "GET", f"/orders/{order['id']}", buyer, 200)
    assert done["status"] == "fulfilled"
    return done


async def a_withdrawal(api: TestClient, seller: Person) -> int:
    runtime = api.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        row = Withdrawal(
            creator_id=seller.id,
            amount=500,
            currency="CNY",
            channel="alipay",
            payee_account_enc=runtime.pii.encrypt("seller@example.com", context=ACCOUNT_CONTEXT),
            payee_name_enc=runtime.pii.encrypt("王小明", context=NAME_CONTEXT),
            status="requested",
        )
        uow.session.add(row)
        await uow.session.flush()
        return int(row.id)


@pytest.fixture
async def world(api: TestClient) -> World:
    buyer, reader = await person(api), await person(api)
    seller, admin = await person(api, "creator"), await person(api, "admin")
    order = await paid_order(api, buyer, seller)
    await call(api, "POST", f"/orders/{order['id']}/receipt", buyer, 202)
    conversation = await call(
        api, "POST", "/conversations", buyer, 201, json={"user_ids": [seller.id]}
    )
    message = await call(
        api,
        "POST",
        f"/conversations/{conversation['id']}/messages",
        buyer,
        201,
        json={"client_message_id": "m-1", "body": "收到了，谢谢 secret-word"},
    )
    [notice] = [
        n
        for n in (await call(api, "GET", "/notifications", buyer, 200))["items"]
        if n["type"] == "order.paid"
    ]
    return World(
        buyer,
        reader,
        seller,
        admin,
        order,
        conversation["id"],
        message["id"],
        notice["id"],
        await a_withdrawal(api, seller),
    )


def leaks(body: Any, *secrets: str) -> bool:
    text = orjson.dumps(body).decode()
    return any(secret in text for secret in secrets)


async def refused(api: TestClient, method: str, path: str, who: Person, **kwargs: Any) -> None:
    headers = who.headers
    response = await api.request(method, f"/api/v1{path}", headers=headers, **kwargs)
    body = await response.json()
    assert response.status in (403, 404), (method, path, response.status, body)
    assert set(body) == {"error"} and body["error"]["code"]


async def test_foreign_orders_invoices_and_receipts_are_not_found(
    api: TestClient, world: World
) -> None:
    oid = world.order["id"]
    for who in (world.reader, world.seller):
        for method, path, kwargs in (
            ("GET", f"/orders/{oid}", {}),
            ("POST", f"/orders/{oid}/cancel", {}),
            ("POST", f"/orders/{oid}/payments", {"json": {"provider": "sandbox"}}),
            ("POST", f"/orders/{oid}/refunds", {"json": {"reason": "not mine"}}),
            ("GET", f"/orders/{oid}/invoice", {}),
            ("POST", f"/orders/{oid}/receipt", {}),
            ("GET", f"/orders/{oid}/receipt", {}),
            ("GET", f"/admin/orders/{oid}", {}),
        ):
            await refused(api, method, path, who, **kwargs)
        mine = await call(api, "GET", "/orders", who, 200)
        assert mine["items"] == [] and not leaks(mine, world.order["number"])
    seen = await call(api, "GET", f"/admin/orders/{oid}", world.admin, 200)
    assert seen["number"] == world.order["number"]
    still = await call(api, "GET", f"/orders/{oid}", world.buyer, 200)
    assert still["status"] == "fulfilled"


async def test_a_credits_ledger_is_its_owners_and_admins_only(
    api: TestClient, world: World
) -> None:
    history = await call(api, "GET", "/wallet/transactions", world.buyer, 200)
    assert history["items"], "the credit pack put an entry in the buyer's ledger"
    for who in (world.reader, world.seller):
        theirs = await call(api, "GET", "/wallet/transactions", who, 200)
        assert theirs["items"] == []
        assert (await call(api, "GET", "/wallet", who, 200))["balance"] == 0
        for method, path, kwargs in (
            ("GET", f"/admin/wallets/{world.buyer.id}", {}),
            ("GET", f"/admin/wallets/{world.buyer.id}/transactions", {}),
            (
                "POST",
                f"/admin/wallets/{world.buyer.id}/adjustments",
                {"json": {"amount": -10, "reason": "mine now"}},
            ),
        ):
            await refused(api, method, path, who, **kwargs)
    assert (await call(api, "GET", "/wallet", world.buyer, 200))["balance"] == 50
    ledger = await call(
        api, "GET", f"/admin/wallets/{world.buyer.id}/transactions", world.admin, 200
    )
    assert len(ledger["items"]) == len(history["items"])


async def test_notifications_are_their_recipients_only(api: TestClient, world: World) -> None:
    for who in (world.reader, world.seller, world.admin):
        await refused(api, "POST", f"/notifications/{world.notification}/read", who)
        theirs = await call(api, "GET", "/notifications", who, 200)
        assert world.notification not in {n["id"] for n in theirs["items"]}
    unread = await call(api, "GET", "/notifications/unread_count", world.buyer, 200)
    assert unread["unread"] >= 1


async def test_a_conversation_is_its_members_only(api: TestClient, world: World) -> None:
    cid, mid = world.conversation, world.message
    for who in (world.reader, world.admin):
        for method, path, kwargs in (
            ("GET", f"/conversations/{cid}", {}),
            ("GET", f"/conversations/{cid}/messages", {}),
            (
                "POST",
                f"/conversations/{cid}/messages",
                {"json": {"client_message_id": "x", "body": "hi"}},
            ),
            ("POST", f"/conversations/{cid}/read", {"json": {"message_id": mid}}),
            ("POST", f"/messages/{mid}/recall", {}),
            ("DELETE", f"/messages/{mid}", {}),
        ):
            await refused(api, method, path, who, **kwargs)
        found = await call(api, "GET", "/me/messages/search?q=secret", who, 200)
        assert found["items"] == []
    # The other member reads it, but may not recall what the buyer sent.
    page = await call(api, "GET", f"/conversations/{cid}/messages", world.seller, 200)
    assert [m["id"] for m in page["items"]] == [mid]
    await refused(api, "POST", f"/messages/{mid}/recall", world.seller)


async def test_withdrawals_are_their_creators_and_admins_only(
    api: TestClient, world: World
) -> None:
    wid = world.withdrawal
    other_creator = await person(api, "creator")
    for who in (world.buyer, world.reader, other_creator):
        await refused(api, "GET", f"/earnings/withdrawals/{wid}", who)
        listed = await call(api, "GET", "/earnings/withdrawals", who, 200)
        assert listed["items"] == []
        for action in ("approve", "reject"):
            await refused(
                api, "POST", f"/admin/withdrawals/{wid}/{action}", who, json={"reason": "no"}
            )
    mine = await call(api, "GET", f"/earnings/withdrawals/{wid}", world.seller, 200)
    assert mine["status"] == "requested"
    everyone = await call(api, "GET", "/admin/withdrawals", world.admin, 200)
    assert wid in {w["id"] for w in everyone["items"]}


# The tutor's routes, each classified: open to everyone, to any signed-in user, or to admins.
TUTOR_PUBLIC = {("GET", "/api/v1/tutor/personas")}
TUTOR_SIGNED_IN = {
    ("GET", "/api/v1/tutor/usage"),
    # A user's own conversations and runs (anyone else's answer 404: tests/server/tutor/runs).
    *(
        (route.method, route.path)
        for table in (tutor_conversations_routes, tutor_runs_routes)
        for route in table.routes.routes
    ),
}


def tutor_routes() -> list[Any]:
    return [
        *tutor_catalog_routes.routes.routes,
        *tutor_quotas_routes.routes.routes,
        *tutor_conversations_routes.routes.routes,
        *tutor_runs_routes.routes.routes,
    ]


def concrete(path: str, user_id: int) -> str:
    return (
        path.replace("{id}", "424242")
        .replace("{role}", "reader")
        .replace("{user_id}", str(user_id))
        .replace("{conversation_id}", "424242")
        .replace("{run_id}", "424242")
        .removeprefix("/api/v1")
    )


async def test_every_tutor_route_is_classified_and_admin_ones_refuse_everyone_else(
    api: TestClient,
) -> None:
    others = [await person(api, *roles) for roles in ((), ("creator",), ("moderator",))]
    admin = await person(api, "admin")
    reader = others[0]
    for route in tutor_routes():
        key = (route.method, route.path)
        if key in TUTOR_PUBLIC:
            assert route.auth is False and not route.roles, key
            continue
        if key in TUTOR_SIGNED_IN:
            assert route.auth is True and not route.roles, key
            await refused_anonymous(api, route.method, concrete(route.path, reader.id))
            continue
        assert route.roles == frozenset({"admin"}), f"{key} is not classified"
        path = concrete(route.path, reader.id)
        body = {"json": {}} if route.body is not None else {}
        for who in others:
            response = await api.request(
                route.method, f"/api/v1{path}", headers=who.headers, **body
            )
            answer = await response.json()
            assert response.status == 403, (key, who, answer)
            assert answer["error"]["code"] == "auth.forbidden"
        await refused_anonymous(api, route.method, path)
    # An admin gets past the guard (the answer is the route's own, not 401/403).
    listed = await call(api, "GET", "/admin/tutor/quotas", admin, 200)
    assert listed["items"] == []


async def refused_anonymous(api: TestClient, method: str, path: str) -> None:
    response = await api.request(method, f"/api/v1{path}")
    assert response.status == 401, (method, path, response.status)
