"""Reviews of purchased products: one per order item, by its buyer, with the product's rating
count and sum kept exact in the same transaction."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from models.commerce.catalog import Product
from models.commerce.orders import Order, OrderItem
from models.commerce.reviews import Review
from models.content.media import Media
from server import screening
from server.commerce.catalog.errors import ProductNotFound
from server.commerce.catalog.products import Actor, product_out
from server.commerce.reviews.schemas import RatingSummary, ReviewCreate, ReviewOut, ReviewPatch
from server.http.errors import Conflict, Forbidden, NotFound, ValidationFailed
from server.signing import UrlSigner

# Orders whose items count as bought (a fully refunded item does not).
BOUGHT = ("paid", "fulfilled", "refunding", "partially_refunded")


class NotABuyer(Forbidden):
    code, message = "reviews.not_a_buyer", "Only buyers of this product may review it."


class AlreadyReviewed(Conflict):
    code, message = "reviews.already_reviewed", "You have reviewed this purchase already."


class ReviewNotFound(NotFound):
    code, message = "reviews.not_found", "No such review."


class InvalidImages(ValidationFailed):
    code, message = "reviews.invalid_images", "Images must be your own uploaded images."


async def _purchases(session: AsyncSession, *, user_id: int, product_id: int) -> list[int]:
    """The user's order items of this product that count as bought, oldest first."""
    rows = await session.scalars(
        select(OrderItem.id)
        .join(Order, Order.id == OrderItem.order_id)
        .where(
            Order.user_id == user_id,
            OrderItem.product_id == product_id,
            Order.status.in_(BOUGHT),
            or_(OrderItem.refunded_amount < OrderItem.amount, OrderItem.amount == 0),
        )
        .order_by(OrderItem.id)
    )
    return list(rows.all())


async def _check_images(session: AsyncSession, *, user_id: int, ids: list[int]) -> None:
    if not ids:
        return
    found = set(
        (
            await session.scalars(
                select(Media.id).where(
                    Media.id.in_(ids),
                    Media.owner_id == user_id,
                    Media.kind == "image",
                    Media.status != "failed",
                )
            )
        ).all()
    )
    foreign = [i for i in ids if i not in found]
    if foreign:
        raise InvalidImages(
            fields={"images": f"Not images of yours: {', '.join(map(str, foreign))}."}
        )


def _check_words(policy: screening.ScreeningPolicy, body: str) -> None:
    hits = screening.screen({"body": body}, policy.word_list).hits if body else ()
    if hits:
        raise screening.Flagged(fields={"body": "Contains terms that are not allowed here."})


async def _lock_product(session: AsyncSession, product_id: int) -> None:
    """Serialise a product's review writes on its row (taken first, before any other read, so
    the checks that follow see every committed review)."""
    found = await session.scalar(
        select(Product.id).where(Product.id == product_id).with_for_update()
    )
    if found is None:
        raise ProductNotFound()


async def _move_rating(session: AsyncSession, product_id: int, count: int, total: int) -> None:
    """Add to the product's rating count and sum in the database (no lost updates)."""
    await session.execute(
        update(Product)
        .where(Product.id == product_id)
        .values(rating_count=Product.rating_count + count, rating_sum=Product.rating_sum + total)
        .execution_options(synchronize_session=False)
    )


async def create(
    session: AsyncSession,
    *,
    user_id: int,
    product_id: int,
    body: ReviewCreate,
    policy: screening.ScreeningPolicy,
    now: datetime,
) -> int:
    """A buyer's review of one purchase of the product; the review's id."""
    await _lock_product(session, product_id)
    bought = await _purchases(session, user_id=user_id, product_id=product_id)
    if not bought or (body.order_item_id is not None and body.order_item_id not in bought):
        raise NotABuyer()
    reviewed = set(
        (
            await session.scalars(
                select(Review.order_item_id).where(Review.order_item_id.in_(bought))
            )
        ).all()
    )
    open_items = [i for i in bought if i not in reviewed]
    item_id = body.order_item_id or (open_items[0] if open_items else None)
    if item_id is None or item_id in reviewed:
        raise AlreadyReviewed()
    _check_words(policy, body.body)
    await _check_images(session, user_id=user_id, ids=body.images)
    review = Review(
        product_id=product_id,
        user_id=user_id,
        order_item_id=item_id,
        rating=body.rating,
        body=body.body,
        images=body.images,
        created_at=now,
        updated_at=now,
    )
    try:
        async with session.begin_nested():
            session.add(review)
    except IntegrityError as exc:  # a concurrent review of the same purchase
        raise AlreadyReviewed() from exc
    await _move_rating(session, product_id, 1, body.rating)
    return review.id


async def _load_own(
    session: AsyncSession, *, review_id: int, actor: Actor, admin_ok: bool
) -> Review:
    review = await session.get(Review, review_id, with_for_update=True)
    if review is None or not (review.user_id == actor.user_id or (admin_ok and actor.is_admin)):
        raise ReviewNotFound()
    return review


async def update_review(
    session: AsyncSession,
    *,
    actor: Actor,
    review_id: int,
    body: ReviewPatch,
    policy: screening.ScreeningPolicy,
    now: datetime,
) -> int:
    review = await _load_own(session, review_id=review_id, actor=actor, admin_ok=False)
    changes = body.model_dump(exclude_unset=True)
    if any(changes.get(name, 0) is None for name in ("rating", "body", "images")):
        raise ValidationFailed(fields={"body": "rating, body and images may not be null."})
    if "body" in changes:
        _check_words(policy, changes["body"])
    if "images" in changes:
        await _check_images(session, user_id=actor.user_id, ids=changes["images"])
    if "rating" in changes and changes["rating"] != review.rating:
        await _move_rating(session, review.product_id, 0, changes["rating"] - review.rating)
    for name, value in changes.items():
        setattr(review, name, value)
    review.updated_at = now
    await session.flush()
    return review.id


async def delete_review(session: AsyncSession, *, actor: Actor, review_id: int) -> None:
    """The author (or an admin) deletes a review; the product's rating follows."""
    review = await _load_own(session, review_id=review_id, actor=actor, admin_ok=True)
    await _move_rating(session, review.product_id, -1, -review.rating)
    await session.delete(review)
    await session.flush()


async def rating_summary(session: AsyncSession, *, product_id: int) -> RatingSummary:
    product = await session.get(Product, product_id)
    if product is None or product.status == "draft":
        raise ProductNotFound()
    rows = await session.execute(
        select(Review.rating, func.count())
        .where(Review.product_id == product_id)
        .group_by(Review.rating)
    )
    distribution = {str(r): 0 for r in range(1, 6)}
    for rating, count in rows.all():
        distribution[str(rating)] = count
    out = product_out(product)
    return RatingSummary(
        product_id=product_id,
        rating_count=out.rating_count,
        rating_average=out.rating_average,
        distribution=distribution,
    )


def image_links(
    signer: UrlSigner, media: dict[int, Media], ids: list[int], *, now: datetime, ttl: timedelta
) -> list[tuple[int, str | None]]:
    """Signed links to a review's images (unbound: reviews are public)."""
    links: list[tuple[int, str | None]] = []
    for media_id in ids:
        row = media.get(media_id)
        key = None if row is None or row.status != "ready" else (row.variants or {}).get("large")
        links.append((media_id, signer.sign(key, now=now, ttl=ttl)[0] if key else None))
    return links


__all__ = ["ReviewOut", "create", "delete_review", "image_links", "rating_summary", "update_review"]
