"""recovery sweeps: an index fitting each sweep's query

Every minute each recovery sweep looks for rows in an unfinished status untouched since some
time (server/*/recovery.py). Without an index on the status these were full scans, of tables
that grow with every upload and every order. Withdrawals (status, id) and refunds
(status, created_at) already had one led by the status.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07 06:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0022"
down_revision: str | Sequence[str] | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (index, table, columns)
INDEXES = (
    ("ix_media_status_updated_at", "media", ["status", "updated_at"]),
    ("ix_receipts_status_created_at", "receipts", ["status", "created_at"]),
    ("ix_invoice_requests_status_updated_at", "invoice_requests", ["status", "updated_at"]),
    ("ix_data_exports_status_created_at", "data_exports", ["status", "created_at"]),
    ("ix_announcements_status_updated_at", "announcements", ["status", "updated_at"]),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns, unique=False)


def downgrade() -> None:
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
