"""Password hashing with argon2id, off the event loop (each hash takes tens of milliseconds)."""

from __future__ import annotations

import asyncio
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# argon2-cffi's defaults are RFC 9106's low-memory profile of argon2id; `configure` sets the
# deployment's own (PASSWORD_HASH_*). A hash carries its parameters, so any hash verifies.
_hasher = PasswordHasher()


def configure(*, time_cost: int, memory_kib: int, parallelism: int) -> None:
    """Hash new passwords with these argon2id parameters (process-wide)."""
    global _hasher
    current = (_hasher.time_cost, _hasher.memory_cost, _hasher.parallelism)
    if current != (time_cost, memory_kib, parallelism):
        _hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism
        )


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def verify_password(password_hash: str | None, password: str) -> bool:
    """Check a password; with no hash (unknown account) spend the same time and say no."""
    if password_hash is None:
        await asyncio.to_thread(_verify, _dummy_hash(), password)
        return False
    return await asyncio.to_thread(_verify, password_hash, password)


def _dummy_hash() -> str:
    """A hash at today's cost, so an unknown account costs what a real one does."""
    return _dummy_at(_hasher.time_cost, _hasher.memory_cost, _hasher.parallelism)


@cache
def _dummy_at(time_cost: int, memory_kib: int, parallelism: int) -> str:
    hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism)
    return hasher.hash("not a password anyone has")


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with older parameters than today's."""
    return _hasher.check_needs_rehash(password_hash)
