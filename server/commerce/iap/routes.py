"""HTTP routes: in-app purchases (verify and redeem) and the stores' refund notifications."""

from __future__ import annotations

import structlog
from aiohttp import web

from server.audit import record_admin_action
from server.commerce.iap import service
from server.commerce.iap.schemas import (
    AppAccountTokenOut,
    AppStoreNotificationIn,
    IapProductIn,
    IapProductOut,
    PubSubPushIn,
    PubSubQuery,
    PurchaseOut,
    VerifyIn,
)
from server.commerce.iap.stores.base import StoreNotice
from server.commerce.iap.stores.registry import store
from server.commerce.wallet import service as wallet
from server.http.errors import ApiError
from server.http.limits import client_ip
from server.http.registry import RouteTable
from server.keys import RUNTIME, SETTINGS, USER_ID

routes = RouteTable("iap", "In-app purchases from the App Store and Google Play.")
log = structlog.get_logger("iap")


@routes.post(
    "/api/v1/purchases/verify",
    body=VerifyIn,
    response=PurchaseOut,
    idempotent=True,
    replays=True,
    errors=frozenset({403, 409, 422, 503}),
    description="Verifies a store purchase with the store and grants what it bought (credits, "
    "content or a plan) once per store transaction: the same user again gets `replayed: true`; "
    "anyone else 409 `iap.already_used`. An App Store transaction whose `appAccountToken` is "
    "not the caller's (`GET /api/v1/me/iap/app_account_token`) is 403 `iap.account_mismatch`; "
    "one without a token goes to the first account that redeems it. A purchase the store "
    "refunded before it was redeemed is recorded with `status: refunded` and grants nothing. "
    "422 `iap.invalid_transaction` / "
    "`iap.invalid_purchase` / `iap.unknown_product` / `iap.revoked` / `iap.store_disabled`; "
    "409 `iap.pending`; 503 `iap.store_unavailable`.",
)
async def verify_purchase(request: web.Request, body: VerifyIn) -> PurchaseOut:
    """Redeem an in-app purchase"""
    runtime = request.app[RUNTIME]
    provider = store(runtime, body.store)
    proof = body.model_dump()
    txn = await provider.verify(proof)
    user_id = request[USER_ID]
    async with runtime.db.unit_of_work() as uow:
        redeemed = await service.redeem(uow, user_id=user_id, txn=txn, now=runtime.clock.now())
        held = await wallet.balance(uow.session, user_id=user_id)
    purchase = redeemed.purchase
    try:
        if purchase.status == "granted":  # a refunded purchase has nothing to deliver
            await provider.acknowledge(txn, proof)
    except ApiError as exc:  # the store refunds unacknowledged purchases: a job retries
        log.warning("iap.acknowledge_failed", store=body.store, code=exc.code)
        async with runtime.db.unit_of_work() as uow:
            # Kept until the store answers: nothing else records that it is still owed.
            uow.outbox.enqueue(
                "iap.acknowledge",
                job_id=f"iap-ack:{purchase.id}",
                keep=True,
                purchase_id=purchase.id,
            )
    return PurchaseOut(
        id=purchase.id,
        store=body.store,
        transaction_id=purchase.transaction_id,
        store_product_id=purchase.store_product_id,
        status=purchase.status,
        credits_granted=purchase.credits_granted,
        balance=held,
        replayed=redeemed.replayed,
        created_at=purchase.created_at,
    )


async def _apply(request: web.Request, notice: StoreNotice) -> None:
    runtime = request.app[RUNTIME]
    if notice.kind != "refund" or notice.transaction_id is None:
        log.info("iap.notice_ignored", store=notice.store, detail=notice.detail)
        return
    async with runtime.db.unit_of_work() as uow:
        outcome = await service.refund(
            uow,
            store=notice.store,
            transaction_id=notice.transaction_id,
            detail=notice.detail,
            now=runtime.clock.now(),
        )
    log.info("iap.refund", store=notice.store, outcome=outcome, detail=notice.detail)


@routes.get(
    "/api/v1/me/iap/app_account_token",
    response=AppAccountTokenOut,
    description="The account's App Store `appAccountToken`: the app sets it on its StoreKit "
    "purchases so that only this account can redeem them. The same for ever for one account "
    "(a UUIDv5 of its id).",
)
async def get_app_account_token(request: web.Request) -> AppAccountTokenOut:
    """My App Store account token"""
    return AppAccountTokenOut(app_account_token=service.app_account_token(request[USER_ID]))


@routes.post(
    "/api/v1/iap/app_store/notifications",
    body=AppStoreNotificationIn,
    status=204,
    auth=False,
    errors=frozenset({422}),
    description="App Store Server Notifications V2 (signed): `REFUND` and `REVOKE` take back "
    "what the transaction granted (one not redeemed yet is kept and grants nothing when it "
    "is); other types are acknowledged and ignored.",
)
async def app_store_notification(request: web.Request, body: AppStoreNotificationIn) -> None:
    """App Store server notification"""
    provider = store(request.app[RUNTIME], "app_store")
    await _apply(request, await provider.notice(body.model_dump()))


@routes.post(
    "/api/v1/iap/google_play/notifications",
    body=PubSubPushIn,
    query=PubSubQuery,
    status=204,
    auth=False,
    errors=frozenset({401, 422}),
    description="Google Play real-time developer notifications (a Pub/Sub push with `?token=`):"
    " a voided purchase takes back what it granted (one not redeemed yet is kept and grants "
    "nothing when it is); other notifications are ignored.",
)
async def google_play_notification(
    request: web.Request, body: PubSubPushIn, query: PubSubQuery
) -> None:
    """Google Play developer notification"""
    provider = store(request.app[RUNTIME], "google_play")
    await _apply(request, await provider.notice({**body.model_dump(), "token": query.token}))


@routes.put(
    "/api/v1/admin/iap/products",
    body=IapProductIn,
    response=IapProductOut,
    roles=("admin",),
    description="Says what a store product grants (credits per unit, a catalog product).",
)
async def put_iap_product(request: web.Request, body: IapProductIn) -> IapProductOut:
    """Map a store product"""
    runtime = request.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        row = await service.set_product(
            uow.session,
            store=body.store,
            store_product_id=body.store_product_id,
            credits=body.credits,
            product_id=body.product_id,
            plan_days=body.plan_days,
            active=body.active,
            now=runtime.clock.now(),
        )
        await record_admin_action(
            uow.session,
            admin_id=request[USER_ID],
            action="iap.product",
            target_type="iap_product",
            target_id=row.id,
            detail=body.model_dump(),
            ip=client_ip(request, request.app[SETTINGS].trust_forwarded_for),
            clock=runtime.clock,
        )
        return IapProductOut(id=row.id, **body.model_dump())
