"""accounts: verification codes, OAuth, second factors, devices, follows, creators, exports;
profile columns and encrypted phone numbers on users

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 21:16:06.150073
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy.dialects import mysql

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "creator_applications",
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("real_name_enc", sa.String(length=255), nullable=True),
        sa.Column("id_number_enc", sa.String(length=255), nullable=True),
        sa.Column("id_number_hash", sa.String(length=64), nullable=True),
        sa.Column("pitch", sa.Text(), nullable=False),
        sa.Column("links", sa.JSON().with_variant(mysql.JSON(), "mysql"), nullable=False),
        sa.Column("verification", sa.JSON().with_variant(mysql.JSON(), "mysql"), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column(
            "reviewed_by", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "reviewed_at", sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql"), nullable=True
        ),
        sa.Column(
            "created_at", sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql"), nullable=False
        ),
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["reviewed_by"], ["users.id"], name=op.f("fk_creator_applications_reviewed_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_creator_applications_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_creator_applications")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
        mysql_engine="InnoDB",
    )
    op.create_index(
        "ix_creator_applications_id_number_hash",
        "creator_applications",
        ["id_number_hash"],
        unique=False,
    )
    op.create_index(
        "ix_creator_applications_status_id", "creator_applications", ["status", "id"], unique=False
    )
    op.create_index(
        "ix_creator_applications_user_id", "creator_applications", ["user_id"], unique=False
    )
    op.create_table(
        "data_exports",
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("progress", sa.Integer(), server_default="0", nullable=False),
        sa.Column("storage_key", sa.String(length=255), nullable=True),
        sa.Column("size_bytes", sa.Integer(), nullable=True),
        sa.Column("error", sa.String(length=255), nullable=True),
        sa.Column(
            "created_at", sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql"), nullable=False
        ),
        sa.Column(
            "finished_at", sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql"), nullable=True
        ),
        sa.Column(
            "expires_at", sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql"), nullable=True
        ),
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_data_exports_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_exports")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
        mysql_engine="InnoDB",
    )
    op.create_index("ix_data_exports_user_id", "data_exports", ["user_id"], unique=False)
    op.create_table(
        "follows",
        sa.Column(
            "follower_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "followee_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "created_at", sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql"), nullable=False
        ),
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["followee_id"],
            ["users.id"],
            name=op.f("fk_follows_followee_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["follower_id"],
            ["users.id"],
            name=op.f("fk_follows_follower_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_follows")),
        sa.UniqueConstraint(
            "follower_id", "followee_id", name=op.f("uq_follows_follower_id_followee_id")
        ),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
        mysql_engine="InnoDB",
    )
    op.create_index("ix_follows_followee_id_id", "follows", ["followee_id", "id"], unique=False)
    op.create_index("ix_follows_follower_id_id", "follows", ["follower_id", "id"], unique=False)
    op.create_table(
        "login_challenges",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("client", sa.JSON().with_variant(mysql.JSON(), "mysql"), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "created_at", sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql"), nullable=False
        ),
        sa.Column(
            "expires_at", sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql"), nullable=False
        ),
        sa.Column(
            "used_at", sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql"), nullable=True
        ),
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_login_challenges_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_challenges")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_login_challenges_token_hash")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
        mysql_engine="InnoDB",
    )
    op.create_index(
        "ix_login_challenges_expires_at", "login_challenges", ["expires_at"], unique=False
    )
    op.create_table(
        "oauth_accounts",
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("provider_user_id", sa.String(length=128), nullable=False),
        sa.Column("union_id", sa.String(length=128), nullable=True),
        sa.Column("display_name", sa.String(length=100), nullable=True),
        sa.Column("profile", sa.JSON().with_variant(mysql.JSON(), "mysql"), nullable=False),
        sa.Column(
            "created_at", sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql"), nullable=False
        ),
        sa.Column(
            "last_login_at",
            sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql"),
            nullable=True,
        ),
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_oauth_accounts_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oauth_accounts")),
        sa.UniqueConstraint(
            "provider", "provider_user_id", name=op.f("uq_oauth_accounts_provider_provider_user_id")
        ),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
        mysql_engine="InnoDB",
    )
    op.create_index("ix_oauth_accounts_union_id", "oauth_accounts", ["union_id"], unique=False)
    op.create_index("ix_oauth_accounts_user_id", "oauth_accounts", ["user_id"], unique=False)
    op.create_table(
        "oauth_states",
        sa.Column("state_hash", sa.String(length=64), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("code_verifier", sa.String(length=128), nullable=True),
        sa.Column("redirect_uri", sa.String(length=500), nullable=False),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column(
            "created_at", sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql"), nullable=False
        ),
        sa.Column(
            "expires_at", sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql"), nullable=False
        ),
        sa.Column(
            "used_at", sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql"), nullable=True
        ),
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_oauth_states_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oauth_states")),
        sa.UniqueConstraint("state_hash", name=op.f("uq_oauth_states_state_hash")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
        mysql_engine="InnoDB",
    )
    op.create_index("ix_oauth_states_expires_at", "oauth_states", ["expires_at"], unique=False)
    op.create_table(
        "recovery_codes",
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column(
            "created_at", sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql"), nullable=False
        ),
        sa.Column(
            "used_at", sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql"), nullable=True
        ),
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_recovery_codes_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recovery_codes")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
        mysql_engine="InnoDB",
    )
    op.create_index("ix_recovery_codes_user_id", "recovery_codes", ["user_id"], unique=False)
    op.create_table(
        "totp_secrets",
        sa.Column(
            "user_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("secret_enc", sa.String(length=255), nullable=False),
        sa.Column(
            "created_at", sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql"), nullable=False
        ),
        sa.Column(
            "enabled_at", sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql"), nullable=True
        ),
        sa.Column("last_step", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_totp_secrets_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_totp_secrets")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
        mysql_engine="InnoDB",
    )
    op.create_table(
        "verification_codes",
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("target_hash", sa.String(length=64), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "created_at", sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql"), nullable=False
        ),
        sa.Column(
            "expires_at", sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql"), nullable=False
        ),
        sa.Column(
            "used_at", sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql"), nullable=True
        ),
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_verification_codes_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_verification_codes")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
        mysql_engine="InnoDB",
    )
    op.create_index(
        "ix_verification_codes_expires_at", "verification_codes", ["expires_at"], unique=False
    )
    op.create_index(
        "ix_verification_codes_target",
        "verification_codes",
        ["target_hash", "purpose", "created_at"],
        unique=False,
    )
    op.create_table(
        "devices",
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "session_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("provider", sa.String(length=8), nullable=False),
        sa.Column("push_token", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=True),
        sa.Column("app_version", sa.String(length=32), nullable=True),
        sa.Column(
            "created_at", sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql"), nullable=False
        ),
        sa.Column(
            "last_seen_at",
            sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql"),
            nullable=False,
        ),
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["auth_sessions.id"],
            name=op.f("fk_devices_session_id_auth_sessions"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_devices_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_devices")),
        sa.UniqueConstraint("provider", "push_token", name=op.f("uq_devices_provider_push_token")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
        mysql_engine="InnoDB",
    )
    op.create_index("ix_devices_user_id", "devices", ["user_id"], unique=False)
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("phone_hash", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("phone_enc", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("phone_masked", sa.String(length=32), nullable=True))
        batch.add_column(
            sa.Column(
                "email_verified_at",
                sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql"),
                nullable=True,
            )
        )
        batch.add_column(
            sa.Column(
                "phone_verified_at",
                sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql"),
                nullable=True,
            )
        )
        batch.add_column(
            sa.Column(
                "password_changed_at",
                sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql"),
                nullable=True,
            )
        )
        batch.add_column(sa.Column("bio", sa.String(length=500), nullable=True))
        batch.add_column(sa.Column("gender", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("birthday", sa.Date(), nullable=True))
        batch.add_column(sa.Column("mbti", sa.String(length=4), nullable=True))
        batch.add_column(sa.Column("zodiac", sa.String(length=16), nullable=True))
        batch.add_column(
            sa.Column("preferences", sa.JSON().with_variant(mysql.JSON(), "mysql"), nullable=True)
        )
        batch.add_column(
            sa.Column("privacy", sa.JSON().with_variant(mysql.JSON(), "mysql"), nullable=True)
        )
        batch.add_column(
            sa.Column("follower_count", sa.Integer(), server_default="0", nullable=False)
        )
        batch.add_column(
            sa.Column("following_count", sa.Integer(), server_default="0", nullable=False)
        )
        batch.add_column(
            sa.Column(
                "deactivated_at",
                sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql"),
                nullable=True,
            )
        )
        batch.add_column(
            sa.Column(
                "deleted_at",
                sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql"),
                nullable=True,
            )
        )
        batch.alter_column("password_hash", existing_type=sa.String(length=255), nullable=True)
    _move_phones(encrypt=True)
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint("uq_users_phone", type_="unique")
        batch.create_unique_constraint(op.f("uq_users_phone_hash"), ["phone_hash"])
        batch.drop_column("phone")


def downgrade() -> None:
    # Dropping a table drops its indexes; MariaDB refuses to drop one a foreign key needs.
    op.drop_table("devices")
    op.drop_table("verification_codes")
    op.drop_table("totp_secrets")
    op.drop_table("recovery_codes")
    op.drop_table("oauth_states")
    op.drop_table("oauth_accounts")
    op.drop_table("login_challenges")
    op.drop_table("follows")
    op.drop_table("data_exports")
    op.drop_table("creator_applications")
    # Back in its old place, so the downgraded table is the one 0003 made.
    if op.get_bind().dialect.name == "mysql":
        op.execute("ALTER TABLE users ADD COLUMN phone VARCHAR(20) NULL AFTER email")
    else:
        with op.batch_alter_table("users", recreate="always") as batch:
            phone = sa.Column("phone", sa.String(length=20), nullable=True)
            batch.add_column(phone, insert_after="email")
    _move_phones(encrypt=False)
    # Accounts without a password cannot exist before this revision: give them an unusable one.
    op.execute("UPDATE users SET password_hash = '!' WHERE password_hash IS NULL")
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint(op.f("uq_users_phone_hash"), type_="unique")
        batch.create_unique_constraint(op.f("uq_users_phone"), ["phone"])
        batch.alter_column("password_hash", existing_type=sa.String(length=255), nullable=False)
        batch.drop_column("deleted_at")
        batch.drop_column("deactivated_at")
        batch.drop_column("following_count")
        batch.drop_column("follower_count")
        batch.drop_column("privacy")
        batch.drop_column("preferences")
        batch.drop_column("zodiac")
        batch.drop_column("mbti")
        batch.drop_column("birthday")
        batch.drop_column("gender")
        batch.drop_column("bio")
        batch.drop_column("password_changed_at")
        batch.drop_column("phone_verified_at")
        batch.drop_column("email_verified_at")
        batch.drop_column("phone_masked")
        batch.drop_column("phone_enc")
        batch.drop_column("phone_hash")


def _move_phones(*, encrypt: bool) -> None:
    """Phone numbers between the clear `phone` column and its encrypted form, with the
    deployment's PII keys (the same ones the server uses)."""
    from server.crypto import PiiCipher
    from server.settings import Settings
    from server.identity.users.service import PHONE_CONTEXT, phone_columns

    bind = op.get_bind()
    source = "phone" if encrypt else "phone_enc"
    rows = bind.execute(sa.text(f"SELECT id, {source} FROM users WHERE {source} IS NOT NULL")).all()
    if not rows:
        return
    pii = PiiCipher.from_settings(context.config.attributes.get("settings") or Settings())
    for user_id, value in rows:
        if encrypt:
            values = phone_columns(pii, value)
        else:
            values = {"phone": pii.decrypt(value, context=PHONE_CONTEXT)}
        assignments = ", ".join(f"{name} = :{name}" for name in values)
        bind.execute(
            sa.text(f"UPDATE users SET {assignments} WHERE id = :id"), {**values, "id": user_id}
        )
