"""SQLAlchemy declarative models, one module per domain, grouped by wing as `server/` is
(`models/commerce/orders.py` holds the tables of `server/commerce/orders/`). No business logic.

Importing this package registers every table on `Base.metadata` (migrations and tests compare it
with the database)."""

from models import audit, platform
from models.base import Base
from models.commerce import (
    cart,
    catalog,
    coupons,
    earnings,
    iap,
    invoices,
    ledger,
    orders,
    payments,
    reviews,
    shipping,
    subscriptions,
)
from models.content import counters, items, media, moderation, search
from models.identity import auth, creators, oauth, sessions, users, verification
from models.notify import announcements, notifications, push
from models.privacy import exports
from models.social import blocks, comments, community, follows, messages, reactions
from models.tutor import catalog as tutor_catalog
from models.tutor import conversations as tutor_conversations
from models.tutor import retrieval as tutor_retrieval
from models.tutor import runs as tutor_runs

__all__ = ["Base"]

# The modules above are imported for their tables.
del audit, platform, cart, catalog, coupons, earnings, iap, invoices, ledger, orders, payments
del reviews, subscriptions, counters, items, media, moderation, search, auth, creators, oauth
del shipping
del sessions, users, verification, announcements, notifications, push, exports, blocks, comments
del community, follows, messages, reactions
del tutor_catalog, tutor_conversations, tutor_retrieval, tutor_runs
