"""Helpers shared by HTTP sinks: id mapping, exact JSON money, per-line tax, platform error messages.

Target systems know our customers, items, taxes and currencies by their own ids.
`MappedSettings.id_map` holds that mapping, read from ``INVOICING_<TARGET>_ID_MAP``
as JSON, keyed ``"<kind>:<our key>"``, with ``"<kind>:*"`` as a default::

    {"customer:shopify:9900000001": "1234", "customer:*": "1000",
     "tax:S:19": "5", "item:KS-SC-7.5": "12", "currency:EUR": "1"}

A missing mapping rejects the invoice (`InvoiceRejected`) naming the variable to set.
"""
from __future__ import annotations

import json
import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Callable, Mapping

import httpx
from pydantic import Field

from invoicing.errors import AuthError, InvoiceRejected, RetriableSinkError, SinkError
from invoicing.money import amount_places
from invoicing.settings import PlatformSettings, platform_env_prefix
from sinks.base import raise_for_status

__all__ = ["MappedSettings", "map_id", "rate_key", "dec_str", "json_body", "line_taxes", "order_ids",
           "raise_platform_error", "reject_credit_notes"]


class MappedSettings(PlatformSettings):
    """Platform settings plus the mapping of our ids onto the target's ids."""

    id_map: dict[str, str] = Field(default_factory=dict, description="JSON: '<kind>:<our key>' → target id; '<kind>:*' default.")


def rate_key(category: str, rate: Decimal) -> str:
    """``("S", Decimal("19.0000"))`` → ``"S:19"``: the key of a tax in ``id_map``."""
    return f"{category}:{dec_str(rate, min_places=0)}"


def map_id(settings: PlatformSettings, target: str, kind: str, key: str, *, required: bool = True) -> str | None:
    """The target's id for our *key* of *kind* (customer, item, tax, currency, …).

    Raises:
        InvoiceRejected: no mapping and *required*.
    """
    ids: Mapping[str, str] = getattr(settings, "id_map", {}) or {}
    found = ids.get(f"{kind}:{key}") or ids.get(f"{kind}:*")
    if found is None and required:
        raise InvoiceRejected(f"{target}: no {kind} id for {key!r}; add \"{kind}:{key}\" (or \"{kind}:*\") "
                              f"to {platform_env_prefix(target)}ID_MAP")
    return found


def dec_str(value: Decimal, *, min_places: int = 2) -> str:
    """Exact decimal text without Avro's scale padding: 10.5000 → "10.50", 5.0000 → "5.00" (or "5")."""
    text = format(value, "f")
    head, _, tail = text.partition(".")
    tail = tail.rstrip("0")
    tail = tail.ljust(min_places, "0")
    return f"{head}.{tail}" if tail else head


_NUM = re.compile(r'"\\u0000(-?[0-9.]+)\\u0000"')


def json_body(doc: Any, *, numbers: bool = True) -> bytes:
    """JSON with every Decimal exact: a JSON number (``numbers``) or a decimal string. Never a float."""

    def conv(v: Any) -> Any:
        if isinstance(v, Decimal):
            s = dec_str(v)
            return f"\u0000{s}\u0000" if numbers else s
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [conv(x) for x in v]
        if hasattr(v, "isoformat"):
            return v.isoformat()
        return v

    return _NUM.sub(r"\1", json.dumps(conv(doc), ensure_ascii=False)).encode()


def line_taxes(invoice: Mapping[str, Any]) -> dict[str, Decimal]:
    """Tax per line, allocated so each (category, rate) group sums exactly to our ``tax_breakdown``
    (EN 16931 rounds VAT on the group; platforms that take a tax amount per line need this)."""
    places = amount_places(str(invoice["currency"]))
    out: dict[str, Decimal] = {}
    for group in invoice["tax_breakdown"]:
        lines = [ln for ln in invoice["lines"]
                 if ln["tax_category"] == group["category"] and ln["tax_rate"] == group["rate"]]
        for ln in lines:
            out[ln["line_id"]] = (ln["net_amount"] * ln["tax_rate"] / 100).quantize(places, ROUND_HALF_UP)
        if lines:
            rest = group["tax_amount"] - sum((out[ln["line_id"]] for ln in lines), Decimal(0))
            biggest = max(lines, key=lambda ln: abs(ln["net_amount"]))
            out[biggest["line_id"]] += rest
    return out


def order_ids(invoice: Mapping[str, Any], platform: str) -> list[str]:
    """Ids of the invoice's orders that came from *platform* (order keys are ``platform:id``)."""
    keys = list(invoice.get("orders") or []) + [e["order_key"] for e in invoice.get("lineage") or []]
    seen: list[str] = []
    for key in keys:
        source, _, ident = str(key).partition(":")
        if source == platform and ident and ident not in seen:
            seen.append(ident)
    return seen


def reject_credit_notes(invoice: Mapping[str, Any], target: str) -> None:
    """Raises `InvoiceRejected` for a credit note (these sinks create invoices only)."""
    if invoice.get("document_type", "INVOICE") != "INVOICE":
        raise InvoiceRejected(f"{target}: {invoice['document_type']} {invoice['number']} not supported by this sink "
                              "(it creates invoices only); park and book it by hand")


def raise_platform_error(response: httpx.Response, what: str, message: Callable[[Any], str | None]) -> None:
    """`raise_for_status`, with the platform's own error text (from *message(json_body)*) as the message."""
    try:
        raise_for_status(response, what=what)
    except SinkError as exc:
        try:
            text = message(response.json())
        except Exception:  # noqa: BLE001 - not JSON or not the documented shape
            text = None
        if not text:
            raise
        full = f"{what}: HTTP {response.status_code}: {text}"[:600]
        if isinstance(exc, RetriableSinkError):
            raise RetriableSinkError(full, retry_after=exc.retry_after) from None
        raise (AuthError if isinstance(exc, AuthError) else InvoiceRejected)(full) from None
