"""Settings from the environment (SHOPSYNC_*), as DESIGN.md §4 lists them.

`load_settings()` reads the environment once per call; `Settings.ensure_home()` creates
SHOPSYNC_HOME with mode 0700 (an existing folder keeps its mode; one others can write to is
refused). Nothing here is secret-bearing in its repr: the API secret and the
Fernet key are SecretStr.
"""

from __future__ import annotations

import logging
import os
import re
import stat
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import platformdirs

DEFAULT_API_VERSION = "2026-07"


# The client id that `shopsync simulator` prints for its demo app; only that app can be approved
# from shopsync itself ("Approve in simulator"). tests/engine/test_architecture.py keeps it equal.
SIMULATOR_APP_KEY = "shopsync-demo-app"


class ConfigError(RuntimeError):
    """A SHOPSYNC_* setting is not usable; the message names the variable and says why."""


class SecretStr:
    """A secret setting: shown as `**********` (an empty one as nothing) in str, repr and
    logs; `get_secret_value()` is the one way to read it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get_secret_value(self) -> str:
        return self._value

    def __str__(self) -> str:
        return "**********" if self._value else ""

    def __repr__(self) -> str:
        return f"SecretStr('{self}')"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretStr) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __len__(self) -> int:
        return len(self._value)


def _split_listen(value: str) -> tuple[str, int]:
    host, _, port = value.strip().rpartition(":")
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"must be HOST:PORT with a port from 0 to 65535, not {value!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def _default_home() -> Path:
    return Path(platformdirs.user_data_dir("shopsync", appauthor=False))


ENV_PREFIX = "SHOPSYNC_"


def environment_values(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The settings the environment gives, by field name: SHOPSYNC_<FIELD> for each field of
    Settings, the name matched without regard to case (SHOPSYNC_HOME, shopsync_home), the
    value as given (an empty value is a value; each is validated). Other variables, SHOPSYNC_*
    or not, are ignored."""
    environ = os.environ if environ is None else environ
    by_name = {key.lower(): value for key, value in environ.items()}
    prefix = ENV_PREFIX.lower()
    return {field: by_name[prefix + field] for field in FIELDS if prefix + field in by_name}


# -- conversion: what pydantic's lax mode did with these types (the messages are its own) ------

# An integer as text: ASCII digits with single underscores between them, a sign, surrounding
# whitespace, and a fractional part only when it is all zeros ("3.0").
_INTEGER = re.compile(r"[+-]?[0-9](?:_?[0-9])*(?:\.0+)?", re.ASCII)
_TRUE = frozenset({"1", "on", "t", "true", "y", "yes"})
_FALSE = frozenset({"0", "off", "f", "false", "n", "no"})


def _int(value: object) -> int:
    if isinstance(value, int):  # bool included (True is 1)
        return int(value)
    if isinstance(value, float):
        if value.is_integer():
            return int(value)
        raise ValueError("Input should be a valid integer, got a number with a fractional part")
    if isinstance(value, str):
        text = value.strip()
        if _INTEGER.fullmatch(text):
            return int(text.partition(".")[0])
        raise ValueError("Input should be a valid integer, unable to parse string as an integer")
    raise ValueError("Input should be a valid integer")


def _float(value: object) -> float:
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        if text.isascii():  # float() would take other scripts' digits too
            try:
                return float(text)  # "1_000", "1e3", ".5", "inf", "nan" as before
            except ValueError:
                pass
        raise ValueError("Input should be a valid number, unable to parse string as a number")
    raise ValueError("Input should be a valid number")


def _bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str | int):
        word = str(value).lower()
        if word in _TRUE or word in _FALSE:
            return word in _TRUE
        raise ValueError("Input should be a valid boolean, unable to interpret input")
    raise ValueError("Input should be a valid boolean")


def _str(value: object) -> str:
    if isinstance(value, str):
        return value
    raise ValueError("Input should be a valid string")


def _path(value: object) -> Path:
    if isinstance(value, str | os.PathLike):
        return Path(value)
    raise ValueError("Input is not a valid path for <class 'pathlib.Path'>")


def _secret(value: object) -> SecretStr:
    return value if isinstance(value, SecretStr) else SecretStr(_str(value))


def _optional(convert: Callable[[object], Any]) -> Callable[[object], Any]:
    return lambda value: None if value is None else convert(value)


def _shopify_url(value: object) -> str:
    text = _str(value)
    if "{shop}" not in text:
        raise ValueError("must contain {shop}, e.g. https://{shop}")
    return text.rstrip("/")


def _listen(value: object) -> str:
    text = _str(value)
    _split_listen(text)
    return text.strip()


def _log_level(value: object) -> str:
    text = _str(value)
    if not isinstance(logging.getLevelName(text.strip().upper()), int):
        raise ValueError(f"must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL, not {text!r}")
    return text.strip().upper()


# Each field of Settings: how a value given (by the environment, always text, or by the caller)
# becomes the setting, and its default. Defaults are converted too (a bad default fails loudly).
_SPEC: dict[str, tuple[Callable[[object], Any], Callable[[], object]]] = {
    "home": (_path, _default_home),
    "database_url": (_optional(_str), lambda: None),
    "shopify_url": (_shopify_url, lambda: "https://{shop}"),
    "api_key": (_optional(_str), lambda: None),
    "api_secret": (_optional(_secret), lambda: None),
    "api_secret_previous": (_optional(_secret), lambda: None),
    "public_url": (_str, lambda: "http://127.0.0.1:8787"),
    "listen": (_listen, lambda: "127.0.0.1:8787"),
    "api_version": (_str, lambda: DEFAULT_API_VERSION),
    "secret_key": (_optional(_secret), lambda: None),
    "scopes": (_str, lambda: "read_customers,read_orders,read_products"),
    "max_concurrent_stores": (_int, lambda: 4),
    "lease_seconds": (_float, lambda: 30.0),
    "poll_interval": (_float, lambda: 0.5),
    "bulk_poll_interval": (_float, lambda: 1.0),
    "sync_interval": (_float, lambda: 300.0),
    "reconcile_interval": (_float, lambda: 3600.0),
    "webhook_assert_interval": (_float, lambda: 1800.0),
    "count_check_interval": (_float, lambda: 3600.0),
    "incremental_overlap": (_float, lambda: 300.0),
    "webhook_max_body": (_int, lambda: 1024 * 1024),
    "http_read_timeout": (_float, lambda: 10.0),
    "max_connections": (_int, lambda: 500),
    "http_timeout": (_float, lambda: 30.0),
    "max_retries": (_int, lambda: 6),
    "log_level": (_log_level, lambda: "INFO"),
    "metrics_per_store": (_bool, lambda: True),
}
FIELDS = tuple(_SPEC)


class Settings:
    """Every setting; constructing one reads the environment (`environment_values`), and values
    passed in win over it; other names are ignored. A value that cannot be used raises
    ConfigError naming every such variable (never echoing a value a secret could be in).

    Plain Python, not a pydantic model (nor pydantic-settings' BaseSettings, which this
    replaced): importing pydantic and building the model's validator were ~0.2 s of CPU in
    every process (each `shopsync` command, serve, worker), a third of a command's start-up.
    The conversions are pydantic's lax ones for these types, its messages included."""

    home: Path
    database_url: str | None
    shopify_url: str
    api_key: str | None
    api_secret: SecretStr | None
    # Accepted for webhook HMACs while a rotated client secret propagates (up to an hour).
    api_secret_previous: SecretStr | None
    public_url: str
    listen: str
    api_version: str
    secret_key: SecretStr | None
    scopes: str

    # Engine tuning.
    max_concurrent_stores: int
    lease_seconds: float
    poll_interval: float
    bulk_poll_interval: float
    sync_interval: float
    reconcile_interval: float
    webhook_assert_interval: float
    # Seconds between scheduled count checks of a store (local records against Shopify's
    # counts, engine.sync.counts); a health check and every successful full sync also run one.
    count_check_interval: float
    incremental_overlap: float
    webhook_max_body: int
    # `serve`: a request must be fully received within this many seconds; connections past
    # the cap are closed at once (engine.serve.guard).
    http_read_timeout: float
    max_connections: int
    http_timeout: float
    max_retries: int
    log_level: str
    # /metrics: per-store status and per-entity last-success gauges (8 series per store).
    metrics_per_store: bool

    def __init__(self, **values: object) -> None:
        given = {**environment_values(), **values}
        problems = []
        for name, (convert, default) in _SPEC.items():
            try:
                setattr(self, name, convert(given[name] if name in given else default()))
            except ValueError as error:
                problems.append(f"{ENV_PREFIX}{name.upper()} {error}")
        if problems:
            raise ConfigError("invalid setting: " + "; ".join(problems))

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in FIELDS)
        return f"Settings({fields})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Settings) and all(
            getattr(self, name) == getattr(other, name) for name in FIELDS)

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by value

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'shopsync.db'}"

    @property
    def database_label(self) -> str:
        """Which database this is, for headers: the SQLite file's path (~ for the home
        directory) or PostgreSQL's host/name. Never the user or the password."""
        return database_label(self.resolved_database_url)

    @property
    def key_file(self) -> Path:
        return self.home / "secret.key"

    @property
    def listen_host_port(self) -> tuple[str, int]:
        return _split_listen(self.listen)

    def shop_origin(self, domain: str) -> str:
        return self.shopify_url.replace("{shop}", domain)

    def ensure_home(self) -> Path:
        """SHOPSYNC_HOME, created private (0700) when it does not exist. The mode of a folder
        shopsync did not create is never changed; one other users can write to (e.g. /tmp) is
        refused, since the database, the key and the log would live in it."""
        try:
            self.home.parent.mkdir(parents=True, exist_ok=True)
            try:
                self.home.mkdir(mode=0o700)
                os.chmod(self.home, 0o700)  # ours: private whatever the umask
                return self.home
            except FileExistsError:
                pass
            mode = self.home.stat().st_mode
        except OSError as error:
            raise ConfigError(
                f"SHOPSYNC_HOME {self.home} cannot be used: {error.strerror or error}"
            ) from None
        if not stat.S_ISDIR(mode):
            raise ConfigError(f"SHOPSYNC_HOME {self.home} is not a folder")
        if mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise ConfigError(
                f"SHOPSYNC_HOME {self.home} is a folder other users can write to (mode "
                f"{stat.S_IMODE(mode):o}); shopsync keeps its database, key and log there and "
                "never changes the mode of a folder it did not create: set SHOPSYNC_HOME to a "
                f"folder of its own, e.g. {self.home / 'shopsync'} (created private, mode 700)"
            )
        return self.home


def database_label(url: str) -> str:
    """`sqlite:////home/ops/.local/share/shopsync/shopsync.db` → `~/.local/share/shopsync/
    shopsync.db`; `postgresql://user:secret@db.internal:5432/shopsync` → `db.internal/shopsync`
    (the port only when it is not 5432). Credentials never appear."""
    parsed = urlsplit(url)
    if parsed.scheme == "sqlite":
        path = url[len("sqlite:///"):] if url.startswith("sqlite:///") else parsed.path
        if not path or path == ":memory:":
            return "in-memory SQLite"
        home = str(Path.home())
        return "~" + path[len(home):] if path.startswith(home + os.sep) else path
    try:
        port = parsed.port
    except ValueError:
        port = None
    host = parsed.hostname or "localhost"
    if port not in (None, 5432):
        host = f"{host}:{port}"
    return f"{host}/{parsed.path.lstrip('/')}"


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment; ConfigError (naming the variable) when one is invalid."""
    return Settings(**overrides)
