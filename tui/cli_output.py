"""Human-readable output of the CLI: tables on stdout, progress on stderr.

Every line the CLI prints goes through `echo` (or `json_text` for --json), which passes it
through safe_text's `safe`: a store name, an error message or a Shopify error body carrying an
OSC/CSI/C1 sequence reaches the terminal as inert characters, whichever command prints it.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime

import click
import orjson
from rich.cells import cell_len, set_cell_size

from engine.domain.bulk import BulkListing
from engine.domain.jobs import JobState
from engine.domain.text import safe
from engine.domain.views import JobView, StoreDetail, StoreSummary


def echo(text: object = "", *, err: bool = False, nl: bool = True) -> None:
    """Print one line (or lines) of CLI output, sanitised: the only way the CLI prints text."""
    click.echo(safe(text, multiline=True), err=err, nl=nl)


# JSON escapes C0 controls itself; C1 controls, DEL and line separators are legal raw in a JSON
# string but a terminal may act on them, so they are written as \u escapes too (same document).
_RAW_IN_JSON = re.compile("[\x7f-\x9f\u2028\u2029]")


def json_text(data: object) -> str:
    """`data` as indented JSON that is also safe to print on a terminal."""
    text = orjson.dumps(data, option=orjson.OPT_INDENT_2).decode()
    return _RAW_IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _ago(moment: datetime | None) -> str:
    if moment is None:
        return "never"
    return moment.strftime("%Y-%m-%d %H:%M:%SZ")


def print_stores(stores: list[StoreSummary]) -> None:
    if not stores:
        echo("No stores yet: `shopsync connect DOMAIN` connects one.")
        return
    width = min(40, max(cell_len(safe(s.name)) for s in stores))
    echo(f"{'NAME':<{width}}  {'DOMAIN':<36}  {'STATUS':<18}  ENTITIES")
    for store in stores:
        entities = " ".join(f"{r.entity.value}={r.state.value}" for r in store.entities)
        echo(f"{_fit(safe(store.name), width)}  {store.domain:<36}  "
                   f"{store.status.label:<18}  {entities}")


STORE_COLUMNS = ("name", "domain", "status", "status_detail", "customers", "orders",
                 "products", "collections", "records", "last_synced_at")


def stores_delimited(stores: list[StoreSummary], delimiter: str) -> str:
    """CSV (or TSV) with a header row: one line per store, entity states in their own columns.
    Text is sanitised like every other line the CLI prints (no control characters); a TSV
    field's tabs and newlines become spaces, since TSV has no quoting."""
    import csv
    import io

    buffer = io.StringIO()
    tsv = delimiter == "\t"
    writer = csv.writer(buffer, lineterminator="\n")

    def cell(text: str | None) -> str:
        clean = safe(text or "")
        return " ".join(clean.split()) if tsv else clean

    def emit(values: Sequence[object]) -> None:
        if tsv:
            buffer.write("\t".join(str(v) for v in values) + "\n")
        else:
            writer.writerow(values)

    emit(STORE_COLUMNS)
    for store in stores:
        states = {row.entity.value: row.state.value for row in store.entities}
        emit([
            cell(store.name), store.domain, store.status.value, cell(store.status_detail),
            states.get("customers", ""), states.get("orders", ""), states.get("products", ""),
            states.get("collections", ""), store.records_total,
            store.last_synced_at.isoformat() + "Z" if store.last_synced_at else "",
        ])
    return buffer.getvalue()


def _fit(text: str, width: int) -> str:
    """Cut or pad to `width` terminal cells (wide CJK characters take two)."""
    return set_cell_size(text, width)


def print_summary_line(summary: StoreSummary) -> None:
    entities = ", ".join(
        f"{r.entity.label} {r.state.label}"
        + (f" · {r.pending_detail}" if r.pending_detail else "") + f" ({r.records:,})"
        for r in summary.entities)
    detail = f" — {safe(summary.status_detail)}" if summary.status_detail else ""
    echo(f"{safe(summary.name)}: {summary.status.label}{detail}\n  {entities}")


def print_readiness(summary: StoreSummary, ok: bool) -> None:
    from engine.domain.status import HEALTH_COMPLETED, HEALTH_FAILED, Check

    echo(f"{safe(summary.name)}: {HEALTH_COMPLETED if ok else HEALTH_FAILED}")
    for item in summary.readiness:
        mark = "✔" if item.ok else ("✖" if item.ok is False else "?")
        line = f"  {mark} {item.label}"
        if item.ok is False:
            line += f" — {safe(item.detail or item.check.cause)}. Fix: {item.check.fix}"
        echo(line)
    # Items 1-4 are the check's probes; item 5 follows the sync history live, so "Last checked"
    # says what it dates rather than stamping a live item with an older check's time.
    echo(f"  Last checked: {_ago(summary.last_checked_at)} (live probes; "
         f"{Check.INITIAL_SYNC_COMPLETE.label} follows the sync history)")


def print_detail(detail: StoreDetail, findings: list[dict]) -> None:
    summary = detail.summary
    print_summary_line(summary)
    rows = [
        ("Store domain", summary.domain), ("Email", detail.email),
        ("Custom domain", detail.custom_domain), ("Plan", detail.plan),
        ("Currency", detail.currency), ("Country", detail.country),
        ("Created", _ago(detail.connected_at)),
        ("Granted scopes", ", ".join(detail.granted_scopes) or "none"),
        ("Missing scopes", ", ".join(detail.missing_scopes) or "none"),
        ("Webhooks", _ago(detail.webhooks_registered_at) if detail.webhooks_registered_at
         else "not registered"),
        ("Last webhook", _ago(detail.last_webhook_at)),
    ]
    for label, value in rows:
        echo(f"  {label:<15} {safe(value or '—')}")
    for row in summary.entities:
        error = f" — {safe(row.error)}" if row.error else ""
        echo(f"  {row.entity.label:<12} {row.state.label:<8} {row.records:>10,}  "
                   f"last synced {_ago(row.last_synced_at)}{error}")
    print_readiness(summary, all(i.ok for i in summary.readiness))
    for finding in findings:
        echo(f"  ! {safe(finding['problem'])} — {safe(finding['fix'])}")


def print_settings(detail: StoreDetail) -> None:
    for category, on in detail.categories.items():
        echo(f"  {'on ' if on else 'off'}  {category.value:<14} {category.label}")


class Progress:
    """Job progress on stderr: one rewritten line on a terminal, a line per change otherwise."""

    def __init__(self, detail: Callable[[JobView], str | None] | None = None) -> None:
        """`detail(view)`: words for a running job (a sync's phase, rate and ETA), or None."""
        self.detail = detail
        self.detail_text: str | None = None
        self.detail_at = 0.0
        self.tty = sys.stderr.isatty()
        self.last = ""
        self.last_at = 0.0

    def update(self, view: JobView) -> None:
        what = view.entity or view.kind
        skipped = (view.result or {}).get("skipped") if view.state == JobState.DONE else None
        if skipped:  # finished without doing the work: say so, not "done 4,891/69,948 (6%)"
            text = f"{what}: skipped ({skipped})"
        elif view.progress_total:
            pct = 100 * view.progress_done // max(view.progress_total, 1)
            text = f"{what}: {view.state} {view.progress_done:,}/{view.progress_total:,} ({pct}%)"
        else:
            text = f"{what}: {view.state}" + (
                f" {view.progress_done:,}" if view.progress_done else "")
        now = time.monotonic()
        if self.detail is not None and view.state == "running" and now - self.detail_at >= 0.5:
            self.detail_at = now
            self.detail_text = self.detail(view)
        if self.detail_text and view.state == "running":
            text = f"{what}: {safe(self.detail_text)}"
        if text == self.last:
            return
        if self.tty:
            # Our own erase-line sequence, written raw; the text itself is sanitised.
            click.echo("\r\x1b[2K" + safe(text), err=True, nl=False)
        elif now - self.last_at > 1.0 or view.state in (JobState.DONE, JobState.FAILED):
            echo(text, err=True)
            self.last_at = now
        self.last = text

    def close(self) -> None:
        if self.tty and self.last:
            echo("", err=True)


def print_bulk(listing: BulkListing) -> None:
    """`shopsync bulk STORE`: the store's bulk operations, newest first, ours or not."""
    running = len(listing.active)
    echo(f"{safe(listing.name)}: {running} of {listing.limit} bulk operation slots in use"
               + (" — the way is clear" if listing.way_clear else " — full"))
    if listing.blocked:
        echo("  Blocked syncs: " + ", ".join(listing.blocked)
                   + ("; retry them now" if listing.way_clear else ""))
    if not listing.operations:
        echo("  No bulk operations at Shopify.")
        return
    echo(f"  {'ID':<15} {'TYPE':<8} {'STATUS':<10} {'CREATED':<20} {'COMPLETED':<20} "
               f"{'OBJECTS':>9} {'ROOTS':>9} {'ERROR':<13} OWNER")
    for op in listing.operations:
        owner = "ours" if op.ours else "someone else's"
        about = ", ".join(x for x in (op.entity, op.role) if x)
        echo(
            f"  {op.short_id:<15} {op.type:<8} {op.status:<10} "
            f"{_ago(op.created_at) if op.created_at else '—':<20} "
            f"{_ago(op.completed_at) if op.completed_at else '—':<20} "
            f"{op.object_count:>9,} {op.root_object_count:>9,} {safe(op.error_code or '—'):<13} "
            f"{owner}" + (f" ({safe(about)})" if about else ""))
