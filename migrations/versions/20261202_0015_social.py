"""social: comments, likes, favorites, community

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 01:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
OPTIONS = {
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_unicode_ci",
    "mysql_engine": "InnoDB",
}


def _time() -> sa.types.TypeEngine:
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql")


def _fk(table: str, column: str, target: str, ondelete: str = "CASCADE") -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column],
        [f"{target}.id"],
        name=op.f(f"fk_{table}_{column}_{target}"),
        ondelete=ondelete,
    )


def _count(name: str) -> sa.Column:
    return sa.Column(name, sa.Integer(), server_default="0", nullable=False)


def _comments() -> None:
    op.create_table(
        "comments",
        sa.Column("target_type", sa.String(length=8), nullable=False),
        sa.Column("target_id", sa.BigInteger(), nullable=False),
        sa.Column("author_id", BIG_ID, nullable=False),
        sa.Column("parent_id", BIG_ID, nullable=True),
        sa.Column("root_id", BIG_ID, nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("edited_at", _time(), nullable=True),
        _count("like_count"),
        _count("reply_count"),
        _count("hot_score"),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        _fk("comments", "author_id", "users"),
        _fk("comments", "parent_id", "comments"),
        _fk("comments", "root_id", "comments"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_comments")),
        **OPTIONS,
    )
    for name, columns in (
        ("ix_comments_target_new", ["target_type", "target_id", "root_id", "id"]),
        ("ix_comments_target_hot", ["target_type", "target_id", "root_id", "hot_score", "id"]),
        ("ix_comments_root_id_id", ["root_id", "id"]),
        ("ix_comments_parent_id", ["parent_id"]),
        ("ix_comments_author_id_id", ["author_id", "id"]),
        ("ix_comments_status_id", ["status", "id"]),
    ):
        op.create_index(name, "comments", columns, unique=False)
    op.create_table(
        "comment_likes",
        sa.Column("comment_id", BIG_ID, autoincrement=False, nullable=False),
        sa.Column("user_id", BIG_ID, autoincrement=False, nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        _fk("comment_likes", "comment_id", "comments"),
        _fk("comment_likes", "user_id", "users"),
        sa.PrimaryKeyConstraint("comment_id", "user_id", name=op.f("pk_comment_likes")),
        **OPTIONS,
    )
    op.create_index("ix_comment_likes_user_id", "comment_likes", ["user_id"], unique=False)


def _likes_and_favorites() -> None:
    op.create_table(
        "content_likes",
        sa.Column("content_id", BIG_ID, autoincrement=False, nullable=False),
        sa.Column("user_id", BIG_ID, autoincrement=False, nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        _fk("content_likes", "content_id", "contents"),
        _fk("content_likes", "user_id", "users"),
        sa.PrimaryKeyConstraint("content_id", "user_id", name=op.f("pk_content_likes")),
        **OPTIONS,
    )
    op.create_index(
        "ix_content_likes_user_id_created_at",
        "content_likes",
        ["user_id", "created_at"],
        unique=False,
    )
    op.create_table(
        "favorite_collections",
        sa.Column("user_id", BIG_ID, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("is_public", sa.Boolean(), nullable=False),
        _count("item_count"),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("updated_at", _time(), nullable=False),
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        _fk("favorite_collections", "user_id", "users"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_favorite_collections")),
        sa.UniqueConstraint("user_id", "name", name="uq_favorite_collections_user_id_name"),
        **OPTIONS,
    )
    op.create_table(
        "favorites",
        sa.Column("collection_id", BIG_ID, nullable=False),
        sa.Column("content_id", BIG_ID, nullable=False),
        sa.Column("user_id", BIG_ID, nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        _fk("favorites", "collection_id", "favorite_collections"),
        _fk("favorites", "content_id", "contents"),
        _fk("favorites", "user_id", "users"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_favorites")),
        sa.UniqueConstraint(
            "collection_id", "content_id", name="uq_favorites_collection_id_content_id"
        ),
        **OPTIONS,
    )
    op.create_index(
        "ix_favorites_collection_id_id", "favorites", ["collection_id", "id"], unique=False
    )
    op.create_index("ix_favorites_content_id", "favorites", ["content_id"], unique=False)
    op.create_index(
        "ix_favorites_user_id_content_id", "favorites", ["user_id", "content_id"], unique=False
    )


def _community() -> None:
    op.create_table(
        "topics",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("creator_id", BIG_ID, nullable=False),
        _count("post_count"),
        _count("member_count"),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        _fk("topics", "creator_id", "users"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_topics")),
        sa.UniqueConstraint("name", name=op.f("uq_topics_name")),
        sa.UniqueConstraint("slug", name=op.f("uq_topics_slug")),
        **OPTIONS,
    )
    op.create_table(
        "topic_members",
        sa.Column("topic_id", BIG_ID, autoincrement=False, nullable=False),
        sa.Column("user_id", BIG_ID, autoincrement=False, nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        _fk("topic_members", "topic_id", "topics"),
        _fk("topic_members", "user_id", "users"),
        sa.PrimaryKeyConstraint("topic_id", "user_id", name=op.f("pk_topic_members")),
        **OPTIONS,
    )
    op.create_index(
        "ix_topic_members_user_id_created_at",
        "topic_members",
        ["user_id", "created_at"],
        unique=False,
    )
    op.create_table(
        "posts",
        sa.Column("topic_id", BIG_ID, nullable=False),
        sa.Column("author_id", BIG_ID, nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("pinned", sa.Boolean(), nullable=False),
        sa.Column("locked", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        _count("reply_count"),
        _count("hot_score"),
        sa.Column("edited_at", _time(), nullable=True),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        _fk("posts", "topic_id", "topics"),
        _fk("posts", "author_id", "users"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_posts")),
        **OPTIONS,
    )
    for name, columns in (
        ("ix_posts_topic_new", ["topic_id", "status", "pinned", "id"]),
        ("ix_posts_topic_hot", ["topic_id", "status", "pinned", "hot_score", "id"]),
        ("ix_posts_author_id_id", ["author_id", "id"]),
    ):
        op.create_index(name, "posts", columns, unique=False)


def upgrade() -> None:
    _comments()
    _likes_and_favorites()
    _community()
    op.create_index("ix_users_nickname", "users", ["nickname"], unique=False)


def downgrade() -> None:
    # The indexes go with their tables (MariaDB refuses to drop one a foreign key still uses).
    op.drop_index("ix_users_nickname", table_name="users")
    for table in (
        "posts",
        "topic_members",
        "topics",
        "favorites",
        "favorite_collections",
        "content_likes",
        "comment_likes",
        "comments",
    ):
        op.drop_table(table)
