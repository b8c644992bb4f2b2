"""The demo organization `make run` starts with."""

from __future__ import annotations

import secrets
from pathlib import Path

import trio

from .actors.registry import Registry
from .auth import Role
from .domain import commands as c
from .errors import Conflict
from .identity import Directory

DEMO_SLUG = "demo"
DEMO_SERVICES = (
    ("Website", "Frontend", "The public website and sign-in"),
    ("Dashboard", "Frontend", "The customer dashboard"),
    ("API", "Backend", "The public REST API"),
    ("Database", "Backend", "Primary data store"),
    ("Email delivery", None, "Outgoing notifications by email"),
)


DEMO_OWNER = "owner@demo.example"


def demo_login(data_dir: Path) -> tuple[str, str] | None:
    """The demo owner's email and password, if this data directory made one."""
    path = data_dir / "demo-login"
    if not path.exists():
        return None
    email, _, password = path.read_text().strip().partition(" ")
    return email, password


async def seed_demo(registry: Registry) -> bool:
    """Create the demo organization unless it exists; True if it was created now."""
    try:
        await registry.create_org(c.CreateOrg(DEMO_SLUG, "Demo Inc.", listed=True), "seed")
    except Conflict:
        return False
    for name, group, description in DEMO_SERVICES:
        await registry.execute(
            DEMO_SLUG, c.CreateService(name=name, group=group, description=description), "seed"
        )
    return True


async def seed_demo_owner(directory: Directory, data_dir: Path) -> None:
    """Give the demo organization an owner who can log in, unless it has one.

    ``owner@demo.example`` gets a random password, kept in
    ``<data_dir>/demo-login`` (readable by this user only) so that it can be
    shown at every start.
    """
    if DEMO_OWNER in directory.by_email:
        return
    password = secrets.token_urlsafe(12)
    await directory.create_user(DEMO_OWNER, "Demo Owner", password, {DEMO_SLUG: Role.OWNER}, None)
    path = data_dir / "demo-login"

    def keep() -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(f"{DEMO_OWNER} {password}\n")

    await trio.to_thread.run_sync(keep)
