"""`shopsync`: the command line. Every command reads and acts through engine.actions and
engine.persistence.reads.

Exit codes: 0 success, 1 the action failed, 2 bad usage or input (click's own usage errors
included). Action commands wait for their job and show progress on stderr; `--json` prints one
document on stdout in the shape of DESIGN.md §4.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import TYPE_CHECKING, Any

import click

from engine.domain.jobs import JobState
from engine.domain.text import safe

# httpx 0.28's `import httpx` imports its own command-line client (httpx._main: rich.console,
# pygments' lexers, click) whenever those are installed, as they are here (Textual needs them):
# about half the CPU of importing the engine's HTTP stack, paid by every command that syncs,
# connects or checks health. A None entry in sys.modules makes that import raise ImportError,
# which httpx catches (its `httpx.main` then says the CLI is not installed); shopsync never runs
# httpx's CLI. setdefault: a process that imported it already (a test) keeps it.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]  # None blocks the import
# httpcore imports trio, if it is installed, when httpx builds its first client (its locks and
# backends serve asyncio or trio): trio is installed here for the browser test's selenium, and
# importing it is ~0.15-0.2 s of CPU in every command that makes a request, and in every serve,
# worker and simulator process. shopsync runs on asyncio only; a None entry makes httpcore's
# `import trio` raise ImportError, which it catches (and its trio backend is then unavailable).
sys.modules.setdefault("trio", None)  # type: ignore[arg-type]  # None blocks the import


class _Lazy:
    """A module imported on first use: `--help` and `--version` must answer in well under
    0.3 s, so nothing heavier than click loads before a command runs."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attribute: str) -> Any:
        if self._module is None:
            import importlib

            self._module = importlib.import_module(self._name)
        return getattr(self._module, attribute)


out: Any = _Lazy("tui.cli_output")

if TYPE_CHECKING:  # the engine is imported lazily: `shopsync --help` stays fast
    from engine.actions import OAuthStart
    from engine.domain.views import JobView, StoreSummary
    from engine.persistence.runtime import Runtime


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("shopsync")
    except PackageNotFoundError:  # running from a checkout without an install
        return "0+unknown"


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        click.echo(f"shopsync, version {_version()}")
        ctx.exit()


# -- shell completion (click's: eval "$(_SHOPSYNC_COMPLETE=bash_source shopsync)") ------------

def _complete_store(_ctx: click.Context, _param: click.Parameter,
                    incomplete: str) -> list[click.shell_completion.CompletionItem]:
    """Store domains (and bare names) from the configured database; nothing when it cannot be
    read (completion must never print an error into the operator's command line)."""
    from click.shell_completion import CompletionItem

    try:
        from engine.persistence.reads import list_stores
        from engine.persistence.runtime import open_runtime

        runtime = open_runtime()
        try:
            stores = list_stores()
        finally:
            runtime.close()
    except Exception:
        return []
    items = []
    for store in stores:
        short = store.domain.removesuffix(".myshopify.com")
        for word in (store.domain, short):
            if word.startswith(incomplete):
                items.append(CompletionItem(word, help=safe(store.name)))
    return list({item.value: item for item in items}.values())


def _complete_entity(_ctx: click.Context, _param: click.Parameter,
                     incomplete: str) -> list[click.shell_completion.CompletionItem]:
    from click.shell_completion import CompletionItem

    return [CompletionItem(name) for name in ENTITIES if name.startswith(incomplete)]


def _complete_category(_ctx: click.Context, _param: click.Parameter,
                       incomplete: str) -> list[click.shell_completion.CompletionItem]:
    from click.shell_completion import CompletionItem

    return [CompletionItem(name) for name in CATEGORIES if name.startswith(incomplete)]


# The names the engine accepts (engine.domain.status.Entity / Category); spelled out here so
# completion and --help need not import the engine. tests/test_cli_habits.py keeps them equal.
ENTITIES = ("customers", "orders", "products", "collections")
CATEGORIES = ("customers", "email_consent", "sms_consent", "orders", "catalogue")
STATUSES = ("connected", "disconnected", "error", "reconnect_required")


def _is_database_fault(error: BaseException) -> bool:
    import sqlite3

    import peewee

    if isinstance(error, peewee.OperationalError) and "locked" in str(error):
        return False  # busy, not broken
    return isinstance(error, (peewee.DatabaseError, sqlite3.DatabaseError))


class _Group(click.Group):
    """Maps engine errors to exit codes once, for every command."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise  # --help, usage errors, Ctrl+C: click's own
        except Exception as error:
            # Imported here, not at the top: `--help` must not load the settings (pydantic).
            from engine.config import ConfigError
            from engine.domain.errors import ActionError, DatabaseError, InvalidInput

            if isinstance(error, (InvalidInput, ConfigError)):
                out.echo(f"Error: {error}", err=True)
                ctx.exit(2)
            if isinstance(error, (ActionError, DatabaseError)):
                out.echo(f"Error: {error}", err=True)
                ctx.exit(1)
            from engine.actions import database_fault

            full = database_fault(error)
            if full is not None:  # a full disk is no damaged database: say which it is
                out.echo(f"Error: {full}", err=True)
                ctx.exit(1)
            if _is_database_fault(error):
                # A corrupt or unreadable database file: one line that says what to do, not a
                # traceback from the driver.
                out.echo(f"Error: the database cannot be read ({error}); it may be damaged: "
                         "restore it from a backup, or move it away to start afresh", err=True)
                ctx.exit(1)
            raise


@click.group(cls=_Group, invoke_without_command=True,
             context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--version", is_flag=True, expose_value=False, is_eager=True,
              callback=_print_version, help="Show the version and exit.")
@click.option("--no-mouse", is_flag=True, help="Do not capture the mouse (dashboard only).")
@click.pass_context
def main(ctx: click.Context, no_mouse: bool) -> None:
    """shopsync: a terminal operations console for Shopify store integrations.

    Run without a command to open the dashboard on the configured database
    (SHOPSYNC_HOME / SHOPSYNC_DATABASE_URL). `shopsync demo` shows everything with a bundled
    Shopify simulator and no account.
    """
    if ctx.invoked_subcommand is None:
        ctx.invoke(tui_command, no_mouse=no_mouse)


# -- the dashboard, the demo and the long-running processes -------------------------------------

@main.command("tui")
@click.option("--no-mouse", is_flag=True, help="Do not capture the mouse.")
@click.option("--read-only", is_flag=True,
              help="Look without touching: no actions, no job runner.")
@click.option("--ascii/--unicode", "ascii_only", default=None,
              help="Draw with ASCII only, or with Unicode (default: from the locale, LANG).")
@click.option("--refresh", "refresh", default=1.0, show_default=True,
              type=click.FloatRange(0.2, 3600), metavar="SECONDS",
              help="Seconds between live refreshes (relative times are re-checked every 15): "
              "raise it on a slow link. An idle screen sends nothing.")
@click.option("--bell", is_flag=True,
              help="Ring the terminal bell when a store turns Error or Reconnect required.")
@click.option("--origin", type=click.Choice(["tui", "web"]), default="tui", hidden=True,
              help="Where the operator sits (recorded with each action).")
def tui_command(no_mouse: bool, read_only: bool = False, bell: bool = False,
                origin: str = "tui", ascii_only: bool | None = None,
                refresh: float = 1.0) -> None:
    """The dashboard on the configured database."""
    from tui.app import ShopsyncApp

    runtime = _runtime()
    ShopsyncApp(runtime, read_only=read_only, bell=bell, origin=origin, ascii=ascii_only,
                poll_interval=refresh).run(mouse=not no_mouse)
    runtime.close()
    _exit_now(0)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Any non-loopback address needs --read-only or "
              "SHOPSYNC_WEB_TOKEN.")
@click.option("--port", default=8790, show_default=True, type=click.IntRange(1, 65535))
@click.option("--read-only", is_flag=True,
              help="Look without touching: no actions, no job runner.")
@click.option("--public-url", default=None,
              help="The URL browsers use, when behind a proxy (default: the address asked).")
def web(host: str, port: int, read_only: bool, public_url: str | None) -> None:
    """The dashboard in a browser (textual-serve). With SHOPSYNC_WEB_TOKEN set, a browser
    must sign in with that token; without it, nothing but 127.0.0.1 unless --read-only."""
    from tui.web import UnsafeListen, run_web

    _runtime()  # a bad database or setting fails here, not in every browser tab
    try:
        run_web(host, port, read_only, public_url)
    except UnsafeListen as error:
        raise click.UsageError(str(error)) from None


@main.command()
@click.option("--no-mouse", is_flag=True, help="Do not capture the mouse.")
@click.option("--headless", is_flag=True, hidden=True,
              help="Set everything up and keep it running without the dashboard.")
def demo(no_mouse: bool, headless: bool) -> None:
    """Simulator + demo stores + engine + dashboard, in one command."""
    from tui.demo import run_demo

    _exit_now(run_demo(mouse=not no_mouse, headless=headless))


@main.command()
def serve() -> None:
    """Headless engine: job runner, scheduler, webhook and OAuth callback server."""
    from engine.serve.app import main as serve_main

    serve_main()


@main.command()
def worker() -> None:
    """Only the job runner (no HTTP server, no scheduler): extra hands for a busy queue."""
    import signal
    import threading

    from engine import actions

    runtime = _runtime()
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGHUP):  # SIGHUP: a closed terminal, a service
        signal.signal(signum, lambda *_: stop.set())
    runner = actions.start_runner("worker")
    out.echo(f"worker {runner.owner} running; SIGTERM or Ctrl+C stops it", err=True)
    try:
        while not stop.wait(0.5) and not runner.stopped.is_set():
            pass
    except KeyboardInterrupt:
        pass
    runner.stop(timeout=runtime.settings.lease_seconds)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8788, show_default=True, type=click.IntRange(0, 65535))
@click.option("--seed", default=0, show_default=True, type=int, help="Data generation seed.")
@click.option("--demo", "demo_fleet", is_flag=True, help="Seed the demo fleet of stores.")
def simulator(host: str, port: int, seed: int, demo_fleet: bool) -> None:
    """The bundled Shopify Admin API simulator (no Shopify account needed)."""
    from engine.simulator import DEMO_API_KEY, DEMO_API_SECRET
    from engine.simulator.server import run

    run(host, port, seed, demo_fleet, DEMO_API_KEY, DEMO_API_SECRET)


# -- reading ------------------------------------------------------------------------------------

@main.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv", "tsv"]),
              default=None, help="Output format (default: table; --json is --format json).")
@click.option("--status", "statuses", multiple=True,
              type=click.Choice(STATUSES, case_sensitive=False),
              help="Only stores with this status (repeatable).")
@click.option("--watch", is_flag=True, help="Print again every --interval seconds (Ctrl+C).")
@click.option("--interval", default=2.0, show_default=True, type=click.FloatRange(0.2),
              help="Seconds between --watch refreshes.")
def stores(as_json: bool, fmt: str | None, statuses: tuple[str, ...], watch: bool,
           interval: float) -> None:
    """Every store with its status and entity states."""
    import time

    from engine.persistence import reads

    runtime = _runtime(actions=False)
    fmt = "json" if as_json else fmt or "table"
    wanted = {s.lower() for s in statuses}
    clear = watch and fmt == "table" and sys.stdout.isatty()
    try:
        while True:
            with runtime.db.connection_context():
                summaries = [s for s in reads.list_stores()
                             if not wanted or s.status.value in wanted]
                reads.decode_all(summaries)  # every field of each is printed: decode them at once
            if clear:
                click.echo("\x1b[H\x1b[2J", nl=False)
            if fmt == "json":
                _print_json([s.to_json() for s in summaries])
            elif fmt in ("csv", "tsv"):
                click.echo(out.stores_delimited(summaries, "," if fmt == "csv" else "\t"),
                           nl=False)
            else:
                if watch:
                    click.echo(f"every {interval:g} s · {time.strftime('%H:%M:%S')} · "
                               "Ctrl+C stops")
                out.print_stores(summaries)
            if not watch:
                return
            sys.stdout.flush()
            time.sleep(interval)
    except KeyboardInterrupt:
        return


@main.command()
@click.argument("store", shell_complete=_complete_store)
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
def show(store: str, as_json: bool) -> None:
    """One store: information, scopes, readiness, entities and findings."""
    from engine import actions
    from engine.persistence import reads

    _runtime()
    detail = reads.store_detail(actions.find(store).id)
    findings = _findings(detail.summary.id)
    if as_json:
        data = detail.to_json()
        data["findings"] = findings
        data["webhooks"] = [t.to_json() for t in actions.webhook_health(detail.summary.id)]
        data["count_check"] = reads.count_checks(detail.summary.id)
        _print_json(data)
    else:
        out.print_detail(detail, findings)


@main.command()
@click.argument("store", shell_complete=_complete_store)
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
@click.option("--cancel", "cancel_id", metavar="ID",
              help="Cancel this bulk operation (its number or gid) first.")
def bulk(store: str, as_json: bool, cancel_id: str | None) -> None:
    """The store's Shopify bulk operations: ours or someone else's, and which block a sync."""
    from engine import actions

    _runtime()
    target = actions.find(store)
    if cancel_id is not None:
        cancelled = actions.cancel_bulk_operation(target.id, cancel_id)
        out.echo(f"Cancelled bulk operation {cancelled.short_id} ({cancelled.owner}): "
                   f"{cancelled.status.lower()}", err=True)
    listing = actions.bulk_operations(target.id)
    if as_json:
        _print_json(listing.to_json())
    else:
        out.print_bulk(listing)


def _findings(store_id: int) -> list[dict]:
    from engine.actions import diagnose

    return [
        {"problem": f.problem, "cause": f.cause, "fix": f.fix, "action": f.action}
        for f in diagnose() if f.store_id == store_id
    ]


# -- actions ------------------------------------------------------------------------------------

class _DomainCommand(click.Command):
    """A command whose DOMAIN may start with a hyphen: `connect -abcd` then gets the domain
    rule's message ("Store name cannot start or end with a hyphen"), not "No such option"."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        known = {name for param in self.params for name in (*param.opts, *param.secondary_opts)}
        takes_value = {name for param in self.params if isinstance(param, click.Option)
                       and not param.is_flag for name in param.opts}
        for index, arg in enumerate(args):
            if arg == "--":
                break
            after_option = index > 0 and args[index - 1] in takes_value
            if (arg.startswith("-") and len(arg) > 2 and not arg.startswith("--")
                    and arg not in known and not after_option):
                args = [*args[:index], *args[index + 1:], "--", arg]
                break
        return super().parse_args(ctx, args)


@main.command(cls=_DomainCommand)
@click.argument("domain")
@click.option("--token", help="Connect with this Admin API access token ('-' reads stdin) "
              "instead of OAuth.")
@click.option("--no-sync", is_flag=True, help="Do not start the initial sync.")
@click.option("--approve", is_flag=True,
              help="Bundled simulator only: approve the install as the merchant would.")
@click.option("--timeout", default=600.0, show_default=True, help="Seconds to wait.")
def connect(domain: str, token: str | None, no_sync: bool, approve: bool,
            timeout: float) -> None:
    """Connect a store by OAuth (default) or with an access token."""
    from engine import actions

    runtime = _runtime()
    if token is not None:
        summary = actions.connect_token(domain, _read_token(token))
    else:
        start = actions.begin_connect(domain)
        summary = _finish_oauth(runtime, start, approve, timeout)
    out.echo(f"Connected {summary.domain} ({summary.name})", err=True)
    failed = 0
    if not no_sync:
        with _worker():
            views = actions.start_initial_sync(summary.id)
            failed = _wait_all(views, timeout)
    _print_outcome(summary.id)
    if failed:  # connected, but the initial sync did not complete: not a success
        sys.exit(1)


@main.command()
@click.argument("store", shell_complete=_complete_store)
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
@click.option("--timeout", default=120.0, show_default=True, help="Seconds to wait.")
def health(store: str, as_json: bool, timeout: float) -> None:
    """Run a health check now and print the readiness checklist (exit 1 if it fails)."""
    from engine import actions
    from engine.persistence import reads

    _runtime()
    target = actions.find(store)
    with _worker():
        view = _wait(actions.check_health(target.id), timeout)
    summary = reads.store_summary(target.id)
    ok = view.health is not None and view.health.passed
    if as_json:
        _print_json({**summary.to_json(), "count_check": reads.count_checks(target.id)})
    else:
        out.print_readiness(summary, ok)
    if view.state is not JobState.DONE or not ok:
        sys.exit(1)


@main.command()
@click.argument("store", shell_complete=_complete_store)
@click.argument("entity", required=False, shell_complete=_complete_entity)
@click.option("--timeout", default=3600.0, show_default=True, help="Seconds to wait.")
def retry(store: str, entity: str | None, timeout: float) -> None:
    """Re-run one entity's sync (customers, orders, products, collections); without ENTITY,
    every Failed entity (the dashboard's Retry)."""
    from engine import actions

    _runtime()
    target = actions.find(store)
    with _worker():
        views = ([actions.retry(target.id, entity)] if entity
                 else actions.retry_failed(target.id))
        failed = _wait_all(views, timeout)
    _print_outcome(target.id)
    if failed:
        sys.exit(1)


@main.command()
@click.argument("store", shell_complete=_complete_store)
@click.option("--timeout", default=3600.0, show_default=True, help="Seconds to wait.")
def resync(store: str, timeout: float) -> None:
    """Full re-sync of every enabled entity."""
    from engine import actions
    from engine.domain.status import SYNC_RERUN_STARTED

    _runtime()
    target = actions.find(store)
    with _worker():
        views = actions.resync(target.id)
        out.echo(SYNC_RERUN_STARTED, err=True)
        failed = _wait_all(views, timeout)
    _print_outcome(target.id)
    if failed:
        sys.exit(1)


@main.command()
@click.argument("store", shell_complete=_complete_store)
def disconnect(store: str) -> None:
    """Pause a store: data kept, no syncs, webhooks ignored."""
    from engine import actions

    _runtime()
    summary = actions.disconnect(actions.find(store).id)
    out.echo(f"{summary.name}: {summary.status.label}")


@main.command()
@click.argument("store", shell_complete=_complete_store)
@click.option("--token", help="Reconnect with this access token ('-' reads stdin).")
@click.option("--approve", is_flag=True,
              help="Bundled simulator only: approve the install as the merchant would.")
@click.option("--timeout", default=600.0, show_default=True, help="Seconds to wait.")
def reconnect(store: str, token: str | None, approve: bool, timeout: float) -> None:
    """Resume a store, or refresh its grant (settings, data and history kept)."""
    from engine import actions
    from engine.actions import OAuthStart

    runtime = _runtime()
    target = actions.find(store)
    if token is not None:
        actions.reconnect_token(target.id, _read_token(token))
    else:
        result = actions.reconnect(target.id)
        if isinstance(result, OAuthStart):
            _finish_oauth(runtime, result, approve, timeout)
    _print_outcome(target.id)


@main.command()
@click.argument("store", shell_complete=_complete_store)
@click.option("--yes", is_flag=True, help="Confirm: delete the store and all its records.")
@click.option("--timeout", default=3600.0, show_default=True, help="Seconds to wait.")
def delete(store: str, yes: bool, timeout: float) -> None:
    """Revoke the grant, delete every imported record and remove the store. Irreversible."""
    from engine import actions
    from engine.persistence import reads

    _runtime()
    target = actions.find(store)
    if not yes:
        counts = reads.record_counts(target.id)
        raise click.UsageError(
            f"deleting {safe(target.name)} removes {sum(counts.values()):,} records and revokes "
            "the grant; this cannot be undone. Add --yes to confirm."
        )
    with _worker():
        view = _wait(actions.delete(target.id), timeout)
    if view.state is not JobState.DONE:
        out.echo(f"Error: delete did not finish: {view.error}", err=True)
        sys.exit(1)
    result = view.result or {}
    out.echo(f"Deleted {target.domain}: {result.get('removed', 0):,} records removed; "
               f"{result.get('revoke', '')}")


@main.command()
@click.argument("store", shell_complete=_complete_store)
@click.option("--on", "turn_on", multiple=True, metavar="CATEGORY", help="Turn a category on.",
              shell_complete=_complete_category)
@click.option("--off", "turn_off", multiple=True, metavar="CATEGORY",
              shell_complete=_complete_category,
              help="Turn a category off.")
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
def settings(store: str, turn_on: tuple[str, ...], turn_off: tuple[str, ...],
             as_json: bool) -> None:
    """Show or change a store's data categories: customers, email_consent, sms_consent,
    orders, catalogue."""
    from engine import actions
    from engine.persistence import reads

    _runtime()
    target = actions.find(store)
    changes = {**{c: True for c in turn_on}, **{c: False for c in turn_off}}
    both = set(turn_on) & set(turn_off)
    if both:
        raise click.UsageError(f"both --on and --off given for {', '.join(sorted(both))}")
    detail = (actions.update_settings(target.id, changes) if changes
              else reads.store_detail(target.id))
    if as_json:
        _print_json({c.value: on for c, on in detail.categories.items()})
    else:
        out.print_settings(detail)


# -- helpers ------------------------------------------------------------------------------------

def _runtime(*, actions: bool = True) -> Runtime:
    """The configured runtime, bound for engine.actions unless the command only reads
    (`actions=False`: `stores` then never imports the sync, job and HTTP stacks, about a
    third of a command's start-up)."""
    from engine.logs import configure_logging
    from engine.persistence.runtime import open_runtime

    runtime = open_runtime()
    configure_logging(runtime.settings, to_file=True)
    if actions:
        from engine import actions as engine_actions

        engine_actions.use_runtime(runtime)
    return runtime


def _exit_now(code: int) -> None:
    """Exit once our own cleanup is done, without waiting for the interpreter's teardown: a
    background thread still blocked on a socket or a job (daemon by design) must not hold
    the terminal after quitting, and neither must collecting a large heap."""
    import logging
    import os

    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _print_json(data: object) -> None:
    click.echo(out.json_text(data))


def _read_token(value: str) -> str:
    return sys.stdin.readline().strip() if value == "-" else value


@contextmanager
def _worker() -> Iterator[None]:
    """Make sure some runner works the queue while we wait: `serve`, a dashboard's embedded
    runner, or one in this process."""
    from engine import actions

    global _own_runner
    runner = actions.ensure_runner("cli")
    if runner is None:
        yield
        return
    _own_runner = True
    try:
        yield
    finally:
        _own_runner = False
        runner.stop()


_own_runner = False  # the job being waited on runs in this process, and stops with it


def _wait(view: JobView, timeout: float) -> JobView:
    from engine.actions import wait_for_job

    progress = out.Progress(_sync_detail)
    try:
        final = wait_for_job(view.id, timeout=timeout, on_progress=progress.update)
    except KeyboardInterrupt:
        progress.close()
        if _own_runner:
            out.echo("Interrupted: the job goes back to the queue and resumes when `shopsync "
                     "serve` or the dashboard runs, or when this command is run again", err=True)
        else:
            out.echo("Interrupted: the job continues in the background", err=True)
        sys.exit(130)
    except TimeoutError as error:
        progress.close()
        if _own_runner:
            out.echo(f"Error: {error}; it is queued again and resumes when `shopsync serve` "
                       "or the dashboard runs, or when this command is run again", err=True)
        else:
            out.echo(f"Error: {error}; it keeps running in the background", err=True)
        sys.exit(1)
    progress.close()
    if final.state is JobState.FAILED:
        out.echo(f"Error: {final.error}", err=True)
    return final


def _sync_detail(view: JobView) -> str | None:
    """A running sync's phase, rate and ETA for the progress line, from its entity row."""
    from engine.domain.progress import describe
    from engine.domain.status import EntityState
    from engine.persistence import reads

    if view.kind != "sync" or not view.store_domain or not view.entity:
        return None
    try:
        summary = reads.store_summary(reads.find_store(view.store_domain).id)
    except Exception:  # the store went, or the database is busy: the plain line will do
        return None
    row = next((r for r in summary.entities if r.entity.value == view.entity), None)
    if row is None or row.state is not EntityState.SYNCING:
        return None
    from tui.clock import utc_now

    return describe(row.done, row.total, row.progress, utc_now())


def _wait_all(views: Iterable[JobView], timeout: float) -> int:
    """Wait for each job; how many did not do their work (failed, cancelled, or skipped: a
    sync of a store that turned Reconnect required meanwhile is skipped, not a success)."""
    return sum(1 for view in views if not _did_its_work(_wait(view, timeout)))


def _did_its_work(view: JobView) -> bool:
    return view.state is JobState.DONE and not (view.result or {}).get("skipped")


def _finish_oauth(runtime: Runtime, start: OAuthStart, approve: bool, timeout: float
                  ) -> StoreSummary:
    from engine import actions

    if approve:
        return actions.simulate_approval(start)
    actions.ensure_listener()
    out.echo("Open this URL to approve the app on Shopify:", err=True)
    out.echo(start.url)
    return actions.wait_for_oauth(start, timeout=timeout)


def _print_outcome(store_id: int) -> None:
    from engine.persistence import reads

    out.print_summary_line(reads.store_summary(store_id))


if __name__ == "__main__":
    main(prog_name="shopsync")
