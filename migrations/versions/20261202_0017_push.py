"""push: notification preferences, push devices, announcements

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02 01:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0017"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(mysql.JSON(), "mysql")
TABLE_OPTIONS = {
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_unicode_ci",
    "mysql_engine": "InnoDB",
}


def _time() -> sa.types.TypeEngine:
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql")


def _id() -> sa.Column:
    return sa.Column("id", BIG_ID, autoincrement=True, nullable=False)


def _user_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["user_id"], ["users.id"], name=op.f(f"fk_{table}_user_id_users"), ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "notification_preferences",
        sa.Column("user_id", BIG_ID, nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("in_app", sa.Boolean(), nullable=False),
        sa.Column("push", sa.Boolean(), nullable=False),
        sa.Column("email", sa.Boolean(), nullable=False),
        sa.Column("updated_at", _time(), nullable=False),
        _id(),
        _user_fk("notification_preferences"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_preferences")),
        sa.UniqueConstraint("user_id", "type", name="uq_notification_preferences_user_id_type"),
        **TABLE_OPTIONS,
    )
    op.create_table(
        "push_devices",
        sa.Column("user_id", BIG_ID, nullable=False),
        sa.Column("provider", sa.String(length=8), nullable=False),
        sa.Column("token", sa.String(length=255), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("app_version", sa.String(length=32), nullable=True),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("last_seen_at", _time(), nullable=False),
        sa.Column("disabled_at", _time(), nullable=True),
        sa.Column("disabled_reason", sa.String(length=64), nullable=True),
        _id(),
        _user_fk("push_devices"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_push_devices")),
        sa.UniqueConstraint("token", name="uq_push_devices_token"),
        **TABLE_OPTIONS,
    )
    op.create_index(
        "ix_push_devices_user_id_disabled_at", "push_devices", ["user_id", "disabled_at"]
    )
    op.create_table(
        "push_deliveries",
        sa.Column("ref", sa.String(length=64), nullable=False),
        sa.Column("device_id", BIG_ID, nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("provider_id", sa.String(length=128), nullable=True),
        sa.Column("error", sa.String(length=255), nullable=True),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("updated_at", _time(), nullable=False),
        _id(),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["push_devices.id"],
            name=op.f("fk_push_deliveries_device_id_push_devices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_push_deliveries")),
        sa.UniqueConstraint("ref", "device_id", name="uq_push_deliveries_ref_device_id"),
        **TABLE_OPTIONS,
    )
    op.create_index("ix_push_deliveries_device_id", "push_deliveries", ["device_id"])
    op.create_table(
        "announcements",
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("segment", JSON, nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("sent_count", sa.Integer(), nullable=False),
        sa.Column("batches", sa.Integer(), nullable=False),
        sa.Column("cursor", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.BigInteger(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("updated_at", _time(), nullable=False),
        sa.Column("finished_at", _time(), nullable=True),
        _id(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_announcements")),
        **TABLE_OPTIONS,
    )
    # Aggregation and once-per-source notices on the existing notifications table.
    with op.batch_alter_table("notifications") as batch:
        batch.add_column(sa.Column("group_key", sa.String(length=128), nullable=True))
        batch.add_column(
            sa.Column("count", sa.Integer(), server_default=sa.text("1"), nullable=False)
        )
        batch.add_column(sa.Column("actor_ids", JSON, nullable=True))
        batch.add_column(sa.Column("updated_at", _time(), nullable=True))
        batch.add_column(sa.Column("source", sa.String(length=64), nullable=True))
    op.create_index("ix_notifications_user_id_group_key", "notifications", ["user_id", "group_key"])
    op.create_index(
        "uq_notifications_user_id_source", "notifications", ["user_id", "source"], unique=True
    )


def downgrade() -> None:
    # The user_id foreign key keeps ix_notifications_user_id_id, so these two may go.
    op.drop_index("uq_notifications_user_id_source", table_name="notifications")
    op.drop_index("ix_notifications_user_id_group_key", table_name="notifications")
    with op.batch_alter_table("notifications") as batch:
        for column in ("source", "updated_at", "actor_ids", "count", "group_key"):
            batch.drop_column(column)
    # The indexes go with the tables (MariaDB refuses to drop one a foreign key still uses).
    op.drop_table("announcements")
    op.drop_table("push_deliveries")
    op.drop_table("push_devices")
    op.drop_table("notification_preferences")
