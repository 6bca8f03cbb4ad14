"""SQLAlchemy declarative models, one module per domain. No business logic."""

from models.base import Base
from models.identity import AdminLog, AuthSession, RefreshToken, User
from models.notifications import Notification
from models.platform import IdempotencyKey, OutboxMessage

__all__ = [
    "AdminLog",
    "AuthSession",
    "Base",
    "IdempotencyKey",
    "Notification",
    "OutboxMessage",
    "RefreshToken",
    "User",
]
