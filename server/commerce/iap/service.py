"""In-app purchases: a verified store transaction grants once; a store refund takes it back.

What a store product grants comes from `iap_products`: credits into the wallet (per unit of
quantity) and/or the content or plan of a catalog product (entitlement source `iap_purchase`).

Whose it is: each account has an App Store `appAccountToken` (`app_account_token`, a UUIDv5 of
its id) that the app sets on its purchases. A transaction carrying another account's token is
refused; one carrying none goes to the first account that redeems it.

A refund the store announces before the purchase is redeemed here is kept
(`iap_refund_notices`) and applied when the purchase comes: it is recorded `refunded` and
grants nothing, so no credits are issued only to be clawed back (a clawback never takes the
wallet below zero, so credits spent in between would be lost to the platform).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.commerce.catalog import Product
from models.commerce.iap import IapProduct, IapPurchase, IapRefundNotice
from server.commerce.iap.stores.base import StoreTransaction
from server.commerce.wallet import service as wallet
from server.content.items import access
from server.db import UnitOfWork
from server.http.errors import ApiError, Conflict

SOURCE = "iap_purchase"
PLAN_DAYS = {"month": 31, "year": 366}
# The namespace of every account's App Store appAccountToken (fixed: changing it would orphan
# the tokens already set on purchases).
APP_ACCOUNT_NAMESPACE = uuid.UUID("1b7c717b-e5f5-4778-ba03-bc155b2bc75c")


def app_account_token(user_id: int) -> uuid.UUID:
    """The account's App Store appAccountToken: UUIDv5(APP_ACCOUNT_NAMESPACE, str(user_id))."""
    return uuid.uuid5(APP_ACCOUNT_NAMESPACE, str(user_id))


class UnknownProduct(ApiError):
    status, code, message = 422, "iap.unknown_product", "This store product is not sold here."


class AlreadyUsed(Conflict):
    code, message = "iap.already_used", "This store transaction was already redeemed."


class Revoked(ApiError):
    status, code, message = 422, "iap.revoked", "The store refunded or revoked this purchase."


class AccountMismatch(ApiError):
    status, code, message = (
        403,
        "iap.account_mismatch",
        "This purchase was made for another account.",
    )


def _check_account(txn: StoreTransaction, user_id: int) -> None:
    """Refuse a transaction whose appAccountToken is not `user_id`'s (none: anyone's)."""
    token = txn.app_account_token
    if not token:
        return
    try:
        theirs = uuid.UUID(token)
    except ValueError:
        raise AccountMismatch() from None
    if theirs != app_account_token(user_id):
        raise AccountMismatch()


@dataclass(slots=True)
class Redeemed:
    purchase: IapPurchase
    replayed: bool


async def _purchase(
    session: AsyncSession, store: str, transaction_id: str, *, lock: str | None = None
) -> IapPurchase | None:
    query = select(IapPurchase).where(
        IapPurchase.store == store, IapPurchase.transaction_id == transaction_id
    )
    if lock is not None:
        query = query.with_for_update(read=lock == "share")
    return (await session.scalars(query)).first()


async def _mapping(session: AsyncSession, txn: StoreTransaction) -> IapProduct:
    found = (
        await session.scalars(
            select(IapProduct).where(
                IapProduct.store == txn.store,
                IapProduct.store_product_id == txn.store_product_id,
                IapProduct.active.is_(True),
            )
        )
    ).first()
    if found is None:
        raise UnknownProduct()
    return found


def _mine(found: IapPurchase, user_id: int) -> Redeemed:
    if found.user_id != user_id:
        raise AlreadyUsed()
    return Redeemed(found, replayed=True)


async def redeem(
    uow: UnitOfWork, *, user_id: int, txn: StoreTransaction, now: datetime
) -> Redeemed:
    """Grant what `txn` bought, once per (store, transaction id); a repeat by the same user
    answers the first purchase, by anyone else AlreadyUsed. A transaction made for another
    account (its appAccountToken) is AccountMismatch; one the store's refund notice reached
    first is recorded refunded and grants nothing."""
    session = uow.session
    _check_account(txn, user_id)
    if txn.revoked:
        raise Revoked()
    mapping = await _mapping(session, txn)
    found = await _purchase(session, txn.store, txn.transaction_id)
    if found is not None:
        return _mine(found, user_id)
    claimed = await session.execute(
        insert(IapPurchase)
        .prefix_with("IGNORE", dialect="mysql")
        .prefix_with("OR IGNORE", dialect="sqlite")
        .values(
            store=txn.store,
            transaction_id=txn.transaction_id,
            original_transaction_id=txn.original_transaction_id,
            user_id=user_id,
            store_product_id=txn.store_product_id,
            iap_product_id=mapping.id,
            environment=txn.environment[:16],
            status="granted",
            credits_granted=0,
            credits_revoked=0,
            details=txn.details,
            purchased_at=txn.purchased_at,
            created_at=now,
        )
    )
    if claimed.rowcount == 0:  # type: ignore[attr-defined]
        # A concurrent redeem took it first; a (shared) locking read sees its committed row.
        rival = await _purchase(session, txn.store, txn.transaction_id, lock="share")
        if rival is None:  # pragma: no cover - the unique key said it exists
            raise AlreadyUsed()
        return _mine(rival, user_id)
    purchase = await _purchase(session, txn.store, txn.transaction_id)
    assert purchase is not None
    # Read (locked) after the purchase row is claimed: a refund notice locks the purchase first
    # too, so either it waited for this row and refunds it, or its notice is seen here.
    notice = (
        await session.scalars(
            select(IapRefundNotice)
            .where(
                IapRefundNotice.store == txn.store,
                IapRefundNotice.transaction_id == txn.transaction_id,
            )
            .with_for_update()
        )
    ).first()
    if notice is not None:
        purchase.status, purchase.refunded_at = "refunded", now
        if notice.applied_at is None:
            notice.applied_at = now
        await session.flush()
        return Redeemed(purchase, replayed=False)
    await _grant(uow, purchase=purchase, mapping=mapping, quantity=txn.quantity, now=now)
    return Redeemed(purchase, replayed=False)


async def _grant(
    uow: UnitOfWork, *, purchase: IapPurchase, mapping: IapProduct, quantity: int, now: datetime
) -> None:
    credits = mapping.credits * max(quantity, 1)
    product = await uow.session.get(Product, mapping.product_id) if mapping.product_id else None
    if not credits and product is not None and product.kind == "credits":
        credits = (product.credits or 0) * max(quantity, 1)
    if credits:
        await wallet.credit(
            uow,
            user_id=purchase.user_id,
            amount=credits,
            kind="iap.purchase",
            reference=f"{purchase.store}:{purchase.transaction_id}",
            memo=f"{purchase.store} {purchase.store_product_id}",
            now=now,
        )
        purchase.credits_granted = credits
    if product is not None and product.kind in ("content", "course") and product.content_id:
        await _entitle(uow.session, purchase, "content", product.content_id, now, None)
    elif product is not None and product.kind == "plan":
        days = mapping.plan_days or PLAN_DAYS.get(product.interval or "", 31)
        await _entitle(uow.session, purchase, "plan", product.id, now, now + timedelta(days=days))
    await uow.session.flush()


async def _entitle(
    session: AsyncSession,
    purchase: IapPurchase,
    subject_type: str,
    subject_id: int,
    now: datetime,
    ends_at: datetime | None,
) -> None:
    await access.grant(
        session,
        user_id=purchase.user_id,
        subject_type=subject_type,
        subject_id=subject_id,
        source=SOURCE,
        source_id=str(purchase.id),
        starts_at=now,
        ends_at=ends_at,
    )


async def refund(
    uow: UnitOfWork, *, store: str, transaction_id: str, detail: str, now: datetime
) -> str:
    """Take back what a refunded store transaction granted: unspent credits (never below
    zero) and its entitlements: "refunded". "already" when it was refunded before; "kept"
    when it was not redeemed yet (the notice waits for it, see `redeem`)."""
    session = uow.session
    purchase = await _purchase(session, store, transaction_id, lock="update")
    if purchase is None:
        await session.execute(
            insert(IapRefundNotice)
            .prefix_with("IGNORE", dialect="mysql")
            .prefix_with("OR IGNORE", dialect="sqlite")
            .values(
                store=store,
                transaction_id=transaction_id,
                detail=detail[:40],
                received_at=now,
                applied_at=None,
            )
        )
        return "kept"
    if purchase.status == "refunded":
        return "already"
    if purchase.credits_granted:
        purchase.credits_revoked = await wallet.revoke_credits(
            uow,
            user_id=purchase.user_id,
            amount=purchase.credits_granted,
            reference=f"iap:{store}:{transaction_id}",
            now=now,
        )
    await access.revoke(session, source=SOURCE, source_id=str(purchase.id), now=now)
    purchase.status = "refunded"
    purchase.refunded_at = now
    await session.flush()
    return "refunded"


async def set_product(
    session: AsyncSession,
    *,
    store: str,
    store_product_id: str,
    credits: int,
    product_id: int | None,
    plan_days: int | None,
    active: bool,
    now: datetime,
) -> IapProduct:
    """Create or change what a store product grants."""
    found = (
        await session.scalars(
            select(IapProduct).where(
                IapProduct.store == store, IapProduct.store_product_id == store_product_id
            )
        )
    ).first()
    if found is None:
        found = IapProduct(store=store, store_product_id=store_product_id, created_at=now)
        session.add(found)
    found.credits, found.product_id, found.plan_days, found.active = (
        credits,
        product_id,
        plan_days,
        active,
    )
    await session.flush()
    return found
