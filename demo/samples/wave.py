"""Wave invoices as the GraphQL API returns them (``business.invoices.edges[].node``) and as the
poller publishes them: one signed raw event per changed invoice. Money is ``{"value": "<string>"}``."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from demo.samples.base import CATALOGUE, CUSTOMERS, Expected, SampleOrder, SampleRequest

__all__ = ["order", "signed", "settings_env", "invoice_node", "graphql_page", "sign_wave", "BUSINESS_ID"]

BUSINESS_ID = base64.b64encode(b"Business:6e1a9f5c-2d4b-4e0e-9c1a-000000000wav").decode()
_BASE = datetime(2026, 11, 23, 6, 0, tzinfo=timezone.utc)
_RATES = {"DE": Decimal("19"), "FR": Decimal("20"), "NL": Decimal("21")}


def sign_wave(body: bytes, secret: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def _gid(kind: str, n: int) -> str:
    return base64.b64encode(f"Business:6e1a9f5c;{kind}:{n}".encode()).decode()


def _iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def invoice_node(n: int, status: str = "PAID", modified: datetime | None = None) -> dict[str, Any]:
    cust_no, name, email, (street, city, zip_code, region, country), currency = CUSTOMERS[n % len(CUSTOMERS)]
    rate = _RATES.get(country)
    created = _BASE + timedelta(hours=2 * n)
    items, sub, tax_total = [], Decimal("0"), Decimal("0")
    for k in range(1 + n % 3):
        sku, title, price = CATALOGUE[(n + 5 * k) % len(CATALOGUE)]
        if currency == "JPY":
            price = str((Decimal(price) * 160).quantize(Decimal("1")))
        qty = Decimal(1 + (n + k) % 3)
        line = Decimal(price) * qty
        tax = (line * (rate or 0) / 100).quantize(Decimal("0.01"))
        sub, tax_total = sub + line, tax_total + tax
        items.append({"product": {"id": _gid("Product", (n + 5 * k) % len(CATALOGUE)), "name": sku}, "description": title,
                      "quantity": f"{qty}", "price": price, "subtotal": {"value": f"{line:.2f}"}, "total": {"value": f"{line + tax:.2f}"},
                      "taxes": [{"amount": {"value": f"{tax:.2f}"}, "salesTax": {"id": _gid("SalesTax", 1), "name": "VAT", "rate": f"{rate}"}}]
                      if rate else []})
    total = sub + tax_total
    paid = status in ("PAID", "OVERPAID")
    return {"id": _gid("Invoice", 880000 + n), "createdAt": _iso(created),
            "modifiedAt": _iso(modified or created + timedelta(days=2, milliseconds=n)), "invoiceNumber": f"{2000 + n}",
            "invoiceDate": created.strftime("%Y-%m-%d"), "dueDate": (created + timedelta(days=14)).strftime("%Y-%m-%d"),
            "poNumber": f"PO-{9100 + n}", "status": status, "title": "Invoice", "currency": {"code": currency},
            "customer": {"id": _gid("Customer", int(cust_no[-3:])), "name": name, "email": email,
                         "address": {"addressLine1": street, "addressLine2": None, "city": city, "postalCode": zip_code,
                                     "province": {"code": region} if region else None, "country": {"code": country}}},
            "items": items, "subtotal": {"value": f"{sub:.2f}"}, "taxTotal": {"value": f"{tax_total:.2f}"},
            "total": {"value": f"{total:.2f}"}, "amountDue": {"value": "0.00" if paid else f"{total:.2f}"},
            "amountPaid": {"value": f"{total:.2f}" if paid else "0.00"}}


def graphql_page(nodes: list[dict[str, Any]], page: int, total_pages: int, total: int) -> dict[str, Any]:
    return {"data": {"business": {"id": BUSINESS_ID, "invoices": {
        "pageInfo": {"currentPage": page, "totalPages": total_pages, "totalCount": total},
        "edges": [{"node": node} for node in nodes]}}}}


def _request(body: bytes, secret: str) -> SampleRequest:
    return SampleRequest(path="/webhooks/wave", body=body,
                         headers={"Content-Type": "application/json", "x-invoicing-poll-signature": sign_wave(body, secret)})


def signed(body: bytes, secret: str, at: datetime) -> SampleRequest:
    """*body* as the poller publishes it, signed with *secret*."""
    return _request(body, secret)


def settings_env(secret: str) -> dict[str, str]:
    return {"INVOICING_WAVE_TENANT": BUSINESS_ID, "INVOICING_WAVE_ACCESS_TOKEN": "wave-full-access-token"}


def order(n: int, rng: random.Random, secret: str, at: datetime | None = None) -> SampleOrder:
    """The invoice, polled once it is PAID (what the poller publishes); polled again unchanged
    after a restart in some cases (same event id)."""
    node = invoice_node(n)
    req = _request(json.dumps(node, separators=(",", ":")).encode(), secret)
    return SampleOrder(platform="wave", order_ref=f"wave:{node['id']}", requests=[req],
                       redeliveries=[req] if rng.random() < 0.3 else [],
                       expected=Expected(trigger="PAYMENT_RECEIVED", external_order_id=node["id"], currency=node["currency"]["code"],
                                         line_count=len(node["items"]), order_key=f"wave:{node['id']}"))
