"""ledger: platform cash and revenue in shards, so payments and sales lock no platform row

Every payment credited the platform `cash` row and every sale credited `revenue`, each locked
until commit, so all payments of the platform ran one after another. Neither is guarded on the
posting path any more: they keep their balance in their own row plus 16 shards, like the other
platform accounts that carry no floor, and the hourly ledger audit reports either going below
zero (server/commerce/ledger/audit.py).

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-07 14:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0028"
down_revision: str | Sequence[str] | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SHARDS = 16  # server.commerce.ledger.service.SHARDS when this was written
WHERE = "owner_type = 'platform' AND purpose IN ('cash', 'revenue')"


def upgrade() -> None:
    op.execute(f"UPDATE ledger_accounts SET allow_negative = 1 WHERE {WHERE}")
    for shard in range(SHARDS):
        # Shards that exist stay as they are (the account may have been made sharded already).
        op.execute(
            "INSERT INTO ledger_account_shards (account_id, shard, balance) "
            f"SELECT a.id, {shard}, 0 FROM ledger_accounts a "
            "WHERE a.owner_type = 'platform' AND a.purpose IN ('cash', 'revenue') "
            "AND NOT EXISTS (SELECT 1 FROM ledger_account_shards s "
            f"WHERE s.account_id = a.id AND s.shard = {shard})"
        )


def downgrade() -> None:
    # Fold the shards of these accounts back into their own rows.
    op.execute(
        "UPDATE ledger_accounts SET balance = balance + COALESCE(("
        "SELECT SUM(s.balance) FROM ledger_account_shards s "
        f"WHERE s.account_id = ledger_accounts.id), 0), allow_negative = 0 WHERE {WHERE}"
    )
    op.execute(
        "DELETE FROM ledger_account_shards WHERE account_id IN ("
        f"SELECT id FROM ledger_accounts WHERE {WHERE})"
    )
