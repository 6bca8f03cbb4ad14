"""tutor: models and personas, conversations and messages, runs and usage, quotas, content chunks

The AI tutor's tables. A run holds credits when it is queued and is settled once; its text is
checkpointed while it streams. Content chunks carry search tokens (FULLTEXT on MySQL/MariaDB; on
SQLite retrieval matches the tokens without an index) and an embedding.

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-07 16:32:20.764839
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = '0029'
down_revision: str | Sequence[str] | None = '0028'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('tutor_models',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('routes', sa.JSON().with_variant(mysql.JSON(), 'mysql'), nullable=False),
    sa.Column('prompt_credits_per_1k', sa.Integer(), nullable=False),
    sa.Column('completion_credits_per_1k', sa.Integer(), nullable=False),
    sa.Column('max_output_tokens', sa.Integer(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql"), nullable=False),
    sa.Column('updated_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql"), nullable=False),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tutor_models')),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_unicode_ci',
    mysql_engine='InnoDB'
    )
    op.create_index('ix_tutor_models_name', 'tutor_models', ['name'], unique=True)
    op.create_table('tutor_quotas',
    sa.Column('subject_type', sa.String(length=8), nullable=False),
    sa.Column('subject', sa.String(length=64), nullable=False),
    sa.Column('tokens_per_day', sa.Integer(), nullable=True),
    sa.Column('concurrent_runs', sa.Integer(), nullable=True),
    sa.Column('updated_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql"), nullable=False),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tutor_quotas')),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_unicode_ci',
    mysql_engine='InnoDB'
    )
    op.create_index('ix_tutor_quotas_subject_type_subject', 'tutor_quotas', ['subject_type', 'subject'], unique=True)
    op.create_table('tutor_usage',
    sa.Column('user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=False, nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('model_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=False, nullable=False),
    sa.Column('runs', sa.Integer(), nullable=False),
    sa.Column('prompt_tokens', sa.Integer(), nullable=False),
    sa.Column('completion_tokens', sa.Integer(), nullable=False),
    sa.Column('cost_credits', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('user_id', 'day', 'model_id', name=op.f('pk_tutor_usage')),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_unicode_ci',
    mysql_engine='InnoDB'
    )
    op.create_index('ix_tutor_usage_day_model_id', 'tutor_usage', ['day', 'model_id'], unique=False)
    op.create_table('tutor_personas',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('avatar_url', sa.String(length=512), nullable=True),
    sa.Column('description', sa.String(length=500), nullable=True),
    sa.Column('system_prompt', sa.Text(), nullable=False),
    sa.Column('model_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('tags', sa.JSON().with_variant(mysql.JSON(), 'mysql'), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('retrieval', sa.Boolean(), nullable=False),
    sa.Column('memory', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql"), nullable=False),
    sa.Column('updated_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql"), nullable=False),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.ForeignKeyConstraint(['model_id'], ['tutor_models.id'], name=op.f('fk_tutor_personas_model_id_tutor_models')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tutor_personas')),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_unicode_ci',
    mysql_engine='InnoDB'
    )
    op.create_index('ix_tutor_personas_status_id', 'tutor_personas', ['status', 'id'], unique=False)
    op.create_table('tutor_chunks',
    sa.Column('content_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('ordinal', sa.Integer(), nullable=False),
    sa.Column('access', sa.String(length=8), nullable=False),
    sa.Column('anchor', sa.String(length=64), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('tokens', sa.Text(), nullable=False),
    sa.Column('embedding', sa.LargeBinary().with_variant(mysql.MEDIUMBLOB(), 'mysql'), nullable=True),
    sa.Column('embedding_model', sa.String(length=64), nullable=True),
    sa.Column('source_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql"), nullable=False),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.ForeignKeyConstraint(['content_id'], ['contents.id'], name=op.f('fk_tutor_chunks_content_id_contents'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tutor_chunks')),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_unicode_ci',
    mysql_engine='InnoDB'
    )
    op.create_index('ix_tutor_chunks_content_id_ordinal', 'tutor_chunks', ['content_id', 'ordinal'], unique=True)
    if op.get_bind().dialect.name != 'sqlite':
        op.create_index('ix_tutor_chunks_tokens', 'tutor_chunks', ['tokens'], unique=False, mysql_prefix='FULLTEXT')
    op.create_table('tutor_conversations',
    sa.Column('user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('persona_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('content_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('title', sa.String(length=200), nullable=True),
    sa.Column('memory_enabled', sa.Boolean(), nullable=False),
    sa.Column('active_run_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('created_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql"), nullable=False),
    sa.Column('last_activity_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql"), nullable=False),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.ForeignKeyConstraint(['persona_id'], ['tutor_personas.id'], name=op.f('fk_tutor_conversations_persona_id_tutor_personas')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_tutor_conversations_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tutor_conversations')),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_unicode_ci',
    mysql_engine='InnoDB'
    )
    op.create_index('ix_tutor_conversations_user_id_last_activity_id', 'tutor_conversations', ['user_id', 'last_activity_at', 'id'], unique=False)
    op.create_table('tutor_messages',
    sa.Column('conversation_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('body', sa.Text().with_variant(mysql.MEDIUMTEXT(), 'mysql'), nullable=False),
    sa.Column('run_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('citations', sa.JSON().with_variant(mysql.JSON(), 'mysql'), nullable=True),
    sa.Column('usage', sa.JSON().with_variant(mysql.JSON(), 'mysql'), nullable=True),
    sa.Column('cost_credits', sa.Integer(), nullable=True),
    sa.Column('finish_reason', sa.String(length=16), nullable=True),
    sa.Column('created_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql"), nullable=False),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.ForeignKeyConstraint(['conversation_id'], ['tutor_conversations.id'], name=op.f('fk_tutor_messages_conversation_id_tutor_conversations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tutor_messages')),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_unicode_ci',
    mysql_engine='InnoDB'
    )
    op.create_index('ix_tutor_messages_conversation_id_id', 'tutor_messages', ['conversation_id', 'id'], unique=False)
    op.create_table('tutor_runs',
    sa.Column('conversation_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('client_message_id', sa.String(length=64), nullable=False),
    sa.Column('user_message_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('assistant_message_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('model_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('max_tokens', sa.Integer(), nullable=False),
    sa.Column('prompt_estimate', sa.Integer(), nullable=False),
    sa.Column('hold_credits', sa.Integer(), nullable=False),
    sa.Column('text', sa.Text().with_variant(mysql.MEDIUMTEXT(), 'mysql'), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('prompt_tokens', sa.Integer(), nullable=True),
    sa.Column('completion_tokens', sa.Integer(), nullable=True),
    sa.Column('cost_credits', sa.Integer(), nullable=True),
    sa.Column('finish_reason', sa.String(length=16), nullable=True),
    sa.Column('error_code', sa.String(length=64), nullable=True),
    sa.Column('error_message', sa.String(length=255), nullable=True),
    sa.Column('citations', sa.JSON().with_variant(mysql.JSON(), 'mysql'), nullable=True),
    sa.Column('provider', sa.String(length=32), nullable=True),
    sa.Column('upstream_model', sa.String(length=128), nullable=True),
    sa.Column('stop_requested_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql"), nullable=True),
    sa.Column('started_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql"), nullable=True),
    sa.Column('heartbeat_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql"), nullable=True),
    sa.Column('finished_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql"), nullable=True),
    sa.Column('created_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql"), nullable=False),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.ForeignKeyConstraint(['conversation_id'], ['tutor_conversations.id'], name=op.f('fk_tutor_runs_conversation_id_tutor_conversations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tutor_runs')),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_unicode_ci',
    mysql_engine='InnoDB'
    )
    op.create_index('ix_tutor_runs_conversation_id_client_message_id', 'tutor_runs', ['conversation_id', 'client_message_id'], unique=True)
    op.create_index('ix_tutor_runs_status_heartbeat_at', 'tutor_runs', ['status', 'heartbeat_at'], unique=False)
    op.create_index('ix_tutor_runs_user_id_status', 'tutor_runs', ['user_id', 'status'], unique=False)
    op.create_table('tutor_summaries',
    sa.Column('conversation_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=False, nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('through_message_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('updated_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql"), nullable=False),
    sa.ForeignKeyConstraint(['conversation_id'], ['tutor_conversations.id'], name=op.f('fk_tutor_summaries_conversation_id_tutor_conversations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('conversation_id', name=op.f('pk_tutor_summaries')),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_unicode_ci',
    mysql_engine='InnoDB'
    )


def downgrade() -> None:
    # Dropping a table drops its indexes (an index a foreign key needs cannot go first).
    op.drop_table('tutor_summaries')
    op.drop_table('tutor_runs')
    op.drop_table('tutor_messages')
    op.drop_table('tutor_conversations')
    op.drop_table('tutor_chunks')
    op.drop_table('tutor_personas')
    op.drop_table('tutor_usage')
    op.drop_table('tutor_quotas')
    op.drop_table('tutor_models')
