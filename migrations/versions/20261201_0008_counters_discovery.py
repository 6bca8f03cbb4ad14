"""counters and discovery: content counters, share channels, applied flush batches, featured index

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 22:10:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = '0008'
down_revision: str | Sequence[str] | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
UTC_DATETIME = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql")
TABLE_OPTIONS = {
    'mysql_charset': 'utf8mb4',
    'mysql_collate': 'utf8mb4_unicode_ci',
    'mysql_engine': 'InnoDB',
}


def upgrade() -> None:
    op.create_table('content_counters',
    sa.Column('content_id', BIG_ID, autoincrement=False, nullable=False),
    sa.Column('views', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('likes', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('favorites', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('comments', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('shares', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('hot_score', sa.Double(), server_default='0', nullable=False),
    sa.Column('updated_at', UTC_DATETIME, nullable=False),
    sa.ForeignKeyConstraint(['content_id'], ['contents.id'], name=op.f('fk_content_counters_content_id_contents'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('content_id', name=op.f('pk_content_counters')),
    **TABLE_OPTIONS
    )
    op.create_index('ix_content_counters_hot_score_content_id', 'content_counters', ['hot_score', 'content_id'], unique=False)
    op.create_table('content_share_channels',
    sa.Column('content_id', BIG_ID, autoincrement=False, nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('count', sa.BigInteger(), server_default='0', nullable=False),
    sa.ForeignKeyConstraint(['content_id'], ['contents.id'], name=op.f('fk_content_share_channels_content_id_contents'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('content_id', 'channel', name=op.f('pk_content_share_channels')),
    **TABLE_OPTIONS
    )
    op.create_table('counter_flushes',
    sa.Column('batch_id', sa.String(length=32), nullable=False),
    sa.Column('applied_at', UTC_DATETIME, nullable=False),
    sa.PrimaryKeyConstraint('batch_id', name=op.f('pk_counter_flushes')),
    **TABLE_OPTIONS
    )
    op.create_index('ix_counter_flushes_applied_at', 'counter_flushes', ['applied_at'], unique=False)
    op.create_index('ix_contents_featured_at', 'contents', ['featured_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_contents_featured_at', table_name='contents')
    op.drop_table('counter_flushes')
    op.drop_table('content_share_channels')
    op.drop_table('content_counters')
