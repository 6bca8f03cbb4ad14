"""Subscription helpers: members, plan products, a clock the test moves, paid plan items."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from models.commerce.catalog import Product
from models.content.items import Entitlement
from models.notify.notifications import Notification
from server.clock import Clock
from server.commerce.subscriptions import service
from server.identity.auth import service as auth_service
from server.keys import RUNTIME
from server.runtime import Runtime
from tests.helpers.auth import PASSWORD, bearer, login

_ids = itertools.count(1_000_000)
_emails = itertools.count(1)


@dataclass
class Member:
    """A signed-in account. Tokens are checked against real time, so it signs in on the real
    clock whatever the test's clock says (and stays signed in while the test moves it)."""

    id: int
    email: str
    headers: dict[str, str]

    async def sign_in(self, api: TestClient) -> Member:
        runtime = api.app[RUNTIME]
        moved, runtime.clock = runtime.clock, Clock()
        try:
            data = await login(api, email=self.email, password=PASSWORD)
        finally:
            runtime.clock = moved
        self.headers = bearer(data["access_token"])
        return self


async def member(api: TestClient, *roles: str) -> Member:
    email = f"sub{next(_emails)}@example.com"
    runtime = api.app[RUNTIME]
    async with runtime.db.unit_of_work() as uow:
        user_id = await auth_service.create_user(
            uow.session,
            runtime.pii,
            email=email,
            phone=None,
            password=PASSWORD,
            nickname=None,
            roles=["reader", *roles],
        )
    return await Member(user_id, email, {}).sign_in(api)


class MovableClock(Clock):
    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at

    def move(self, **delta: float) -> datetime:
        self.at += timedelta(**delta)
        return self.at


async def make_plan(
    runtime: Runtime,
    *,
    creator_id: int | None,
    price: int = 3000,
    interval: str = "month",
    trial_days: int = 0,
    status: str = "active",
) -> int:
    async with runtime.db.unit_of_work() as uow:
        product = Product(
            creator_id=creator_id,
            kind="plan",
            title="会员计划",
            description="",
            price=price,
            currency="CNY",
            status=status,
            interval=interval,
            trial_days=trial_days,
        )
        uow.session.add(product)
        await uow.session.flush()
        return product.id


@dataclass
class PaidOrder:
    id: int
    user_id: int
    paid_at: datetime
    currency: str = "CNY"


@dataclass
class PaidItem:
    id: int
    product_id: int
    creator_id: int | None = None
    amount: int = 0
    title: str = "会员计划"


async def buy_period(runtime: Runtime, *, user_id: int, plan_id: int, at: datetime) -> int:
    """What order fulfilment does for a paid plan item."""
    async with runtime.db.unit_of_work() as uow:
        return await service.start_or_extend(
            uow,
            order=PaidOrder(id=next(_ids), user_id=user_id, paid_at=at),
            item=PaidItem(id=next(_ids), product_id=plan_id),
        )


async def plan_readable(runtime: Runtime, *, user_id: int, plan_id: int, at: datetime) -> bool:
    """Whether the user holds a plan entitlement at `at` (what the access policy asks)."""
    async with runtime.db.read() as session:
        found = await session.scalar(
            select(Entitlement.id).where(
                Entitlement.user_id == user_id,
                Entitlement.subject_type == "plan",
                Entitlement.subject_id == plan_id,
                Entitlement.revoked_at.is_(None),
                Entitlement.starts_at <= at,
                (Entitlement.ends_at.is_(None)) | (Entitlement.ends_at > at),
            )
        )
    return found is not None


async def notification_types(runtime: Runtime, user_id: int) -> list[str]:
    async with runtime.db.read() as session:
        rows = await session.scalars(
            select(Notification.type)
            .where(Notification.user_id == user_id)
            .order_by(Notification.id)
        )
        return list(rows)
