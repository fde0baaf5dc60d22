"""Helpers shared by the HTTP target sinks: exact JSON money, platform error mapping, line views.

Lives outside ``sinks/`` because every module there must be a registered connector
(tests/test_sink_contract.py). Candidates to move into ``sinks/base.py``.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Callable, Iterable, Mapping

import httpx

from invoicing.errors import AuthError, InvoiceRejected, RetriableSinkError
from invoicing.jsonify import _dec

__all__ = ["dumps_exact", "amount_text", "raise_for_target", "Line", "invoice_lines", "require_invoice", "scrub",
           "platform_order_ids"]

_MARK = "\u0000dec:"
_RAW = re.compile(r'"\\u0000dec:(-?[0-9]+(?:\.[0-9]+)?)"')


def amount_text(value: Decimal) -> str:
    """``Decimal('6890.0000')`` → ``'6890.00'``: exact, at least two decimals, no exponent."""
    return _dec(value)


def _mark(value: Any) -> Any:
    if isinstance(value, Decimal):
        return _MARK + amount_text(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _mark(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_mark(v) for v in value]
    return value


def dumps_exact(value: Any) -> bytes:
    """JSON with every ``Decimal`` written as a number literal of the same value (never via float)."""
    return _RAW.sub(r"\1", json.dumps(_mark(value), ensure_ascii=False, separators=(",", ":"))).encode()


def scrub(text: str, secrets: Iterable[str | None]) -> str:
    """*text* with every secret value replaced by ``***`` (defence in depth: platforms may echo headers)."""
    for s in secrets:
        if s and len(s) >= 4:
            text = text.replace(s, "***")
    return text


def raise_for_target(response: httpx.Response, what: str, message: Callable[[Any], str | None],
                     secrets: Iterable[str | None] = ()) -> None:
    """Map an error response onto the sink error tree, keeping the platform's own message.

    Args:
        response: the platform's answer.
        what: the call, for the error text (no secrets in it).
        message: extracts the platform's message from the parsed body (JSON or text).
        secrets: values that must never appear in the error.

    Raises:
        RetriableSinkError: 408, 429 and 5xx (with ``Retry-After`` when given).
        AuthError: 401, 403.
        InvoiceRejected: other 4xx.
    """
    from sinks.base import retry_after_seconds

    status = response.status_code
    if status < 400:
        return
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text
    try:
        text = message(body) or (response.text[:500] if isinstance(body, str) else json.dumps(body)[:500])
    except (AttributeError, KeyError, TypeError, IndexError):
        text = response.text[:500]
    text = scrub(f"{what}: HTTP {status}: {text}", secrets)
    if status in (408, 429) or status >= 500:
        raise RetriableSinkError(text, retry_after=retry_after_seconds(response.headers.get("retry-after")))
    if status in (401, 403):
        raise AuthError(text)
    raise InvoiceRejected(text)


@dataclass(frozen=True)
class Line:
    """One billable line as targets take it: ``quantity × unit_price = net`` exactly."""

    number: int
    description: str
    sku: str | None
    quantity: Decimal
    unit_price: Decimal
    net: Decimal
    tax_category: str
    tax_rate: Decimal


def invoice_lines(invoice: Mapping[str, Any]) -> list[Line]:
    """Our lines, each line allowance as its own negative line, so every platform's sums equal ours.

    Raises:
        InvoiceRejected: a document-level charge (targets here take charges as lines only).
    """
    if Decimal(invoice.get("charge_total") or 0) != 0:
        raise InvoiceRejected(f"invoice {invoice['number']}: document-level charges are not supported; bill them as lines")
    out: list[Line] = []
    for ln in invoice["lines"]:
        gross = ln["quantity"] * ln["unit_price"]
        out.append(Line(len(out) + 1, ln["description"], ln.get("sku"), ln["quantity"], ln["unit_price"],
                        gross if ln["allowance"] else ln["net_amount"], ln["tax_category"], ln["tax_rate"]))
        if ln["allowance"]:
            out.append(Line(len(out) + 1, f"Allowance: {ln['description']}", None, Decimal(1), -ln["allowance"],
                            -ln["allowance"], ln["tax_category"], ln["tax_rate"]))
    return out


def require_invoice(invoice: Mapping[str, Any], target: str) -> None:
    """Targets whose credit notes live in another resource take invoices only.

    Raises:
        InvoiceRejected: a credit note.
    """
    if invoice.get("document_type", "INVOICE") != "INVOICE":
        raise InvoiceRejected(f"{target}: credit note {invoice['number']} is not supported by this sink (invoices only)")


def platform_order_ids(invoice: Mapping[str, Any], platform: str) -> list[str]:
    """Ids of the orders the invoice bills that came from *platform* (order keys ``<platform>:<id>``)."""
    ids = []
    for ev in invoice.get("lineage") or []:
        if ev.get("platform") == platform and ":" in ev.get("order_key", ""):
            oid = ev["order_key"].split(":", 1)[1]
            if oid not in ids:
                ids.append(oid)
    return ids
