"""ledger account shards: platform accounts that may go negative no longer lock one row

Every posting used to lock the platform account on its other side (`credits_spent` for every
consume, `gateway:<provider>` for every payment), so all users' postings ran one after another.
A platform account that may go negative now keeps its balance in its own row plus 16 shards;
a posting adds to one shard without reading it. `credits_spent` only ever receives credits: it
carries no floor to guard and joins them.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07 08:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | Sequence[str] | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TABLE_OPTIONS = {
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_unicode_ci",
    "mysql_engine": "InnoDB",
}
SHARDS = 16  # server.commerce.ledger.service.SHARDS when this was written


def upgrade() -> None:
    op.create_table(
        "ledger_account_shards",
        sa.Column("account_id", BIG_ID, autoincrement=False, nullable=False),
        sa.Column("shard", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("balance", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["ledger_accounts.id"],
            name=op.f("fk_ledger_account_shards_account_id_ledger_accounts"),
        ),
        sa.PrimaryKeyConstraint("account_id", "shard", name=op.f("pk_ledger_account_shards")),
        **TABLE_OPTIONS,
    )
    op.execute(
        "UPDATE ledger_accounts SET allow_negative = 1 "
        "WHERE owner_type = 'platform' AND purpose = 'credits_spent'"
    )
    for shard in range(SHARDS):
        op.execute(
            "INSERT INTO ledger_account_shards (account_id, shard, balance) "
            f"SELECT id, {shard}, 0 FROM ledger_accounts "
            "WHERE owner_type = 'platform' AND allow_negative = 1"
        )


def downgrade() -> None:
    # Fold the shards back into their accounts' own rows.
    op.execute(
        "UPDATE ledger_accounts SET balance = balance + COALESCE(("
        "SELECT SUM(s.balance) FROM ledger_account_shards s "
        "WHERE s.account_id = ledger_accounts.id), 0)"
    )
    op.drop_table("ledger_account_shards")
    op.execute(
        "UPDATE ledger_accounts SET allow_negative = 0 "
        "WHERE owner_type = 'platform' AND purpose = 'credits_spent'"
    )
