"""search: search_documents (FULLTEXT on MySQL/MariaDB; an FTS5 table over it on SQLite)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 22:05:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = '0006'
down_revision: str | Sequence[str] | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# SQLite: an external-content FTS5 table reading search_documents.tokens, kept in step by
# triggers (FTS5's documented pattern: deleting needs the old tokens).
SQLITE_FTS = (
    "CREATE VIRTUAL TABLE search_fts USING fts5("
    "tokens, content='search_documents', content_rowid='content_id')",
    "CREATE TRIGGER search_documents_ai AFTER INSERT ON search_documents BEGIN "
    "INSERT INTO search_fts(rowid, tokens) VALUES (new.content_id, new.tokens); END",
    "CREATE TRIGGER search_documents_ad AFTER DELETE ON search_documents BEGIN "
    "INSERT INTO search_fts(search_fts, rowid, tokens) "
    "VALUES ('delete', old.content_id, old.tokens); END",
    "CREATE TRIGGER search_documents_au AFTER UPDATE ON search_documents BEGIN "
    "INSERT INTO search_fts(search_fts, rowid, tokens) "
    "VALUES ('delete', old.content_id, old.tokens); "
    "INSERT INTO search_fts(rowid, tokens) VALUES (new.content_id, new.tokens); END",
)


def upgrade() -> None:
    op.create_table('search_documents',
    sa.Column('content_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=False, nullable=False),
    sa.Column('tokens', sa.Text().with_variant(mysql.MEDIUMTEXT(), 'mysql'), nullable=False),
    sa.Column('indexed_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql"), nullable=False),
    sa.ForeignKeyConstraint(['content_id'], ['contents.id'], name=op.f('fk_search_documents_content_id_contents'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('content_id', name=op.f('pk_search_documents')),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_unicode_ci',
    mysql_engine='InnoDB'
    )
    if op.get_bind().dialect.name == 'sqlite':
        for statement in SQLITE_FTS:
            op.execute(statement)
    else:
        op.create_index('ix_search_documents_tokens', 'search_documents', ['tokens'], unique=False, mysql_prefix='FULLTEXT')


def downgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        for trigger in ('search_documents_au', 'search_documents_ad', 'search_documents_ai'):
            op.execute(f'DROP TRIGGER {trigger}')
        op.execute('DROP TABLE search_fts')
    op.drop_table('search_documents')
