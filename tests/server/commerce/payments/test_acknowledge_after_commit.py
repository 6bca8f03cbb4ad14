"""QUALITY 5: a provider hears "taken" only after the commit; a crash between verifying and
committing answers a retryable failure, changes nothing, and the provider's retry heals it once."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from server.commerce.orders import service as orders
from server.runtime import Runtime
from tests.helpers.payments import (
    Fakes,
    alipay_form,
    deliver,
    open_payment,
    paid_callback,
    pending_order,
    snapshot,
)
from tests.helpers.people import Person


def crash_once_after(monkeypatch: pytest.MonkeyPatch, runtime: Runtime) -> list[str]:
    """mark_paid does all its work, then the process "dies" before the commit."""
    real = orders.mark_paid
    crashes: list[str] = []

    async def mark_paid_then_crash(*args: Any, **kwargs: Any) -> Any:
        outcome = await real(*args, **kwargs)
        if not crashes:
            crashes.append(outcome)
            raise RuntimeError("worker died before commit")
        return outcome

    monkeypatch.setattr(orders, "mark_paid", mark_paid_then_crash)
    return crashes


@pytest.mark.parametrize("provider", ["alipay", "wechat", "stripe"])
async def test_crash_before_commit_is_healed_by_the_retry_once(
    api: TestClient,
    buyer: Person,
    fakes: Fakes,
    runtime: Runtime,
    monkeypatch: pytest.MonkeyPatch,
    provider: str,
) -> None:
    order = await pending_order(api, buyer)
    payment = await open_payment(api, buyer, order["id"], provider)
    headers, body = paid_callback(fakes, runtime, provider, payment)
    crashes = crash_once_after(monkeypatch, runtime)

    first = await deliver(api, provider, headers, body)
    assert first.status == 500 and crashes == ["paid"]
    text = await first.text()
    assert text != "success" and "SUCCESS" not in text
    state = await snapshot(runtime, order["id"])
    assert state.order_status == "pending_payment" and state.payments == ["created"]
    assert (state.events, state.payment_postings, state.paid_notifications) == (0, 0, 0)

    for _ in range(3):  # the provider retries the very same delivery
        retry = await deliver(api, provider, headers, body)
        assert retry.status == 200
    state = await snapshot(runtime, order["id"])
    assert state.order_status in ("paid", "fulfilled") and state.payments == ["succeeded"]
    assert (state.events, state.payment_postings, state.paid_notifications) == (1, 1, 1)


async def test_the_answer_follows_the_commit(
    api: TestClient, buyer: Person, fakes: Fakes, runtime: Runtime
) -> None:
    order = await pending_order(api, buyer)
    payment = await open_payment(api, buyer, order["id"], "alipay")
    headers, body = alipay_form(fakes.alipay.pay(payment["out_trade_no"]))
    response = await deliver(api, "alipay", headers, body)
    assert (response.status, await response.text()) == (200, "success")
    # Read through a fresh connection: what was acknowledged is already committed.
    state = await snapshot(runtime, order["id"])
    assert state.payments == ["succeeded"] and state.events == 1
