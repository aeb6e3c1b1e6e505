"""Terminal injection through the CLI: every command's output carries no control characters.

A store's name comes from Shopify, errors from Shopify's bodies; an OSC 0 (window title), OSC 52
(clipboard), CSI or 8-bit C1 sequence in any of them must reach the operator's terminal as
inert characters. Every CLI command runs as a subprocess against such a store.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from engine.domain.text import safe
from engine.persistence.models import EntitySync, Store
from engine.shopify.client import body_summary
from tests.support import HTTP

OSC_TITLE = "\x1b]0;pwned\x07"
OSC_CLIPBOARD = "\x1b]52;c;ZXZpbA==\x07"
CSI = "\x1b[2J\x1b[31m"
C1 = "\x9b31m\x9d0;x\x9c"
EVIL = f"Evil{OSC_TITLE}{OSC_CLIPBOARD}{CSI}{C1}\u202eshop\x7f"
# What a terminal acts on: C0 controls but newline, DEL, C1 controls.
CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f]")


def _clean(result: subprocess.CompletedProcess[str], what: str) -> None:
    for stream, text in (("stdout", result.stdout), ("stderr", result.stderr)):
        found = CONTROL.search(text)
        assert found is None, f"{what}: {stream} has {found.group()!r}: {text!r}"
        assert "Traceback" not in text, f"{what}: {text}"


@pytest.mark.timeout(300)  # seventeen Python start-ups: slow on a loaded machine
def test_every_cli_command_prints_no_control_characters(
    shopsync: Callable[..., subprocess.CompletedProcess[str]], sim_shop: Callable[..., dict],
    unique_domain: str, runtime: Any, simulator: Any,
) -> None:
    shop = sim_shop(unique_domain, name=EVIL, orders=2, customers=1)
    token = shop["access_token"]
    ran: dict[str, int] = {}

    def run(*args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
        result = shopsync(*args, **kw)
        _clean(result, " ".join(args))
        ran[args[0]] = result.returncode
        return result

    connected = run("connect", unique_domain, "--token", token)
    assert connected.returncode == 0, connected.stderr
    assert "Evil␛]0;pwned␇" in connected.stderr  # shown, as inert characters
    store = Store.get(Store.domain == unique_domain)
    assert store.name == EVIL  # stored as it came: only its display is made safe
    # Errors and details as a hostile Shopify could word them.
    EntitySync.update(error=f"boom {OSC_CLIPBOARD}{C1}").where(
        (EntitySync.store == store.id) & (EntitySync.entity == "products")).execute()
    Store.update(status_detail=f"detail {OSC_TITLE}").where(Store.id == store.id).execute()

    # Read-only commands (and refusals) side by side: each is a Python start-up.
    readers = [("stores",), ("stores", "--json"), ("show", unique_domain),
               ("show", unique_domain, "--json"), ("settings", unique_domain),
               ("bulk", unique_domain), ("show", f"nosuch{OSC_TITLE}"),
               ("connect", "--token", "x", "--", f"bad{CSI}.myshopify.com"),
               ("settings", unique_domain, "--on", f"nope{C1}"), ("delete", unique_domain)]
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda args: run(*args), readers))
    for args in (("health", unique_domain), ("retry", unique_domain, "orders"),
                 ("resync", unique_domain), ("disconnect", unique_domain),
                 ("reconnect", unique_domain, "--token", token)):
        run(*args)
    # The grant revoked at Shopify: the failing commands print Shopify's error.
    HTTP.patch(f"{simulator.url}/_sim/shops/{unique_domain}",
               json={"installed": False}).raise_for_status()
    failed = run("retry", unique_domain, "customers")
    assert failed.returncode == 1
    run("delete", unique_domain, "--yes")
    assert set(ran) >= {"connect", "stores", "show", "settings", "bulk", "health", "retry",
                        "resync", "delete", "disconnect", "reconnect"}


def test_shopify_error_bodies_are_summarised_without_escapes() -> None:
    for body in (f'{{"errors": "bad {OSC_CLIPBOARD} {C1}"}}'.encode(),
                 f"<html>{CSI}{OSC_TITLE}</html>".encode(),
                 f'{{"error": "x", "error_description": "{C1}"}}'.encode()):
        response = httpx.Response(400, content=body)
        summary = body_summary(response)
        assert CONTROL.search(summary) is None, repr(summary)
    assert body_summary(httpx.Response(400, content=b"")) == "Bad Request"


def test_safe_is_the_one_sanitiser() -> None:
    import tui.cli_output
    import tui.safe_text

    assert tui.safe_text.safe is safe is tui.cli_output.safe
