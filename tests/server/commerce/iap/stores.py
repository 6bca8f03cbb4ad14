"""Fake app stores for tests: an Apple-style certificate chain signing JWS, and a local Google
Play Developer API with its OAuth token endpoint (real keys, real wire formats)."""

from __future__ import annotations

import base64
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import jwt
import orjson
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

BUNDLE = "com.sharestack.app"
PACKAGE = "com.sharestack.android"
LEAF_OID = x509.ObjectIdentifier("1.2.840.113635.100.6.11.1")
INTERMEDIATE_OID = x509.ObjectIdentifier("1.2.840.113635.100.6.2.1")


def _cert(
    name: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None,
    *,
    ca: bool,
    marker: x509.ObjectIdentifier | None,
) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    issuer_name, issuer_key = issuer or (subject, key)
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=not ca,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=ca,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    )
    if marker is not None:
        builder = builder.add_extension(x509.UnrecognizedExtension(marker, b"\x05\x00"), False)
    return builder.sign(issuer_key, hashes.SHA256())


def _der64(cert: x509.Certificate) -> str:
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()


@dataclass
class AppleSigner:
    """Root CA -> intermediate -> leaf, as Apple signs App Store data."""

    root_pem: str
    x5c: list[str]
    leaf_key: ec.EllipticCurvePrivateKey

    @classmethod
    def create(cls) -> AppleSigner:
        root_key, mid_key, leaf_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
        root = _cert("Test Root CA", root_key, None, ca=True, marker=None)
        mid = _cert(
            "Test WWDR", mid_key, (root.subject, root_key), ca=True, marker=INTERMEDIATE_OID
        )
        leaf = _cert("Test Signing", leaf_key, (mid.subject, mid_key), ca=False, marker=LEAF_OID)
        pem = root.public_bytes(serialization.Encoding.PEM).decode()
        return cls(pem, [_der64(leaf), _der64(mid), _der64(root)], leaf_key)

    def sign(self, payload: dict[str, Any]) -> str:
        return jwt.encode(payload, self.leaf_key, algorithm="ES256", headers={"x5c": self.x5c})

    def transaction(self, product_id: str, **overrides: Any) -> tuple[str, str]:
        """A signed StoreKit 2 transaction and its id."""
        now = int(time.time() * 1000)
        txn_id = overrides.pop("transactionId", str(uuid.uuid4().int)[:16])
        payload = {
            "transactionId": txn_id,
            "originalTransactionId": txn_id,
            "bundleId": BUNDLE,
            "productId": product_id,
            "purchaseDate": now,
            "originalPurchaseDate": now,
            "quantity": 1,
            "type": "Consumable",
            "inAppOwnershipType": "PURCHASED",
            "signedDate": now,
            "environment": "Sandbox",
            "transactionReason": "PURCHASE",
            "storefront": "CHN",
            "currency": "CNY",
            "price": 6000,
            **overrides,
        }
        return self.sign(payload), txn_id

    def notification(self, kind: str, signed_transaction: str, **data: Any) -> str:
        now = int(time.time() * 1000)
        return self.sign(
            {
                "notificationType": kind,
                "notificationUUID": str(uuid.uuid4()),
                "version": "2.0",
                "signedDate": now,
                "data": {
                    "bundleId": BUNDLE,
                    "environment": "Sandbox",
                    "signedTransactionInfo": signed_transaction,
                    **data,
                },
            }
        )


@dataclass
class FakePlay:
    """The Play Developer API's products.get / acknowledge and Google's OAuth token URL."""

    client_email: str = "iap@sharestack.iam.gserviceaccount.com"
    key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    purchases: dict[str, dict[str, Any]] = field(default_factory=dict)
    acknowledged: list[str] = field(default_factory=list)
    token_requests: int = 0
    failing_acks: int = 0
    base_url: str = ""

    @property
    def private_pem(self) -> str:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()

    def add(self, token: str, product_id: str, **fields: Any) -> str:
        order = fields.pop("orderId", f"GPA.{uuid.uuid4().int % 10**16:016d}")
        self.purchases[token] = {
            "kind": "androidpublisher#productPurchase",
            "purchaseTimeMillis": str(int(time.time() * 1000)),
            "purchaseState": 0,
            "consumptionState": 0,
            "orderId": order,
            "acknowledgementState": 0,
            "productId": product_id,
            "regionCode": "CN",
            **fields,
        }
        return order

    async def token(self, request: web.Request) -> web.Response:
        form = parse_qs((await request.read()).decode())
        assert form["grant_type"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
        claims = jwt.decode(
            form["assertion"][0],
            self.key.public_key(),
            algorithms=["RS256"],
            audience=f"{self.base_url}/token",
        )
        assert claims["iss"] == self.client_email
        assert claims["scope"] == "https://www.googleapis.com/auth/androidpublisher"
        self.token_requests += 1
        return web.json_response(
            {"access_token": "ya29.test-token", "expires_in": 3599, "token_type": "Bearer"}
        )

    async def product(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != "Bearer ya29.test-token":
            return web.json_response({"error": {"code": 401}}, status=401)
        if request.match_info["pkg"] != PACKAGE:
            return web.json_response({"error": {"code": 404}}, status=404)
        token = request.match_info["tok"]
        if request.method == "POST":
            token = token.removesuffix(":acknowledge")
            if self.failing_acks > 0:
                self.failing_acks -= 1
                return web.json_response({"error": {"code": 503}}, status=503)
            self.purchases[token]["acknowledgementState"] = 1
            self.acknowledged.append(token)
            return web.Response(status=204)
        found = self.purchases.get(token)
        if found is None or found["productId"] != request.match_info["pid"]:
            return web.json_response({"error": {"code": 400, "status": "INVALID"}}, status=400)
        return web.json_response(found)

    def app(self) -> web.Application:
        app = web.Application()
        path = "/androidpublisher/v3/applications/{pkg}/purchases/products/{pid}/tokens/{tok}"
        app.router.add_post("/token", self.token)
        app.router.add_get(path, self.product)
        app.router.add_post(path, self.product)
        return app


def pubsub(data: dict[str, Any]) -> dict[str, Any]:
    raw = base64.b64encode(orjson.dumps(data)).decode()
    return {"message": {"data": raw, "messageId": str(uuid.uuid4())}, "subscription": "s"}
