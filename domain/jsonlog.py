"""Log context and JSON log lines (``INVOICING_LOG_FORMAT=json``), so one invoice can be followed.

Every component says what it is working on with `start_log_context` (a new event: the agents'
``guarded`` block, a webhook request) and `add_log_context` (what became known while handling it:
the order key, the invoice number). The values live in a `contextvars.ContextVar`, so each asyncio
task (one per agent, one per HTTP request) has its own. `JsonFormatter` writes one JSON object per
line: ``time``, ``level``, ``logger``, ``message``, the context fields that are known (``platform``,
``event_id``, ``order_key``, ``invoice_id``, ``invoice_number``, ``target``, ``stage``) and
``exception`` (the traceback, in the object, never on lines of its own).

Secrets: messages never carry them by design (see `domain.logsafe`); as a second line of defence
`Redactor` replaces the value of every environment variable whose name says it is a secret
(``*_SECRET``, ``*_PASSWORD``, ``*_TOKEN``, ``*_KEY``, ``*_DSN``, ...) by ``[redacted]`` in every
formatted record, text or JSON.
"""
from __future__ import annotations

import json
import logging
import os
import re
from contextvars import ContextVar
from datetime import datetime, timezone
from typing import Mapping

__all__ = ["CONTEXT_FIELDS", "start_log_context", "add_log_context", "log_context", "JsonFormatter", "Redactor"]

CONTEXT_FIELDS = ("platform", "event_id", "order_key", "invoice_id", "invoice_number", "target", "stage")

_CONTEXT: ContextVar[Mapping[str, str]] = ContextVar("invoicing_log_context", default={})
_SECRET_NAME = re.compile(r"(SECRET|PASSWORD|PASSWD|TOKEN|_KEY|APIKEY|PRIVATE|CREDENTIAL|DSN)", re.IGNORECASE)
_MAX_VALUE = 200


def _clean(fields: Mapping[str, object]) -> dict[str, str]:
    return {k: str(v)[:_MAX_VALUE] for k, v in fields.items() if k in CONTEXT_FIELDS and v is not None and v != ""}


def start_log_context(**fields: object) -> None:
    """A new unit of work in this task: the context is *fields* only (unknown names are dropped)."""
    _CONTEXT.set(_clean(fields))


def add_log_context(**fields: object) -> None:
    """Add *fields* to this task's context (what became known while handling the event)."""
    _CONTEXT.set({**_CONTEXT.get(), **_clean(fields)})


def log_context() -> dict[str, str]:
    """This task's context."""
    return dict(_CONTEXT.get())


class Redactor:
    """Replaces the values of secret-named environment variables (read once, 6+ characters) in text."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        values = {v for k, v in env.items() if _SECRET_NAME.search(k) and len(v) >= 6}
        self._pattern = re.compile("|".join(re.escape(v) for v in sorted(values, key=len, reverse=True))) if values else None

    def __call__(self, text: str) -> str:
        return self._pattern.sub("[redacted]", text) if self._pattern else text


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line, with this task's log context."""

    def __init__(self, redactor: Redactor | None = None) -> None:
        super().__init__()
        self.redactor = redactor or Redactor()

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, str] = {
            "time": datetime.fromtimestamp(record.created, tz=timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        doc.update(_CONTEXT.get())
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            doc["exception"] = record.exc_text
        return json.dumps({k: self.redactor(v) for k, v in doc.items()}, ensure_ascii=True, separators=(",", ":"))
