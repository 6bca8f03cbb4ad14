"""Passwords are hashed with argon2id at the deployment's cost: RFC 9106's low-memory profile
unless PASSWORD_HASH_* say more; production refuses less."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from argon2 import extract_parameters

from server.identity.auth import passwords
from server.settings import Settings
from tests.helpers.env import make_settings


@pytest.fixture
def restore_hasher() -> Iterator[None]:
    before = passwords._hasher
    yield
    passwords._hasher = before


def test_the_defaults_are_rfc_9106_low_memory_argon2id() -> None:
    settings = Settings()
    assert (
        settings.password_hash_time_cost,
        settings.password_hash_memory_kib,
        settings.password_hash_parallelism,
    ) == (3, 65536, 4)


async def test_new_hashes_carry_the_configured_cost_and_old_ones_still_verify(
    restore_hasher: None,
) -> None:
    passwords.configure(time_cost=1, memory_kib=64, parallelism=1)
    cheap = await passwords.hash_password("correct horse")
    passwords.configure(time_cost=3, memory_kib=65536, parallelism=4)
    strong = await passwords.hash_password("correct horse")
    assert cheap.startswith("$argon2id$") and strong.startswith("$argon2id$")
    params = extract_parameters(strong)
    assert (params.time_cost, params.memory_cost, params.parallelism) == (3, 65536, 4)
    assert await passwords.verify_password(cheap, "correct horse")
    assert not await passwords.verify_password(cheap, "wrong horse")
    assert passwords.needs_rehash(cheap) and not passwords.needs_rehash(strong)
    assert not await passwords.verify_password(None, "correct horse")


def test_production_refuses_a_cost_below_the_profile() -> None:
    settings = make_settings(environment="production")
    assert any("PASSWORD_HASH_TIME_COST" in problem for problem in settings.check_production())
    strong = make_settings(
        environment="production", password_hash_time_cost=3, password_hash_memory_kib=65536
    )
    assert not any("PASSWORD_HASH" in problem for problem in strong.check_production())
