"""In-app purchases: a verified store transaction grants once; a store refund takes it back.

What a store product grants comes from `iap_products`: credits into the wallet (per unit of
quantity) and/or the content or plan of a catalog product (entitlement source `iap_purchase`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.commerce.catalog import Product
from models.commerce.iap import IapProduct, IapPurchase
from server.commerce.iap.stores.base import StoreTransaction
from server.commerce.wallet import service as wallet
from server.content.items import access
from server.db import UnitOfWork
from server.http.errors import ApiError, Conflict

SOURCE = "iap_purchase"
PLAN_DAYS = {"month": 31, "year": 366}


class UnknownProduct(ApiError):
    status, code, message = 422, "iap.unknown_product", "This store product is not sold here."


class AlreadyUsed(Conflict):
    code, message = "iap.already_used", "This store transaction was already redeemed."


class Revoked(ApiError):
    status, code, message = 422, "iap.revoked", "The store refunded or revoked this purchase."


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
    answers the first purchase, by anyone else AlreadyUsed."""
    session = uow.session
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


async def refund(uow: UnitOfWork, *, store: str, transaction_id: str, now: datetime) -> bool:
    """Take back what a refunded store transaction granted: unspent credits (never below
    zero) and its entitlements. False when there is nothing (left) to take back."""
    session = uow.session
    purchase = await _purchase(session, store, transaction_id, lock="update")
    if purchase is None or purchase.status == "refunded":
        return False
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
    return True


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
