"""NetSuite sales orders as our SuiteScript afterSubmit callout posts them (schema invoicing.netsuite.salesorder/1)."""
from __future__ import annotations

import hashlib
import hmac
import json
import random
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from demo.samples.base import CATALOGUE, CUSTOMERS, Expected, SampleOrder, SampleRequest, customer_vat

__all__ = ["order", "signed", "payload", "ACCOUNT"]

ACCOUNT = "TSTDRV2291847"
_BASE_TIME = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)
_VAT = {"DE": "19", "FR": "20", "NL": "21"}


def signed(body: bytes, secret: str, at: datetime) -> SampleRequest:
    """*body* signed as the SuiteScript does: HMAC-SHA256 over ``"<ts>." + body``."""
    ts = str(int(at.timestamp()))
    mac = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return SampleRequest(path="/webhooks/netsuite", body=body, headers={
        "Content-Type": "application/json", "User-Agent": "Mozilla/5.0 (NetSuite SuiteScript)",
        "X-Invoicing-Timestamp": ts, "X-Invoicing-Signature": f"sha256={mac}"})


def payload(n: int, rng: random.Random, status: str, when: datetime) -> dict[str, Any]:
    cust_no, name, email, (street, city, zip_code, region, country), currency = CUSTOMERS[n % len(CUSTOMERS)]
    so_id = str(48_200 + n)
    lines, subtotal = [], Decimal("0")
    for k in range(1 + n % 3):
        sku, title, price = CATALOGUE[(n * 2 + k) % len(CATALOGUE)]
        if currency == "JPY":
            price = str((Decimal(price) * 160).quantize(Decimal("1")))
        qty = 1 + (n + k) % 4
        amount = Decimal(price) * qty
        subtotal += amount
        lines.append({"line": k + 1, "item": sku, "description": title, "quantity": str(qty), "rate": price,
                      "amount": f"{amount}", "taxRate": _VAT.get(country)})
    shipping = Decimal("0") if currency == "JPY" else Decimal(rng.choice(["0.00", "75.00"]))
    text = {"pendingFulfillment": "Pending Fulfillment", "pendingBilling": "Pending Billing", "fullyBilled": "Billed"}[status]
    modified = when + timedelta(minutes={"pendingFulfillment": 0, "pendingBilling": 90, "fullyBilled": 180}[status])
    return {
        "schema": "invoicing.netsuite.salesorder/1", "eventType": "edit", "account": ACCOUNT,
        "eventId": f"{so_id}:{int(modified.timestamp() * 1000)}", "occurredAt": modified.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "salesOrder": {
            "id": so_id, "tranId": f"SO{10_400 + n}", "status": status, "statusText": text, "currency": currency,
            "subtotal": f"{subtotal}", "shippingCost": f"{shipping}", "total": f"{subtotal + shipping}",
            "otherRefNum": f"PO-{5100 + n}" if n % 2 else None,
            "customer": {"id": str(1200 + n % len(CUSTOMERS)), "entityId": cust_no, "companyName": name, "email": email,
                         "vatRegNumber": customer_vat(cust_no), "billAddress": {"addr1": street, "addr2": None, "city": city, "zip": zip_code,
                                                               "state": region, "country": country}},
            "lines": lines,
        },
    }


def order(n: int, rng: random.Random, secret: str, at: datetime | None = None) -> SampleOrder:
    """Pending Billing (issuing), then Billed (same order, deduplicated), after Pending Fulfillment (ignored)."""
    when = _BASE_TIME + timedelta(minutes=9 * (n % 1000))
    reqs = []
    for status in ("pendingBilling", "fullyBilled", "pendingFulfillment"):
        doc = payload(n, random.Random(n), status, when)
        reqs.append(signed(json.dumps(doc).encode(), secret, at or when))
    first = payload(n, random.Random(n), "pendingBilling", when)
    so = first["salesOrder"]
    return SampleOrder(platform="netsuite", order_ref=f"netsuite:{so['id']}", requests=reqs,
                       redeliveries=[reqs[0]] if rng.random() < 0.3 else [],
                       expected=Expected(trigger="SHIPMENT_CONFIRMED", external_order_id=so["id"], currency=so["currency"],
                                         line_count=len(so["lines"]), order_key=f"netsuite:{so['id']}"))
