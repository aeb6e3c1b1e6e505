"""The engine's process-wide context: settings, the open database and the token vault.

`open_runtime()` is what every entry point (CLI, TUI, `serve`, tests) calls first.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from peewee import Database

from engine.config import Settings, load_settings
from engine.persistence.database import open_database
from engine.persistence.vault import Vault

log = logging.getLogger("shopsync")


@dataclass
class Runtime:
    settings: Settings
    db: Database
    vault: Vault

    def close(self) -> None:
        if not self.db.is_closed():
            self.db.close()


def open_runtime(settings: Settings | None = None) -> Runtime:
    settings = settings or load_settings()
    if settings.database_url is None or settings.database_url.startswith("sqlite"):
        settings.ensure_home()
    db = open_database(settings.resolved_database_url)
    return Runtime(settings=settings, db=db, vault=Vault(settings))
