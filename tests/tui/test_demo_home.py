"""The demo wipes only a folder it created itself, and a missing PostgreSQL driver names the
extra to install."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from engine.domain.errors import DatabaseError
from engine.persistence.database import make_database
from tui.demo import MARKER, prepare_home


def test_a_folder_the_demo_did_not_create_is_never_wiped(tmp_path: Path) -> None:
    home = tmp_path / "demo"
    home.mkdir()
    (home / "notes.txt").write_text("mine")
    with pytest.raises(RuntimeError, match="was not created by `shopsync demo`"):
        prepare_home(home)
    assert (home / "notes.txt").read_text() == "mine"


def test_the_demos_own_folder_is_wiped_and_marked(tmp_path: Path) -> None:
    home = tmp_path / "demo"
    prepare_home(home)
    assert (home / MARKER).is_file()
    (home / "shopsync.db").write_text("old demo data")
    prepare_home(home)
    assert sorted(p.name for p in home.iterdir()) == [MARKER]
    assert home.stat().st_mode & 0o777 == 0o700


def test_missing_postgres_driver_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg2", None)  # import psycopg2 → ImportError
    with pytest.raises(DatabaseError, match=r"shopsync\[postgres\]") as caught:
        make_database("postgresql://ops:hunter2@db.internal/shopsync")
    assert "hunter2" not in str(caught.value)
