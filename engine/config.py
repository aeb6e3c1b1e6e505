"""Settings from the environment (SHOPSYNC_*), as DESIGN.md §4 lists them.

`load_settings()` reads the environment once per call; `Settings.ensure_home()` creates
SHOPSYNC_HOME with mode 0700 (an existing folder keeps its mode; one others can write to is
refused). Nothing here is secret-bearing in its repr: the API secret and the
Fernet key are SecretStr.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

DEFAULT_API_VERSION = "2026-07"


# The client id that `shopsync simulator` prints for its demo app; only that app can be approved
# from shopsync itself ("Approve in simulator"). tests/engine/test_architecture.py keeps it equal.
SIMULATOR_APP_KEY = "shopsync-demo-app"


class ConfigError(RuntimeError):
    """A SHOPSYNC_* setting is not usable; the message names the variable and says why."""


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
    value as given (an empty value is a value; pydantic validates each). Other variables,
    SHOPSYNC_* or not, are ignored."""
    environ = os.environ if environ is None else environ
    by_name = {key.lower(): value for key, value in environ.items()}
    prefix = ENV_PREFIX.lower()
    return {field: by_name[prefix + field] for field in Settings.model_fields
            if prefix + field in by_name}


class Settings(BaseModel):
    """Every setting; constructing one reads the environment (`environment_values`), and values
    passed in win over it. What pydantic-settings' BaseSettings did for these fields (scalars,
    no .env file, no secrets folder, no CLI parsing), without importing its sources (asyncio,
    argparse, dotenv, the cloud secret managers: ~0.1-0.2 s of CPU in every process)."""

    # validate_default: defaults go through the validators too (as BaseSettings does).
    model_config = ConfigDict(extra="ignore", validate_default=True)

    def __init__(self, **values: object) -> None:
        super().__init__(**{**environment_values(), **values})

    home: Path = Field(default_factory=_default_home)
    database_url: str | None = None
    shopify_url: str = "https://{shop}"
    api_key: str | None = None
    api_secret: SecretStr | None = None
    # Accepted for webhook HMACs while a rotated client secret propagates (up to an hour).
    api_secret_previous: SecretStr | None = None
    public_url: str = "http://127.0.0.1:8787"
    listen: str = "127.0.0.1:8787"
    api_version: str = DEFAULT_API_VERSION
    secret_key: SecretStr | None = None
    scopes: str = "read_customers,read_orders,read_products"

    # Engine tuning.
    max_concurrent_stores: int = 4
    lease_seconds: float = 30.0
    poll_interval: float = 0.5
    bulk_poll_interval: float = 1.0
    sync_interval: float = 300.0
    reconcile_interval: float = 3600.0
    webhook_assert_interval: float = 1800.0
    # Seconds between scheduled count checks of a store (local records against Shopify's
    # counts, engine.sync.counts); a health check and every successful full sync also run one.
    count_check_interval: float = 3600.0
    incremental_overlap: float = 300.0
    webhook_max_body: int = 1024 * 1024
    # `serve`: a request must be fully received within this many seconds; connections past
    # the cap are closed at once (engine.serve.guard).
    http_read_timeout: float = 10.0
    max_connections: int = 500
    http_timeout: float = 30.0
    max_retries: int = 6
    log_level: str = "INFO"
    # /metrics: per-store status and per-entity last-success gauges (8 series per store).
    metrics_per_store: bool = True

    @field_validator("shopify_url")
    @classmethod
    def _has_shop_placeholder(cls, value: str) -> str:
        if "{shop}" not in value:
            raise ValueError("must contain {shop}, e.g. https://{shop}")
        return value.rstrip("/")

    @field_validator("listen")
    @classmethod
    def _listen_is_host_port(cls, value: str) -> str:
        _split_listen(value)
        return value.strip()

    @field_validator("log_level")
    @classmethod
    def _known_log_level(cls, value: str) -> str:
        if not isinstance(logging.getLevelName(value.strip().upper()), int):
            raise ValueError(
                f"must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL, not {value!r}"
            )
        return value.strip().upper()

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
    try:
        return Settings(**overrides)  # pydantic validates each value
    except ValidationError as error:
        raise ConfigError(_explain(error)) from None


def _explain(error: ValidationError) -> str:
    # Only the validators' own words: pydantic's rendering echoes the input, and a mistyped
    # SHOPSYNC_API_SECRET or SHOPSYNC_SECRET_KEY must not be printed.
    lines = []
    for problem in error.errors():
        name = "SHOPSYNC_" + "_".join(str(part) for part in problem["loc"]).upper()
        lines.append(f"{name} {problem['msg'].removeprefix('Value error, ')}")
    return "invalid setting: " + "; ".join(lines)
