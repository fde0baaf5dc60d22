"""Mapping our Invoice onto a target system's documents (shared by the sinks).

* Target systems know our customers, items, taxes and currencies by their own ids.
  `MappedSettings.id_map` holds that mapping, read from ``INVOICING_<TARGET>_ID_MAP`` as JSON,
  keyed ``"<kind>:<our key>"``, with ``"<kind>:*"`` as a default::

      {"customer:shopify:9900000001": "1234", "customer:*": "1000",
       "tax:S:19": "5", "item:KS-SC-7.5": "12", "currency:EUR": "1"}

  A missing mapping rejects the invoice (`InvoiceRejected`) naming the variable to set.
* `invoice_lines`: our lines as targets take them, each allowance its own negative line.
* `order_ids`: the platform's own ids of the orders an invoice bills.
* `reject_credit_notes`, `reject_document_charges`, `check_mappable`: refuse what a target
  mapping cannot carry without changing the totals.

Lives outside ``sinks/`` because every module there must be a registered connector
(tests/sinks/test_contract.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Mapping

from pydantic import Field

from domain.errors import InvoiceRejected
from domain.exact import decimal_text
from domain.settings import PlatformSettings, platform_env_prefix

__all__ = ["MappedSettings", "map_id", "rate_key", "Line", "invoice_lines", "order_ids", "reject_credit_notes",
           "reject_document_charges", "check_mappable"]


class MappedSettings(PlatformSettings):
    """Platform settings plus the mapping of our ids onto the target's ids."""

    id_map: dict[str, str] = Field(default_factory=dict, description="JSON: '<kind>:<our key>' → target id; '<kind>:*' default.")


def rate_key(category: str, rate: Decimal) -> str:
    """``("S", Decimal("19.0000"))`` → ``"S:19"``: the key of a tax in ``id_map``."""
    return f"{category}:{decimal_text(rate, min_places=0)}"


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


def reject_credit_notes(invoice: Mapping[str, Any], target: str) -> None:
    """For targets that create invoices only (their credit notes live in another resource).

    Raises:
        InvoiceRejected: a credit note.
    """
    if invoice.get("document_type", "INVOICE") != "INVOICE":
        raise InvoiceRejected(f"{target}: credit note {invoice['number']} is not supported by this sink "
                              "(it creates invoices only); park and book it by hand")


def reject_document_charges(invoice: Mapping[str, Any], target: str) -> None:
    """For targets that take charges as lines only.

    Raises:
        InvoiceRejected: the invoice has document-level charges.
    """
    if Decimal(invoice.get("charge_total") or 0) != 0:
        raise InvoiceRejected(f"{target}: invoice {invoice['number']}: document-level charges are not supported; "
                              "bill them as lines")


def check_mappable(invoice: Mapping[str, Any], target: str) -> None:
    """`reject_credit_notes` and `reject_document_charges`.

    Raises:
        InvoiceRejected: a credit note, or document-level charges.
    """
    reject_credit_notes(invoice, target)
    reject_document_charges(invoice, target)


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


def invoice_lines(invoice: Mapping[str, Any], target: str) -> list[Line]:
    """Our lines, each line allowance as its own negative line, so every platform's sums equal ours.

    Raises:
        InvoiceRejected: a document-level charge (`reject_document_charges`).
    """
    reject_document_charges(invoice, target)
    out: list[Line] = []
    for ln in invoice["lines"]:
        gross = ln["quantity"] * ln["unit_price"]
        out.append(Line(len(out) + 1, ln["description"], ln.get("sku"), ln["quantity"], ln["unit_price"],
                        gross if ln["allowance"] else ln["net_amount"], ln["tax_category"], ln["tax_rate"]))
        if ln["allowance"]:
            out.append(Line(len(out) + 1, f"Allowance: {ln['description']}", None, Decimal(1), -ln["allowance"],
                            -ln["allowance"], ln["tax_category"], ln["tax_rate"]))
    return out


def order_ids(invoice: Mapping[str, Any], platform: str) -> list[str]:
    """Ids of the invoice's orders that came from *platform* (order keys are ``<platform>:<id>``),
    from ``orders`` and ``lineage``, first seen first."""
    keys = list(invoice.get("orders") or []) + [e.get("order_key", "") for e in invoice.get("lineage") or []]
    seen: list[str] = []
    for key in keys:
        source, _, ident = str(key).partition(":")
        if source == platform and ident and ident not in seen:
            seen.append(ident)
    return seen
