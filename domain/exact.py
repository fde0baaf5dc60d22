"""Exact numbers in the documents we send and generate: never through float.

* `decimal_text`: ``Decimal('6890.0000')`` → ``'6890.00'`` (Avro's scale padding dropped, at least
  *min_places* decimals, no exponent).
* `dumps_exact` / `json_body`: JSON where every `Decimal` is a number literal of the same value.
  Platforms such as Xero, QuickBooks and Zoho send amounts as JSON numbers (``"Total": 1249.90``);
  the sample generators reproduce that byte for byte, and the sinks send it.
* `money_str`, `qty_str`, `to_minor`: an amount as a string at the currency's precision, a
  quantity without needless zeros, an amount in integer minor units (Stripe).
* `line_taxes`: tax per line that adds up exactly to each `tax_breakdown` group.
"""
from __future__ import annotations

import json
import re
from datetime import date, time
from decimal import Decimal
from typing import Any, Mapping, Sequence

from domain.errors import InvoiceRejected
from domain.money import ZERO, amount_places, minor_units, round_amount

__all__ = ["decimal_text", "dumps_exact", "json_body", "money_str", "qty_str", "to_minor", "line_taxes"]

_MARK = "\u0000dec:"
_MARKED = re.compile(r'"\\u0000dec:(-?[0-9]+(?:\.[0-9]+)?)"')


def decimal_text(value: Decimal, *, min_places: int = 2) -> str:
    """Exact decimal text without Avro's scale padding: 10.5000 → "10.50", 1.2345 → "1.2345",
    5.0000 → "5.00" (or "5" with ``min_places=0``)."""
    head, _, tail = format(value, "f").partition(".")
    tail = tail.rstrip("0").ljust(min_places, "0")
    return f"{head}.{tail}" if tail else head


def _mark(value: Any, min_places: int | None) -> Any:
    if isinstance(value, Decimal):
        return _MARK + (f"{value:f}" if min_places is None else decimal_text(value, min_places=min_places))
    if isinstance(value, (date, time)):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _mark(v, min_places) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_mark(v, min_places) for v in value]
    return value


def dumps_exact(value: Any, *, min_places: int | None = None, **kwargs: Any) -> str:
    """``json.dumps`` where every `Decimal` becomes a number literal of exactly its value.

    Args:
        value: the document; dates and datetimes become ISO 8601 strings.
        min_places: ``None`` writes a Decimal's digits as they are (``1249.9000``); a number
            drops trailing zeros down to that many decimals (`decimal_text`).
        kwargs: passed to `json.dumps` (``separators``, ``ensure_ascii``, …).
    """
    return _MARKED.sub(r"\1", json.dumps(_mark(value, min_places), **kwargs))


def json_body(value: Any, *, compact: bool = False) -> bytes:
    """A request body for a target: UTF-8 JSON, every Decimal an exact number literal with at
    least two decimals (``6890.00``), never a float. *compact* drops the spaces after ``,`` and ``:``."""
    separators = (",", ":") if compact else None
    return dumps_exact(value, min_places=2, ensure_ascii=False, separators=separators).encode()


def money_str(amount: Decimal, currency: str) -> str:
    """An amount at the currency's invoice precision, as a string: ``Decimal('49.0000')`` → ``'49.00'``.

    Raises:
        InvoiceRejected: the amount has more decimals than the currency allows.
    """
    value = Decimal(amount)
    rounded = round_amount(value, currency)
    if rounded != value:
        raise InvoiceRejected(f"{amount} {currency} has more decimals than the currency allows")
    return f"{rounded:f}"


def qty_str(value: Decimal) -> str:
    """A quantity or unit price without trailing zeros beyond what it needs: 5.0000 → '5', 1249.9000 → '1249.9'."""
    return f"{Decimal(value).normalize():f}"


def to_minor(amount: Decimal, currency: str) -> int:
    """19.99 EUR → 1999; refuses an amount finer than the currency's minor unit.

    Raises:
        InvoiceRejected: the amount has more decimals than the currency has minor units.
    """
    scaled = Decimal(amount).scaleb(minor_units(currency))
    if scaled != scaled.to_integral_value():
        raise InvoiceRejected(f"{amount} {currency} is not a whole number of minor units")
    return int(scaled)


def line_taxes(invoice: Mapping[str, Any]) -> list[Decimal]:
    """Tax per line (in line order) that adds up exactly to each `tax_breakdown` subtotal.

    EN 16931 rounds VAT on the (category, rate) group; platforms that take a tax amount per
    line need shares that sum to it. Each line gets its rounded share (half-up); the cents the
    per-line rounding lost or gained against the group's tax amount go to the lines with the
    largest remainders, so every line stays within one minor unit of its exact share.
    """
    lines: Sequence[Mapping[str, Any]] = invoice["lines"]
    currency = str(invoice["currency"])
    quantum = amount_places(currency)
    taxes = [ZERO] * len(lines)
    for sub in invoice["tax_breakdown"]:
        idx = [i for i, ln in enumerate(lines)
               if ln["tax_category"] == sub["category"] and Decimal(ln["tax_rate"]) == Decimal(sub["rate"])]
        if not idx:
            continue
        raw = [Decimal(lines[i]["net_amount"]) * Decimal(sub["rate"]) / 100 for i in idx]
        shares = [round_amount(r, currency) for r in raw]
        diff = Decimal(sub["tax_amount"]) - sum(shares, ZERO)
        steps = int(abs(diff) / quantum)
        sign = 1 if diff > 0 else -1
        order = sorted(range(len(idx)), key=lambda k: sign * (raw[k] - shares[k]), reverse=True)
        for n in range(steps):
            shares[order[n % len(order)]] += sign * quantum
        for k, i in enumerate(idx):
            taxes[i] = shares[k]
    return taxes
