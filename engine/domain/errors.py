"""The exceptions engine.actions raises; the TUI shows str(error), the CLI maps them to exit codes.

    ActionError          the action could not run (exit 1); str() is the operator-facing reason
    ├── InvalidInput     bad input: a domain, store, entity or category that is not valid (exit 2)
    └── NotAllowed       the action cannot run in the store's current state (exit 1)
    DatabaseError        the database cannot be opened or used (exit 1; not an ActionError)
"""

from __future__ import annotations


class ActionError(Exception):
    """The action could not run; the message says why, in the operator's words."""


class InvalidInput(ActionError):
    """The operator's input is not valid; nothing was sent or written."""


class NotAllowed(ActionError):
    """The action does not apply to the store in its current state."""


class DatabaseError(RuntimeError):
    """The database cannot be opened or migrated; the message says why and where."""
