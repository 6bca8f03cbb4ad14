"""Which gateways this deployment has, built once per runtime from settings."""

from __future__ import annotations

import weakref

from server.commerce.payments.gateways.alipay import AlipayGateway
from server.commerce.payments.gateways.base import Gateway
from server.commerce.payments.gateways.sandbox import SandboxGateway
from server.commerce.payments.gateways.stripe import StripeGateway
from server.commerce.payments.gateways.wechat import WechatGateway
from server.commerce.payments.nonces import NonceBook
from server.gateway_clients.alipay import AlipayClient
from server.gateway_clients.wechat import WechatPayClient
from server.runtime import Runtime
from server.settings import Settings

_BUILT: weakref.WeakKeyDictionary[Runtime, dict[str, Gateway]] = weakref.WeakKeyDictionary()


def sandbox_allowed(settings: Settings) -> bool:
    return settings.payment_sandbox_enabled and settings.environment != "production"


def build(runtime: Runtime) -> dict[str, Gateway]:
    """Every gateway whose keys are configured (and the sandbox outside production)."""
    settings = runtime.settings
    found: dict[str, Gateway] = {}
    alipay = AlipayClient.from_settings(settings)
    if alipay is not None:
        found["alipay"] = AlipayGateway(alipay, seller_id=settings.alipay_seller_id)
    wechat = WechatPayClient.from_settings(settings)
    if wechat is not None:
        found["wechat"] = WechatGateway(wechat, NonceBook(runtime.redis, settings))
    if settings.stripe_secret_key and settings.stripe_webhook_secret:
        found["stripe"] = StripeGateway(
            secret_key=settings.stripe_secret_key.get_secret_value(),
            webhook_secret=settings.stripe_webhook_secret.get_secret_value(),
            api_url=settings.stripe_api_url,
            timeout=settings.payment_http_timeout_seconds,
            tolerance_seconds=settings.payment_callback_tolerance_seconds,
        )
    if sandbox_allowed(settings):
        secret = settings.payment_sandbox_secret
        found["sandbox"] = SandboxGateway(
            secret=secret.get_secret_value().encode()
            if secret
            else runtime.pii.derive_key("payments-sandbox"),
            public_base_url=settings.public_base_url,
            tolerance_seconds=settings.payment_callback_tolerance_seconds,
        )
    return found


def gateways(runtime: Runtime) -> dict[str, Gateway]:
    """The runtime's gateways (built on first use)."""
    found = _BUILT.get(runtime)
    if found is None:
        found = _BUILT[runtime] = build(runtime)
    return found
