"""Sage Intacct Platform Trigger HTTP posts: a Sales Order converted (shipped), in our trigger template.

Each request carries ``Authorization: Bearer <JWT>`` (HS256 over the shared secret here, 5 minute
expiry from *at*), ``X-Trusted-Context`` (base64 JSON) and an idempotency key repeated on retries.
"""
from __future__ import annotations

import base64
import hashlib
import json
import random
import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import jwt

from demo.samples.base import CATALOGUE, CUSTOMERS, Expected, SampleOrder, SampleRequest, customer_vat

__all__ = ["order", "signed", "settings_env", "document", "COMPANY", "CLIENT_ID"]

COMPANY = "kompressor-nord"
CLIENT_ID = "a1b2c3d4e5f6.INVOICING.app.sage.com"
_BASE_TIME = datetime(2026, 11, 23, 15, 0, tzinfo=timezone.utc)
_VAT = {"DE": "19", "FR": "20", "NL": "21"}


def settings_env(secret: str) -> dict[str, str]:
    return {"INVOICING_SAGE_INTACCT_CLIENT_ID": CLIENT_ID, "INVOICING_SAGE_INTACCT_JWT_ISSUER": "https://api.intacct.com",
            "INVOICING_SAGE_INTACCT_JWT_AUDIENCE": "invoicing-pipeline"}


def _request(body: bytes, secret: str, at: datetime, key: str) -> SampleRequest:
    token = jwt.encode({"iss": "https://api.intacct.com", "aud": "invoicing-pipeline", "sub": COMPANY,
                        "iat": int(at.timestamp()), "exp": int((at + timedelta(minutes=5)).timestamp()),
                        "jti": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{key}/{int(at.timestamp())}"))},
                       secret, algorithm="HS256")
    context = base64.b64encode(json.dumps({"clientId": CLIENT_ID, "companyId": COMPANY, "entityId": "DE01",
                                           "userId": "platform-trigger"}).encode()).decode()
    return SampleRequest(path="/webhooks/sage-intacct", body=body, headers={
        "Content-Type": "application/json", "Authorization": f"Bearer {token}", "X-Trusted-Context": context,
        "Idempotency-Key": key})


def signed(body: bytes, secret: str, at: datetime) -> SampleRequest:
    return _request(body, secret, at, str(uuid.uuid5(uuid.NAMESPACE_URL, hashlib.sha256(body).hexdigest())))


def document(n: int, state: str, when: datetime) -> dict[str, Any]:
    cust_no, name, email, (street, city, zip_code, region, country), currency = CUSTOMERS[n % len(CUSTOMERS)]
    doc_no = f"SO{4200 + n:04d}"
    lines, total = [], Decimal("0")
    for k in range(1 + (n + 1) % 4):
        sku, title, price = CATALOGUE[(n * 4 + k) % len(CATALOGUE)]
        if currency == "JPY":
            price = str((Decimal(price) * 160).quantize(Decimal("1")))
        qty = Decimal(1 + (n + 2 * k) % 3)
        total += Decimal(price) * qty
        lines.append({"lineNo": k + 1, "itemId": sku, "itemName": title, "quantity": f"{qty}", "unitPrice": price,
                      "discount": "0", "taxRate": _VAT.get(country)})
    return {"schema": "invoicing.sage-intacct.so/1", "object": "SODOCUMENT", "action": "set",
            "docId": f"Sales Order-{doc_no}", "docNo": doc_no, "docParId": "Sales Order", "state": state,
            "whenModified": when.isoformat(), "currency": currency,
            "totalEntered": f"{total}", "poNumber": f"PO-{2200 + n}",
            "customer": {"customerId": cust_no, "name": name, "email": email, "taxId": customer_vat(cust_no),
                         "billTo": {"address1": street, "address2": None, "city": city, "zip": zip_code,
                                    "state": region, "countryCode": country}},
            "lines": lines}


def order(n: int, rng: random.Random, secret: str, at: datetime | None = None) -> SampleOrder:
    """Converted (issuing), after Pending (ignored)."""
    when = _BASE_TIME + timedelta(minutes=12 * (n % 1000))
    converted, pending = document(n, "Converted", when), document(n, "Pending", when - timedelta(days=1))
    reqs = [_request(json.dumps(d).encode(), secret, at or when, str(uuid.uuid5(uuid.NAMESPACE_URL, f"sage/{n}/{d['state']}")))
            for d in (converted, pending)]
    return SampleOrder(platform="sage-intacct", order_ref=f"sage-intacct:{converted['docId']}", requests=reqs,
                       redeliveries=[reqs[0]] if rng.random() < 0.3 else [],
                       expected=Expected(trigger="SHIPMENT_CONFIRMED", external_order_id=converted["docId"],
                                         currency=converted["currency"], line_count=len(converted["lines"]),
                                         order_key=f"sage-intacct:{converted['docId']}"))
