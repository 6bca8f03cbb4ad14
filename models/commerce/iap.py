"""In-app purchases: store products and the purchases granted from them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import TABLE_OPTIONS, Base, BigId, IdMixin, Json, UTCDateTime, utcnow

IAP_STORES = ("app_store", "google_play")
IAP_STATUSES = ("granted", "refunded")


class IapProduct(IdMixin, Base):
    """What a store product id grants: credits, and/or a catalog product (content or plan)."""

    __tablename__ = "iap_products"
    __table_args__ = (UniqueConstraint("store", "store_product_id"), TABLE_OPTIONS)

    store: Mapped[str] = mapped_column(String(16), nullable=False)
    store_product_id: Mapped[str] = mapped_column(String(150), nullable=False)
    credits: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    # A catalog product whose content or plan the purchase unlocks.
    # (No foreign key: the catalog may archive products, the mapping stays for refunds.)
    product_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # Days a plan grant lasts (NULL: no end).
    plan_days: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)


class IapPurchase(IdMixin, Base):
    """A verified store transaction; each (store, transaction_id) grants once."""

    __tablename__ = "iap_purchases"
    __table_args__ = (
        UniqueConstraint("store", "transaction_id"),
        Index("ix_iap_purchases_user_id_id", "user_id", "id"),
        TABLE_OPTIONS,
    )

    store: Mapped[str] = mapped_column(String(16), nullable=False)
    transaction_id: Mapped[str] = mapped_column(String(150), nullable=False)
    original_transaction_id: Mapped[str | None] = mapped_column(String(150), nullable=True)
    user_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    store_product_id: Mapped[str] = mapped_column(String(150), nullable=False)
    iap_product_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("iap_products.id", ondelete="SET NULL"), nullable=True
    )
    environment: Mapped[str] = mapped_column(String(16), nullable=False, default="Production")
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="granted")
    credits_granted: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    credits_revoked: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    # The store's facts as verified (product, dates, type), for support and reconciliation.
    details: Mapped[dict[str, object]] = mapped_column(Json, nullable=False, default=dict)
    purchased_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    refunded_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)


class IapRefundNotice(IdMixin, Base):
    """A store's refund notice for a transaction not redeemed here (yet).

    Kept so the refund is applied when the purchase is verified: that transaction then grants
    nothing (see server/commerce/iap/service.py). `applied_at` is when a redeem met it.
    """

    __tablename__ = "iap_refund_notices"
    __table_args__ = (UniqueConstraint("store", "transaction_id"), TABLE_OPTIONS)

    store: Mapped[str] = mapped_column(String(16), nullable=False)
    transaction_id: Mapped[str] = mapped_column(String(150), nullable=False)
    # The store's name for the notice (REFUND, REVOKE, voided).
    detail: Mapped[str] = mapped_column(String(40), nullable=False)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    applied_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
