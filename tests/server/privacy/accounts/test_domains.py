"""Exports and erasure of an account's commerce, social and notification data."""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import event, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from models.commerce.cart import Cart, CartItem
from models.commerce.catalog import Product
from models.commerce.earnings import Earning, Withdrawal
from models.commerce.invoices import InvoiceRequest
from models.commerce.ledger import LedgerAccount, LedgerEntry, LedgerTransaction
from models.commerce.orders import Order, OrderItem
from models.commerce.reviews import Review
from models.commerce.shipping import OrderAddress, Shipment, ShipmentItem
from models.commerce.subscriptions import Subscription
from models.content.items import Content
from models.notify.push import NotificationPreference, PushDelivery, PushDevice
from models.privacy.exports import DataExport
from models.social.blocks import UserBlock
from models.social.comments import Comment, CommentLike
from models.social.community import Post, Topic
from models.social.messages import (
    Conversation,
    ConversationMember,
    HiddenMessage,
    Message,
    MessageToken,
)
from models.social.reactions import ContentLike, Favorite, FavoriteCollection
from server.commerce.shipping.service import ADDRESS_CONTEXT
from server.keys import RUNTIME
from server.privacy.accounts import exports
from server.privacy.accounts.domains import (
    INVOICE_EMAIL_CONTEXT,
    PAYEE_ACCOUNT_CONTEXT,
    PAYEE_NAME_CONTEXT,
)
from server.social.presence.service import Keys
from tests.helpers.accounts import run_task
from tests.helpers.auth import PASSWORD, bearer, register
from tests.helpers.env import RUN_PREFIX
from tests.helpers.orders import ADDRESS

DELETE = "/api/v1/me/delete"
TOKEN = "apns-0123456789abcdef-secret-token"
NEW_FILES = {
    "orders.json",
    "shipments.json",
    "credits.json",
    "subscriptions.json",
    "reviews.json",
    "invoices.json",
    "comments.json",
    "posts.json",
    "likes.json",
    "favorites.json",
    "blocks.json",
    "messages.json",
    "notification_preferences.json",
    "push_devices.json",
    "earnings.json",
    "withdrawals.json",
}


@dataclass
class Shop:
    user_id: int
    other_id: int
    headers: dict[str, str]
    order_id: int
    conversation_id: int
    mine: int
    theirs: int


async def shop(api: TestClient) -> Shop:
    """Ann bought (and got a parcel at her address), paid, reviewed, asked an invoice, sells,
    withdrew, wrote, liked, kept, blocked and messaged Bob, who wrote back and blocked her too."""
    runtime = api.app[RUNTIME]
    pii = runtime.pii
    signed_in = await register(api, email="ann@example.com")
    user_id = signed_in["user"]["id"]
    other_id = (await register(api, email="bob@example.com"))["user"]["id"]
    now = runtime.clock.now()
    async with runtime.db.unit_of_work() as uow:
        s = uow.session
        content = Content(author_id=other_id, kind="article", status="published", title="T")
        product = Product(creator_id=other_id, kind="course", title="Course", price=990)
        plan = Product(creator_id=other_id, kind="plan", title="Plan", price=100, interval="month")
        topic = Topic(name="tea", slug="tea", creator_id=other_id)
        conversation = Conversation(kind="direct", direct_key=f"{user_id}:{other_id}")
        s.add_all([content, product, plan, topic, conversation])
        await s.flush()
        order = Order(number="N1", user_id=user_id, status="fulfilled", subtotal=990, total=990)
        s.add(order)
        await s.flush()
        item = OrderItem(
            order_id=order.id,
            product_id=product.id,
            creator_id=other_id,
            kind="course",
            title="Course",
            unit_price=990,
            amount=990,
        )
        account = LedgerAccount(
            owner_type="user", owner_id=user_id, purpose="credits", currency="CRD", balance=50
        )
        other_account = LedgerAccount(
            owner_type="platform", owner_id=0, purpose="credits_issued", currency="CRD"
        )
        posting = LedgerTransaction(kind="credits.purchase", reference="r1", user_id=user_id)
        address = OrderAddress(
            order_id=order.id,
            sealed=pii.encrypt(json.dumps(ADDRESS, ensure_ascii=False), context=ADDRESS_CONTEXT),
        )
        parcel = Shipment(
            order_id=order.id,
            buyer_id=user_id,
            seller_id=other_id,
            status="delivered",
            carrier="顺丰",
            tracking_number="SF1234567890",
            shipped_at=now - timedelta(days=3),
            delivered_at=now,
        )
        s.add_all([item, account, other_account, posting, address, parcel])
        await s.flush()
        s.add(ShipmentItem(shipment_id=parcel.id, order_item_id=item.id))
        comment = Comment(target_type="content", target_id=content.id, author_id=user_id, body="Hi")
        collection = FavoriteCollection(user_id=user_id, name="Keep")
        device = PushDevice(user_id=user_id, provider="apns", token=TOKEN, platform="ios")
        mine = Message(
            conversation_id=conversation.id,
            sender_id=user_id,
            client_message_id="c1",
            body="my secret words",
            attachments=[7],
        )
        theirs = Message(
            conversation_id=conversation.id,
            sender_id=other_id,
            client_message_id="c2",
            body="bob's private reply",
        )
        s.add_all([comment, collection, device, mine, theirs])
        await s.flush()
        s.add_all(
            [
                LedgerEntry(
                    transaction_id=posting.id, account_id=account.id, amount=50, balance_after=50
                ),
                LedgerEntry(
                    transaction_id=posting.id,
                    account_id=other_account.id,
                    amount=-50,
                    balance_after=-50,
                ),
                Subscription(
                    user_id=user_id,
                    product_id=plan.id,
                    live_plan_id=plan.id,
                    status="active",
                    current_period_start=now,
                    current_period_end=now + timedelta(days=30),
                    period_anchor=now,
                ),
                Review(
                    product_id=product.id,
                    user_id=user_id,
                    order_item_id=item.id,
                    rating=5,
                    body="Great course",
                ),
                InvoiceRequest(
                    order_id=order.id,
                    user_id=user_id,
                    title_type="personal",
                    title="张三",
                    email_encrypted=pii.encrypt(
                        "ann.bills@example.com", context=INVOICE_EMAIL_CONTEXT
                    ),
                    amount=990,
                ),
                Earning(
                    order_item_id=item.id + 1000,
                    order_id=order.id,
                    creator_id=user_id,
                    gross=100,
                    fee=20,
                    net=80,
                    available_at=now,
                ),
                Withdrawal(
                    creator_id=user_id,
                    amount=80,
                    channel="alipay",
                    payee_account_enc=pii.encrypt(
                        "ann@alipay.example", context=PAYEE_ACCOUNT_CONTEXT
                    ),
                    payee_name_enc=pii.encrypt("张三", context=PAYEE_NAME_CONTEXT),
                    status="paid",
                ),
                Withdrawal(
                    creator_id=user_id,
                    amount=10,
                    channel="alipay",
                    payee_account_enc=pii.encrypt(
                        "pending@alipay.example", context=PAYEE_ACCOUNT_CONTEXT
                    ),
                    payee_name_enc=pii.encrypt("张三", context=PAYEE_NAME_CONTEXT),
                    status="requested",
                ),
                Post(topic_id=topic.id, author_id=user_id, title="Tea", body="On tea"),
                ContentLike(content_id=content.id, user_id=user_id),
                CommentLike(comment_id=comment.id, user_id=user_id),
                Favorite(collection_id=collection.id, content_id=content.id, user_id=user_id),
                UserBlock(owner_id=user_id, blocked_id=other_id),
                UserBlock(owner_id=other_id, blocked_id=user_id),
                ConversationMember(
                    conversation_id=conversation.id, user_id=user_id, unread_count=1
                ),
                ConversationMember(
                    conversation_id=conversation.id, user_id=other_id, unread_count=2
                ),
                MessageToken(token="secret", message_id=mine.id),
                HiddenMessage(user_id=user_id, message_id=theirs.id),
                NotificationPreference(
                    user_id=user_id, type="comment.reply", in_app=True, push=False, email=False
                ),
                PushDelivery(ref="notification:1", device_id=device.id, status="sent"),
            ]
        )
        cart = Cart(user_id=user_id)
        s.add(cart)
        await s.flush()
        s.add(CartItem(cart_id=cart.id, product_id=plan.id, quantity=1))
    return Shop(
        user_id=user_id,
        other_id=other_id,
        headers=bearer(signed_in["access_token"]),
        order_id=order.id,
        conversation_id=conversation.id,
        mine=mine.id,
        theirs=theirs.id,
    )


async def build(api: TestClient, headers: dict[str, str]) -> dict[str, Any]:
    response = await api.post("/api/v1/me/exports", headers=headers)
    assert response.status == 202
    export_id = (await response.json())["id"]
    runtime = api.app[RUNTIME]

    async def progress(user_id: int, done: int, total: int) -> None:
        return None

    built = await exports.build_export(
        runtime.db,
        pii=runtime.pii,
        storage=runtime.storage,
        export_id=export_id,
        ttl=timedelta(days=1),
        clock=runtime.clock,
        progress=progress,
    )
    assert built is True
    async with runtime.db.read() as session:
        key = await session.scalar(select(DataExport.storage_key).where(DataExport.id == export_id))
    path = runtime.storage.path(key)
    assert path is not None
    archive = zipfile.ZipFile(io.BytesIO(path.read_bytes()))
    return {name: json.loads(archive.read(name)) for name in archive.namelist()}


async def test_the_export_holds_the_users_own_commerce_and_social_data(api: TestClient) -> None:
    ann = await shop(api)
    docs = await build(api, ann.headers)
    assert set(docs) >= NEW_FILES
    [order] = docs["orders.json"]
    assert order["number"] == "N1" and [i["title"] for i in order["items"]] == ["Course"]
    assert order["shipping_address"] == ADDRESS and "address_sealed" not in order
    [parcel] = docs["shipments.json"]
    assert parcel["order_id"] == ann.order_id and parcel["status"] == "delivered"
    assert (parcel["carrier"], parcel["tracking_number"]) == ("顺丰", "SF1234567890")
    assert parcel["shipped_at"] and parcel["delivered_at"]
    assert parcel["order_item_ids"] == [order["items"][0]["id"]]
    assert [(e["amount"], e["kind"]) for e in docs["credits.json"]] == [(50, "credits.purchase")]
    assert [s["status"] for s in docs["subscriptions.json"]] == ["active"]
    assert [r["body"] for r in docs["reviews.json"]] == ["Great course"]
    [invoice] = docs["invoices.json"]
    assert invoice["email"] == "ann.bills@example.com" and "email_encrypted" not in invoice
    assert [c["body"] for c in docs["comments.json"]] == ["Hi"]
    assert [p["title"] for p in docs["posts.json"]] == ["Tea"]
    assert sorted(like["target_type"] for like in docs["likes.json"]) == ["comment", "content"]
    [collection] = docs["favorites.json"]
    assert collection["name"] == "Keep" and len(collection["items"]) == 1
    assert docs["blocks.json"] == [
        {"user_id": ann.other_id, "created_at": docs["blocks.json"][0]["created_at"]}
    ]
    assert [m["body"] for m in docs["messages.json"]] == ["my secret words"]
    assert [p["type"] for p in docs["notification_preferences.json"]] == ["comment.reply"]
    [device] = docs["push_devices.json"]
    assert device["token"] == "apns…oken"
    assert [e["net"] for e in docs["earnings.json"]] == [80]
    payees = {(w["payee_account"], w["payee_name"]) for w in docs["withdrawals.json"]}
    assert payees == {("ann@alipay.example", "张三"), ("pending@alipay.example", "张三")}
    everything = json.dumps(docs, ensure_ascii=False)
    assert "bob's private reply" not in everything and TOKEN not in everything


async def test_each_export_section_is_one_query_whatever_the_rows(
    api: TestClient, engine: AsyncEngine
) -> None:
    ann = await shop(api)
    runtime = api.app[RUNTIME]
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        async with runtime.db.read() as session:
            for name, collect in exports.SECTIONS:
                if name not in NEW_FILES:
                    continue
                before = len(statements)
                await collect(session, pii=runtime.pii, user_id=ann.user_id)
                assert len(statements) - before <= 1, name
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)


async def rows(engine: AsyncEngine, model: Any, *where: Any) -> list[Any]:
    async with engine.connect() as conn:
        return list((await conn.execute(select(model).where(*where))).all())


async def total(engine: AsyncEngine, model: Any, *where: Any) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def snapshot(engine: AsyncEngine) -> dict[str, Any]:
    tables = (
        "orders", "order_items", "ledger_entries", "earnings", "subscriptions", "withdrawals",
        "invoice_requests", "messages", "user_blocks", "push_devices", "carts", "cart_items",
        "notification_preferences", "message_tokens", "order_addresses", "shipments",
        "shipment_items",
    )  # fmt: skip
    found: dict[str, Any] = {}
    async with engine.connect() as conn:
        for table in tables:
            result = await conn.execute(text(f"SELECT * FROM {table} ORDER BY 1"))
            found[table] = [tuple(row) for row in result]
    return found


async def test_erasure_removes_the_personal_data_of_the_new_domains_and_keeps_the_records(
    api: TestClient, engine: AsyncEngine
) -> None:
    ann = await shop(api)
    runtime = api.app[RUNTIME]
    redis = runtime.redis
    keys = Keys(runtime.settings.key_prefix)
    assert RUN_PREFIX in keys.prefix
    if redis is not None:
        await redis.sadd(keys.user(ann.user_id), "i1")
        await redis.hset(keys.instance("i1"), str(ann.user_id), 1)
        await redis.set(keys.seen(ann.user_id), 1)
    response = await api.post(
        DELETE, json={"password": PASSWORD, "confirm": "DELETE"}, headers=ann.headers
    )
    assert response.status == 202
    assert await run_task(api, "accounts.erase", user_id=ann.user_id) is True
    me = ann.user_id
    for model in (PushDevice, NotificationPreference, Cart):
        assert await total(engine, model, model.user_id == me) == 0, model
    assert await total(engine, PushDelivery) == 0 and await total(engine, CartItem) == 0
    assert await total(engine, UserBlock) == 0
    # Financial records stay, on the anonymised account.
    assert await total(engine, Order, Order.user_id == me) == 1
    assert await total(engine, OrderItem) == 1 and await total(engine, LedgerEntry) == 2
    assert await total(engine, Earning, Earning.creator_id == me) == 1
    # The parcel has arrived: its address goes, the shipment stays for the books and the seller.
    assert await total(engine, OrderAddress) == 0
    [parcel] = await rows(engine, Shipment)
    assert parcel.buyer_id == me and parcel.order_id == ann.order_id
    assert (parcel.status, parcel.tracking_number) == ("delivered", "SF1234567890")
    assert await total(engine, ShipmentItem) == 1
    [subscription] = await rows(engine, Subscription)
    assert subscription.status == "active" and subscription.cancel_at_period_end
    [invoice] = await rows(engine, InvoiceRequest)
    assert runtime.pii.decrypt(invoice.email_encrypted, context=INVOICE_EMAIL_CONTEXT) == ""
    assert invoice.title == "" and invoice.status == "failed" and invoice.amount == 990
    withdrawals = {w.status: w for w in await rows(engine, Withdrawal)}
    paid, pending = withdrawals["paid"], withdrawals["requested"]
    assert runtime.pii.decrypt(paid.payee_account_enc, context=PAYEE_ACCOUNT_CONTEXT) == ""
    assert paid.payee_name_enc is None and paid.amount == 80
    assert pending.payee_name_enc is not None
    assert (
        runtime.pii.decrypt(pending.payee_account_enc, context=PAYEE_ACCOUNT_CONTEXT)
        == "pending@alipay.example"
    )
    messages = {m.id: m for m in await rows(engine, Message)}
    assert messages[ann.mine].body == "" and messages[ann.mine].attachments == []
    assert messages[ann.mine].recalled_at is not None
    assert messages[ann.theirs].body == "bob's private reply"
    assert messages[ann.theirs].recalled_at is None
    unread = {m.user_id: m.unread_count for m in await rows(engine, ConversationMember)}
    # Bob no longer counts Ann's message (his other unread one stays); Ann's row is untouched.
    assert unread == {me: 1, ann.other_id: 1}
    assert await total(engine, MessageToken) == 0 and await total(engine, HiddenMessage) == 0
    if redis is not None:
        assert not await redis.exists(keys.user(me), keys.seen(me))
        assert not await redis.hexists(keys.instance("i1"), str(me))

    # A second run changes nothing.
    before = await snapshot(engine)
    assert await run_task(api, "accounts.erase", user_id=me) is True
    assert await snapshot(engine) == before

    # The payout still on its way kept its payee; once it is paid, the daily sweep wipes it.
    assert await run_task(api, "accounts.erase_due") == 0
    async with engine.begin() as conn:
        await conn.execute(
            update(Withdrawal).where(Withdrawal.id == pending.id).values(status="paid")
        )
    assert await run_task(api, "accounts.erase_due") == 1
    [late] = await rows(engine, Withdrawal, Withdrawal.id == pending.id)
    assert late.payee_name_enc is None
    assert runtime.pii.decrypt(late.payee_account_enc, context=PAYEE_ACCOUNT_CONTEXT) == ""
    assert await run_task(api, "accounts.erase_due") == 0
