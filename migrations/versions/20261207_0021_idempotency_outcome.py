"""idempotency: what a key's request produced, to answer a retry whose answer was lost

A request that took effect and lost its answer (the store failed and its process died) left its
key answerable only with 409 `idempotency.outcome_unknown`. The holder now names the entity its
effect produced (`result_ref`, "order:42") in the same transaction, and a retry after the lease
answers from that entity as it is now.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 06:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | Sequence[str] | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("idempotency_keys") as batch:
        batch.add_column(sa.Column("result_ref", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("idempotency_keys") as batch:
        batch.drop_column("result_ref")
