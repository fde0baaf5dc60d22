"""How many documents one core renders per second (used by ``invoicing bench``)."""
from __future__ import annotations

import time
from typing import Any, Callable, Mapping

from invoicing.documents.pdf import render_pdf
from invoicing.documents.ubl import render_ubl

__all__ = ["documents_per_second", "bench_invoice"]


def bench_invoice() -> dict[str, Any]:
    """A realistic issued invoice: the demo's domestic German customer, 5 lines."""
    from tests.support import sample_invoice  # the same builder the tests use

    return sample_invoice(7)


def _rate(fn: Callable[[Mapping[str, Any]], bytes], invoice: Mapping[str, Any], seconds: float) -> tuple[float, int]:
    fn(invoice)  # warm-up: fonts registered, caches filled
    count, start = 0, time.perf_counter()
    deadline = start + seconds
    while True:
        fn(invoice)
        count += 1
        now = time.perf_counter()
        if now >= deadline:
            return count / (now - start), count


def documents_per_second(seconds: float = 2.0, invoice: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Render the PDF and the UBL of one invoice for *seconds* each, on this core.

    Returns:
        ``{"pdf_per_second", "pdf_ms", "ubl_per_second", "ubl_ms", "pdf_and_ubl_per_second", "lines"}``.
    """
    inv = invoice if invoice is not None else _fallback_invoice()
    pdf_rate, _ = _rate(render_pdf, inv, seconds / 2)
    ubl_rate, _ = _rate(render_ubl, inv, seconds / 2)
    both = 1 / (1 / pdf_rate + 1 / ubl_rate)
    return {
        "pdf_per_second": round(pdf_rate, 1), "pdf_ms": round(1000 / pdf_rate, 3),
        "ubl_per_second": round(ubl_rate, 1), "ubl_ms": round(1000 / ubl_rate, 3),
        "pdf_and_ubl_per_second": round(both, 1), "lines": len(inv["lines"]),
    }


def _fallback_invoice() -> dict[str, Any]:
    try:
        return bench_invoice()
    except ImportError:  # installed without the tests folder
        return _synthetic_invoice()


def _synthetic_invoice() -> dict[str, Any]:
    from datetime import date, datetime, timezone
    from decimal import Decimal

    addr = {"line1": "Industriestrasse 12", "line2": None, "city": "Hamburg", "postal_code": "20457",
            "region": None, "country": "DE"}
    party = {"party_id": "p", "name": "Kompressortechnik Nord GmbH", "vat_id": "DE811569869",
             "tax_registration": None, "email": "billing@example.com", "endpoint_id": "DE811569869",
             "endpoint_scheme": "9930", "address": addr}
    lines = [{"line_id": str(i), "order_key": "o", "sku": f"SKU-{i}", "description": f"Compressor part {i}",
              "quantity": Decimal(i), "unit_code": "C62", "unit_price": Decimal("100.00"),
              "allowance": Decimal(0), "net_amount": Decimal(100 * i), "tax_category": "S",
              "tax_rate": Decimal(19)} for i in range(1, 13)]
    net = sum((ln["net_amount"] for ln in lines), Decimal(0))
    tax = net * Decimal("0.19")
    return {
        "invoice_id": "bench", "document_type": "INVOICE", "series": "bench", "sequence": 1,
        "number": "INV-2026-000001", "issue_date": date(2026, 11, 24), "due_date": date(2026, 12, 24),
        "supply_date": date(2026, 11, 23), "issued_at": datetime(2026, 11, 24, tzinfo=timezone.utc),
        "currency": "EUR", "customer_id": "c", "seller": party, "buyer": dict(party, vat_id="DE129273398"),
        "buyer_reference": "REF", "purchase_order": None, "lines": lines,
        "tax_breakdown": [{"category": "S", "rate": Decimal(19), "taxable_amount": net, "tax_amount": tax,
                           "exemption_reason": None, "exemption_code": None}],
        "line_total": net, "charge_total": Decimal(0), "tax_exclusive_total": net, "tax_total": tax,
        "total": net + tax, "prepaid": Decimal(0), "amount_due": net + tax, "payment_terms": "Net 30 days",
        "payment_terms_code": "NET30", "payment_iban": "DE89370400440532013000", "notes": [],
        "preceding_invoice": None, "preceding_invoice_date": None, "orders": ["o"], "lineage": [],
        "targets": [], "trigger": "BENCH",
    }
