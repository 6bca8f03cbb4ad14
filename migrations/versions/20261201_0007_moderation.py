"""moderation: reports against content, comments, messages, users and posts; automatic flags

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 22:10:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = '0007'
down_revision: str | Sequence[str] | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
DATETIME = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql")
JSON = sa.JSON().with_variant(mysql.JSON(), "mysql")


def upgrade() -> None:
    op.create_table('moderation_reports',
    sa.Column('reporter_id', BIG_ID, nullable=False),
    sa.Column('target_type', sa.String(length=16), nullable=False),
    sa.Column('target_id', sa.BigInteger(), nullable=False),
    sa.Column('reason', sa.String(length=16), nullable=False),
    sa.Column('detail', sa.String(length=2000), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('is_open', sa.Boolean(), nullable=True),
    sa.Column('resolved_by', BIG_ID, nullable=True),
    sa.Column('resolved_at', DATETIME, nullable=True),
    sa.Column('resolution_note', sa.String(length=500), nullable=True),
    sa.Column('created_at', DATETIME, nullable=False),
    sa.Column('id', BIG_ID, autoincrement=True, nullable=False),
    sa.ForeignKeyConstraint(['reporter_id'], ['users.id'], name=op.f('fk_moderation_reports_reporter_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['resolved_by'], ['users.id'], name=op.f('fk_moderation_reports_resolved_by_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_moderation_reports')),
    sa.UniqueConstraint('reporter_id', 'target_type', 'target_id', 'is_open', name='uq_moderation_reports_open'),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_unicode_ci',
    mysql_engine='InnoDB'
    )
    op.create_index('ix_moderation_reports_status_id', 'moderation_reports', ['status', 'id'], unique=False)
    op.create_index('ix_moderation_reports_target', 'moderation_reports', ['target_type', 'target_id', 'status'], unique=False)
    op.create_table('moderation_flags',
    sa.Column('target_type', sa.String(length=16), nullable=False),
    sa.Column('target_id', sa.BigInteger(), nullable=False),
    sa.Column('categories', JSON, nullable=False),
    sa.Column('fields', JSON, nullable=False),
    sa.Column('terms_count', sa.Integer(), nullable=False),
    sa.Column('created_at', DATETIME, nullable=False),
    sa.Column('id', BIG_ID, autoincrement=True, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_moderation_flags')),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_unicode_ci',
    mysql_engine='InnoDB'
    )
    op.create_index('ix_moderation_flags_target', 'moderation_flags', ['target_type', 'target_id', 'id'], unique=False)


def downgrade() -> None:
    op.drop_table('moderation_flags')
    op.drop_table('moderation_reports')
