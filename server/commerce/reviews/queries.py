"""Reading reviews: a product's page of reviews with authors and image links, two queries."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models.commerce.catalog import Product
from models.commerce.reviews import Review
from models.content.media import Media
from models.identity.users import User
from server.commerce.catalog.errors import ProductNotFound
from server.commerce.catalog.queries import after_id
from server.commerce.reviews.schemas import ReviewAuthor, ReviewImage, ReviewListQuery, ReviewOut
from server.commerce.reviews.service import ReviewNotFound, image_links
from server.http.pagination import Page, page_of
from server.signing import UrlSigner

COLUMNS = (Review, User.nickname, User.avatar_url)


async def _render(
    session: AsyncSession, rows: list[Any], *, signer: UrlSigner, now: datetime, ttl: timedelta
) -> list[ReviewOut]:
    ids = {media_id for row in rows for media_id in row[0].images}
    media: dict[int, Media] = {}
    if ids:
        found = await session.scalars(select(Media).where(Media.id.in_(ids)))
        media = {row.id: row for row in found.all()}
    out = []
    for review, nickname, avatar_url in rows:
        links = image_links(signer, media, list(review.images), now=now, ttl=ttl)
        out.append(
            ReviewOut(
                id=review.id,
                product_id=review.product_id,
                order_item_id=review.order_item_id,
                author=ReviewAuthor(id=review.user_id, nickname=nickname, avatar_url=avatar_url),
                rating=review.rating,
                body=review.body,
                images=[ReviewImage(id=i, url=url) for i, url in links],
                created_at=review.created_at,
                updated_at=review.updated_at,
            )
        )
    return out


async def list_reviews(
    session: AsyncSession,
    *,
    product_id: int,
    query: ReviewListQuery,
    signer: UrlSigner,
    now: datetime,
    ttl: timedelta,
) -> Page[ReviewOut]:
    """A product's reviews, newest first."""
    status = await session.scalar(select(Product.status).where(Product.id == product_id))
    if status is None or status == "draft":
        raise ProductNotFound()
    statement = (
        select(*COLUMNS)
        .join(User, User.id == Review.user_id)
        .where(Review.product_id == product_id)
    )
    if query.rating is not None:
        statement = statement.where(Review.rating == query.rating)
    after = after_id(query.cursor)
    if after is not None:
        statement = statement.where(Review.id < after)
    rows = (
        await session.execute(statement.order_by(Review.id.desc()).limit(query.limit + 1))
    ).all()
    items = await _render(session, list(rows), signer=signer, now=now, ttl=ttl)
    return page_of(items, query.limit, lambda r: {"id": r.id})


async def get_review(
    session: AsyncSession, *, review_id: int, signer: UrlSigner, now: datetime, ttl: timedelta
) -> ReviewOut:
    row = (
        await session.execute(
            select(*COLUMNS).join(User, User.id == Review.user_id).where(Review.id == review_id)
        )
    ).one_or_none()
    if row is None:
        raise ReviewNotFound()
    return (await _render(session, [row], signer=signer, now=now, ttl=ttl))[0]
