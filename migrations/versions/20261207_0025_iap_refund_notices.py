"""iap refund notices: a store refund that arrives before its purchase is redeemed

The App Store and Google Play may announce a refund before the app has sent the purchase to
be redeemed (StoreKit's signed transaction on the device predates the refund). The notice is
kept, one per store transaction, and applied when the purchase comes: it grants nothing.

Revision ID: 0025
Revises: 0022
Create Date: 2026-12-07 09:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0025"
down_revision: str | Sequence[str] | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
OPTIONS = {
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_unicode_ci",
    "mysql_engine": "InnoDB",
}


def _time() -> sa.types.TypeEngine:
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql")


def upgrade() -> None:
    op.create_table(
        "iap_refund_notices",
        sa.Column("store", sa.String(length=16), nullable=False),
        sa.Column("transaction_id", sa.String(length=150), nullable=False),
        sa.Column("detail", sa.String(length=40), nullable=False),
        sa.Column("received_at", _time(), nullable=False),
        sa.Column("applied_at", _time(), nullable=True),
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_iap_refund_notices")),
        sa.UniqueConstraint(
            "store", "transaction_id", name=op.f("uq_iap_refund_notices_store_transaction_id")
        ),
        **OPTIONS,
    )


def downgrade() -> None:
    op.drop_table("iap_refund_notices")
