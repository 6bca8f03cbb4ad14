"""App Store: StoreKit 2 signed transactions and App Store Server Notifications V2.

Both are JWS signed by Apple with an x5c chain; `SignedDataVerifier` (Apple's
app-store-server-library) checks the chain up to the configured roots, the ES256 signature,
our bundle id and the environment. With online checks off, the chain is checked at the
transaction's signing date and without OCSP.
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from typing import Any

from appstoreserverlibrary.models.Environment import Environment
from appstoreserverlibrary.models.NotificationTypeV2 import NotificationTypeV2
from appstoreserverlibrary.signed_data_verifier import (
    SignedDataVerifier,
    VerificationException,
    VerificationStatus,
)
from cryptography import x509

from server.commerce.iap.stores.base import Store, StoreError, StoreNotice, StoreTransaction
from server.settings import Settings

PEM = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.S)
REFUNDS = {NotificationTypeV2.REFUND, NotificationTypeV2.REVOKE}


def root_certificates(pem: str) -> list[bytes]:
    """DER bytes of each PEM certificate in `pem` (what the verifier wants)."""
    from cryptography.hazmat.primitives.serialization import Encoding

    blocks = PEM.findall(pem.encode())
    return [x509.load_pem_x509_certificate(block).public_bytes(Encoding.DER) for block in blocks]


def _when(millis: int | None) -> datetime | None:
    return None if millis is None else datetime.fromtimestamp(millis / 1000, UTC)


class InvalidTransaction(StoreError):
    code = "iap.invalid_transaction"


class AppStore(Store):
    name = "app_store"

    def __init__(self, settings: Settings) -> None:
        self.verifier = SignedDataVerifier(
            root_certificates(settings.app_store_root_certificates or ""),
            settings.app_store_online_checks,
            Environment(settings.app_store_environment),
            settings.app_store_bundle_id or "",
            settings.app_store_app_apple_id,
        )

    def _transaction(self, signed: str) -> StoreTransaction:
        try:
            decoded = self.verifier.verify_and_decode_signed_transaction(signed)
        except VerificationException as exc:
            raise InvalidTransaction(_reason(exc.status)) from exc
        if not decoded.transactionId or not decoded.productId:
            raise InvalidTransaction("The transaction names no id or product.")
        return StoreTransaction(
            store=self.name,
            transaction_id=decoded.transactionId,
            original_transaction_id=decoded.originalTransactionId,
            store_product_id=decoded.productId,
            environment=decoded.rawEnvironment or "",
            purchased_at=_when(decoded.purchaseDate),
            quantity=decoded.quantity or 1,
            revoked=decoded.revocationDate is not None,
            app_account_token=decoded.appAccountToken,
            details={"type": decoded.rawType, "app_account_token": decoded.appAccountToken},
        )

    async def verify(self, proof: dict[str, Any]) -> StoreTransaction:
        signed = proof.get("signed_transaction")
        if not isinstance(signed, str) or not signed:
            raise InvalidTransaction("signed_transaction is required for the App Store.")
        return await asyncio.to_thread(self._transaction, signed)

    def _notice(self, signed_payload: str) -> StoreNotice:
        try:
            decoded = self.verifier.verify_and_decode_notification(signed_payload)
        except VerificationException as exc:
            raise InvalidTransaction(_reason(exc.status)) from exc
        kind = decoded.rawNotificationType or ""
        signed = decoded.data.signedTransactionInfo if decoded.data else None
        if decoded.notificationType not in REFUNDS or not signed:
            return StoreNotice(self.name, "ignored", None, kind)
        return StoreNotice(self.name, "refund", self._transaction(signed).transaction_id, kind)

    async def notice(self, payload: dict[str, Any]) -> StoreNotice:
        signed = payload.get("signedPayload")
        if not isinstance(signed, str) or not signed:
            raise InvalidTransaction("signedPayload is required.")
        return await asyncio.to_thread(self._notice, signed)

    async def acknowledge(self, txn: StoreTransaction, proof: dict[str, Any]) -> None:
        """StoreKit finishes transactions on the device; the server has nothing to tell."""


def _reason(status: VerificationStatus) -> str:
    return {
        VerificationStatus.INVALID_APP_IDENTIFIER: "The transaction is for another app.",
        VerificationStatus.INVALID_ENVIRONMENT: "The transaction is from another environment.",
    }.get(status, "The transaction's signature or certificate chain does not verify.")
