"""The API contract of conversations and messages."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from server.http.ids import Id
from server.http.pagination import PageQuery
from server.identity.users.schemas import UserSummary


class ConversationCreate(BaseModel):
    """One other user: the direct conversation with them (made once); more: a new group."""

    model_config = ConfigDict(extra="forbid")

    user_ids: list[Id] = Field(min_length=1, max_length=500, description="The other members.")
    title: str | None = Field(None, max_length=100, description="Groups only.")


class ConversationPath(BaseModel):
    id: Id


class MessagePath(BaseModel):
    id: Id


class MessageSend(BaseModel):
    """A message; `client_message_id` (unique per sender) makes a retry return the first one."""

    model_config = ConfigDict(extra="forbid")

    client_message_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
    body: str = Field("", max_length=20000, description="Up to MESSAGE_MAX_CHARS characters.")
    attachments: list[Id] = Field(
        default_factory=list, max_length=50, description="Media ids of your own ready uploads."
    )


class SocketMessageSend(MessageSend):
    """`message.send` over the socket: the REST body plus the conversation."""

    conversation_id: Id


class MessageOut(BaseModel):
    id: int
    conversation_id: int
    sender_id: int
    client_message_id: str
    body: str = Field(description="Empty once recalled.")
    attachments: list[int]
    recalled: bool
    created_at: datetime


class ReadIn(BaseModel):
    """Everything up to and including this message is read."""

    model_config = ConfigDict(extra="forbid")

    message_id: Id


class SocketReadIn(ReadIn):
    conversation_id: Id


class ReadOut(BaseModel):
    conversation_id: int
    last_read_message_id: int
    unread_count: int


class Receipt(BaseModel):
    """How far a member has received and read."""

    user_id: int
    last_delivered_message_id: int
    last_read_message_id: int


class DeliveredOut(BaseModel):
    conversation_id: int
    last_delivered_message_id: int


class ConversationOut(BaseModel):
    id: int
    kind: str = Field(description="direct or group")
    title: str | None
    members: list[UserSummary]
    receipts: list[Receipt] = Field(description="Every member's delivery and read positions.")
    last_message: MessageOut | None
    unread_count: int
    last_read_message_id: int
    created_at: datetime


class UnreadOut(BaseModel):
    total: int = Field(description="Unread messages over all your conversations.")


class MessageSearchQuery(PageQuery):
    q: str = Field(min_length=1, max_length=100, description="Words to find in your messages.")


class TypingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    conversation_id: Id
