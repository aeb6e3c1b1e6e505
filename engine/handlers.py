"""The registry of job handlers by kind. Handler modules register themselves with @handler.

`load_all()` imports every module that defines handlers, so a runner sees them all.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from typing import Any

Handler = Callable[[Any], Awaitable[dict | None]]
HANDLERS: dict[str, Handler] = {}

# Modules that register handlers; each imports this one and decorates its handlers.
HANDLER_MODULES = ("engine.sync", "engine.health", "engine.lifecycle", "engine.livedata")


def handler(kind: str) -> Callable[[Handler], Handler]:
    def register(function: Handler) -> Handler:
        HANDLERS[kind] = function
        return function

    return register


def load_all() -> dict[str, Handler]:
    for name in HANDLER_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as error:
            if error.name != name:  # a real import error inside the module
                raise
    return HANDLERS
