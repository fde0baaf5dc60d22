"""Issued invoices built exactly as the pipeline builds them, from the demo's Shopify samples.

Used by the benchmark and the tests (a realistic invoice without running a broker).
"""
from __future__ import annotations

import random
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from domain.billing import build_draft, credit_note_draft, issue, unknown_customer
from domain.codec import decode, encode
from domain.reference import ReferenceData, load_reference_file
from domain.settings import PlatformSettings

__all__ = ["demo_reference", "sample_invoice", "REFERENCE_FILE"]

REFERENCE_FILE = Path(__file__).resolve().parent.parent / "data" / "reference.yaml"


def demo_reference() -> ReferenceData:
    """The demo's reference data as a worker holds it."""
    ref = ReferenceData()
    for kind, key, value in load_reference_file(REFERENCE_FILE):
        ref.apply(kind, key, value)
    return ref


def sample_invoice(n: int = 1, *, sequence: int | None = None, targets: tuple[str, ...] = ("folder",),
                   document_type: str = "INVOICE", lines: list[tuple[str, str, str]] | None = None) -> dict[str, Any]:
    """An issued invoice (or its credit note) for demo Shopify order *n*; *lines* ((sku, quantity,
    unit price) each) replace the order's lines, e.g. to build an invoice whose tax rounded per line
    differs from the tax rounded per group (three lines of 0.13 at 19 %: 0.06 against 0.07)."""
    from sources.records import raw_event_record
    from demo.samples import shopify as shop
    from sources.base import InboundRequest
    from sources.shopify import Shopify

    ref = demo_reference()
    req = shop.order(n, random.Random(n), "s", datetime(2026, 11, 24, tzinfo=timezone.utc)).requests[-1]
    src = Shopify(PlatformSettings(secret=SecretStr("s")))
    inbound = InboundRequest(method=req.method, path=req.path, query=req.query,
                             headers={k.lower(): v for k, v in req.headers.items()}, body=req.body,
                             url=f"http://testserver{req.path}")
    raw = decode("raw_event", encode("raw_event", raw_event_record("shopify", src.describe(inbound), inbound, src)))
    order = decode("order_event", encode("order_event", src.normalise(raw)[0]))  # type: ignore[arg-type]
    if lines is not None:
        order["lines"] = [{"sku": sku, "description": ref.products[sku].description if sku in ref.products else sku,
                           "quantity": Decimal(q), "unit_price": Decimal(p), "discount": Decimal(0), "tax_rate": None}
                          for sku, q, p in lines]
        order["shipping"] = Decimal(0)
    cust = ref.find_customer(order["customer_ref"], order["customer"]["email"]) or unknown_customer(order)
    seller = ref.seller_for(cust)
    draft = build_draft([order], customer=cust, seller=seller, reference=ref, trigger=order["trigger"],
                        targets=list(targets))
    inv = issue(draft, sequence=sequence or n, issued_at=datetime(2026, 11, 24, 9, 0, tzinfo=timezone.utc), seller=seller)
    if document_type == "CREDIT_NOTE":
        inv = issue(credit_note_draft(inv, reason="order cancelled"), sequence=sequence or n,
                    issued_at=datetime(2026, 11, 25, 9, 0, tzinfo=timezone.utc), seller=seller)
    return decode("invoice", encode("invoice", inv))
