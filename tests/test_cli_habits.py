"""CLI habits: `stores --status/--format csv|tsv/--watch` and click's shell completion of store
names, entities and categories, as a subprocess over a seeded database."""

from __future__ import annotations

import csv
import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from engine.domain.status import Category, Entity, Status
from tui import cli

REPO = Path(__file__).resolve().parents[1]


def shopsync(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tui.cli", *args], cwd=REPO,
                          env={**os.environ, **(env or {})}, capture_output=True, text=True,
                          timeout=60)


@pytest.fixture
def seeded(offline_runtime: Any) -> dict[str, Any]:
    from tests.tui.factories import demo_fleet

    return demo_fleet()


def test_names_spelled_out_for_completion_match_the_engine() -> None:
    assert tuple(e.value for e in Entity) == cli.ENTITIES
    assert set(cli.CATEGORIES) == {c.value for c in Category}
    assert tuple(s.value for s in Status) == cli.STATUSES


def test_status_filter_and_csv(seeded: dict[str, Any]) -> None:
    result = shopsync("stores", "--status", "error", "--format", "csv")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert rows and {r["status"] for r in rows} == {"error"}
    berlin = next(r for r in rows if r["domain"] == "berlin-bikes.myshopify.com")
    assert (berlin["name"], berlin["orders"], berlin["customers"]) == (
        "Berlin Bikes", "failed", "synced")
    assert "\x1b" not in result.stdout  # the escape-sequence store's name is sanitised


def test_tsv_has_one_line_per_store_and_no_stray_tabs(seeded: dict[str, Any]) -> None:
    result = shopsync("stores", "--format", "tsv", "--status", "error",
                      "--status", "reconnect_required")
    lines = result.stdout.splitlines()
    header = lines[0].split("\t")
    assert header[:3] == ["name", "domain", "status"]
    assert all(len(line.split("\t")) == len(header) for line in lines)
    assert {line.split("\t")[2] for line in lines[1:]} == {"error", "reconnect_required"}


def test_watch_prints_again_until_interrupted(seeded: dict[str, Any]) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", "stores", "--watch", "--interval", "0.3"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None
    seen, deadline = [], time.monotonic() + 90
    while sum("Acme Outdoor" in line for line in seen) < 2 and time.monotonic() < deadline:
        seen.append(process.stdout.readline())
    process.send_signal(signal.SIGINT)
    rest, _ = process.communicate(timeout=30)
    output = "".join(seen) + rest
    assert process.returncode == 0
    assert output.count("Acme Outdoor") >= 2 and "Ctrl+C stops" in output


def complete(words: str) -> list[str]:
    env = {"_SHOPSYNC_COMPLETE": "bash_complete", "COMP_WORDS": words,
           "COMP_CWORD": str(len(words.split()) - (0 if words.endswith(" ") else 1))}
    result = subprocess.run([sys.executable, "-c", "from tui.cli import main; "
                             "main(prog_name='shopsync')"], cwd=REPO, capture_output=True,
                            text=True, env={**os.environ, **env}, timeout=60)
    return [line.split(",", 1)[1] for line in result.stdout.splitlines() if "," in line]


def test_completion_of_stores_entities_and_categories(seeded: dict[str, Any]) -> None:
    assert complete("shopsync show acme") == ["acme-outdoor.myshopify.com", "acme-outdoor"]
    assert "berlin-bikes" in complete("shopsync retry ")
    assert complete("shopsync retry berlin-bikes or") == ["orders"]
    assert complete("shopsync settings tea-time --off email") == ["email_consent"]
    assert "stores" in complete("shopsync sto")
