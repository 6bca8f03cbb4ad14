"""messages: messages, blocks, presence

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02 01:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(mysql.JSON(), "mysql")
OPTIONS = {
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_unicode_ci",
    "mysql_engine": "InnoDB",
}


def _time() -> sa.types.TypeEngine:
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql")


def _user_fk(table: str, column: str, ondelete: str = "CASCADE") -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], ["users.id"], name=op.f(f"fk_{table}_{column}_users"), ondelete=ondelete
    )


def upgrade() -> None:
    op.create_table(
        "user_blocks",
        sa.Column("owner_id", BIG_ID, nullable=False),
        sa.Column("blocked_id", BIG_ID, nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        _user_fk("user_blocks", "owner_id"),
        _user_fk("user_blocks", "blocked_id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_blocks")),
        sa.UniqueConstraint(
            "owner_id", "blocked_id", name=op.f("uq_user_blocks_owner_id_blocked_id")
        ),
        **OPTIONS,
    )
    op.create_index("ix_user_blocks_owner_id_id", "user_blocks", ["owner_id", "id"])
    op.create_index("ix_user_blocks_blocked_id", "user_blocks", ["blocked_id"])

    op.create_table(
        "conversations",
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("direct_key", sa.String(length=48), nullable=True),
        sa.Column("title", sa.String(length=100), nullable=True),
        sa.Column("created_by", BIG_ID, nullable=True),
        sa.Column("last_message_id", BIG_ID, nullable=True),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        _user_fk("conversations", "created_by", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversations")),
        sa.UniqueConstraint("direct_key", name=op.f("uq_conversations_direct_key")),
        **OPTIONS,
    )
    op.create_index("ix_conversations_created_by", "conversations", ["created_by"])

    op.create_table(
        "conversation_members",
        sa.Column("conversation_id", BIG_ID, nullable=False),
        sa.Column("user_id", BIG_ID, nullable=False),
        sa.Column("activity_id", BIG_ID, nullable=False),
        sa.Column("last_read_message_id", BIG_ID, nullable=False),
        sa.Column("last_delivered_message_id", BIG_ID, nullable=False),
        sa.Column("unread_count", sa.Integer(), nullable=False),
        sa.Column("joined_at", _time(), nullable=False),
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_conversation_members_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        _user_fk("conversation_members", "user_id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversation_members")),
        sa.UniqueConstraint(
            "conversation_id",
            "user_id",
            name=op.f("uq_conversation_members_conversation_id_user_id"),
        ),
        **OPTIONS,
    )
    op.create_index(
        "ix_conversation_members_user_id_activity",
        "conversation_members",
        ["user_id", "activity_id"],
    )

    op.create_table(
        "messages",
        sa.Column("conversation_id", BIG_ID, nullable=False),
        sa.Column("sender_id", BIG_ID, nullable=False),
        sa.Column("client_message_id", sa.String(length=64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("attachments", JSON, nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("recalled_at", _time(), nullable=True),
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_messages_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        _user_fk("messages", "sender_id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messages")),
        sa.UniqueConstraint(
            "sender_id", "client_message_id", name=op.f("uq_messages_sender_id_client_message_id")
        ),
        **OPTIONS,
    )
    op.create_index("ix_messages_conversation_id_id", "messages", ["conversation_id", "id"])

    op.create_table(
        "hidden_messages",
        sa.Column("user_id", BIG_ID, autoincrement=False, nullable=False),
        sa.Column("message_id", BIG_ID, autoincrement=False, nullable=False),
        _user_fk("hidden_messages", "user_id"),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_hidden_messages_message_id_messages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "message_id", name=op.f("pk_hidden_messages")),
        **OPTIONS,
    )
    op.create_index("ix_hidden_messages_message_id", "hidden_messages", ["message_id"])

    op.create_table(
        "message_tokens",
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("message_id", BIG_ID, autoincrement=False, nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_message_tokens_message_id_messages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token", "message_id", name=op.f("pk_message_tokens")),
        **OPTIONS,
    )
    op.create_index("ix_message_tokens_message_id", "message_tokens", ["message_id"])


def downgrade() -> None:
    # Whole tables, children first (MariaDB refuses to drop an index a foreign key uses).
    for table in (
        "message_tokens",
        "hidden_messages",
        "messages",
        "conversation_members",
        "conversations",
        "user_blocks",
    ):
        op.drop_table(table)
