"""Fixtures for the domain tests; the helpers themselves live in domain_support.py."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from domain_support import Harness


@pytest.fixture
def org() -> Harness:
    """A fresh organization "demo" at T0, author "alice"."""
    return Harness()


@pytest.fixture(scope="session")
def make_org() -> Callable[..., Harness]:
    """A factory for harnesses (safe to call inside hypothesis tests)."""
    return Harness
