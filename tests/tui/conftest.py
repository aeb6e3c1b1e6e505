"""Fixtures for the TUI tests: fixture databases and a deterministic app factory.

Every app made here has a frozen clock, no live polling, no embedded job runner, a fixed
theme and no database path in the header (the temp path differs per run), so snapshots and
Pilot tests see exactly the data the factories wrote.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.tui.factories import demo_fleet, frozen_clock


@pytest.fixture
def make_app(offline_runtime: Any) -> Callable[..., Any]:
    """`make_app(**overrides)`: a ShopsyncApp on the test's database, deterministic."""
    from tui.app import ShopsyncApp

    def factory(**overrides: Any) -> ShopsyncApp:
        options: dict[str, Any] = {
            "clock": frozen_clock, "poll": False, "embedded_runner": False,
            "theme": "textual-dark", "context": "", "ascii": False,
        }
        options.update(overrides)
        return ShopsyncApp(offline_runtime, **options)

    return factory


@pytest.fixture
def fleet(offline_runtime: Any) -> dict[str, Any]:
    """The demo-like fleet (every status and state) in the test's database."""
    return demo_fleet()
