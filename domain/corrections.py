"""Corrections: a credit note for a whole invoice, or for the lines of one cancelled order
in a consolidated (billing-cycle) invoice. Invoices are never deleted or renumbered."""
from __future__ import annotations

from collections import OrderedDict
from decimal import Decimal
from typing import Any, Mapping

from domain.billing import credit_note_draft, invoice_id_for
from domain.money import ZERO, round_amount

__all__ = ["credit_note_for"]


def credit_note_for(invoice: Mapping[str, Any], *, reason: str, order_key: str | None = None,
                    lineage: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """An unnumbered credit note reversing *invoice*, or only *order_key*'s lines of it.

    Tax groups and totals of a partial credit note are recomputed from its lines with the
    same EN 16931 rules as an invoice (group tax on the group's sum, half-up).
    """
    cn = credit_note_draft(invoice, reason=reason)
    partial = order_key is not None and len(invoice["orders"]) > 1
    cn["invoice_id"] = invoice_id_for([str(invoice["invoice_id"]), order_key or "*"], "CREDIT_NOTE")
    if partial:
        currency = invoice["currency"]
        lines = [dict(ln, line_id=str(i + 1)) for i, ln in enumerate(ln for ln in invoice["lines"] if ln["order_key"] == order_key)]
        groups: "OrderedDict[tuple[str, Decimal], dict[str, Any]]" = OrderedDict()
        originals = {(g["category"], g["rate"]): g for g in invoice["tax_breakdown"]}
        for ln in lines:
            key = (ln["tax_category"], ln["tax_rate"])
            g = groups.setdefault(key, {**originals[key], "taxable_amount": ZERO, "tax_amount": ZERO})
            g["taxable_amount"] += ln["net_amount"]
        for g in groups.values():
            g["tax_amount"] = round_amount(g["taxable_amount"] * g["rate"] / 100, currency)
        line_total = sum((ln["net_amount"] for ln in lines), ZERO)
        tax_total = sum((g["tax_amount"] for g in groups.values()), ZERO)
        cn.update(lines=lines, tax_breakdown=list(groups.values()), line_total=line_total,
                  tax_exclusive_total=line_total, tax_total=tax_total, total=line_total + tax_total,
                  prepaid=ZERO, amount_due=line_total + tax_total, orders=[order_key])
    if lineage:
        cn["lineage"] = list(invoice["lineage"]) + lineage
    return cn
