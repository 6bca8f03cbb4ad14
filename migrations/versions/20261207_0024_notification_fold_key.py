"""notification fold key: one row open for folding per user and group key

Two first notifications of one group key at once both found no row and both inserted one. The
row a burst folds into now carries its key in `fold_key`, unique per user, until it is read or a
later burst of the key starts a row of its own (NULLs do not collide). The backfill opens each
user's latest row of a key when it is unread; older unread rows of the same key (those races'
duplicates) stay as they are, closed, so the unique index holds.

Revision ID: 0024
Revises: 0022
Create Date: 2026-12-07 09:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | Sequence[str] | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The derived table lets MariaDB read the table it updates (it is materialised first).
BACKFILL = """
UPDATE notifications SET fold_key = group_key
WHERE read_at IS NULL AND id IN (
    SELECT id FROM (
        SELECT MAX(id) AS id FROM notifications
        WHERE group_key IS NOT NULL
        GROUP BY user_id, group_key
    ) AS latest
)
"""


def upgrade() -> None:
    with op.batch_alter_table("notifications") as batch:
        batch.add_column(sa.Column("fold_key", sa.String(length=128), nullable=True))
    op.execute(BACKFILL)
    op.create_index(
        "uq_notifications_user_id_fold_key", "notifications", ["user_id", "fold_key"], unique=True
    )


def downgrade() -> None:
    op.drop_index("uq_notifications_user_id_fold_key", table_name="notifications")
    with op.batch_alter_table("notifications") as batch:
        batch.drop_column("fold_key")
