"""Regenerate screenshots/*.svg: one SVG per screen and state, from the demo-like fixture data.

    python -m tui.screenshots [--out DIR] [--only NAME ...]      (python3 dev.py screenshots)

Each shot builds a fresh fixture database (tests/tui/factories.py: every status and entity
state, hostile names, fixed timestamps) in a temporary SHOPSYNC_HOME, runs the app headless at
120x40 with a frozen clock, no polling and no job runner, presses the shot's keys, waits for the
workers and saves the screen. Shots of screens whose module does not exist yet are skipped
(and listed), so the command works while the app grows.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from textual.pilot import Pilot

SIZE = (120, 40)
ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Shot:
    """One screenshot: press `keys` with the cursor on `store` (a demo store's name)."""

    name: str
    keys: tuple[str, ...] = ()
    store: str | None = None
    fleet: bool = True
    notes: str = field(default="", compare=False)
    scene: str | None = None  # tests.tui.operator_fixtures.scene_<name>: data + screen to push


SHOTS: tuple[Shot, ...] = (
    Shot("dashboard", notes="the card grid: every status and entity state"),
    Shot("dashboard-scrolled", ("end",), notes="the last cards of the grid"),
    Shot("dashboard-table", ("v",), store="Berlin Bikes", notes="the table view"),
    Shot("dashboard-filter", ("f", "f", "f", "slash", "r"), notes="text and status filter"),
    Shot("dashboard-empty", fleet=False, notes="no stores yet"),
    Shot("card-menu", ("m",), store="Paused Pottery", notes="the card menu"),
    Shot("card-menu-checking", ("m",), store="Quick Check", notes="Checking… in the menu"),
    Shot("help", ("question_mark",), notes="keys of the dashboard, then global keys"),
    Shot("confirm-disconnect", ("d",), store="Acme Outdoor"),
    Shot("confirm-resync", ("s",), store="Berlin Bikes"),
    Shot("confirm-delete", ("D",), store="Acme Outdoor"),
    Shot("store", ("enter",), store="Berlin Bikes"),
    Shot("store-syncing", ("enter",), store="Sunrise Surf"),
    Shot("details", ("i",), store="Café Crème Zürich"),
    Shot("settings", ("e",), store="Tea Time"),
    Shot("connect", ("n",)),
    Shot("troubleshoot", ("t",)),
    Shot("activity", ("L",)),
    Shot("bulk-operations", fleet=False, scene="bulk_operations",
         notes="a store's Shopify bulk operations: someone else's fill every slot"),
    Shot("store-backfill", ("down",), fleet=False, scene="store_backfill",
         notes="mid-backfill: rate and ETA, the export phase's own progress"),
    Shot("webhook-health", ("end",), fleet=False, scene="webhook_health",
         notes="Details: webhook health per topic"),
)


@contextmanager
def _home(path: str) -> Iterator[None]:
    """$HOME set to `path` for the shot (Path.home() reads it), restored after."""
    saved = os.environ.get("HOME")
    os.environ["HOME"] = path
    try:
        yield
    finally:
        if saved is None:
            del os.environ["HOME"]
        else:
            os.environ["HOME"] = saved


async def take(shot: Shot, out: Path) -> Path:
    """Build the fixture database, run the app, press the keys and save `out/<name>.svg`."""
    from engine.config import load_settings
    from engine.persistence.runtime import open_runtime
    from tests.tui.factories import demo_fleet, frozen_clock
    from tui.app import ShopsyncApp

    with tempfile.TemporaryDirectory(prefix="shopsync-shot-") as user_home, _home(user_home):
        # The default data folder under a temporary $HOME: the header shows the path users see
        # (~/.local/share/shopsync/shopsync.db), the same in every run.
        home = Path(user_home) / ".local" / "share" / "shopsync"
        runtime = open_runtime(load_settings(home=home))
        try:
            if shot.fleet:
                demo_fleet()
            push = None
            if shot.scene is not None:
                from tests.tui import operator_fixtures

                push = getattr(operator_fixtures, f"scene_{shot.scene}")()
            app = ShopsyncApp(runtime, clock=frozen_clock, poll=False, embedded_runner=False,
                              theme="textual-dark")
            async with app.run_test(size=SIZE) as pilot:
                await settle(pilot)
                if shot.store is not None:
                    screen = app.dashboard
                    store = next(s for s in screen.all_stores if s.name == shot.store)
                    screen.select_store(store.id)
                    await settle(pilot)
                if push is not None:
                    push(app)
                    await settle(pilot)
                for key in shot.keys:
                    await pilot.press(key)
                    await settle(pilot)
                await pilot.pause(0.2)  # drawers that load in a worker
                await settle(pilot)
                app.save_screenshot(f"{shot.name}.svg", path=str(out))
        finally:
            runtime.close()
    return out / f"{shot.name}.svg"


async def settle(pilot: Pilot[Any]) -> None:
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tui.screenshots", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "screenshots")
    parser.add_argument("--only", nargs="*", default=None, help="shot names to take")
    args = parser.parse_args(argv)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))  # tests.tui.factories
    args.out.mkdir(parents=True, exist_ok=True)
    shots = [s for s in SHOTS if args.only is None or s.name in args.only]
    for shot in shots:
        path = asyncio.run(take(shot, args.out))
        print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
