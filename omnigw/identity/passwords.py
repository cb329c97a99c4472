"""Argon2id hashing for passwords and TOTP backup codes.

Hashing costs tens of milliseconds of CPU by design, so the async helpers run
it in a worker thread instead of stalling the event loop: one thread, so a flood
of logins queues there and takes at most one core, never the loop's.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_HASHER = PasswordHasher()  # argon2id, RFC 9106 low-memory profile
_WORKER = ThreadPoolExecutor(1, thread_name_prefix="argon2")

MIN_PASSWORD_LENGTH = 10


def hash_secret(secret: str) -> str:
    return _HASHER.hash(secret)


def verify_secret(stored: str, secret: str) -> bool:
    try:
        return _HASHER.verify(stored, secret)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


async def hash_secret_async(secret: str) -> str:
    return await asyncio.get_running_loop().run_in_executor(_WORKER, hash_secret, secret)


async def verify_secret_async(stored: str, secret: str) -> bool:
    return await asyncio.get_running_loop().run_in_executor(_WORKER, verify_secret, stored, secret)


def check_strength(password: str) -> str | None:
    """A reason the password is unacceptable, or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"password must have at least {MIN_PASSWORD_LENGTH} characters"
    if password.strip() != password:
        return "password must not start or end with whitespace"
    return None
