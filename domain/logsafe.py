"""Log lines nobody can forge: one record is one line, whatever text a request carried.

`SafeFormatter` escapes line breaks and other control characters (CR, LF, NEL, the Unicode line
separators, ANSI escapes) in the whole formatted record, traceback included, so a value taken
from a request can neither start a fake log line nor hide one. `printable` does the same for one
value, cut to a length. `configure_logging` installs the formatter for a process (gateway, worker).
"""
from __future__ import annotations

import logging
import re

from domain.jsonlog import JsonFormatter, Redactor

__all__ = ["SafeFormatter", "printable", "configure_logging", "LOG_FORMAT"]

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")


def _escape(match: re.Match[str]) -> str:
    char = match.group(0)
    return {"\n": "\\n", "\r": "\\r"}.get(char, f"\\x{ord(char):02x}" if ord(char) < 256 else f"\\u{ord(char):04x}")


def printable(value: object, limit: int = 200) -> str:
    """*value* as text on one line, control characters escaped, at most *limit* characters."""
    text = _CONTROL.sub(_escape, str(value))
    return text if len(text) <= limit else text[:limit] + "…"


class SafeFormatter(logging.Formatter):
    """A `logging.Formatter` whose every record is exactly one line (secret values redacted by *redactor*)."""

    def __init__(self, fmt: str | None = None, *, redactor: Redactor | None = None) -> None:
        super().__init__(fmt)
        self.redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        text = _CONTROL.sub(_escape, super().format(record))
        return self.redactor(text) if self.redactor else text


def configure_logging(level: str, fmt: str = "text") -> None:
    """Log to stderr at *level* (replacing handlers set up before): *fmt* ``text`` through `SafeFormatter`,
    ``json`` through `domain.jsonlog.JsonFormatter` (one JSON object per line); secret values redacted. Python's
    warnings go through the same handler (logger ``py.warnings``), not as lines of their own on stderr."""
    handler = logging.StreamHandler()
    redactor = Redactor()
    handler.setFormatter(JsonFormatter(redactor) if fmt == "json" else SafeFormatter(LOG_FORMAT, redactor=redactor))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    logging.captureWarnings(True)
