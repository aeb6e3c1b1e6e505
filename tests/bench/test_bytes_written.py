"""Bytes written to the terminal: opening a store and going back at 120x40, and an idle minute
on the store screen with the default live refresh (1 s) against --refresh 5 — what a slow SSH
link carries. The floor is one full repaint of the dashboard (the least any screen change can
cost when Textual repaints the whole screen), measured in the same run.

Run with:  .venv/bin/python -m pytest tests/bench/test_bytes_written.py -s -o addopts=
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.tui.screen_helpers import settle, terminal_writes

pytest_plugins = ["tests.tui.conftest"]  # make_app and fleet



@pytest.fixture
def written(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    return terminal_writes(monkeypatch, lambda data: len(data.encode()))


async def test_bytes_for_open_and_back_and_for_an_idle_store_screen(
    make_app: Any, fleet: Any, written: list[int]
) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        written.clear()
        app.refresh(repaint=True)
        await settle(pilot)
        floor = sum(written)
        written.clear()
        await pilot.press("enter")
        await settle(pilot)
        opened = sum(written)
        written.clear()
        await pilot.press("escape")
        await settle(pilot)
        back = sum(written)
    print(f"\nfull dashboard repaint (floor): {floor:,} bytes")
    print(f"open a store: {opened:,} bytes = {opened / floor:.2f}x the floor")
    print(f"back to the dashboard: {back:,} bytes = {back / floor:.2f}x the floor")

    for refresh in (1.0, 5.0):
        app = make_app(poll=True, poll_interval=refresh)
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            await pilot.press("enter")
            await settle(pilot)
            written.clear()
            await asyncio.sleep(20)
            idle = sum(written)
        print(f"store screen idle 20 s, refresh {refresh:g} s: {idle:,} bytes "
              f"= {idle / floor:.2f}x the floor")
