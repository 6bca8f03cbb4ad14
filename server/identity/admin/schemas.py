"""What the admin commands and the admin API accept and answer."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from models.identity.users import ROLES
from server.http.ids import MAX_ID, Id
from server.http.pagination import PageQuery
from server.identity.users.schemas import Email, Nickname


class AdminAccount(BaseModel):
    """What `python -m server createadmin` accepts; the same rules as sign-up."""

    email: Email
    password: str | None = Field(None, min_length=8, max_length=128)
    nickname: Nickname | None = None


Role = Literal["reader", "creator", "moderator", "admin"]
UserStatus = Literal["active", "banned", "deactivated", "deleted"]


class UserSearchQuery(PageQuery):
    q: str | None = Field(
        None,
        min_length=1,
        max_length=254,
        description="Email prefix, nickname substring, exact user id or exact phone number.",
    )
    status: UserStatus | None = None
    role: Role | None = None


class AdminUserOut(BaseModel):
    """An account as administrators see it in lists (the phone masked)."""

    id: int
    email: str | None
    phone: str | None
    nickname: str
    status: str
    roles: list[str]
    created_at: datetime


class AdminUserDetail(AdminUserOut):
    session_count: int = Field(description="Sessions not signed out.")
    two_factor_enabled: bool


class UserPath(BaseModel):
    id: Id


class BanIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=500, description="Kept in the audit log.")


class RolesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    roles: list[Role] = Field(max_length=len(ROLES), description="reader is always kept.")


class AuditQuery(PageQuery):
    admin_id: Id | None = None
    target_type: str | None = Field(None, min_length=1, max_length=32)
    target_id: int | None = Field(None, ge=0, le=MAX_ID)


class AuditEntryOut(BaseModel):
    id: int
    admin_id: int
    action: str
    target_type: str
    target_id: int | None
    detail: dict[str, Any]
    ip: str | None
    created_at: datetime
