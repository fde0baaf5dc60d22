"""Helpers the HTTP sinks share when they map our Invoice onto a platform's body.

Everything stays Decimal: amounts become exact strings, exact JSON number
literals (`invoicing.exact_json`) or integer minor units, never floats.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any, Mapping, Sequence

from invoicing.errors import InvoiceRejected
from invoicing.money import ZERO, amount_places, minor_units, round_amount

__all__ = ["check_mappable", "line_taxes", "to_minor", "money_str", "qty_str"]


def check_mappable(invoice: Mapping[str, Any], target: str) -> None:
    """Refuse what a target mapping cannot carry without changing the totals.

    Raises:
        InvoiceRejected: a credit note, or document-level charges.
    """
    if invoice.get("document_type", "INVOICE") != "INVOICE":
        raise InvoiceRejected(f"{target}: credit notes are not mapped for this target (invoice {invoice['number']})")
    if Decimal(invoice.get("charge_total") or 0) != ZERO:
        raise InvoiceRejected(f"{target}: document-level charges are not mapped (invoice {invoice['number']})")


def to_minor(amount: Decimal, currency: str) -> int:
    """19.99 EUR → 1999; refuses an amount finer than the currency's minor unit.

    Raises:
        InvoiceRejected: the amount has more decimals than the currency has minor units.
    """
    scaled = Decimal(amount).scaleb(minor_units(currency))
    if scaled != scaled.to_integral_value():
        raise InvoiceRejected(f"{amount} {currency} is not a whole number of minor units")
    return int(scaled)


def money_str(amount: Decimal, currency: str) -> str:
    """An amount at the currency's invoice precision, as a string: ``Decimal('49.0000')`` → ``'49.00'``."""
    value = Decimal(amount)
    rounded = round_amount(value, currency)
    if rounded != value:
        raise InvoiceRejected(f"{amount} {currency} has more decimals than the currency allows")
    return f"{rounded:f}"


def qty_str(value: Decimal) -> str:
    """A quantity or unit price without trailing zeros beyond what it needs: 5.0000 → '5', 1249.9000 → '1249.9'."""
    text = f"{Decimal(value).normalize():f}"
    return text


def line_taxes(invoice: Mapping[str, Any]) -> list[Decimal]:
    """Tax per line that adds up exactly to each `tax_breakdown` subtotal.

    Each line gets its rounded share (half-up); the cents the per-line rounding
    lost or gained against the category's tax amount go to the lines with the
    largest remainders, so the sum per category equals our tax total exactly.
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
