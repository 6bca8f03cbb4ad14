"""catalog: one price per content item, through at most one one-off product

An item's one-off product (kind `content`, or `course` for a course, pointing at the item) sells
it at the item's price. Existing data may hold several for one item, at prices unrelated to the
item's. For each item with one-off products that are not archived, one is kept (the oldest
active one, else the oldest) and the others are archived; the one kept takes the item's price and
currency, and is active if the item is paid and published, a draft otherwise (an item that is
not sold one-off is not bought through a product at some other price). A paid, published item
without one gets one, as publishing such an item now does (server/content/items/offers.py).
Orders keep their own lines and prices. Downgrading leaves the rows as they are.

Revision ID: 0026
Revises: 0022
Create Date: 2026-12-07 09:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0026"
down_revision: str | Sequence[str] | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

contents = sa.table(
    "contents",
    sa.column("id", sa.BigInteger),
    sa.column("author_id", sa.BigInteger),
    sa.column("kind", sa.String),
    sa.column("status", sa.String),
    sa.column("access", sa.String),
    sa.column("price_cents", sa.Integer),
    sa.column("currency", sa.String),
    sa.column("category_id", sa.BigInteger),
    sa.column("cover_url", sa.String),
    sa.column("title", sa.String),
    sa.column("published_title", sa.String),
    sa.column("published_summary", sa.String),
)
products = sa.table(
    "products",
    sa.column("id", sa.BigInteger),
    sa.column("creator_id", sa.BigInteger),
    sa.column("kind", sa.String),
    sa.column("title", sa.String),
    sa.column("description", sa.Text),
    sa.column("cover_url", sa.String),
    sa.column("category_id", sa.BigInteger),
    sa.column("price", sa.BigInteger),
    sa.column("currency", sa.String),
    sa.column("status", sa.String),
    sa.column("content_id", sa.BigInteger),
    sa.column("trial_days", sa.Integer),
    sa.column("rating_count", sa.Integer),
    sa.column("rating_sum", sa.Integer),
    sa.column("created_at", sa.DateTime),
    sa.column("updated_at", sa.DateTime),
)
ONE_OFF_KINDS = ("content", "course")


def upgrade() -> None:
    conn = op.get_bind()
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    rows = conn.execute(
        sa.select(products.c.id, products.c.content_id, products.c.status)
        .where(
            products.c.kind.in_(ONE_OFF_KINDS),
            products.c.content_id.is_not(None),
            products.c.status != "archived",
        )
        .order_by(products.c.id)
    ).all()
    by_item: dict[int, list[tuple[int, str]]] = {}
    for product_id, content_id, status in rows:
        by_item.setdefault(content_id, []).append((product_id, status))
    items = {
        row.id: row
        for row in conn.execute(
            sa.select(contents).where(
                sa.or_(
                    contents.c.id.in_(list(by_item)) if by_item else sa.false(),
                    sa.and_(contents.c.access == "paid", contents.c.status == "published"),
                )
            )
        )
    }
    for content_id, item in items.items():
        on_sale = item.access == "paid" and item.status == "published"
        held = by_item.get(content_id, [])
        if not held:
            if on_sale:
                conn.execute(
                    sa.insert(products).values(
                        creator_id=item.author_id,
                        kind="course" if item.kind == "course" else "content",
                        title=item.published_title or item.title,
                        description=item.published_summary or "",
                        cover_url=item.cover_url,
                        category_id=item.category_id,
                        price=item.price_cents,
                        currency=item.currency,
                        status="active",
                        content_id=content_id,
                        trial_days=0,
                        rating_count=0,
                        rating_sum=0,
                        created_at=now,
                        updated_at=now,
                    )
                )
            continue
        keep, *extra = sorted(held, key=lambda row: (row[1] != "active", row[0]))
        if extra:
            conn.execute(
                sa.update(products)
                .where(products.c.id.in_([product_id for product_id, _ in extra]))
                .values(status="archived", updated_at=now)
            )
        conn.execute(
            sa.update(products)
            .where(products.c.id == keep[0])
            .values(
                price=item.price_cents,
                currency=item.currency,
                status="active" if on_sale else "draft",
                updated_at=now,
            )
        )


def downgrade() -> None:
    pass
