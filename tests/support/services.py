"""What a test does when a real service (PostgreSQL, Samba) cannot be had.

Locally it skips with the reason; under ``ITBOT_REQUIRE_SERVICES=1`` (CI) it fails,
so a missing service can never turn a tier green by skipping it.
"""
from __future__ import annotations

import os

import pytest


def services_required() -> bool:
    return os.environ.get("ITBOT_REQUIRE_SERVICES", "") == "1"


def unavailable(reason: str) -> None:
    """Skip (or fail, when services are required) the current test with ``reason``."""
    if services_required():
        pytest.fail(f"required service unavailable: {reason}", pytrace=False)
    pytest.skip(reason)
