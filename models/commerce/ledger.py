"""The double-entry ledger and in-app purchase records.

Every movement of money or credits is one `LedgerTransaction` whose entries sum to zero. Entries
are append-only and carry the account's balance after them; a correction is a reversing
transaction, never an edit. `LedgerAccount.balance` is kept in the same database transaction as
the entries; a platform account that may go negative also keeps part of it in its shards
(`LedgerAccountShard`), so postings of unrelated users never wait on one row."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    SmallInteger,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from models.base import TABLE_OPTIONS, Base, BigId, IdMixin, UTCDateTime, utcnow

OWNER_TYPES = ("user", "creator", "platform")


class LedgerAccount(IdMixin, Base):
    """One balance: a user's credits, a creator's earnings, a platform account (owner_id 0)."""

    __tablename__ = "ledger_accounts"
    __table_args__ = (
        UniqueConstraint("owner_type", "owner_id", "purpose", "currency"),
        TABLE_OPTIONS,
    )

    owner_type: Mapped[str] = mapped_column(String(16), nullable=False)
    # A user or creator id; 0 for platform accounts (no foreign key: ledgers outlive accounts).
    owner_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    # credits, earnings_pending, earnings_available, cash, revenue, credits_issued,
    # gateway:<provider>, payouts ...
    purpose: Mapped[str] = mapped_column(String(64), nullable=False)
    # ISO currency in minor units, or CRD for credits.
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    balance: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    allow_negative: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)


class LedgerAccountShard(Base):
    """A slice of a platform account's balance: the account's balance is its own plus its
    shards'. A posting adds to one shard without reading it, so concurrent postings to the
    account rarely touch the same row."""

    __tablename__ = "ledger_account_shards"
    __table_args__ = TABLE_OPTIONS

    account_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("ledger_accounts.id"), primary_key=True, autoincrement=False
    )
    shard: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    balance: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)


class LedgerTransaction(IdMixin, Base):
    """One posting; (kind, reference) is unique so a retried posting moves nothing twice."""

    __tablename__ = "ledger_transactions"
    __table_args__ = (
        UniqueConstraint("kind", "reference"),
        Index("ix_ledger_transactions_user_id_id", "user_id", "id"),
        TABLE_OPTIONS,
    )

    kind: Mapped[str] = mapped_column(String(40), nullable=False)
    reference: Mapped[str] = mapped_column(String(160), nullable=False)
    user_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    actor_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    memo: Mapped[str | None] = mapped_column(String(255), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)


class LedgerEntry(IdMixin, Base):
    """One leg of a transaction: a signed amount on one account and the balance after it."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        Index("ix_ledger_entries_account_id_id", "account_id", "id"),
        Index("ix_ledger_entries_transaction_id", "transaction_id"),
        TABLE_OPTIONS,
    )

    transaction_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("ledger_transactions.id"), nullable=False
    )
    account_id: Mapped[int] = mapped_column(BigId, ForeignKey("ledger_accounts.id"), nullable=False)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    balance_after: Mapped[int] = mapped_column(BigInteger, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
