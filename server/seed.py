"""The demo organization `make run` starts with."""

from __future__ import annotations

from .actors.registry import Registry
from .domain import commands as c
from .domain.errors import Conflict

DEMO_SLUG = "demo"
DEMO_SERVICES = (
    ("Website", "Frontend", "The public website and sign-in"),
    ("Dashboard", "Frontend", "The customer dashboard"),
    ("API", "Backend", "The public REST API"),
    ("Database", "Backend", "Primary data store"),
    ("Email delivery", None, "Outgoing notifications by email"),
)


async def seed_demo(registry: Registry) -> bool:
    """Create the demo organization unless it exists; True if it was created now."""
    try:
        await registry.create_org(c.CreateOrg(DEMO_SLUG, "Demo Inc."), "seed")
    except Conflict:
        return False
    for name, group, description in DEMO_SERVICES:
        await registry.execute(
            DEMO_SLUG, c.CreateService(name=name, group=group, description=description), "seed"
        )
    return True
