"""Password hashing with argon2id (RFC 9106's second recommended setting).

Hashing costs tens of milliseconds of CPU by design, so it runs in a worker
thread (argon2 releases the GIL) and never stalls the event loop.
"""

from __future__ import annotations

import trio
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_HASHER = PasswordHasher(time_cost=3, memory_cost=64 * 1024, parallelism=4)
#: Verified when the email is unknown, so that the answer takes as long.
_DUMMY = _HASHER.hash("not a password anyone has")

MIN_LENGTH = 10
MAX_LENGTH = 1024


def check_strength(password: str) -> str | None:
    """Why ``password`` is refused, or None."""
    if len(password) < MIN_LENGTH:
        return f"a password needs at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"a password has at most {MAX_LENGTH} characters"
    return None


async def hash_password(password: str) -> str:
    return await trio.to_thread.run_sync(_HASHER.hash, password)


async def verify_password(stored: str | None, password: str) -> bool:
    """True if ``password`` matches ``stored`` (None: an unknown account, always False)."""

    def check() -> bool:
        try:
            return _HASHER.verify(stored or _DUMMY, password) and stored is not None
        except (VerificationError, InvalidHashError):
            return False

    return await trio.to_thread.run_sync(check)
