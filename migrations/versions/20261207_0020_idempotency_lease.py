"""idempotency: a short lease on a claimed key, and whether its request took effect

A key whose request died mid-way was held for its whole 24 h life. Now the holder leases it
(`locked_until`, `lease_token`) and marks `took_effect` in the transaction of its effect, so an
abandoned key can be taken over after the lease without risking a second effect. Keys claimed
before this revision have no lease: they count from `created_at`.

Revision ID: 0020
Revises: 0018
Create Date: 2026-12-07 05:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0020"
down_revision: str | Sequence[str] | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("idempotency_keys") as batch:
        batch.add_column(sa.Column("lease_token", sa.String(length=32), nullable=True))
        batch.add_column(
            sa.Column(
                "locked_until",
                sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql"),
                nullable=True,
            )
        )
        batch.add_column(sa.Column("took_effect", sa.Boolean(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("idempotency_keys") as batch:
        batch.drop_column("took_effect")
        batch.drop_column("locked_until")
        batch.drop_column("lease_token")
