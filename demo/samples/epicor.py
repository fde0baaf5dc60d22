"""Epicor Kinetic order-closed callouts (schema invoicing.epicor.order/1) from our BPM directive + Epicor Function.

Field names are Epicor's ``OrderHed``/``OrderDtl`` columns; see sources/epicor.py for the contract.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import random
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from demo.samples.base import CATALOGUE, CUSTOMERS, Expected, SampleOrder, SampleRequest

__all__ = ["order", "signed", "payload", "COMPANY"]

COMPANY = "KSNORD"
_BASE_TIME = datetime(2026, 11, 23, 11, 0, tzinfo=timezone.utc)
_VAT = {"DE": "19", "FR": "20", "NL": "21"}


def signed(body: bytes, secret: str, at: datetime) -> SampleRequest:
    ts = str(int(at.timestamp()))
    mac = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return SampleRequest(path="/webhooks/epicor", body=body, headers={
        "Content-Type": "application/json; charset=utf-8", "X-Invoicing-Timestamp": ts,
        "X-Invoicing-Signature": f"sha256={mac}"})


def payload(n: int, open_before: bool, open_after: bool, rev: int, when: datetime) -> dict[str, Any]:
    cust_no, name, email, (street, city, zip_code, region, country), currency = CUSTOMERS[n % len(CUSTOMERS)]
    num = 60_100 + n
    dtl, total = [], Decimal("0")
    for k in range(1 + (n + 2) % 3):
        sku, title, price = CATALOGUE[(n + 5 * k) % len(CATALOGUE)]
        if currency == "JPY":
            price = str((Decimal(price) * 160).quantize(Decimal("1")))
        qty = Decimal(1 + (n * 3 + k) % 4)
        ext = Decimal(price) * qty
        total += ext
        dtl.append({"Company": COMPANY, "OrderNum": num, "OrderLine": k + 1, "PartNum": sku, "LineDesc": title,
                    "SellingQuantity": f"{qty}.00", "SalesUM": "EA", "DocUnitPrice": f"{Decimal(price):.5f}",
                    "DocDiscount": "0.000", "DocExtPriceDtl": f"{ext:.3f}", "TaxPercent": _VAT.get(country), "OpenLine": open_after})
    return {
        "schema": "invoicing.epicor.order/1", "eventId": f"{COMPANY}:{num}:{rev}", "company": COMPANY,
        "occurredAt": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "change": {"OpenOrder": [open_before, open_after], "VoidOrder": [False, False]},
        "OrderHed": {"Company": COMPANY, "OrderNum": num, "CustNum": 300 + n % len(CUSTOMERS), "CustID": cust_no,
                     "CustomerName": name, "EMailAddress": email, "PONum": f"PO-{8800 + n}", "OrderDate": when.date().isoformat(),
                     "CurrencyCode": currency, "OpenOrder": open_after, "VoidOrder": False, "DocOrderAmt": f"{total:.3f}",
                     "BTAddress1": street, "BTCity": city, "BTZip": zip_code, "BTState": region or "", "BTCountryISO": country,
                     "SysRevID": rev},
        "OrderDtl": dtl,
    }


def order(n: int, rng: random.Random, secret: str, at: datetime | None = None) -> SampleOrder:
    """The order closed (issuing), after an earlier edit that kept it open (ignored)."""
    when = _BASE_TIME + timedelta(minutes=8 * (n % 1000))
    closed = payload(n, True, False, 900_000 + n * 10 + 2, when)
    edit = payload(n, True, True, 900_000 + n * 10 + 1, when - timedelta(days=1))
    reqs = [signed(json.dumps(closed).encode(), secret, at or when), signed(json.dumps(edit).encode(), secret, at or when)]
    hed = closed["OrderHed"]
    ext_id = f"{COMPANY}-{hed['OrderNum']}"
    return SampleOrder(platform="epicor", order_ref=f"epicor:{ext_id}", requests=reqs,
                       redeliveries=[reqs[0]] if rng.random() < 0.3 else [],
                       expected=Expected(trigger="SHIPMENT_CONFIRMED", external_order_id=ext_id, currency=hed["CurrencyCode"],
                                         line_count=len(closed["OrderDtl"]), order_key=f"epicor:{ext_id}"))
