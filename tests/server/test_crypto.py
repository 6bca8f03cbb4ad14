"""Personal data at rest: ciphertexts verify only with their key and context."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest

from server.commerce.invoices.provider import HttpInvoiceProvider, ProviderError, sign
from server.crypto import KEY_FILE, PiiCipher, PiiError, generated_keys, new_key, same_secret
from server.settings import Settings


def cipher() -> PiiCipher:
    return PiiCipher(os.urandom(32), os.urandom(32))


def test_a_value_round_trips_and_each_encryption_differs() -> None:
    pii = cipher()
    first = pii.encrypt("+8613812345678", context="users.phone")
    second = pii.encrypt("+8613812345678", context="users.phone")
    assert first != second, "a fresh nonce per encryption"
    assert "13812345678" not in first
    assert pii.decrypt(first, context="users.phone") == "+8613812345678"


def test_a_ciphertext_moved_to_another_column_does_not_decrypt() -> None:
    pii = cipher()
    token = pii.encrypt("张三", context="creators.real_name")
    with pytest.raises(PiiError):
        pii.decrypt(token, context="users.phone")


def test_a_tampered_or_foreign_ciphertext_is_refused() -> None:
    pii = cipher()
    token = pii.encrypt("110101199003074578", context="creators.id_number")
    raw = bytearray(base64.urlsafe_b64decode(token.split(":", 1)[1]))
    raw[-1] ^= 1
    tampered = "v1:" + base64.urlsafe_b64encode(bytes(raw)).decode()
    for bad in (tampered, "v2:" + token[3:], "v1:not-base64!", "nonsense"):
        with pytest.raises(PiiError):
            pii.decrypt(bad, context="creators.id_number")
    with pytest.raises(PiiError):
        cipher().decrypt(token, context="creators.id_number")


def test_lookup_hashes_are_stable_keyed_and_bound_to_their_context() -> None:
    key = os.urandom(32)
    pii = PiiCipher(os.urandom(32), key)
    value = "+8613812345678"
    assert pii.lookup_hash(value, context="users.phone") == PiiCipher(
        os.urandom(32), key
    ).lookup_hash(value, context="users.phone")
    assert pii.lookup_hash(value, context="users.phone") != pii.lookup_hash(value, context="other")
    assert cipher().lookup_hash(value, context="users.phone") != pii.lookup_hash(
        value, context="users.phone"
    )


def test_keys_must_be_32_bytes_of_base64() -> None:
    with pytest.raises(ValueError):
        PiiCipher(b"short", os.urandom(32))
    with pytest.raises(ValueError):
        PiiCipher.from_settings(Settings(pii_encryption_key="not base64!", pii_hash_key=new_key()))


def test_configured_keys_are_used(tmp_path: Path) -> None:
    enc, mac = new_key(), new_key()
    settings = Settings(data_dir=tmp_path, pii_encryption_key=enc, pii_hash_key=mac)
    token = PiiCipher.from_settings(settings).encrypt("x", context="c")
    assert (
        PiiCipher(base64.b64decode(enc), base64.b64decode(mac)).decrypt(token, context="c") == "x"
    )
    assert not (tmp_path / KEY_FILE).exists()


def test_outside_production_a_key_pair_is_generated_once_and_kept_private(
    tmp_path: Path,
) -> None:
    settings = Settings(data_dir=tmp_path / "data", environment="development")
    token = PiiCipher.from_settings(settings).encrypt("x", context="c")
    assert PiiCipher.from_settings(settings).decrypt(token, context="c") == "x"
    assert stat.S_IMODE((tmp_path / "data" / KEY_FILE).stat().st_mode) == 0o600
    assert generated_keys(tmp_path / "data") == generated_keys(tmp_path / "data")


def test_production_refuses_to_generate_keys(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="PII_ENCRYPTION_KEY"):
        PiiCipher.from_settings(Settings(data_dir=tmp_path, environment="production"))


def test_derived_secrets_differ_by_purpose_and_key() -> None:
    pii = cipher()
    assert pii.derive_key("url-signing") == pii.derive_key("url-signing")
    assert pii.derive_key("url-signing") != pii.derive_key("other")
    assert cipher().derive_key("url-signing") != pii.derive_key("url-signing")


@pytest.mark.parametrize(
    ("given", "expected", "same"),
    [
        ("abc", "abc", True),
        (b"abc", "abc", True),
        ("abd", "abc", False),
        ("é", "é", True),
        ("é" * 3, "abc", False),
        ("\ud800", "abc", False),
        ("", "abc", False),
    ],
)
def test_secrets_compare_whatever_characters_a_client_sends(
    given: str | bytes, expected: str, same: bool
) -> None:
    assert same_secret(given, expected) is same


def test_an_invoice_answer_with_a_non_ascii_signature_is_not_trusted() -> None:
    provider = HttpInvoiceProvider(
        base_url="http://invoices.test", app_id="app", secret=b"k" * 32, timeout=1
    )
    headers = {"X-Timestamp": "1", "X-Nonce": "n", "X-Signature": "é" * 64}
    with pytest.raises(ProviderError):
        provider._check_signature(headers, b"{}")
    good = {**headers, "X-Signature": sign(b"k" * 32, "1", "n", b"{}")}
    provider._check_signature(good, b"{}")
