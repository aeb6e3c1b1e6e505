"""Logging setup: structured key=value lines, to SHOPSYNC_HOME/shopsync.log or stderr.

A filter scrubs anything that looks like a credential from every record before it is written,
as a second line of defence: code never logs tokens in the first place.
"""

from __future__ import annotations

import io
import logging
import os
import re
import sys
from logging.handlers import RotatingFileHandler

from engine.config import Settings

# Access tokens, refresh tokens, client secrets, authorization codes and HMACs in URLs or JSON.
_SECRET = re.compile(
    r"(?i)((?:access_token|refresh_token|client_secret|code|hmac|x-shopify-access-token|token)"
    r"[\"']?\s*[:=]\s*[\"']?)[^\s\"'&,}]+"
)
_PREFIXED = re.compile(r"\b(shp(?:at|ua|ca|pa|ss|rt)_)[A-Za-z0-9_-]+")


def scrub(text: str) -> str:
    return _PREFIXED.sub(r"\1***", _SECRET.sub(r"\1***", text))


class ScrubFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = scrub(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = (
            f"ts={self.formatTime(record, '%Y-%m-%dT%H:%M:%S')} level={record.levelname.lower()}"
            f" logger={record.name} msg={record.getMessage()!r}"
        )
        if record.exc_info:
            line += " exc=" + repr(scrub(self.formatException(record.exc_info)))
        return line


class PrivateRotatingFileHandler(RotatingFileHandler):
    """A RotatingFileHandler whose files (the log and each one rotation starts) are created
    0600, and never through a symbolic link."""

    def _open(self) -> io.TextIOWrapper:
        stream = open(  # noqa: SIM115 - the handler keeps it open
            self.baseFilename, self.mode, encoding=self.encoding, errors=self.errors,
            opener=_private)
        assert isinstance(stream, io.TextIOWrapper)  # mode "a": text
        return stream


def _private(path: str, flags: int) -> int:
    fd = os.open(path, flags | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        if os.fstat(fd).st_uid == os.getuid():
            os.fchmod(fd, 0o600)  # a log an older shopsync created 0644
    except (AttributeError, OSError):  # no fchmod/getuid (Windows): the mode stays as is
        pass
    return fd


def configure_logging(settings: Settings, *, to_file: bool) -> None:
    root = logging.getLogger("shopsync")
    if getattr(root, "_shopsync_configured", False):
        return
    if to_file:
        settings.ensure_home()
        handler: logging.Handler = PrivateRotatingFileHandler(
            settings.home / "shopsync.log", maxBytes=5_000_000, backupCount=3, encoding="utf-8"
        )
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(KeyValueFormatter())
    handler.addFilter(ScrubFilter())
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
    root.propagate = False
    root._shopsync_configured = True  # type: ignore[attr-defined]  # our mark on the root logger
