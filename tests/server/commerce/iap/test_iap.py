"""In-app purchases against a test Apple chain and a local Google Play: verification, one grant
per store transaction, and refunds that take credits and entitlements back."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from jobs.tasks import FUNCTIONS
from models.commerce.catalog import Product
from models.commerce.iap import IapPurchase, IapRefundNotice
from models.content.items import Entitlement
from server.commerce.iap.stores import registry
from server.keys import RUNTIME
from server.settings import Settings
from tests.helpers.env import AppClient, make_settings
from tests.helpers.people import Person, call, person
from tests.invariants import assert_money_invariants
from tests.jobs.test_worker import run_burst
from tests.server.commerce.iap.stores import BUNDLE, PACKAGE, AppleSigner, FakePlay, pubsub

NOTIFY_TOKEN = "pubsub-secret"


@pytest.fixture(scope="module")
def apple() -> AppleSigner:
    return AppleSigner.create()


@pytest.fixture
async def play(aiohttp_server: Any) -> FakePlay:
    fake = FakePlay()
    server: TestServer = await aiohttp_server(fake.app())
    fake.base_url = str(server.make_url("")).rstrip("/")
    return fake


@pytest.fixture
def iap_settings(
    database_url: str, settings: Settings, apple: AppleSigner, play: FakePlay
) -> Settings:
    return make_settings(
        database_url=database_url,
        app_store_bundle_id=BUNDLE,
        app_store_environment="Sandbox",
        app_store_root_certificates=apple.root_pem,
        app_store_online_checks=False,
        google_play_package_name=PACKAGE,
        google_play_client_email=play.client_email,
        google_play_private_key=play.private_pem,
        google_play_token_url=f"{play.base_url}/token",
        google_play_api_url=play.base_url,
        google_play_notify_token=NOTIFY_TOKEN,
    )


@pytest.fixture
async def api(make_client: AppClient, iap_settings: Settings) -> TestClient:
    return await make_client(iap_settings)


async def map_product(api: TestClient, store: str, sku: str, **fields: Any) -> dict[str, Any]:
    admin = await person(api, "admin")
    body = {"store": store, "store_product_id": sku, **fields}
    return await call(api, "PUT", "/admin/iap/products", admin, 200, json=body)


async def redeem(api: TestClient, who: Person, status: int, **body: Any) -> dict[str, Any]:
    return await call(api, "POST", "/purchases/verify", who, status, json=body)


async def test_app_store_purchase_grants_credits_once(api: TestClient, apple: AppleSigner) -> None:
    await map_product(api, "app_store", "credits.60", credits=60)
    buyer, other = await person(api), await person(api)
    signed, txn_id = apple.transaction("credits.60")
    first = await redeem(api, buyer, 200, store="app_store", signed_transaction=signed)
    assert first["credits_granted"] == 60 and first["balance"] == 60 and not first["replayed"]
    assert first["transaction_id"] == txn_id
    again = await redeem(api, buyer, 200, store="app_store", signed_transaction=signed)
    assert again["replayed"] and again["balance"] == 60
    taken = await redeem(api, other, 409, store="app_store", signed_transaction=signed)
    assert taken["error"]["code"] == "iap.already_used"
    assert (await call(api, "GET", "/wallet", buyer, 200))["balance"] == 60
    history = await call(api, "GET", "/wallet/transactions", buyer, 200)
    assert [(i["kind"], i["amount"]) for i in history["items"]] == [("iap.purchase", 60)]


async def test_app_store_rejects_what_apple_did_not_sign_for_us(
    api: TestClient, apple: AppleSigner
) -> None:
    await map_product(api, "app_store", "credits.60", credits=60)
    buyer = await person(api)
    stranger = AppleSigner.create()  # a chain to a root we do not trust
    cases = [
        (stranger.transaction("credits.60")[0], "iap.invalid_transaction"),
        (apple.transaction("credits.60", bundleId="com.other.app")[0], "iap.invalid_transaction"),
        (apple.transaction("credits.60", environment="Production")[0], "iap.invalid_transaction"),
        (apple.transaction("credits.999")[0], "iap.unknown_product"),
        (apple.transaction("credits.60", revocationDate=1)[0], "iap.revoked"),
        ("not.a.jws", "iap.invalid_transaction"),
    ]
    for signed, code in cases:
        answer = await redeem(api, buyer, 422, store="app_store", signed_transaction=signed)
        assert answer["error"]["code"] == code, answer
    missing = await redeem(api, buyer, 422, store="app_store")
    assert missing["error"]["code"] == "iap.invalid_transaction"
    assert (await call(api, "GET", "/wallet", buyer, 200))["balance"] == 0


async def test_app_store_refund_takes_back_unspent_credits_and_the_plan(
    api: TestClient, apple: AppleSigner
) -> None:
    async with api.app[RUNTIME].db.unit_of_work() as uow:
        plan = Product(kind="plan", title="年度会员", price=19800, status="active", interval="year")
        uow.session.add(plan)
        await uow.session.flush()
        plan_id = plan.id
    await map_product(api, "app_store", "vip.year", credits=10, product_id=plan_id, plan_days=365)
    buyer = await person(api)
    signed, txn_id = apple.transaction("vip.year", type="Non-Consumable")
    await redeem(api, buyer, 200, store="app_store", signed_transaction=signed)
    await call(api, "POST", "/wallet/consume", buyer, 200, json={"amount": 4, "reference": "x"})
    async with api.app[RUNTIME].db.read() as session:
        grant = (await session.scalars(select(Entitlement))).one()
    assert (grant.subject_type, grant.subject_id, grant.source) == ("plan", plan_id, "iap_purchase")
    ignored = apple.notification("CONSUMPTION_REQUEST", signed)
    await api.post("/api/v1/iap/app_store/notifications", json={"signedPayload": ignored})
    notice = apple.notification("REFUND", apple.transaction("vip.year", transactionId=txn_id)[0])
    for _ in range(2):  # Apple retries; the second delivery takes nothing more
        response = await api.post(
            "/api/v1/iap/app_store/notifications", json={"signedPayload": notice}
        )
        assert response.status == 204
    assert (await call(api, "GET", "/wallet", buyer, 200))["balance"] == 0
    async with api.app[RUNTIME].db.read() as session:
        grant = (await session.scalars(select(Entitlement))).one()
        purchase = (await session.scalars(select(IapPurchase))).one()
    assert grant.revoked_at is not None
    assert (purchase.status, purchase.credits_granted, purchase.credits_revoked) == (
        "refunded",
        10,
        6,
    )
    forged = AppleSigner.create().notification("REFUND", signed)
    response = await api.post("/api/v1/iap/app_store/notifications", json={"signedPayload": forged})
    assert response.status == 422


async def test_google_play_purchase_is_verified_acknowledged_and_voided(
    api: TestClient, play: FakePlay
) -> None:
    await map_product(api, "google_play", "credits_100", credits=100)
    buyer = await person(api)
    order = play.add("tok-1", "credits_100")
    body = {"store": "google_play", "product_id": "credits_100", "purchase_token": "tok-1"}
    first = await redeem(api, buyer, 200, **body)
    assert first["transaction_id"] == order and first["balance"] == 100
    assert play.acknowledged == ["tok-1"] and play.token_requests == 1
    assert (await redeem(api, buyer, 200, **body))["replayed"]
    assert play.token_requests == 1  # the access token is reused
    voided = {
        "version": "1.0",
        "packageName": PACKAGE,
        "eventTimeMillis": "1",
        "voidedPurchaseNotification": {
            "purchaseToken": "tok-1",
            "orderId": order,
            "productType": 2,
        },
    }
    path = "/api/v1/iap/google_play/notifications"
    bad = await api.post(f"{path}?token=wrong", json=pubsub(voided))
    assert bad.status == 401
    ok = await api.post(f"{path}?token={NOTIFY_TOKEN}", json=pubsub(voided))
    assert ok.status == 204
    other = await api.post(
        f"{path}?token={NOTIFY_TOKEN}", json=pubsub({**voided, "packageName": "x"})
    )
    assert other.status == 422
    test = {"version": "1.0", "packageName": PACKAGE, "testNotification": {"version": "1.0"}}
    assert (await api.post(f"{path}?token={NOTIFY_TOKEN}", json=pubsub(test))).status == 204
    assert (await call(api, "GET", "/wallet", buyer, 200))["balance"] == 0


async def test_google_play_refuses_unknown_pending_and_cancelled_purchases(
    api: TestClient, play: FakePlay
) -> None:
    await map_product(api, "google_play", "credits_100", credits=100)
    buyer = await person(api)
    play.add("pending", "credits_100", purchaseState=2)
    play.add("cancelled", "credits_100", purchaseState=1)
    base = {"store": "google_play", "product_id": "credits_100"}
    unknown = await redeem(api, buyer, 422, **base, purchase_token="nope")
    assert unknown["error"]["code"] == "iap.invalid_purchase"
    pending = await redeem(api, buyer, 409, **base, purchase_token="pending")
    assert pending["error"]["code"] == "iap.pending"
    cancelled = await redeem(api, buyer, 422, **base, purchase_token="cancelled")
    assert cancelled["error"]["code"] == "iap.revoked"
    await redeem(api, buyer, 422, store="google_play")
    assert play.acknowledged == []


async def test_only_admins_map_products_and_disabled_stores_say_so(
    api: TestClient, make_client: AppClient, database_url: str
) -> None:
    reader = await person(api)
    body = {"store": "app_store", "store_product_id": "x", "credits": 1}
    await call(api, "PUT", "/admin/iap/products", reader, 403, json=body)
    bare = await make_client(make_settings(database_url=database_url))
    someone = await person(bare)
    off = await redeem(bare, someone, 422, store="app_store", signed_transaction="x")
    assert off["error"]["code"] == "iap.store_disabled"


async def test_a_failed_acknowledgement_is_retried_by_a_job(
    api: TestClient, play: FakePlay, iap_settings: Settings
) -> None:
    await map_product(api, "google_play", "credits_100", credits=100)
    buyer = await person(api)
    play.add("tok-2", "credits_100")
    play.failing_acks = 1
    body = {"store": "google_play", "product_id": "credits_100", "purchase_token": "tok-2"}
    assert (await redeem(api, buyer, 200, **body))["balance"] == 100
    assert play.acknowledged == []
    await run_burst(iap_settings, {"runtime": api.app[RUNTIME]})
    assert play.acknowledged == ["tok-2"]
    async with api.app[RUNTIME].db.read() as session:
        purchase_id = (await session.scalars(select(IapPurchase.id))).one()
    again = await FUNCTIONS["iap.acknowledge"].coroutine(
        {"runtime": api.app[RUNTIME]}, purchase_id=purchase_id
    )
    assert again == "already" and play.acknowledged == ["tok-2"]


async def test_each_runtime_builds_its_stores_once(
    api: TestClient, make_client: AppClient, iap_settings: Settings, play: FakePlay
) -> None:
    runtime = api.app[RUNTIME]
    built = registry.stores(runtime)
    assert sorted(built) == ["app_store", "google_play"]
    assert registry.stores(runtime) is built
    other = await make_client(iap_settings)  # the same settings, another app and runtime
    assert registry.stores(other.app[RUNTIME])["google_play"] is not built["google_play"]
    await map_product(api, "google_play", "credits_100", credits=100)
    play.add("tok-3", "credits_100")
    play.add("tok-4", "credits_100")
    body = {"store": "google_play", "product_id": "credits_100"}
    await redeem(api, await person(api), 200, **body, purchase_token="tok-3")
    await redeem(other, await person(other), 200, **body, purchase_token="tok-4")
    assert play.token_requests == 2  # each runtime signs in with its own stores


# The namespace README.md documents for appAccountToken.
APP_ACCOUNT_NAMESPACE = uuid.UUID("1b7c717b-e5f5-4778-ba03-bc155b2bc75c")


async def token_of(api: TestClient, who: Person) -> str:
    found = await call(api, "GET", "/me/iap/app_account_token", who, 200)
    return str(found["app_account_token"])


async def test_each_account_has_its_own_stable_app_account_token(api: TestClient) -> None:
    one, two = await person(api), await person(api)
    first = await token_of(api, one)
    assert first == str(uuid.uuid5(APP_ACCOUNT_NAMESPACE, str(one.id)))
    assert uuid.UUID(first).version == 5
    assert await token_of(api, one) == first
    assert await token_of(api, two) == str(uuid.uuid5(APP_ACCOUNT_NAMESPACE, str(two.id)))
    assert await token_of(api, two) != first
    anonymous = await call(api, "GET", "/me/iap/app_account_token", None, 401)
    assert anonymous["error"]["code"] == "auth.unauthorized"


async def test_an_app_store_purchase_made_for_another_account_is_refused(
    api: TestClient, apple: AppleSigner
) -> None:
    await map_product(api, "app_store", "credits.60", credits=60)
    owner, thief = await person(api), await person(api)
    signed, txn_id = apple.transaction("credits.60", appAccountToken=await token_of(api, owner))
    for _ in range(2):
        refused = await redeem(api, thief, 403, store="app_store", signed_transaction=signed)
        assert refused["error"]["code"] == "iap.account_mismatch"
    assert (await call(api, "GET", "/wallet", thief, 200))["balance"] == 0
    async with api.app[RUNTIME].db.read() as session:
        assert (await session.scalars(select(IapPurchase))).all() == []
    mine = await redeem(api, owner, 200, store="app_store", signed_transaction=signed)
    assert (mine["transaction_id"], mine["credits_granted"], mine["balance"]) == (txn_id, 60, 60)
    # After the owner redeemed it, the thief is still told whose it is.
    again = await redeem(api, thief, 403, store="app_store", signed_transaction=signed)
    assert again["error"]["code"] == "iap.account_mismatch"
    # The token compares as a UUID (any case); one that is no UUID is nobody's.
    upper, _ = apple.transaction("credits.60", appAccountToken=(await token_of(api, owner)).upper())
    assert (await redeem(api, owner, 200, store="app_store", signed_transaction=upper))[
        "balance"
    ] == 120
    garbled, _ = apple.transaction("credits.60", appAccountToken="not-a-uuid")
    odd = await redeem(api, owner, 403, store="app_store", signed_transaction=garbled)
    assert odd["error"]["code"] == "iap.account_mismatch"
    # Without a token the first account to redeem it gets it, as before.
    bare, _ = apple.transaction("credits.60")
    assert (await redeem(api, thief, 200, store="app_store", signed_transaction=bare))[
        "balance"
    ] == 60
    taken = await redeem(api, owner, 409, store="app_store", signed_transaction=bare)
    assert taken["error"]["code"] == "iap.already_used"
    await assert_money_invariants(api.app[RUNTIME].db.engine)


async def notify_apple(api: TestClient, apple: AppleSigner, kind: str, signed: str) -> None:
    response = await api.post(
        "/api/v1/iap/app_store/notifications",
        json={"signedPayload": apple.notification(kind, signed)},
    )
    assert response.status == 204


async def test_an_app_store_refund_before_the_purchase_is_kept_and_applied(
    api: TestClient, apple: AppleSigner
) -> None:
    async with api.app[RUNTIME].db.unit_of_work() as uow:
        plan = Product(kind="plan", title="年度会员", price=19800, status="active", interval="year")
        uow.session.add(plan)
        await uow.session.flush()
        plan_id = plan.id
    await map_product(api, "app_store", "vip.year", credits=10, product_id=plan_id, plan_days=365)
    buyer, other = await person(api), await person(api)
    admin = await person(api, "admin")
    adjust = {"amount": 5, "reason": "welcome"}
    await call(api, "POST", f"/admin/wallets/{buyer.id}/adjustments", admin, 201, json=adjust)
    signed, txn_id = apple.transaction("vip.year", type="Non-Consumable")
    for _ in range(2):  # Apple retries; the notice is kept once
        await notify_apple(api, apple, "REFUND", signed)
    async with api.app[RUNTIME].db.read() as session:
        kept = (await session.scalars(select(IapRefundNotice))).one()
    assert (kept.store, kept.transaction_id, kept.detail, kept.applied_at) == (
        "app_store",
        txn_id,
        "REFUND",
        None,
    )
    first = await redeem(api, buyer, 200, store="app_store", signed_transaction=signed)
    assert (first["status"], first["credits_granted"], first["balance"], first["replayed"]) == (
        "refunded",
        0,
        5,
        False,
    )
    again = await redeem(api, buyer, 200, store="app_store", signed_transaction=signed)
    assert (again["status"], again["balance"], again["replayed"]) == ("refunded", 5, True)
    taken = await redeem(api, other, 409, store="app_store", signed_transaction=signed)
    assert taken["error"]["code"] == "iap.already_used"
    await notify_apple(api, apple, "REFUND", signed)  # a late retry takes nothing more
    assert (await call(api, "GET", "/wallet", buyer, 200))["balance"] == 5
    history = await call(api, "GET", "/wallet/transactions", buyer, 200)
    assert [i["amount"] for i in history["items"]] == [5]  # the adjustment alone
    async with api.app[RUNTIME].db.read() as session:
        assert (await session.scalars(select(Entitlement))).all() == []
        purchase = (await session.scalars(select(IapPurchase))).one()
        kept = (await session.scalars(select(IapRefundNotice))).one()
    assert (purchase.status, purchase.credits_granted, purchase.credits_revoked) == (
        "refunded",
        0,
        0,
    )
    assert purchase.user_id == buyer.id and purchase.refunded_at is not None
    assert kept.applied_at is not None
    await assert_money_invariants(api.app[RUNTIME].db.engine)


async def test_a_google_play_void_before_the_purchase_is_kept_and_applied(
    api: TestClient, play: FakePlay
) -> None:
    await map_product(api, "google_play", "credits_100", credits=100)
    buyer = await person(api)
    order = play.add("tok-void", "credits_100")
    voided = {
        "version": "1.0",
        "packageName": PACKAGE,
        "eventTimeMillis": "1",
        "voidedPurchaseNotification": {
            "purchaseToken": "tok-void",
            "orderId": order,
            "productType": 2,
        },
    }
    path = f"/api/v1/iap/google_play/notifications?token={NOTIFY_TOKEN}"
    assert (await api.post(path, json=pubsub(voided))).status == 204
    body = {"store": "google_play", "product_id": "credits_100", "purchase_token": "tok-void"}
    answer = await redeem(api, buyer, 200, **body)
    assert (answer["status"], answer["credits_granted"], answer["balance"]) == ("refunded", 0, 0)
    assert play.acknowledged == []  # nothing was delivered
    await assert_money_invariants(api.app[RUNTIME].db.engine)


async def test_a_refund_racing_its_redeem_never_leaves_credits_behind(
    api: TestClient, apple: AppleSigner
) -> None:
    await map_product(api, "app_store", "credits.60", credits=60)
    buyers = [await person(api) for _ in range(6)]
    signed = [apple.transaction("credits.60")[0] for _ in buyers]

    async def both(who: Person, proof: str) -> None:
        answers = await asyncio.gather(
            redeem(api, who, 200, store="app_store", signed_transaction=proof),
            notify_apple(api, apple, "REFUND", proof),
        )
        assert answers[0]["transaction_id"]

    await asyncio.gather(*(both(who, proof) for who, proof in zip(buyers, signed, strict=True)))
    for who in buyers:
        assert (await call(api, "GET", "/wallet", who, 200))["balance"] == 0
    async with api.app[RUNTIME].db.read() as session:
        statuses = (await session.scalars(select(IapPurchase.status))).all()
    assert statuses == ["refunded"] * len(buyers)
    await assert_money_invariants(api.app[RUNTIME].db.engine)
