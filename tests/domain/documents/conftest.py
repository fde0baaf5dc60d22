"""Invoices for the document tests: the pipeline's samples plus long, mixed ones."""
from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import pytest

from domain.documents import validate
from demo.samples.base import CATALOGUE

# n -> customer: 1 FR (K), 2 NL (K + AE), 3 NO (G), 4 DE (S, endpoint 0088), 5 US TX (sales tax),
# 6 US CA (E, resale), 7 unknown DE webshop buyer (S), 8 unknown JP buyer (G, JPY), 9 DE with VAT id.
SAMPLES = range(1, 19)
# No reference data, no endpoint, no VAT id: known by e-mail only, so EN 16931 core UBL, not Peppol.
UNKNOWN_BUYERS = {"shopify:9900000001", "shopify:9900000002"}

def long_invoice(count: int, customer_id: str = "C-1001", *, currency: str = "EUR",
                 document_type: str = "INVOICE") -> dict[str, Any]:
    """An issued invoice of *count* lines for a known customer, built by domain.billing.

    Every third line has a discount; services next to goods give mixed tax groups
    (K + AE for an EU business buyer).
    """
    from domain.billing import build_draft, credit_note_draft, issue
    from domain.codec import decode, encode
    from tests.support import demo_reference

    ref = demo_reference()
    cust = ref.customers[customer_id]
    seller = ref.seller_for(cust)
    lines = []
    for i in range(count):
        sku, desc, price = CATALOGUE[i % len(CATALOGUE)]
        lines.append({"sku": sku, "description": f"{desc} (position {i + 1})", "quantity": Decimal(1 + i % 4),
                      "unit_price": Decimal(price), "discount": Decimal("12.35") if i % 3 == 2 else Decimal(0),
                      "tax_rate": None})
    at = datetime(2026, 11, 20, 8, 0, tzinfo=timezone.utc)
    order = {
        "platform": "shopify", "event_id": f"evt-long-{count}", "event_type": "orders/fulfilled",
        "trigger": "SHIPMENT_CONFIRMED", "order_key": f"shopify:long-{count}-{customer_id}", "currency": currency,
        "customer": {"name": cust.name, "email": cust.email, "vat_id": cust.vat_id, "address": cust.address},
        "customer_ref": customer_id, "lines": lines, "shipping": Decimal("45.00"), "tax_included": False,
        "amount_paid": None, "purchase_order": "PO-LONG-1", "order_number": f"#L{count}",
        "external_order_id": f"long-{count}", "occurred_at": at,
    }
    draft = build_draft([order], customer=cust, seller=seller, reference=ref, trigger="SHIPMENT_CONFIRMED",
                        targets=["folder"])
    inv = issue(draft, sequence=100 + count, issued_at=datetime(2026, 11, 24, 9, tzinfo=timezone.utc), seller=seller)
    if document_type == "CREDIT_NOTE":
        inv = issue(credit_note_draft(inv, reason="returned"), sequence=100 + count,
                    issued_at=datetime(2026, 11, 26, 9, tzinfo=timezone.utc), seller=seller)
    return decode("invoice", encode("invoice", inv))


@pytest.fixture(scope="session", autouse=True)
def compiled_rules() -> None:
    """Compile every rule stylesheet once for the whole session."""
    for name in validate.RULE_FILES:
        validate._executable(name)  # noqa: SLF001
