"""Google Play: one-time products through the Play Developer API, and voided-purchase notices.

The server signs in as a service account (an RS256 JWT exchanged at the token URL, the OAuth
2.0 JWT bearer grant), reads `purchases.products.get` for the purchase token, and acknowledges
delivered purchases (Play refunds unacknowledged ones after three days). Real-time developer
notifications arrive as Pub/Sub pushes authenticated by a shared token.
"""

from __future__ import annotations

import base64
import binascii
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import aiohttp
import jwt
import orjson

from server.commerce.iap.stores.base import (
    PurchasePending,
    Store,
    StoreError,
    StoreNotice,
    StoreTransaction,
    StoreUnavailable,
)
from server.crypto import same_secret
from server.settings import Settings

SCOPE = "https://www.googleapis.com/auth/androidpublisher"
TIMEOUT = aiohttp.ClientTimeout(total=10)
PURCHASED, CANCELED, PENDING = 0, 1, 2


class InvalidToken(StoreError):
    code = "iap.invalid_purchase"


class GooglePlay(Store):
    name = "google_play"

    def __init__(self, settings: Settings) -> None:
        self.package = settings.google_play_package_name or ""
        self.client_email = settings.google_play_client_email or ""
        key = settings.google_play_private_key
        self.private_key = key.get_secret_value() if key else ""
        self.token_url = settings.google_play_token_url
        self.api = settings.google_play_api_url.rstrip("/")
        notify = settings.google_play_notify_token
        self.notify_token = notify.get_secret_value() if notify else None
        self._token: tuple[str, float] | None = None

    async def _access_token(self, http: aiohttp.ClientSession) -> str:
        if self._token is not None and self._token[1] > time.time() + 60:
            return self._token[0]
        now = int(time.time())
        assertion = jwt.encode(
            {
                "iss": self.client_email,
                "scope": SCOPE,
                "aud": self.token_url,
                "iat": now,
                "exp": now + 3600,
            },
            self.private_key,
            algorithm="RS256",
        )
        form = {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion}
        async with http.post(self.token_url, data=form) as response:
            if response.status != 200:
                raise StoreUnavailable("Google refused the service account sign-in.")
            body = await response.json(content_type=None)
        token = body.get("access_token")
        if not isinstance(token, str):
            raise StoreUnavailable("Google sent no access token.")
        self._token = (token, now + float(body.get("expires_in", 3600)))
        return token

    def _url(self, product_id: str, token: str, action: str = "") -> str:
        return (
            f"{self.api}/androidpublisher/v3/applications/{quote(self.package, safe='')}"
            f"/purchases/products/{quote(product_id, safe='')}/tokens/{quote(token, safe='')}"
            f"{action}"
        )

    async def _call(self, method: str, url: str, json: Any = None) -> dict[str, Any]:
        try:
            async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
                headers = {"Authorization": f"Bearer {await self._access_token(http)}"}
                async with http.request(method, url, headers=headers, json=json) as response:
                    if response.status in (400, 404, 410):
                        raise InvalidToken("Google Play does not know this purchase.")
                    if response.status == 401:
                        self._token = None
                    if response.status >= 300:
                        raise StoreUnavailable()
                    raw = await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise StoreUnavailable() from exc
        return orjson.loads(raw) if raw else {}

    async def verify(self, proof: dict[str, Any]) -> StoreTransaction:
        product_id, token = proof.get("product_id"), proof.get("purchase_token")
        if not isinstance(product_id, str) or not isinstance(token, str) or not token:
            raise InvalidToken("product_id and purchase_token are required for Google Play.")
        body = await self._call("GET", self._url(product_id, token))
        state = body.get("purchaseState")
        if state == PENDING:
            raise PurchasePending()
        order_id = body.get("orderId")
        if not isinstance(order_id, str) or not order_id:
            raise InvalidToken("Google Play names no order for this purchase.")
        millis = body.get("purchaseTimeMillis")
        return StoreTransaction(
            store=self.name,
            transaction_id=order_id,
            store_product_id=product_id,
            environment="Sandbox" if body.get("purchaseType") == 0 else "Production",
            purchased_at=datetime.fromtimestamp(int(millis) / 1000, UTC) if millis else None,
            quantity=int(body.get("quantity") or 1),
            revoked=state == CANCELED,
            details={
                "purchase_token": token,
                "acknowledged": body.get("acknowledgementState") == 1,
                "obfuscated_account_id": body.get("obfuscatedExternalAccountId"),
            },
        )

    async def acknowledge(self, txn: StoreTransaction, proof: dict[str, Any]) -> None:
        if txn.details.get("acknowledged"):
            return
        url = self._url(txn.store_product_id, str(proof["purchase_token"]), ":acknowledge")
        await self._call("POST", url, json={})

    async def notice(self, payload: dict[str, Any]) -> StoreNotice:
        token = payload.get("token")
        if not self.notify_token or not isinstance(token, str):
            raise StoreError("The notification is not authenticated.", status=401)
        if not same_secret(token, self.notify_token):
            raise StoreError("The notification is not authenticated.", status=401)
        message = payload.get("message")
        data = message.get("data") if isinstance(message, dict) else None
        try:
            decoded = orjson.loads(base64.b64decode(str(data), validate=True))
        except (binascii.Error, orjson.JSONDecodeError) as exc:
            raise StoreError("The notification carries no readable data.") from exc
        if not isinstance(decoded, dict) or decoded.get("packageName") != self.package:
            raise StoreError("The notification is for another app.")
        voided = decoded.get("voidedPurchaseNotification")
        if isinstance(voided, dict) and isinstance(voided.get("orderId"), str):
            return StoreNotice(self.name, "refund", voided["orderId"], "voided")
        return StoreNotice(self.name, "ignored", None, "other")
