"""Xero webhooks (``xero-webhooks.yaml``) and the ``GET Invoices/{id}`` documents they point to
(``xero_accounting.yaml``: numbers as JSON numbers, dates as ``/Date(ms+0000)/``)."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from domain.exact import dumps_exact
from demo.samples.base import CATALOGUE, CUSTOMERS, Expected, SampleOrder, SampleRequest, customer_vat

__all__ = ["order", "signed", "settings_env", "invoice_document", "webhook_body", "sign_xero", "TENANT_ID"]

TENANT_ID = "aef86862-2015-4b6b-88bc-d89032cecc50"
_BASE_TIME = datetime(2026, 11, 23, 8, 0, tzinfo=timezone.utc)
_NS = uuid.UUID("6f1b2c3d-0000-4000-8000-00000000a0e0")
_RATES = {"DE": Decimal("19"), "FR": Decimal("20"), "NL": Decimal("21")}


def sign_xero(body: bytes, secret: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def _ms(dt: datetime) -> str:
    return f"/Date({int(dt.timestamp() * 1000)}+0000)/"


def invoice_id(n: int) -> str:
    return str(uuid.uuid5(_NS, f"invoice-{n}"))


def invoice_document(n: int, status: str = "PAID") -> dict[str, Any]:
    """``{"Invoices": [...]}`` as ``GET /api.xro/2.0/Invoices/{id}`` answers it."""
    cust_no, name, email, (street, city, zip_code, region, country), currency = CUSTOMERS[n % len(CUSTOMERS)]
    rate = _RATES.get(country, Decimal("0"))
    date = _BASE_TIME + timedelta(days=n % 5, minutes=11 * (n % 1000))
    items, sub, tax_total = [], Decimal("0"), Decimal("0")
    for k in range(1 + n % 3):
        sku, title, price = CATALOGUE[(n + 2 * k) % len(CATALOGUE)]
        if currency == "JPY":
            price = str((Decimal(price) * 160).quantize(Decimal("1")))
        qty = Decimal(1 + (n + k) % 4)
        line = Decimal(price) * qty
        tax = (line * rate / 100).quantize(Decimal("0.01"))
        sub, tax_total = sub + line, tax_total + tax
        items.append({"ItemCode": sku, "Description": title, "UnitAmount": Decimal(price), "TaxType": "OUTPUT" if rate else "NONE",
                      "TaxAmount": tax, "LineAmount": line, "AccountCode": "200", "Quantity": qty.quantize(Decimal("0.0001")),
                      "LineItemID": str(uuid.uuid5(_NS, f"line-{n}-{k}")), "Tracking": []})
    total = sub + tax_total
    paid = status == "PAID"
    inv: dict[str, Any] = {
        "Type": "ACCREC", "InvoiceID": invoice_id(n), "InvoiceNumber": f"INV-{4100 + n}",
        "Reference": f"PO-{7700 + n}", "Payments": [], "CreditNotes": [], "Prepayments": [], "Overpayments": [],
        "AmountDue": Decimal("0.00") if paid else total, "AmountPaid": total if paid else Decimal("0.00"),
        "AmountCredited": Decimal("0.00"), "CurrencyRate": Decimal("1.000000"), "IsDiscounted": False,
        "HasAttachments": False, "HasErrors": False,
        "Contact": {"ContactID": str(uuid.uuid5(_NS, f"contact-{cust_no}")), "ContactNumber": cust_no, "Name": name,
                    "EmailAddress": email, "ContactStatus": "ACTIVE",
                    **({"TaxNumber": customer_vat(cust_no)} if customer_vat(cust_no) else {}),
                    "Addresses": [{"AddressType": "POBOX", "AddressLine1": street, "City": city, "Region": region or "",
                                   "PostalCode": zip_code, "Country": country}], "Phones": [], "ContactGroups": [],
                    "ContactPersons": [], "HasValidationErrors": False},
        "DateString": date.strftime("%Y-%m-%dT00:00:00"), "Date": _ms(date),
        "DueDateString": (date + timedelta(days=30)).strftime("%Y-%m-%dT00:00:00"), "DueDate": _ms(date + timedelta(days=30)),
        "Status": status, "LineAmountTypes": "Exclusive", "LineItems": items,
        "SubTotal": sub, "TotalTax": tax_total, "Total": total, "UpdatedDateUTC": _ms(date + timedelta(days=3)),
        "CurrencyCode": currency,
    }
    if paid:
        inv["FullyPaidOnDate"] = _ms(date + timedelta(days=3))
        inv["Payments"] = [{"PaymentID": str(uuid.uuid5(_NS, f"payment-{n}")), "Date": _ms(date + timedelta(days=3)),
                            "Amount": total, "CurrencyRate": Decimal("1.000000"), "HasAccount": False, "HasValidationErrors": False}]
    return {"Id": str(uuid.uuid5(_NS, f"response-{n}")), "Status": "OK", "ProviderName": "Kompressortechnik Nord Invoicing",
            "DateTimeUTC": _ms(date + timedelta(days=3)), "Invoices": [inv]}


def webhook_body(events: list[dict[str, Any]], sequence: int) -> bytes:
    """The webhook envelope; Xero sends it compact."""
    return json.dumps({"events": events, "firstEventSequence": sequence, "lastEventSequence": sequence + max(len(events) - 1, 0),
                       "entropy": hashlib.sha256(str(sequence).encode()).hexdigest()[:20].upper()}, separators=(",", ":")).encode()


def invoice_event(n: int, event_type: str = "UPDATE", minutes: int = 0) -> dict[str, Any]:
    when = _BASE_TIME + timedelta(days=n % 5 + 3, minutes=11 * (n % 1000) + minutes, milliseconds=n * 37 % 1000)
    return {"resourceUrl": f"https://api.xero.com/api.xro/2.0/Invoices/{invoice_id(n)}", "resourceId": invoice_id(n),
            "tenantId": TENANT_ID, "tenantType": "ORGANISATION", "eventCategory": "INVOICE", "eventType": event_type,
            "eventDateUtc": when.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]}


def _request(body: bytes, secret: str) -> SampleRequest:
    return SampleRequest(path="/webhooks/xero", body=body,
                         headers={"Content-Type": "application/json; charset=utf-8", "x-xero-signature": sign_xero(body, secret),
                                  "User-Agent": "Xero-Webhooks"})


def signed(body: bytes, secret: str, at: datetime) -> SampleRequest:
    """*body* as a Xero webhook signed with *secret*."""
    return _request(body, secret)


def intent_to_receive(secret: str, sequence: int = 1) -> SampleRequest:
    """An Intent-to-Receive probe: no events, signed with *secret* (Xero also sends badly signed ones)."""
    return _request(webhook_body([], sequence), secret)


def settings_env(secret: str) -> dict[str, str]:
    return {"INVOICING_XERO_CLIENT_ID": "B5A8E0CDD4A04F2C9E0A0D6C3E5F1A22", "INVOICING_XERO_CLIENT_SECRET": "xero-client-secret",
            "INVOICING_XERO_REFRESH_TOKEN": "xero-refresh-token", "INVOICING_XERO_TOKEN_URL": "/connect/token"}


def order(n: int, rng: random.Random, secret: str, at: datetime | None = None) -> SampleOrder:
    """The invoice's UPDATE (it became PAID) batched with a contact update; some redelivered."""
    contact = {"resourceUrl": f"https://api.xero.com/api.xro/2.0/Contacts/{uuid.uuid5(_NS, f'c-{n}')}",
               "resourceId": str(uuid.uuid5(_NS, f"c-{n}")), "tenantId": TENANT_ID, "tenantType": "ORGANISATION",
               "eventCategory": "CONTACT", "eventType": "UPDATE", "eventDateUtc": invoice_event(n)["eventDateUtc"]}
    paid = _request(webhook_body([invoice_event(n), contact], 1000 + 2 * n), secret)
    doc = invoice_document(n)
    inv = doc["Invoices"][0]
    api: dict[str, Any] = {
        f"GET /api.xro/2.0/Invoices/{inv['InvoiceID']}": dumps_exact(doc).encode(),  # exact JSON numbers
        "POST /connect/token": {"access_token": "xero-access-token", "expires_in": 1800, "token_type": "Bearer",
                                "refresh_token": "xero-refresh-token-rotated", "scope": "accounting.transactions.read"},
    }
    return SampleOrder(
        platform="xero", order_ref=f"xero:{inv['InvoiceID']}", requests=[paid],
        redeliveries=[paid] if rng.random() < 0.3 else [], api=api,
        expected=Expected(trigger="PAYMENT_RECEIVED", external_order_id=inv["InvoiceID"], currency=inv["CurrencyCode"],
                          line_count=len(inv["LineItems"]), order_key=f"xero:{inv['InvoiceID']}"),
    )
