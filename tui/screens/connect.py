"""The Connect Shopify store drawer: domain validation, then OAuth or an access token.

The Store domain is validated as the operator types and again on submit, with the exact
messages of reference/product.md §10 (engine.domain.domains.validation_message), before anything is
sent; a store already in the database is refused with "Already connected". Then either:

- OAuth: "Connect" → engine.actions.begin_connect → the OAuthWait panel shows the authorize
  URL and waits for the callback (with "Approve in simulator" against the bundled simulator);
- an access token: a password field (never echoed, never logged, cleared at once) →
  actions.connect_token.

On success the drawer closes and Sync settings opens with `initial_sync=True`, as the product
does. `ConnectScreen(reconnect=start, store_id=id)` runs the same approval for an existing
store that needs a fresh grant (its domain is fixed; the token path calls reconnect_token).
`ConnectScreen(token_for=domain, store_id=id)` is the reconnect of a store that was connected
with an access token: only the token field, since the engine will not switch it to OAuth.
"""

from __future__ import annotations

from typing import Any, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.content import Content
from textual.message import Message
from textual.widgets import Button, Input, Static

from engine import actions
from engine.actions import OAuthStart
from engine.domain.domains import (
    ALREADY_CONNECTED,
    HYPHEN,
    INVALID_FORMAT,
    REQUIRED,
    TOO_LONG,
    TOO_SHORT,
    DomainError,
    normalize_domain,
    validation_message,
)
from engine.persistence.reads import find_store
from tui.host import shopsync_app
from tui.safe_text import content, safe
from tui.screens.drawer import Drawer
from tui.widgets.oauth_wait import OAuthWait

TITLE = "Connect Shopify store"
TOKEN_REQUIRED = "Access token is required"
TOKEN_RECONNECT = ("This store was connected with an Admin API access token: paste a new "
                   "token to reconnect it.")
DOMAIN_MESSAGES = (REQUIRED, INVALID_FORMAT, TOO_SHORT, TOO_LONG, HYPHEN, ALREADY_CONNECTED)


class ConnectScreen(Drawer):
    """Connect a new store (or re-approve an existing one) by OAuth or access token."""

    HELP_TITLE = TITLE
    DRAWER_TITLE = TITLE

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Cancel", id="connect.close"),
    ]

    DEFAULT_CSS = """
    ConnectScreen .label { margin-top: 1; }
    ConnectScreen .message { height: auto; min-height: 1; color: $text-muted; }
    ConnectScreen .message.-error { color: $text-error; }
    ConnectScreen .row { height: auto; }
    ConnectScreen .muted { color: $text-muted; }
    """

    class AlreadyConnected(Message, bubble=False):
        """A worker found `domain` in the database while the operator typed it."""

        def __init__(self, domain: str) -> None:
            super().__init__()
            self.domain = domain

    class Refused(Message, bubble=False):
        """The engine refused the connect; `reason` goes under the `where` field."""

        def __init__(self, reason: str, where: str) -> None:
            super().__init__()
            self.reason = reason
            self.where = where

    class Started(Message, bubble=False):
        """An OAuth approval began: wait for its callback."""

        def __init__(self, start: OAuthStart) -> None:
            super().__init__()
            self.start = start

    class Connected(Message, bubble=False):
        """The store is connected (or reconnected)."""

        def __init__(self, store_id: int) -> None:
            super().__init__()
            self.store_id = store_id

    def __init__(self, *, reconnect: OAuthStart | None = None, store_id: int | None = None,
                 token_for: str | None = None) -> None:
        super().__init__()
        self.reconnect = reconnect
        self.store_id = store_id
        self.token_for = token_for  # the domain of a token store being reconnected
        self.done = False
        self._started_listener = False

    @property
    def start(self) -> OAuthStart | None:
        """The OAuth start being waited for, if any."""
        return self.query_one(OAuthWait).start if self.is_mounted else None

    def initial_title(self) -> str:
        return TITLE if self.fixed_domain is None else f"Reconnect {safe(self.fixed_domain)}"

    def compose_body(self) -> ComposeResult:
        fixed = self.fixed_domain is not None
        oauth = "-hidden" if self.token_for is not None else ""
        yield Static(Content("Store domain"), classes="label" + (" -hidden" * fixed))
        yield Input(placeholder="mystore or mystore.myshopify.com", id="domain",
                    classes="-hidden" if fixed else "")
        yield Static(Content(""), id="domain-message", classes="message")
        yield Static(Content("Approve on Shopify (OAuth)"), classes=f"section {oauth}")
        yield Static(Content("The merchant reviews the permissions and clicks Install app."),
                     classes=f"muted {oauth}")
        with Horizontal(classes="row" + (" -hidden" * fixed)):
            yield Button("Connect", id="oauth", variant="primary", compact=True)
        yield OAuthWait(simulator=actions.simulator_approval_available(), classes="-hidden")
        if self.token_for is not None:
            yield Static(Content(TOKEN_RECONNECT), classes="muted")
        yield Static(Content("Or use an Admin API access token"), classes=f"section {oauth}")
        yield Input(password=True, placeholder="shpat_…", id="token")
        yield Static(Content(""), id="token-message", classes="message")
        with Horizontal(classes="row"):
            yield Button("Connect with token", id="with-token", compact=True)

    @property
    def fixed_domain(self) -> str | None:
        """The domain of the store being reconnected (None: a new connect)."""
        return self.reconnect.domain if self.reconnect is not None else self.token_for

    def on_mount(self) -> None:
        if self.reconnect is not None:
            self._wait(self.reconnect)
        if self.fixed_domain is not None:
            self.query_one("#token", Input).focus()
        else:
            self.query_one("#domain", Input).focus()

    def on_unmount(self) -> None:
        if self._started_listener:
            actions.stop_listener()

    # -- validation ---------------------------------------------------------------------------

    def _message(self, where: str, text: str, *, error: bool = True) -> None:
        label = self.query_one(f"#{where}-message", Static)
        label.update(content(text))
        label.set_class(error, "-error")

    def validate_domain(self) -> str | None:
        """The normalised domain, or None after showing the exact validation message."""
        if self.fixed_domain is not None:
            return self.fixed_domain
        value = self.query_one("#domain", Input).value
        message = validation_message(value)
        if message is not None:
            self._message("domain", message)
            return None
        return normalize_domain(value)

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        if event.input.id == "token":
            self._message("token", "")
            return
        message = validation_message(event.value)
        if message is not None:
            self._message("domain", message)
            return
        domain = normalize_domain(event.value)
        self._message("domain", f"→ {domain}", error=False)
        self._check_existing(domain)

    @work(thread=True, exclusive=True, exit_on_error=False, group="connect-check")
    def _check_existing(self, domain: str) -> None:
        try:
            with shopsync_app(self).runtime.db.connection_context():
                find_store(domain)
        except Exception:  # StoreNotFound: not connected; anything else is checked on submit
            return
        self.post_message(self.AlreadyConnected(domain))

    def on_connect_screen_already_connected(self, message: AlreadyConnected) -> None:
        try:
            current = normalize_domain(self.query_one("#domain", Input).value)
        except DomainError:
            return
        if current == message.domain:
            self._message("domain", ALREADY_CONNECTED)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.input.id == "domain":
            self._begin_oauth()
        elif event.input.id == "token":
            self._submit_token()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "oauth":
            self._begin_oauth()
        elif event.button.id == "with-token":
            self._submit_token()

    # -- OAuth --------------------------------------------------------------------------------

    def _begin_oauth(self) -> None:
        if self.query_one("#oauth", Button).disabled:  # one approval in flight is enough
            return
        domain = self.validate_domain()
        if domain is not None and not self.done and self.fixed_domain is None:
            self.query_one("#oauth", Button).disabled = True
            self._start_oauth(domain)

    @work(thread=True, exclusive=True, exit_on_error=False, group="connect-oauth")
    def _start_oauth(self, domain: str | None) -> None:
        """begin_connect(domain), or begin_reconnect(store) when `domain` is None."""
        try:
            with shopsync_app(self).runtime.db.connection_context():
                start = (actions.begin_connect(domain) if domain is not None
                         else actions.begin_reconnect(self.store_id or 0))
                started = actions.ensure_listener()
                self._started_listener = started or self._started_listener
        except Exception as error:  # ActionError, or the database: say why, inline
            self.post_message(self.Refused(safe(error), "domain"))
            return
        self.post_message(self.Started(start))

    def on_connect_screen_started(self, message: Started) -> None:
        self._wait(message.start)

    def _wait(self, start: OAuthStart) -> None:
        panel = self.query_one(OAuthWait)
        panel.remove_class("-hidden")
        panel.wait(start)

    def on_oauth_wait_approved(self, message: OAuthWait.Approved) -> None:
        message.stop()
        self._connected(message.store_id)

    def on_oauth_wait_failed(self, message: OAuthWait.Failed) -> None:
        message.stop()
        self.query_one("#oauth", Button).disabled = False

    def on_oauth_wait_restart(self, message: OAuthWait.Restart) -> None:
        message.stop()
        if self.reconnect is not None:
            self._start_oauth(None)
        else:
            self.query_one(OAuthWait).add_class("-hidden")
            self.query_one("#oauth", Button).disabled = False

    # -- access token -------------------------------------------------------------------------

    def _submit_token(self) -> None:
        domain = self.validate_domain()
        field = self.query_one("#token", Input)
        if domain is None or self.done:
            return
        token = field.value.strip()
        if not token:
            self._message("token", TOKEN_REQUIRED)
            return
        field.value = ""  # the token leaves the screen at once
        self.query_one("#with-token", Button).disabled = True
        self._connect_token(domain, token)

    @work(thread=True, exclusive=True, exit_on_error=False, group="connect-token",
          description="connect with an access token")  # never the arguments: the token
    def _connect_token(self, domain: str, token: str) -> None:
        try:
            with shopsync_app(self).runtime.db.connection_context():
                if self.fixed_domain is not None and self.store_id is not None:
                    summary = actions.reconnect_token(self.store_id, token)
                else:
                    summary = actions.connect_token(domain, token)
        except Exception as error:  # never echo the token: only the engine's reason
            reason = safe(error)
            where = "domain" if reason in DOMAIN_MESSAGES and self.fixed_domain is None \
                else "token"
            self.post_message(self.Refused(reason, where))
            return
        self.post_message(self.Connected(summary.id))

    def on_connect_screen_refused(self, message: Refused) -> None:
        self._message(message.where, message.reason)
        self.query_one("#with-token", Button).disabled = False
        self.query_one("#oauth", Button).disabled = False

    # -- outcome ------------------------------------------------------------------------------

    def on_connect_screen_connected(self, message: Connected) -> None:
        self._connected(message.store_id)

    def _connected(self, store_id: int) -> None:
        if self.done:
            return
        self.done = True
        self.query_one(OAuthWait).stop()
        app: Any = self.app
        self.dismiss(None)
        if self.fixed_domain is not None:
            app.notify("Reconnected: syncs and webhooks resume", markup=False)
            return
        app.notify("Store connected", markup=False)
        from tui.screens.settings import SettingsScreen

        app.push_screen(SettingsScreen(store_id, initial_sync=True))

    def action_close(self) -> None:
        self.query_one(OAuthWait).stop()
        super().action_close()
