"""Content: articles, audio, video and courses (whose chapters are content too), their versions,
categories, tags, and the entitlements that say who may read what until when."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import Mapped, mapped_column

from models.base import TABLE_OPTIONS, Base, BigId, IdMixin, UTCDateTime, utcnow

CONTENT_KINDS = ("article", "audio", "video", "course")
CONTENT_STATUSES = ("draft", "in_review", "published", "scheduled", "rejected", "archived")
# free: anyone; paid: bought one-off (or its course was); subscription: a plan that includes it;
# members: any active membership.
ACCESS_LEVELS = ("free", "paid", "subscription", "members")
ENTITLEMENT_SUBJECTS = ("content", "plan", "membership")
# Bodies of up to 200,000 characters (CJK: 600 KB of UTF-8) outgrow MySQL's 64 KB TEXT.
LongText = Text().with_variant(mysql.MEDIUMTEXT(), "mysql")


class Category(IdMixin, Base):
    """A node of the category tree; siblings are ordered by `position`."""

    __tablename__ = "categories"
    __table_args__ = (
        Index("ix_categories_parent_id_position", "parent_id", "position"),
        TABLE_OPTIONS,
    )

    # The service deletes only empty leaves; CASCADE lets a whole table be emptied in one go.
    parent_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("categories.id", ondelete="CASCADE"), nullable=True
    )
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    slug: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    position: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)


class Tag(IdMixin, Base):
    """A tag, stored in its normalised form (NFKC, lower case, trimmed)."""

    __tablename__ = "tags"

    name: Mapped[str] = mapped_column(String(32), nullable=False, unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)


class Content(IdMixin, Base):
    """One piece of content. The working copy (title, summary, body) is what the author edits;
    readers see the published version's copy, kept in the `published_*` columns."""

    __tablename__ = "contents"
    __table_args__ = (
        Index("ix_contents_author_id_id", "author_id", "id"),
        Index("ix_contents_status_published_at", "status", "published_at"),
        Index("ix_contents_parent_id_position", "parent_id", "position"),
        Index("ix_contents_category_id", "category_id"),
        Index("ix_contents_status_scheduled_at", "status", "scheduled_at"),
        Index("ix_contents_review_version", "review_version"),
        TABLE_OPTIONS,
    )

    author_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id"), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="draft")
    # A chapter of a course points at the course and is ordered within it. The service never
    # deletes a course with chapters; CASCADE lets a whole table be emptied in one statement.
    parent_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("contents.id", ondelete="CASCADE"), nullable=True
    )
    position: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    category_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("categories.id", ondelete="SET NULL"), nullable=True
    )
    access: Mapped[str] = mapped_column(String(16), nullable=False, default="free")
    price_cents: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    currency: Mapped[str] = mapped_column(String(3), nullable=False, default="CNY")
    cover_url: Mapped[str | None] = mapped_column(String(500), nullable=True)

    # The working copy, saved by autosave; `revision` guards against lost updates.
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    summary: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    body: Mapped[str] = mapped_column(LongText, nullable=False, default="")
    revision: Mapped[int] = mapped_column(Integer, nullable=False, default=1, server_default="1")
    saved_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)

    # What readers see: the last published version.
    published_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    published_title: Mapped[str | None] = mapped_column(String(200), nullable=True)
    published_summary: Mapped[str | None] = mapped_column(String(500), nullable=True)
    published_html: Mapped[str | None] = mapped_column(LongText, nullable=True)
    # The free preview: the published body rendered up to the paywall marker.
    preview_html: Mapped[str | None] = mapped_column(LongText, nullable=True)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    # The version waiting for a moderator (the first one, or an update of a published item,
    # which stays published meanwhile) and when the author wants it out.
    review_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    scheduled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    review_note: Mapped[str | None] = mapped_column(String(500), nullable=True)
    featured_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)


class ContentVersion(IdMixin, Base):
    """A snapshot of the working copy: made on submit, on publish and when the author asks."""

    __tablename__ = "content_versions"
    __table_args__ = (UniqueConstraint("content_id", "number"), TABLE_OPTIONS)

    content_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("contents.id", ondelete="CASCADE"), nullable=False
    )
    number: Mapped[int] = mapped_column(Integer, nullable=False)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    summary: Mapped[str] = mapped_column(String(500), nullable=False)
    body: Mapped[str] = mapped_column(LongText, nullable=False)
    note: Mapped[str | None] = mapped_column(String(200), nullable=True)
    editor_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id"), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)


class ContentTag(Base):
    __tablename__ = "content_tags"
    __table_args__ = (
        Index("ix_content_tags_tag_id_content_id", "tag_id", "content_id"),
        TABLE_OPTIONS,
    )

    content_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("contents.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    tag_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )


class PlanContent(Base):
    """A subscription plan includes this content (commerce adds the plans themselves)."""

    __tablename__ = "plan_contents"
    __table_args__ = (Index("ix_plan_contents_content_id", "content_id"), TABLE_OPTIONS)

    plan_id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    content_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("contents.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )


class Entitlement(IdMixin, Base):
    """A user may read a subject (one content item or course, a plan's contents, or everything
    members read) from `starts_at` until `ends_at` (open-ended when NULL), unless revoked.

    Purchases, subscriptions and grants only add rows here; a refund sets `revoked_at`.
    """

    __tablename__ = "entitlements"
    __table_args__ = (
        Index("ix_entitlements_user_subject", "user_id", "subject_type", "subject_id"),
        UniqueConstraint("source", "source_id", "subject_type", "subject_id"),
        TABLE_OPTIONS,
    )

    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id"), nullable=False)
    subject_type: Mapped[str] = mapped_column(String(16), nullable=False)
    subject_id: Mapped[int] = mapped_column(BigId, nullable=False)
    # What granted it: an order item, a subscription period, an admin grant ...
    source: Mapped[str] = mapped_column(String(32), nullable=False)
    source_id: Mapped[str] = mapped_column(String(64), nullable=False)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
