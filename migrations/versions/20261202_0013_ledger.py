"""ledger: ledger and in-app purchases

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 01:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(mysql.JSON(), "mysql")
OPTIONS = {
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_unicode_ci",
    "mysql_engine": "InnoDB",
}


def _time() -> sa.types.TypeEngine:
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql")


def _id(table: str) -> list[sa.SchemaItem]:
    return [
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
    ]


def _ledger() -> None:
    op.create_table(
        "ledger_accounts",
        sa.Column("owner_type", sa.String(length=16), nullable=False),
        sa.Column("owner_id", sa.BigInteger(), nullable=False),
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("balance", sa.BigInteger(), nullable=False),
        sa.Column("allow_negative", sa.Boolean(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        *_id("ledger_accounts"),
        sa.UniqueConstraint(
            "owner_type",
            "owner_id",
            "purpose",
            "currency",
            name=op.f("uq_ledger_accounts_owner_type_owner_id_purpose_currency"),
        ),
        **OPTIONS,
    )
    op.create_table(
        "ledger_transactions",
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("reference", sa.String(length=160), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=True),
        sa.Column("actor_id", sa.BigInteger(), nullable=True),
        sa.Column("memo", sa.String(length=255), nullable=True),
        sa.Column("created_at", _time(), nullable=False),
        *_id("ledger_transactions"),
        sa.UniqueConstraint(
            "kind", "reference", name=op.f("uq_ledger_transactions_kind_reference")
        ),
        **OPTIONS,
    )
    op.create_index("ix_ledger_transactions_user_id_id", "ledger_transactions", ["user_id", "id"])
    op.create_table(
        "ledger_entries",
        sa.Column("transaction_id", BIG_ID, nullable=False),
        sa.Column("account_id", BIG_ID, nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("balance_after", sa.BigInteger(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        *_id("ledger_entries"),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["ledger_accounts.id"],
            name=op.f("fk_ledger_entries_account_id_ledger_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["ledger_transactions.id"],
            name=op.f("fk_ledger_entries_transaction_id_ledger_transactions"),
        ),
        **OPTIONS,
    )
    op.create_index("ix_ledger_entries_account_id_id", "ledger_entries", ["account_id", "id"])
    op.create_index("ix_ledger_entries_transaction_id", "ledger_entries", ["transaction_id"])


def _iap() -> None:
    op.create_table(
        "iap_products",
        sa.Column("store", sa.String(length=16), nullable=False),
        sa.Column("store_product_id", sa.String(length=150), nullable=False),
        sa.Column("credits", sa.BigInteger(), nullable=False),
        sa.Column("product_id", sa.BigInteger(), nullable=True),
        sa.Column("plan_days", sa.BigInteger(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        *_id("iap_products"),
        sa.UniqueConstraint(
            "store", "store_product_id", name=op.f("uq_iap_products_store_store_product_id")
        ),
        **OPTIONS,
    )
    op.create_table(
        "iap_purchases",
        sa.Column("store", sa.String(length=16), nullable=False),
        sa.Column("transaction_id", sa.String(length=150), nullable=False),
        sa.Column("original_transaction_id", sa.String(length=150), nullable=True),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("store_product_id", sa.String(length=150), nullable=False),
        sa.Column("iap_product_id", BIG_ID, nullable=True),
        sa.Column("environment", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("credits_granted", sa.BigInteger(), nullable=False),
        sa.Column("credits_revoked", sa.BigInteger(), nullable=False),
        sa.Column("details", JSON, nullable=False),
        sa.Column("purchased_at", _time(), nullable=True),
        sa.Column("refunded_at", _time(), nullable=True),
        sa.Column("created_at", _time(), nullable=False),
        *_id("iap_purchases"),
        sa.ForeignKeyConstraint(
            ["iap_product_id"],
            ["iap_products.id"],
            name=op.f("fk_iap_purchases_iap_product_id_iap_products"),
            ondelete="SET NULL",
        ),
        sa.UniqueConstraint(
            "store", "transaction_id", name=op.f("uq_iap_purchases_store_transaction_id")
        ),
        **OPTIONS,
    )
    op.create_index("ix_iap_purchases_user_id_id", "iap_purchases", ["user_id", "id"])


def upgrade() -> None:
    _ledger()
    _iap()


def downgrade() -> None:
    # Indexes go with their tables (MariaDB refuses to drop one a foreign key still uses).
    op.drop_table("iap_purchases")
    op.drop_table("iap_products")
    op.drop_table("ledger_entries")
    op.drop_table("ledger_transactions")
    op.drop_table("ledger_accounts")
