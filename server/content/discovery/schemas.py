"""The discovery API: requests and responses."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

ShareChannel = Literal["wechat", "weibo", "qq", "link", "other"]


class ShareIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: ShareChannel


class FeatureOut(BaseModel):
    content_id: int
    featured_at: datetime | None
