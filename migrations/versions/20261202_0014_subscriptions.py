"""subscriptions: subscriptions, earnings, withdrawals

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 01:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(mysql.JSON(), "mysql")
OPTIONS: dict[str, Any] = {
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_unicode_ci",
    "mysql_engine": "InnoDB",
}


def _time() -> sa.types.TypeEngine:
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql")


def _id() -> sa.Column:
    return sa.Column("id", BIG_ID, autoincrement=True, nullable=False)


def _users_fk(table: str, column: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], ["users.id"], name=op.f(f"fk_{table}_{column}_users"))


def upgrade() -> None:
    op.create_table(
        "subscriptions",
        sa.Column("user_id", BIG_ID, nullable=False),
        sa.Column("product_id", BIG_ID, nullable=False),
        sa.Column("live_plan_id", BIG_ID, nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("current_period_start", _time(), nullable=False),
        sa.Column("current_period_end", _time(), nullable=False),
        sa.Column("period_anchor", _time(), nullable=False),
        sa.Column("trial_ends_at", _time(), nullable=True),
        sa.Column("periods", sa.Integer(), server_default="0", nullable=False),
        sa.Column("cancel_at_period_end", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("renew_with", sa.String(length=8), nullable=False),
        sa.Column("grace_until", _time(), nullable=True),
        sa.Column("retry_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_retry_at", _time(), nullable=True),
        sa.Column("last_order_id", BIG_ID, nullable=True),
        sa.Column("cancelled_at", _time(), nullable=True),
        sa.Column("ended_at", _time(), nullable=True),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("updated_at", _time(), nullable=False),
        _id(),
        _users_fk("subscriptions", "user_id"),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_subscriptions_product_id_products")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriptions")),
        sa.UniqueConstraint(
            "user_id", "live_plan_id", name=op.f("uq_subscriptions_user_id_live_plan_id")
        ),
        **OPTIONS,
    )
    op.create_index("ix_subscriptions_product_id", "subscriptions", ["product_id"])
    op.create_index(
        "ix_subscriptions_status_current_period_end",
        "subscriptions",
        ["status", "current_period_end"],
    )
    op.create_index("ix_subscriptions_user_id_id", "subscriptions", ["user_id", "id"])
    op.create_table(
        "subscription_events",
        sa.Column("subscription_id", BIG_ID, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=True),
        sa.Column("period_end", _time(), nullable=True),
        sa.Column("detail", JSON, nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        _id(),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name=op.f("fk_subscription_events_subscription_id_subscriptions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscription_events")),
        sa.UniqueConstraint("reference", name=op.f("uq_subscription_events_reference")),
        **OPTIONS,
    )
    op.create_index(
        "ix_subscription_events_subscription_id_id",
        "subscription_events",
        ["subscription_id", "id"],
    )
    op.create_table(
        "earnings",
        sa.Column("order_item_id", BIG_ID, nullable=True),
        sa.Column("order_id", BIG_ID, nullable=True),
        sa.Column("reference", sa.String(length=64), nullable=True),
        sa.Column("creator_id", BIG_ID, nullable=False),
        sa.Column("gross", sa.BigInteger(), nullable=False),
        sa.Column("fee", sa.BigInteger(), nullable=False),
        sa.Column("net", sa.BigInteger(), nullable=False),
        sa.Column("refunded", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("clawed_back", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("available_at", _time(), nullable=False),
        sa.Column("settled_at", _time(), nullable=True),
        sa.Column("created_at", _time(), nullable=False),
        _id(),
        _users_fk("earnings", "creator_id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_earnings")),
        sa.UniqueConstraint("order_item_id", name=op.f("uq_earnings_order_item_id")),
        sa.UniqueConstraint("reference", name=op.f("uq_earnings_reference")),
        **OPTIONS,
    )
    op.create_index("ix_earnings_creator_id_id", "earnings", ["creator_id", "id"])
    op.create_index("ix_earnings_status_available_at", "earnings", ["status", "available_at"])
    op.create_table(
        "withdrawals",
        sa.Column("creator_id", BIG_ID, nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("payee_account_enc", sa.String(length=512), nullable=False),
        sa.Column("payee_name_enc", sa.String(length=512), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reviewer_id", BIG_ID, nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("payout_ref", sa.String(length=64), nullable=True),
        sa.Column("reviewed_at", _time(), nullable=True),
        sa.Column("paid_at", _time(), nullable=True),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("updated_at", _time(), nullable=False),
        _id(),
        _users_fk("withdrawals", "creator_id"),
        _users_fk("withdrawals", "reviewer_id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_withdrawals")),
        **OPTIONS,
    )
    op.create_index("ix_withdrawals_creator_id_id", "withdrawals", ["creator_id", "id"])
    op.create_index("ix_withdrawals_status_id", "withdrawals", ["status", "id"])


def downgrade() -> None:
    # The indexes go with the tables (MariaDB refuses to drop one a foreign key still uses).
    op.drop_table("withdrawals")
    op.drop_table("earnings")
    op.drop_table("subscription_events")
    op.drop_table("subscriptions")
