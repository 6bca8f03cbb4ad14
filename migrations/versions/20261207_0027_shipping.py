"""shipping: the delivery address of an order, its shipments and the lines they carry

An order with physical goods keeps the address it was checked out with (one encrypted JSON
snapshot); when it is paid, each seller of its physical lines gets one shipment
(`pending` -> `shipped` -> `delivered`, returns, cancelled by a full refund before shipping).
Orders paid before this revision have no shipments: their physical lines stay marked delivered.

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-07 14:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0027"
down_revision: str | Sequence[str] | None = "0026"
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
        "order_addresses",
        sa.Column("order_id", BIG_ID, nullable=False),
        sa.Column("sealed", sa.Text(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
            name=op.f("fk_order_addresses_order_id_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_addresses")),
        **OPTIONS,
    )
    op.create_index("ix_order_addresses_order_id", "order_addresses", ["order_id"], unique=True)
    op.create_table(
        "shipments",
        sa.Column("order_id", BIG_ID, nullable=False),
        sa.Column("buyer_id", BIG_ID, nullable=False),
        sa.Column("seller_id", BIG_ID, nullable=True),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("carrier", sa.String(length=64), nullable=True),
        sa.Column("tracking_number", sa.String(length=64), nullable=True),
        sa.Column("return_reason", sa.String(length=255), nullable=True),
        sa.Column("shipped_at", _time(), nullable=True),
        sa.Column("delivered_at", _time(), nullable=True),
        sa.Column("return_requested_at", _time(), nullable=True),
        sa.Column("returned_at", _time(), nullable=True),
        sa.Column("cancelled_at", _time(), nullable=True),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("updated_at", _time(), nullable=False),
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
            name=op.f("fk_shipments_order_id_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shipments")),
        **OPTIONS,
    )
    op.create_index("ix_shipments_order_id", "shipments", ["order_id"], unique=False)
    op.create_index(
        "ix_shipments_seller_id_status_id", "shipments", ["seller_id", "status", "id"], unique=False
    )
    op.create_index(
        "ix_shipments_status_shipped_at", "shipments", ["status", "shipped_at"], unique=False
    )
    op.create_table(
        "shipment_items",
        sa.Column("shipment_id", BIG_ID, nullable=False),
        sa.Column("order_item_id", BIG_ID, nullable=False),
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.ForeignKeyConstraint(
            ["shipment_id"],
            ["shipments.id"],
            name=op.f("fk_shipment_items_shipment_id_shipments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["order_item_id"],
            ["order_items.id"],
            name=op.f("fk_shipment_items_order_item_id_order_items"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shipment_items")),
        **OPTIONS,
    )
    op.create_index(
        "ix_shipment_items_order_item_id", "shipment_items", ["order_item_id"], unique=True
    )
    op.create_index("ix_shipment_items_shipment_id", "shipment_items", ["shipment_id"], unique=False)


def downgrade() -> None:
    op.drop_table("shipment_items")
    op.drop_table("shipments")
    op.drop_table("order_addresses")
