"""The export sections of commerce, social and notification data: one query per section.

Everything here is the user's own: what they bought, paid, wrote, liked, kept and set. Others'
words are left out (messages are the ones the user sent); secrets are masked (push tokens), and
personal data we hold encrypted for the user (invoice email, payee, an order's shipping address)
is given back in clear.
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from models.commerce.earnings import Earning, Withdrawal
from models.commerce.invoices import InvoiceRequest
from models.commerce.ledger import LedgerAccount, LedgerEntry, LedgerTransaction
from models.commerce.orders import Order, OrderItem
from models.commerce.reviews import Review
from models.commerce.shipping import OrderAddress, Shipment, ShipmentItem
from models.commerce.subscriptions import Subscription
from models.notify.push import NotificationPreference, PushDevice
from models.social.blocks import UserBlock
from models.social.comments import Comment, CommentLike
from models.social.community import Post
from models.social.messages import Message
from models.social.reactions import ContentLike, Favorite, FavoriteCollection
from server.commerce.earnings.withdrawals import ACCOUNT_CONTEXT as PAYEE_ACCOUNT_CONTEXT
from server.commerce.earnings.withdrawals import NAME_CONTEXT as PAYEE_NAME_CONTEXT
from server.commerce.invoices.service import EMAIL_CONTEXT as INVOICE_EMAIL_CONTEXT
from server.commerce.shipping.service import ADDRESS_CONTEXT
from server.crypto import PiiCipher, PiiError


def _rows(result: Any) -> list[dict[str, Any]]:
    return [dict(row._mapping) for row in result]


def clear_text(pii: PiiCipher, token: str | None, context: str) -> str | None:
    """The plain value of an encrypted column; None when empty or unreadable."""
    if not token:
        return None
    try:
        return pii.decrypt(token, context=context)
    except PiiError:
        return None


def mask_token(token: str) -> str:
    """A push token's first and last four characters."""
    return f"{token[:4]}…{token[-4:]}" if len(token) > 12 else "…"


def clear_address(pii: PiiCipher, sealed: str | None) -> dict[str, Any] | None:
    """An order's shipping address as the buyer gave it; None when there is none (or it was
    erased, or cannot be read)."""
    text = clear_text(pii, sealed, ADDRESS_CONTEXT)
    if not text:
        return None
    try:
        address = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    return address if isinstance(address, dict) else None


async def orders_of(session: AsyncSession, *, pii: PiiCipher, user_id: int) -> list[Any]:
    """Orders with their items and shipping address (in clear), in one outer join."""
    query = (
        select(
            Order.id,
            Order.number,
            Order.status,
            Order.kind,
            Order.currency,
            Order.subtotal,
            Order.discount,
            Order.total,
            Order.refunded_amount,
            Order.provider,
            Order.paid_at,
            Order.cancelled_at,
            Order.created_at,
            OrderItem.id.label("item_id"),
            OrderItem.product_id,
            OrderItem.kind.label("item_kind"),
            OrderItem.title,
            OrderItem.unit_price,
            OrderItem.quantity,
            OrderItem.amount,
            OrderItem.refunded_amount.label("item_refunded_amount"),
            OrderAddress.sealed.label("address_sealed"),
        )
        .outerjoin(OrderItem, OrderItem.order_id == Order.id)
        .outerjoin(OrderAddress, OrderAddress.order_id == Order.id)
        .where(Order.user_id == user_id)
        .order_by(Order.id, OrderItem.id)
    )
    orders: dict[int, dict[str, Any]] = {}
    item_keys = ("product_id", "title", "unit_price", "quantity", "amount")
    for row in _rows(await session.execute(query)):
        order = orders.get(row["id"])
        if order is None:
            order = orders[row["id"]] = {
                key: value
                for key, value in row.items()
                if key
                not in (
                    *item_keys,
                    "item_id",
                    "item_kind",
                    "item_refunded_amount",
                    "address_sealed",
                )
            }
            order["shipping_address"] = clear_address(pii, row["address_sealed"])
            order["items"] = []
        if row["item_id"] is not None:
            item = {key: row[key] for key in item_keys}
            item.update(
                id=row["item_id"],
                kind=row["item_kind"],
                refunded_amount=row["item_refunded_amount"],
            )
            order["items"].append(item)
    return list(orders.values())


async def shipments_of(session: AsyncSession, *, pii: PiiCipher, user_id: int) -> list[Any]:
    """The parcels sent to the user (as a buyer) with the order lines each carries, in one outer
    join."""
    query = (
        select(
            Shipment.id,
            Shipment.order_id,
            Shipment.seller_id,
            Shipment.status,
            Shipment.carrier,
            Shipment.tracking_number,
            Shipment.return_reason,
            Shipment.created_at,
            Shipment.shipped_at,
            Shipment.delivered_at,
            Shipment.return_requested_at,
            Shipment.returned_at,
            Shipment.cancelled_at,
            ShipmentItem.order_item_id,
        )
        .outerjoin(ShipmentItem, ShipmentItem.shipment_id == Shipment.id)
        .where(Shipment.buyer_id == user_id)
        .order_by(Shipment.id, ShipmentItem.order_item_id)
    )
    shipments: dict[int, dict[str, Any]] = {}
    for row in _rows(await session.execute(query)):
        item_id = row.pop("order_item_id")
        shipment = shipments.setdefault(row["id"], {**row, "order_item_ids": []})
        if item_id is not None:
            shipment["order_item_ids"].append(item_id)
    return list(shipments.values())


async def credits_of(session: AsyncSession, *, pii: PiiCipher, user_id: int) -> list[Any]:
    """The history of the user's credits balance (their ledger entries)."""
    query = (
        select(
            LedgerEntry.id,
            LedgerAccount.currency,
            LedgerEntry.amount,
            LedgerEntry.balance_after,
            LedgerTransaction.kind,
            LedgerTransaction.memo,
            LedgerEntry.created_at,
        )
        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
        .join(LedgerTransaction, LedgerTransaction.id == LedgerEntry.transaction_id)
        .where(LedgerAccount.owner_type == "user", LedgerAccount.owner_id == user_id)
        .order_by(LedgerEntry.id)
    )
    return _rows(await session.execute(query))


async def subscriptions_of(session: AsyncSession, *, pii: PiiCipher, user_id: int) -> list[Any]:
    query = select(
        Subscription.id,
        Subscription.product_id,
        Subscription.status,
        Subscription.current_period_start,
        Subscription.current_period_end,
        Subscription.trial_ends_at,
        Subscription.cancel_at_period_end,
        Subscription.renew_with,
        Subscription.cancelled_at,
        Subscription.ended_at,
        Subscription.created_at,
    ).where(Subscription.user_id == user_id)
    return _rows(await session.execute(query.order_by(Subscription.id)))


async def reviews_of(session: AsyncSession, *, pii: PiiCipher, user_id: int) -> list[Any]:
    query = select(
        Review.id,
        Review.product_id,
        Review.rating,
        Review.body,
        Review.images,
        Review.created_at,
        Review.updated_at,
    ).where(Review.user_id == user_id)
    return _rows(await session.execute(query.order_by(Review.id)))


async def invoices_of(session: AsyncSession, *, pii: PiiCipher, user_id: int) -> list[Any]:
    """Invoice requests, with the email in clear (it is the user's)."""
    query = select(
        InvoiceRequest.id,
        InvoiceRequest.order_id,
        InvoiceRequest.title_type,
        InvoiceRequest.title,
        InvoiceRequest.tax_number,
        InvoiceRequest.email_encrypted,
        InvoiceRequest.amount,
        InvoiceRequest.currency,
        InvoiceRequest.status,
        InvoiceRequest.invoice_number,
        InvoiceRequest.issued_at,
        InvoiceRequest.created_at,
    ).where(InvoiceRequest.user_id == user_id)
    rows = _rows(await session.execute(query.order_by(InvoiceRequest.id)))
    for row in rows:
        row["email"] = clear_text(pii, row.pop("email_encrypted"), INVOICE_EMAIL_CONTEXT)
    return rows


async def comments_of(session: AsyncSession, *, pii: PiiCipher, user_id: int) -> list[Any]:
    query = select(
        Comment.id,
        Comment.target_type,
        Comment.target_id,
        Comment.parent_id,
        Comment.body,
        Comment.status,
        Comment.created_at,
        Comment.edited_at,
    ).where(Comment.author_id == user_id)
    return _rows(await session.execute(query.order_by(Comment.id)))


async def posts_of(session: AsyncSession, *, pii: PiiCipher, user_id: int) -> list[Any]:
    query = select(
        Post.id,
        Post.topic_id,
        Post.title,
        Post.body,
        Post.status,
        Post.created_at,
        Post.edited_at,
    ).where(Post.author_id == user_id)
    return _rows(await session.execute(query.order_by(Post.id)))


async def likes_of(session: AsyncSession, *, pii: PiiCipher, user_id: int) -> list[Any]:
    """Liked content items and comments, in one UNION ALL."""
    contents = select(
        literal("content").label("target_type"),
        ContentLike.content_id.label("target_id"),
        ContentLike.created_at,
    ).where(ContentLike.user_id == user_id)
    comments = select(
        literal("comment").label("target_type"),
        CommentLike.comment_id.label("target_id"),
        CommentLike.created_at,
    ).where(CommentLike.user_id == user_id)
    both = union_all(contents, comments).subquery()
    query = select(both).order_by(both.c.created_at, both.c.target_type, both.c.target_id)
    return _rows(await session.execute(query))


async def favorites_of(session: AsyncSession, *, pii: PiiCipher, user_id: int) -> list[Any]:
    """Collections with their items, in one outer join."""
    query = (
        select(
            FavoriteCollection.id,
            FavoriteCollection.name,
            FavoriteCollection.is_public,
            FavoriteCollection.created_at,
            Favorite.content_id,
            Favorite.created_at.label("added_at"),
        )
        .outerjoin(Favorite, Favorite.collection_id == FavoriteCollection.id)
        .where(FavoriteCollection.user_id == user_id)
        .order_by(FavoriteCollection.id, Favorite.id)
    )
    collections: dict[int, dict[str, Any]] = {}
    for row in _rows(await session.execute(query)):
        collection = collections.setdefault(
            row["id"],
            {
                "id": row["id"],
                "name": row["name"],
                "is_public": row["is_public"],
                "created_at": row["created_at"],
                "items": [],
            },
        )
        if row["content_id"] is not None:
            item = {"content_id": row["content_id"], "added_at": row["added_at"]}
            collection["items"].append(item)
    return list(collections.values())


async def blocks_of(session: AsyncSession, *, pii: PiiCipher, user_id: int) -> list[Any]:
    """The people the user blocked (who blocked them is not theirs to know)."""
    query = select(UserBlock.blocked_id.label("user_id"), UserBlock.created_at).where(
        UserBlock.owner_id == user_id
    )
    return _rows(await session.execute(query.order_by(UserBlock.id)))


async def messages_of(session: AsyncSession, *, pii: PiiCipher, user_id: int) -> list[Any]:
    """The messages the user sent, by conversation; nobody else's words."""
    query = select(
        Message.id,
        Message.conversation_id,
        Message.body,
        Message.attachments,
        Message.created_at,
        Message.recalled_at,
    ).where(Message.sender_id == user_id)
    return _rows(await session.execute(query.order_by(Message.conversation_id, Message.id)))


async def preferences_of(session: AsyncSession, *, pii: PiiCipher, user_id: int) -> list[Any]:
    query = select(
        NotificationPreference.type,
        NotificationPreference.in_app,
        NotificationPreference.push,
        NotificationPreference.email,
        NotificationPreference.updated_at,
    ).where(NotificationPreference.user_id == user_id)
    return _rows(await session.execute(query.order_by(NotificationPreference.type)))


async def push_devices_of(session: AsyncSession, *, pii: PiiCipher, user_id: int) -> list[Any]:
    """Push devices with their tokens masked."""
    query = select(
        PushDevice.id,
        PushDevice.provider,
        PushDevice.token,
        PushDevice.platform,
        PushDevice.app_version,
        PushDevice.created_at,
        PushDevice.last_seen_at,
        PushDevice.disabled_at,
    ).where(PushDevice.user_id == user_id)
    rows = _rows(await session.execute(query.order_by(PushDevice.id)))
    for row in rows:
        row["token"] = mask_token(row["token"])
    return rows


async def earnings_of(session: AsyncSession, *, pii: PiiCipher, user_id: int) -> list[Any]:
    """A creator's sales: their share of each sold item."""
    query = select(
        Earning.id,
        Earning.order_id,
        Earning.order_item_id,
        Earning.gross,
        Earning.fee,
        Earning.net,
        Earning.refunded,
        Earning.clawed_back,
        Earning.currency,
        Earning.status,
        Earning.available_at,
        Earning.created_at,
    ).where(Earning.creator_id == user_id)
    return _rows(await session.execute(query.order_by(Earning.id)))


async def withdrawals_of(session: AsyncSession, *, pii: PiiCipher, user_id: int) -> list[Any]:
    """A creator's withdrawals, with the payee in clear (it is theirs)."""
    query = select(
        Withdrawal.id,
        Withdrawal.amount,
        Withdrawal.currency,
        Withdrawal.channel,
        Withdrawal.payee_account_enc,
        Withdrawal.payee_name_enc,
        Withdrawal.status,
        Withdrawal.reason,
        Withdrawal.created_at,
        Withdrawal.paid_at,
    ).where(Withdrawal.creator_id == user_id)
    rows = _rows(await session.execute(query.order_by(Withdrawal.id)))
    for row in rows:
        row["payee_account"] = clear_text(pii, row.pop("payee_account_enc"), PAYEE_ACCOUNT_CONTEXT)
        row["payee_name"] = clear_text(pii, row.pop("payee_name_enc"), PAYEE_NAME_CONTEXT)
    return rows
