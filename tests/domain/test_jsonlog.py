"""INVOICING_LOG_FORMAT=json (domain.jsonlog, domain.logsafe): one JSON object per line, the context of the
event in hand, no secret.

The gateway's lines are checked in tests/sources/ingress/test_gateway_logs.py; the worker's (issue and
deliver lines carrying platform, event id, order key and invoice number) in
tests/deploy/test_prometheus_live.py, on a real worker process.
"""
from __future__ import annotations

import asyncio
import io
import json
import logging
import sys
import warnings

import pytest

from domain.jsonlog import JsonFormatter, Redactor, add_log_context, log_context, start_log_context
from domain.logsafe import LOG_FORMAT, SafeFormatter, configure_logging
from domain.settings import load_settings


def record(message: str, *args: object, exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError("boom\nsecond line")
        except ValueError:
            exc_info = sys.exc_info()
    return logging.LogRecord("invoicing.test", logging.WARNING, __file__, 1, message, args, exc_info)


def test_a_record_is_one_json_object_on_one_line_with_the_context() -> None:
    formatter = JsonFormatter(Redactor({}))
    start_log_context(stage="issue", platform="shopify", event_id="evt-1", unknown_field="dropped")
    add_log_context(order_key="shopify:42", invoice_number="INV-2026-000007", invoice_id=None)
    line = formatter.format(record("line one\nline two %s", "\u2028x", exc=True))
    assert "\n" not in line and "\u2028" not in line
    doc = json.loads(line)
    assert doc["message"] == "line one\nline two \u2028x" and doc["level"] == "WARNING" and doc["logger"] == "invoicing.test"
    assert {k: doc[k] for k in ("stage", "platform", "event_id", "order_key", "invoice_number")} == {
        "stage": "issue", "platform": "shopify", "event_id": "evt-1", "order_key": "shopify:42",
        "invoice_number": "INV-2026-000007"}
    assert "unknown_field" not in doc and "invoice_id" not in doc
    assert "ValueError: boom" in doc["exception"]
    start_log_context(stage="bill")
    assert log_context() == {"stage": "bill"}, "a new event starts a new context"


async def test_each_task_has_its_own_context() -> None:
    formatter = JsonFormatter(Redactor({}))

    async def work(number: str) -> str:
        start_log_context(invoice_number=number)
        await asyncio.sleep(0.01)
        return formatter.format(record("done"))

    lines = await asyncio.gather(*(work(f"INV-{i}") for i in range(5)))
    assert [json.loads(line)["invoice_number"] for line in lines] == [f"INV-{i}" for i in range(5)]


def test_secret_values_from_the_environment_are_redacted_in_json_and_text() -> None:
    redactor = Redactor({"INVOICING_STRIPE_SECRET": "whsec_abcdef123", "INVOICING_XERO_CLIENT_SECRET": "xero-s3cret",
                         "INVOICING_REGISTER_DSN": "postgresql://u:pw-9876@db/x", "INVOICING_PARTITIONS": "123456"})
    rec = record("sent %s, %s and %s to 123456", "whsec_abcdef123", "xero-s3cret", "postgresql://u:pw-9876@db/x")
    for line in (JsonFormatter(redactor).format(rec), SafeFormatter(LOG_FORMAT, redactor=redactor).format(rec)):
        assert "whsec_abcdef123" not in line and "xero-s3cret" not in line and "pw-9876" not in line
        assert line.count("[redacted]") == 3 and "123456" in line, "only secret-named variables"


def test_invoicing_log_format_json_installs_the_json_formatter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INVOICING_LOG_FORMAT", "json")
    root = logging.getLogger()
    saved = list(root.handlers), root.level
    try:
        configure_logging("INFO", load_settings().log_format)
        (handler,) = root.handlers
        assert isinstance(handler.formatter, JsonFormatter)
        stream = io.StringIO()
        handler.setStream(stream)  # type: ignore[attr-defined]
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.warn("a library's warning\nover two lines", UserWarning)
        (line,) = stream.getvalue().splitlines()
        assert json.loads(line)["logger"] == "py.warnings", "a warning is a JSON line too"
        configure_logging("INFO")
        (handler,) = root.handlers
        assert isinstance(handler.formatter, SafeFormatter) and handler.formatter.redactor is not None, \
            "text lines are redacted too"
    finally:
        logging.captureWarnings(False)
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    monkeypatch.setenv("INVOICING_LOG_FORMAT", "xml")
    with pytest.raises(Exception, match="log_format"):
        load_settings()
