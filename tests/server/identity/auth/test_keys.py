"""The signing key pair: from settings or files, or generated once outside production."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from server.identity.auth.tokens import TokenService, generate_private_pem, load_key_pair
from server.settings import Settings
from tests.helpers.env import session_private_key


def public_pem(private_pem: str) -> str:
    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def test_without_keys_a_pair_is_generated_once_into_the_data_folder(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", environment="development")
    first = TokenService.from_settings(settings)
    path = tmp_path / "data" / "jwt-private.pem"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["jwt-private.pem"]
    assert TokenService.from_settings(settings).kid == first.kid


def test_keys_can_come_from_files(tmp_path: Path) -> None:
    (tmp_path / "private.pem").write_text(session_private_key())
    (tmp_path / "public.pem").write_text(public_pem(session_private_key()))
    settings = Settings(
        jwt_private_key_file=tmp_path / "private.pem",
        jwt_public_key_file=tmp_path / "public.pem",
        data_dir=tmp_path / "unused",
    )
    from_files = TokenService.from_settings(settings)
    from_values = TokenService.from_settings(Settings(jwt_private_key=session_private_key()))
    assert from_files.kid == from_values.kid
    assert not (tmp_path / "unused").exists()


def test_a_public_key_of_another_pair_is_refused() -> None:
    other = generate_private_pem().decode()
    settings = Settings(jwt_private_key=session_private_key(), jwt_public_key=public_pem(other))
    with pytest.raises(RuntimeError, match="does not belong"):
        load_key_pair(settings)


def test_production_never_generates_a_key(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="required in production"):
        load_key_pair(Settings(environment="production", data_dir=tmp_path))
    assert not (tmp_path / "jwt-private.pem").exists()


def test_a_non_rsa_key_is_refused() -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(RuntimeError, match="RSA"):
        load_key_pair(Settings(jwt_private_key=pem.decode()))
