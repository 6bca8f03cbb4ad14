"""RSA key pairs made in the test run (one per role, cached: generating one costs ~50 ms)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey


@dataclass(frozen=True)
class KeyPair:
    private: RSAPrivateKey

    @property
    def public(self) -> RSAPublicKey:
        return self.private.public_key()

    @property
    def private_pem(self) -> str:
        return self.private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()

    @property
    def public_pem(self) -> str:
        return self.public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()

    def sign(self, message: str) -> bytes:
        """RSASSA-PKCS1-v1_5 with SHA-256 (Alipay RSA2 and WeChat Pay v3 both use it)."""
        return self.private.sign(message.encode(), padding.PKCS1v15(), hashes.SHA256())

    def verifies(self, message: str, signature: bytes) -> bool:
        try:
            self.public.verify(signature, message.encode(), padding.PKCS1v15(), hashes.SHA256())
        except Exception:
            return False
        return True


@cache
def key_pair(role: str) -> KeyPair:
    """The key pair of `role` ("alipay-app", "wechat-platform" ...) for this test run."""
    return KeyPair(rsa.generate_private_key(public_exponent=65537, key_size=2048))
