"""`shopsync` as a subprocess: usage, exit codes, connect, JSON output, lifecycle, secrets."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from engine.domain import domains
from tests.e2e.conftest import REPO
from tests.support import HTTP


class TestUsage:
    def test_help_lists_every_command(self, shopsync) -> None:
        result = shopsync("--help")
        assert result.returncode == 0
        for command in ("demo", "serve", "simulator", "connect", "stores", "show", "health",
                        "retry", "resync", "disconnect", "reconnect", "delete", "settings",
                        "bulk"):
            assert command in result.stdout

    def test_version(self, shopsync) -> None:
        result = shopsync("--version")
        assert result.returncode == 0
        assert result.stdout.startswith("shopsync, version ")

    def test_unknown_command_exits_2(self, shopsync) -> None:
        result = shopsync("frobnicate")
        assert result.returncode == 2
        assert "No such command 'frobnicate'" in result.stderr

    def test_bad_option_exits_2(self, shopsync) -> None:
        result = shopsync("stores", "--jsn")
        assert result.returncode == 2
        assert "No such option '--jsn'" in result.stderr

    def test_unknown_store_exits_2(self, shopsync) -> None:
        result = shopsync("show", "nosuchstore")
        assert result.returncode == 2
        assert "No store 'nosuchstore'" in result.stderr


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", domains.REQUIRED),
        ("foo.example.com", domains.INVALID_FORMAT),
        ("my_store", domains.INVALID_FORMAT),
        ("abc", domains.TOO_SHORT),
        ("a" * 61, domains.TOO_LONG),
        ("-abcd", domains.HYPHEN),
        ("abcd-.myshopify.com", domains.HYPHEN),
    ],
)
def test_connect_rejects_invalid_domain_with_exact_message(shopsync, text, message) -> None:
    result = shopsync("connect", "--token", "x", "--", text)
    assert result.returncode == 2
    assert result.stderr.strip() == f"Error: {message}"


class TestConnectAndLifecycle:
    def test_connect_by_token_syncs_and_refuses_a_second_connect(
        self, shopsync, sim_shop, unique_domain
    ) -> None:
        shop = sim_shop(unique_domain, customers=30, orders=40, products=10, collections=3)
        name = unique_domain.removesuffix(".myshopify.com")
        result = shopsync("connect", name, "--token", shop["access_token"])
        assert result.returncode == 0, result.stderr
        listed = json.loads(shopsync("stores", "--json").stdout)
        [store] = listed
        assert store["domain"] == unique_domain
        assert store["status"] == "connected"
        assert {k: v["state"] for k, v in store["entities"].items()} == {
            "customers": "synced", "orders": "synced", "products": "synced",
            "collections": "synced",
        }
        assert store["entities"]["orders"]["records"] == 40
        assert set(store["readiness"]) == {
            "oauth_connected", "token_valid", "scopes_granted", "api_responding",
            "initial_sync_complete", "records_match",
        }
        assert store["readiness"]["records_match"] is True  # counted after the initial sync
        again = shopsync("connect", unique_domain.upper(), "--token", shop["access_token"])
        assert again.returncode == 2
        assert again.stderr.strip() == "Error: Already connected"

    def test_connect_by_oauth_with_simulated_approval(
        self, shopsync, sim_shop, unique_domain
    ) -> None:
        sim_shop(unique_domain, customers=5, orders=5, products=5, collections=1)
        result = shopsync("connect", unique_domain, "--approve", "--no-sync")
        assert result.returncode == 0, result.stderr
        shown = json.loads(shopsync("show", unique_domain, "--json").stdout)
        assert shown["granted_scopes"] == ["read_customers", "read_orders", "read_products"]

    def test_disconnect_then_delete(self, shopsync, sim_shop, unique_domain, simulator) -> None:
        shop = sim_shop(unique_domain, customers=20, orders=20, products=5, collections=2)
        assert shopsync("connect", unique_domain, "--token", shop["access_token"]).returncode == 0
        result = shopsync("disconnect", unique_domain)
        assert result.returncode == 0
        assert "Disconnected" in result.stdout
        [store] = json.loads(shopsync("stores", "--json").stdout)
        assert store["status"] == "disconnected"
        assert store["entities"]["customers"]["records"] == 20  # data kept
        refused = shopsync("delete", unique_domain)
        assert refused.returncode == 2 and "--yes" in refused.stderr
        deleted = shopsync("delete", unique_domain, "--yes")
        assert deleted.returncode == 0, deleted.stderr
        assert "grant revoked" in deleted.stdout
        assert json.loads(shopsync("stores", "--json").stdout) == []
        state = HTTP.get(f"{simulator.url}/_sim/shops/{unique_domain}").json()
        assert state["revoked"] is True


def test_no_token_in_database_outputs_or_logs(
    shopsync, sim_shop, unique_domain, _isolated_environment: Path
) -> None:
    shop = sim_shop(unique_domain, customers=3, orders=3, products=3, collections=1)
    token = shop["access_token"]
    outputs = [shopsync("connect", unique_domain, "--token", token)]
    outputs += [shopsync("stores", "--json"), shopsync("show", unique_domain, "--json"),
                shopsync("health", unique_domain, "--json"), shopsync("show", unique_domain)]
    for result in outputs:
        assert token not in result.stdout and token not in result.stderr
    for path in _isolated_environment.rglob("*"):
        if path.is_file():
            assert token.encode() not in path.read_bytes(), path
    db = sqlite3.connect(_isolated_environment / "shopsync.db")
    for (table,) in db.execute("select name from sqlite_master where type='table'"):
        for row in db.execute(f'select * from "{table}"'):
            assert token not in repr(row), table


def test_connect_without_sync_is_connected_with_pending_not_started(
    shopsync, sim_shop, unique_domain
) -> None:
    """Issue 9: was "✖ Error · Health check failed: Initial sync complete"."""
    shop = sim_shop(unique_domain, customers=3, orders=3, products=3, collections=1)
    result = shopsync("connect", unique_domain, "--token", shop["access_token"], "--no-sync")
    assert result.returncode == 0, result.stderr
    assert "Connected" in result.stdout and "Error" not in result.stdout
    assert "Customers Pending · Not started (0)" in result.stdout
    checked = shopsync("health", unique_domain, "--json")
    assert checked.returncode == 0, checked.stdout
    shown = json.loads(shopsync("show", unique_domain, "--json").stdout)
    assert shown["status"] == "connected"
    assert {e["state"] for e in shown["entities"].values()} == {"pending"}
    assert {e["pending"] for e in shown["entities"].values()} == {"not_started"}
    assert shown["readiness"]["initial_sync_complete"] is None


def test_zero_yield_retry_exits_1_and_the_store_is_error(
    shopsync, sim_shop, unique_domain, simulator
) -> None:
    """Issue 9 acceptance: with the empty-export fault on, `retry STORE orders` exits 1, the
    entity is Failed with the zero-yield message and the store is Error."""
    shop = sim_shop(unique_domain, customers=3, orders=1200, products=3, collections=1)
    assert shopsync("connect", unique_domain, "--token", shop["access_token"]).returncode == 0
    HTTP.patch(f"{simulator.url}/_sim/shops/{unique_domain}",
               json={"empty_bulk": ["orders"]}).raise_for_status()
    result = shopsync("retry", unique_domain, "orders")
    assert result.returncode == 1
    message = "Shopify reports 1,200 orders but the export returned none"
    assert f"Error: {message}" in result.stderr
    shown = json.loads(shopsync("show", unique_domain, "--json").stdout)
    assert shown["status"] == "error"
    assert shown["entities"]["orders"] == {**shown["entities"]["orders"], "state": "failed",
                                           "error": message, "records": 1200}


_IMPORTS_PROBE = """
import sys
from tui.cli import main
try:
    main(sys.argv[1:], prog_name="shopsync")
except SystemExit as exit:
    print("EXIT:", exit.code, file=sys.stderr)
print("LOADED:", ",".join(m for m in ("httpcore", "trio") if sys.modules.get(m)), file=sys.stderr)
"""


def test_a_command_that_makes_requests_does_not_import_trio(
    cli_env: dict[str, str], sim_shop, unique_domain: str  # type: ignore[no-untyped-def]
) -> None:
    """httpcore imports trio (installed for selenium) when httpx builds its first client, ~0.2 s
    of CPU in every command, serve and worker; tui.cli blocks it: shopsync runs on asyncio."""
    shop = sim_shop(unique_domain)
    result = subprocess.run(
        [sys.executable, "-c", _IMPORTS_PROBE, "connect", unique_domain, "--token",
         shop["access_token"], "--no-sync"],
        env=cli_env, cwd=REPO, capture_output=True, text=True, timeout=120)
    lines = result.stderr.strip().splitlines()
    assert f"Connected {unique_domain}" in result.stderr and lines[-2] == "EXIT: 0", lines
    assert lines[-1] == "LOADED: httpcore"  # it made its requests through httpx, without trio
