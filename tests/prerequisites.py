"""What a test does when something it needs is not installed."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def missing_prerequisite(reason: str) -> NoReturn:
    """A test cannot run here (no PostgreSQL, no ../shared schema…): skip it on a developer's
    machine, but FAIL under CI (`CI` set), where .ci/run installs every prerequisite."""
    if os.environ.get("CI"):
        pytest.fail(f"CI is set, so this must run: {reason}", pytrace=False)
    pytest.skip(reason)
