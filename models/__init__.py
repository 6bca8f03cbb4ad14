"""SQLAlchemy declarative models, one module per domain. No business logic."""

# Domain modules whose tables register by import (their classes are imported from the module).
from models import catalog, ledger, messages, orders, payments, push, social, subscriptions  # noqa: F401
from models.base import Base
from models.content import (
    Category,
    Content,
    ContentTag,
    ContentVersion,
    Entitlement,
    PlanContent,
    Tag,
)
from models.counters import ContentCounter, ContentShareChannel, CounterFlush
from models.creators import CreatorApplication, DataExport
from models.follows import Follow
from models.identity import AdminLog, AuthSession, RefreshToken, User
from models.media import Media
from models.moderation import ModerationFlag, ModerationReport
from models.notifications import Notification
from models.oauth import OAuthAccount, OAuthState
from models.platform import IdempotencyKey, OutboxMessage
from models.search import SearchDocument
from models.security import Device, LoginChallenge, RecoveryCode, TotpSecret
from models.verification import VerificationCode

__all__ = [
    "AdminLog",
    "AuthSession",
    "Base",
    "Category",
    "Content",
    "ContentCounter",
    "ContentShareChannel",
    "ContentTag",
    "ContentVersion",
    "CounterFlush",
    "CreatorApplication",
    "DataExport",
    "Device",
    "Entitlement",
    "Follow",
    "IdempotencyKey",
    "LoginChallenge",
    "Media",
    "ModerationFlag",
    "ModerationReport",
    "Notification",
    "OAuthAccount",
    "OAuthState",
    "OutboxMessage",
    "PlanContent",
    "RecoveryCode",
    "RefreshToken",
    "SearchDocument",
    "Tag",
    "TotpSecret",
    "User",
    "VerificationCode",
]
