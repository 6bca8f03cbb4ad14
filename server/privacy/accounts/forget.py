"""Erasure of an account's personal data in commerce, messaging and notifications.

Financial records (orders, ledger entries, earnings, subscriptions, withdrawals, shipments) are
kept for legal retention: they keep pointing at the anonymised user row, and only the personal
data in them goes (invoice email and a personal title, a finished withdrawal's payee, the shipping
address of an order with nothing left to send). Comments, posts, likes and favorites are the
`social.forget_author` task's. Every step finds nothing to do the second time.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import ColumnElement, Select, case, delete, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute, aliased

from models.commerce.cart import Cart, CartItem
from models.commerce.earnings import Withdrawal
from models.commerce.invoices import InvoiceRequest
from models.commerce.orders import Order
from models.commerce.shipping import OrderAddress, Shipment
from models.commerce.subscriptions import LIVE_STATUSES, Subscription
from models.notify.push import NotificationPreference, PushDelivery, PushDevice
from models.social.blocks import UserBlock
from models.social.messages import ConversationMember, HiddenMessage, Message, MessageToken
from server.commerce.shipping.service import PENDING as PENDING_SHIPMENT
from server.crypto import PiiCipher
from server.privacy.accounts.domains import (
    INVOICE_EMAIL_CONTEXT,
    PAYEE_ACCOUNT_CONTEXT,
    clear_text,
)
from server.social.presence.service import Keys

# Withdrawals still on their way to the payee keep the payee until they finish.
PENDING_WITHDRAWALS = ("requested", "approved", "paying")
ERASED_ERROR = "The account was erased."
# Orders whose goods may still have to go out (unpaid yet, or paid and not yet handed to their
# sellers): like a shipment still to send, they keep the address until they move on.
AWAITING_ORDERS = ("pending_payment", "paid")


async def forget_domains(
    session: AsyncSession, *, pii: PiiCipher, user_id: int, now: datetime
) -> None:
    """Remove or wipe the erased account's rows in the commerce and social tables."""
    devices = select(PushDevice.id).where(PushDevice.user_id == user_id)
    await session.execute(delete(PushDelivery).where(PushDelivery.device_id.in_(devices)))
    await session.execute(delete(PushDevice).where(PushDevice.user_id == user_id))
    await session.execute(
        delete(NotificationPreference).where(NotificationPreference.user_id == user_id)
    )
    carts = select(Cart.id).where(Cart.user_id == user_id)
    await session.execute(delete(CartItem).where(CartItem.cart_id.in_(carts)))
    await session.execute(delete(Cart).where(Cart.user_id == user_id))
    await session.execute(
        delete(UserBlock).where(or_(UserBlock.owner_id == user_id, UserBlock.blocked_id == user_id))
    )
    # Nothing renews for an account that is gone.
    await session.execute(
        update(Subscription)
        .where(
            Subscription.user_id == user_id,
            Subscription.status.in_(LIVE_STATUSES),
            Subscription.cancel_at_period_end.is_(False),
        )
        .values(cancel_at_period_end=True, updated_at=now)
    )
    await _tombstone_messages(session, user_id=user_id, now=now)
    await _wipe_invoices(session, pii=pii, user_id=user_id, now=now)
    await _wipe_payees(session, pii=pii, user_id=user_id, now=now)
    await session.execute(
        delete(OrderAddress).where(OrderAddress.order_id.in_(settled_orders(user_id)))
    )


def settled_orders(user_id: int | ColumnElement[int] | InstrumentedAttribute[int]) -> Select[Any]:
    """The user's orders with nothing left to send (their ids): neither awaiting payment or
    delivery nor holding a shipment still `pending`. Their shipping address goes at erasure;
    the others' once they get there (`due_for_erasure`)."""
    to_send = (
        select(Shipment.id)
        .where(Shipment.order_id == Order.id, Shipment.status == PENDING_SHIPMENT)
        .exists()
    )
    return select(Order.id).where(
        Order.user_id == user_id, Order.status.not_in(AWAITING_ORDERS), ~to_send
    )


async def _tombstone_messages(session: AsyncSession, *, user_id: int, now: datetime) -> None:
    """The messages the user sent keep their place in the conversations, without their body;
    the ones the user deleted for themselves are nobody's business any more."""
    await session.execute(delete(HiddenMessage).where(HiddenMessage.user_id == user_id))
    await _uncount_unread(session, user_id=user_id)
    sent = select(Message.id).where(Message.sender_id == user_id)
    await session.execute(delete(MessageToken).where(MessageToken.message_id.in_(sent)))
    await session.execute(
        update(Message)
        .where(Message.sender_id == user_id, Message.recalled_at.is_(None))
        .values(body="", attachments=[], recalled_at=now)
    )


async def _uncount_unread(session: AsyncSession, *, user_id: int) -> None:
    """As a recall does: the user's messages others had not read (nor hidden) stop counting."""
    sent = aliased(Message)
    member = ConversationMember
    unread = (
        select(func.count())
        .select_from(sent)
        .where(
            sent.conversation_id == member.conversation_id,
            sent.sender_id == user_id,
            sent.recalled_at.is_(None),
            sent.id > member.last_read_message_id,
            ~exists().where(
                HiddenMessage.user_id == member.user_id, HiddenMessage.message_id == sent.id
            ),
        )
        .scalar_subquery()
    )
    talks = select(Message.conversation_id).where(
        Message.sender_id == user_id, Message.recalled_at.is_(None)
    )
    await session.execute(
        update(member)
        .where(
            member.user_id != user_id, member.unread_count > 0, member.conversation_id.in_(talks)
        )
        .values(
            unread_count=case(
                (unread >= member.unread_count, 0), else_=member.unread_count - unread
            )
        )
    )


async def _wipe_invoices(
    session: AsyncSession, *, pii: PiiCipher, user_id: int, now: datetime
) -> None:
    """Invoice requests lose the email, and a personal title its name; unissued ones fail
    (there is nobody to send an invoice to)."""
    rows = (
        await session.execute(
            select(InvoiceRequest.id, InvoiceRequest.email_encrypted).where(
                InvoiceRequest.user_id == user_id
            )
        )
    ).all()
    ids = [row.id for row in rows if clear_text(pii, row.email_encrypted, INVOICE_EMAIL_CONTEXT)]
    if not ids:
        return
    wiped = pii.encrypt("", context=INVOICE_EMAIL_CONTEXT)
    chosen = InvoiceRequest.id.in_(ids)
    await session.execute(
        update(InvoiceRequest).where(chosen).values(email_encrypted=wiped, updated_at=now)
    )
    await session.execute(
        update(InvoiceRequest)
        .where(chosen, InvoiceRequest.title_type == "personal")
        .values(title="", tax_number=None)
    )
    await session.execute(
        update(InvoiceRequest)
        .where(chosen, InvoiceRequest.status == "pending")
        .values(status="failed", error=ERASED_ERROR)
    )


async def _wipe_payees(
    session: AsyncSession, *, pii: PiiCipher, user_id: int, now: datetime
) -> None:
    """Finished withdrawals lose the payee's account and name."""
    rows = (
        await session.execute(
            select(Withdrawal.id, Withdrawal.payee_account_enc, Withdrawal.payee_name_enc).where(
                Withdrawal.creator_id == user_id,
                Withdrawal.status.not_in(PENDING_WITHDRAWALS),
            )
        )
    ).all()
    ids = [
        row.id
        for row in rows
        if row.payee_name_enc is not None
        or clear_text(pii, row.payee_account_enc, PAYEE_ACCOUNT_CONTEXT)
    ]
    if ids:
        await session.execute(
            update(Withdrawal)
            .where(Withdrawal.id.in_(ids))
            .values(
                payee_account_enc=pii.encrypt("", context=PAYEE_ACCOUNT_CONTEXT),
                payee_name_enc=None,
                updated_at=now,
            )
        )


async def forget_presence(redis: Redis | None, *, key_prefix: str, user_id: int) -> None:
    """Drop the user's presence (instances they were counted on and their last-seen time)."""
    if redis is None:
        return
    keys = Keys(key_prefix)
    instances = await redis.smembers(keys.user(user_id))  # type: ignore[misc]
    async with redis.pipeline(transaction=False) as pipe:
        for instance in instances:
            name = instance.decode() if isinstance(instance, bytes) else str(instance)
            pipe.hdel(keys.instance(name), str(user_id))
        pipe.delete(keys.user(user_id), keys.seen(user_id))
        await pipe.execute()
