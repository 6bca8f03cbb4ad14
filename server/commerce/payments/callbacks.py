"""Provider callbacks: verify, apply in one transaction, and only then acknowledge."""

from __future__ import annotations

import structlog
from aiohttp import web
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError

from models.commerce.payments import PaymentEvent
from server.commerce.payments import service
from server.commerce.payments.errors import CallbackRejected
from server.commerce.payments.gateways.base import Callback, Gateway, Notice
from server.db import is_unavailable
from server.http.errors import ServiceUnavailable
from server.runtime import Runtime

log = structlog.get_logger(__name__)

# MariaDB/MySQL deadlock: the transaction was rolled back at once, so trying again is cheap. A
# lock wait timeout (1205) is not retried: under overload that would only add waiting; the
# provider retries later.
RETRYABLE_DB_ERRORS = (1213,)
ATTEMPTS = 3


async def receive(runtime: Runtime, gateway: Gateway, request: web.Request) -> web.Response:
    """Answer a callback in the provider's own format: taken (after commit), or why not."""
    callback = Callback(await request.read(), request.headers, request.content_type)
    return await take(runtime, gateway, callback)


async def take(runtime: Runtime, gateway: Gateway, callback: Callback) -> web.Response:
    """Verify a callback, then apply it (see `apply`)."""
    try:
        notice = await gateway.verify(callback)
    except CallbackRejected as exc:
        log.warning("payments.callback_rejected", provider=gateway.name, reason=exc.reason)
        return gateway.refuse(exc.reason, exc.status)
    return await apply(runtime, gateway, notice, callback)


async def apply(
    runtime: Runtime, gateway: Gateway, notice: Notice, callback: Callback | None
) -> web.Response:
    """Apply a verified notice exactly once; the answer waits for the commit."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            async with runtime.db.unit_of_work() as uow:
                outcome = await service.apply_notice(
                    uow,
                    provider=gateway.name,
                    notice=notice,
                    callback=callback,
                    now=runtime.clock.now(),
                )
        except CallbackRejected as exc:
            log.warning(
                "payments.callback_rejected",
                provider=gateway.name,
                reason=exc.reason,
                event_id=notice.event_id,
            )
            return gateway.refuse(exc.reason, exc.status)
        except IntegrityError:
            if await _recorded(runtime, gateway.name, notice.event_id):
                return gateway.acknowledge()
            log.exception("payments.callback_failed", provider=gateway.name)
            return gateway.refuse("internal error", 500)
        except OperationalError as exc:
            code = getattr(exc.orig, "args", (None,))[0]
            if code in RETRYABLE_DB_ERRORS and attempt < ATTEMPTS:
                continue
            log.exception("payments.callback_failed", provider=gateway.name)
            return _try_later(gateway)
        except Exception as exc:
            if is_unavailable(exc):  # no free connection in time, or the database unreachable
                log.warning("payments.callback_unavailable", provider=gateway.name, error=repr(exc))
                return _try_later(gateway)
            log.exception("payments.callback_failed", provider=gateway.name)
            return gateway.refuse("internal error", 500)
        log.info(
            "payments.callback_applied",
            provider=gateway.name,
            event_id=notice.event_id,
            outcome=outcome,
        )
        return gateway.acknowledge()
    return _try_later(gateway)  # pragma: no cover - the loop always returns


def _try_later(gateway: Gateway) -> web.Response:
    """Not taken, nothing applied: the provider retries (Retry-After for those that read it)."""
    answer = gateway.refuse("try again later", 503)
    answer.headers["Retry-After"] = str(ServiceUnavailable.retry_after)
    return answer


async def _recorded(runtime: Runtime, provider: str, event_id: str) -> bool:
    """Whether the event was committed by another delivery (a duplicate, already taken)."""
    async with runtime.db.read() as session:
        found = await session.scalar(
            select(PaymentEvent.id).where(
                PaymentEvent.provider == provider, PaymentEvent.event_id == event_id[:128]
            )
        )
    return found is not None
