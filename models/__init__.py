"""SQLAlchemy declarative models, one module per domain. No business logic."""

from models.base import Base
from models.platform import IdempotencyKey, OutboxMessage

__all__ = ["Base", "IdempotencyKey", "OutboxMessage"]
