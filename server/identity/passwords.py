"""Password hashing with argon2id (RFC 9106's second recommended setting).

Hashing costs tens of milliseconds of CPU by design, so it runs in a worker
thread (argon2 releases the GIL) and never stalls the event loop.
"""

from __future__ import annotations

from typing import Final

import trio
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_HASHER = PasswordHasher(time_cost=3, memory_cost=64 * 1024, parallelism=4)
#: Verified when the email is unknown, so that the answer takes as long.
_DUMMY = _HASHER.hash("not a password anyone has")

MIN_LENGTH = 10
MAX_LENGTH = 1024


# The words most breached passwords are made of (the top of the public breach
# lists), so that "Password2024!" is refused along with "password". Checked
# here, offline: no password ever leaves the server.
COMMON_WORDS: Final = frozenset((
    "password", "passw0rd", "p@ssword", "p@ssw0rd", "qwerty", "qwertyuiop", "asdfgh",
    "asdfghjkl", "zxcvbnm", "azerty", "letmein", "welcome", "admin", "administrator", "root",
    "login", "changeme", "default", "secret", "iloveyou", "loveyou", "monkey", "dragon",
    "master", "shadow", "sunshine", "princess", "football", "baseball", "soccer", "hockey",
    "basketball", "superman", "batman", "trustno1", "whatever", "freedom", "starwars",
    "pokemon", "computer", "internet", "michael", "jordan", "charlie", "jennifer", "hunter",
    "ranger", "buster", "summer", "winter", "spring", "autumn", "hello", "hellothere", "abc",
    "abcdef", "abcdefg", "abcdefgh", "qazwsx", "1q2w3e", "1q2w3e4r", "1q2w3e4r5t", "1qaz2wsx",
    "zaq12wsx", "q1w2e3r4", "test", "tester", "guest", "user", "demo", "switchboard", "status",
    "statuspage", "incident",
))  # fmt: skip
_SEQUENCES: Final = ("0123456789", "9876543210", "abcdefghijklmnopqrstuvwxyz", "qwertyuiop")


def check_strength(password: str, email: str | None = None) -> str | None:
    """Why ``password`` is refused, or None: too short or long, a common word
    with digits and signs around it, a run of one character or of a keyboard
    or number sequence, or the account's own email address."""
    if len(password) < MIN_LENGTH:
        return f"a password needs at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"a password has at most {MAX_LENGTH} characters"
    folded = password.casefold()
    core = folded.strip("0123456789!@#$%^&*()-_=+.,;:?'\"/ ")
    if not core or core in COMMON_WORDS or len(set(folded)) <= 2:
        return "this password is among the most common ones; choose another"
    if any(folded in seq or core in seq for seq in _SEQUENCES):
        return "a run of keys or digits is guessed at once; choose another password"
    if email:
        local = email.casefold().partition("@")[0]
        if folded in (email.casefold(), local) or (len(local) >= 4 and core == local):
            return "a password must not be the email address; choose another"
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
