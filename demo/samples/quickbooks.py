"""QuickBooks Online webhooks (CloudEvents and legacy ``eventNotifications``) and the V3 API
documents they point to (SalesReceipt, Payment, Invoice as the V3 JSON API answers them,
field names from the ``ipp-v3-java-data`` XSDs; amounts as JSON numbers)."""
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
from demo.samples.base import CATALOGUE, CUSTOMERS, Expected, SampleOrder, SampleRequest

__all__ = ["order", "signed", "settings_env", "sign_quickbooks", "cloudevent", "legacy_body", "REALM"]

REALM = "9341455130166501"
_BASE = datetime(2026, 11, 23, 15, 0, tzinfo=timezone.utc)
_NS = uuid.UUID("0b0c7a52-4b5e-4c1a-9a57-0000000000cb")
_US_RATE = Decimal("8.25")


def sign_quickbooks(body: bytes, secret: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def cloudevent(entity: str, op: str, entity_id: str, n: int) -> dict[str, Any]:
    when = _BASE + timedelta(minutes=13 * n, seconds=n % 60)
    return {"specversion": "1.0", "id": str(uuid.uuid5(_NS, f"{entity}.{op}.{entity_id}")),
            "source": "intuit.dsnBgbseACLLRZNxo2dfc4evmEJdxde58xeeYcZliOU=", "type": f"qbo.{entity}.{op}.v1",
            "datacontenttype": "application/json", "time": when.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
            "intuitentityid": entity_id, "intuitaccountid": REALM, "data": {}}


def legacy_body(entities: list[dict[str, str]]) -> bytes:
    return json.dumps({"eventNotifications": [{"realmId": REALM, "dataChangeEvent": {"entities": entities}}]},
                      separators=(",", ":")).encode()


def _request(body: bytes, secret: str) -> SampleRequest:
    return SampleRequest(path="/webhooks/quickbooks", body=body,
                         headers={"Content-Type": "application/json", "intuit-signature": sign_quickbooks(body, secret),
                                  "intuit-t-id": str(uuid.uuid5(_NS, body.decode(errors="replace"))),
                                  "User-Agent": "intuit-webhooks"})


def signed(body: bytes, secret: str, at: datetime) -> SampleRequest:
    """*body* as a QuickBooks webhook signed with the verifier token *secret*."""
    return _request(body, secret)


def settings_env(secret: str) -> dict[str, str]:
    return {"INVOICING_QUICKBOOKS_CLIENT_ID": "ABcxWWL62bJFQd4Wr7NwQf0Ye2VYt6kA5C", "INVOICING_QUICKBOOKS_CLIENT_SECRET": "qbo-client-secret",
            "INVOICING_QUICKBOOKS_REFRESH_TOKEN": "AB11795422217qbo-refresh", "INVOICING_QUICKBOOKS_TOKEN_URL": "/oauth2/v1/tokens/bearer"}


def transaction(n: int, kind: str) -> dict[str, Any]:
    """A SalesReceipt or Invoice with SalesItemLineDetail lines and the tax summary."""
    cust_no, name, email, (street, city, zip_code, region, country), currency = CUSTOMERS[5 + n % 2]  # US customers
    txn_id = str(2000 + n * 3 + (0 if kind == "SalesReceipt" else 1))
    date = _BASE + timedelta(days=n % 4)
    lines, net = [], Decimal("0")
    for k in range(1 + n % 3):
        sku, title, price = CATALOGUE[(n + k) % len(CATALOGUE)]
        qty = Decimal(1 + (2 * n + k) % 3)
        amount = Decimal(price) * qty
        net += amount
        lines.append({"Id": str(k + 1), "LineNum": k + 1, "Description": title, "Amount": amount,
                      "DetailType": "SalesItemLineDetail",
                      "SalesItemLineDetail": {"ItemRef": {"value": str(30 + CATALOGUE.index((sku, title, price))), "name": sku},
                                              "UnitPrice": Decimal(price), "Qty": qty, "ItemAccountRef": {"value": "79", "name": "Sales"},
                                              "TaxCodeRef": {"value": "TAX"}}})
    lines.append({"Amount": net, "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}})
    tax = (net * _US_RATE / 100).quantize(Decimal("0.01"))
    total = net + tax
    doc: dict[str, Any] = {
        "domain": "QBO", "sparse": False, "Id": txn_id, "SyncToken": "1",
        "MetaData": {"CreateTime": date.isoformat(), "LastUpdatedTime": (date + timedelta(hours=2)).isoformat()},
        "CustomField": [], "DocNumber": f"{1000 + n}", "TxnDate": date.strftime("%Y-%m-%d"),
        "CurrencyRef": {"value": currency, "name": "United States Dollar"}, "PrivateNote": "", "Line": lines,
        "TxnTaxDetail": {"TxnTaxCodeRef": {"value": "2"}, "TotalTax": tax,
                         "TaxLine": [{"Amount": tax, "DetailType": "TaxLineDetail",
                                      "TaxLineDetail": {"TaxRateRef": {"value": "3"}, "PercentBased": True,
                                                        "TaxPercent": _US_RATE, "NetAmountTaxable": net}}]},
        "CustomerRef": {"value": cust_no[-3:], "name": name}, "BillEmail": {"Address": email},
        "BillAddr": {"Id": str(100 + n), "Line1": street, "City": city, "CountrySubDivisionCode": region,
                     "PostalCode": zip_code, "Country": "USA"},
        "GlobalTaxCalculation": "TaxExcluded", "TotalAmt": total, "PrintStatus": "NotSet", "EmailStatus": "EmailSent",
        "Balance": Decimal("0"), "ApplyTaxAfterDiscount": False,
    }
    if kind == "SalesReceipt":
        doc.update({"PaymentMethodRef": {"value": "2", "name": "Check"}, "PaymentRefNum": f"CHK{8800 + n}",
                    "DepositToAccountRef": {"value": "4", "name": "Undeposited Funds"}})
    else:
        doc.update({"DueDate": (date + timedelta(days=30)).strftime("%Y-%m-%d"), "SalesTermRef": {"value": "3"},
                    "LinkedTxn": [{"TxnId": str(5000 + n), "TxnType": "Payment"}], "AllowOnlineCreditCardPayment": False})
    return doc


def payment(n: int, invoice: dict[str, Any]) -> dict[str, Any]:
    return {"domain": "QBO", "sparse": False, "Id": str(5000 + n), "SyncToken": "0", "TxnDate": invoice["TxnDate"],
            "CurrencyRef": invoice["CurrencyRef"], "CustomerRef": invoice["CustomerRef"],
            "DepositToAccountRef": {"value": "35"}, "TotalAmt": invoice["TotalAmt"], "UnappliedAmt": Decimal("0"),
            "ProcessPayment": False, "Line": [{"Amount": invoice["TotalAmt"], "LinkedTxn": [{"TxnId": invoice["Id"], "TxnType": "Invoice"}],
                                               "LineEx": {"any": []}}]}


def _answer(key: str, doc: dict[str, Any]) -> bytes:
    return dumps_exact({key: doc, "time": "2026-11-24T10:00:00.000-08:00"}).encode()


def order(n: int, rng: random.Random, secret: str, at: datetime | None = None) -> SampleOrder:
    """Even *n*: a SalesReceipt Create CloudEvent. Odd *n*: an invoice settled by a Payment
    (legacy body). Some are redelivered."""
    api: dict[str, Any] = {"POST /oauth2/v1/tokens/bearer": {
        "access_token": "eyJlbmMiOiJBMTI4Q0JDLUhTMjU2qbo", "token_type": "bearer", "expires_in": 3600,
        "refresh_token": "AB11795422217qbo-refresh-rotated", "x_refresh_token_expires_in": 8726400}}
    path = f"/v3/company/{REALM}"
    if n % 2 == 0:
        doc = transaction(n, "SalesReceipt")
        body = json.dumps([cloudevent("salesreceipt", "created", doc["Id"], n)], separators=(",", ":")).encode()
        api[f"GET {path}/salesreceipt/{doc['Id']}?minorversion=75"] = _answer("SalesReceipt", doc)
        entity = "salesreceipt"
    else:
        doc = transaction(n, "Invoice")
        pay = payment(n, doc)
        when = (_BASE + timedelta(days=n % 4, hours=5)).strftime("%Y-%m-%dT%H:%M:%S-0800")
        body = legacy_body([{"name": "Payment", "id": pay["Id"], "operation": "Create", "lastUpdated": when},
                            {"name": "Invoice", "id": doc["Id"], "operation": "Update", "lastUpdated": when}])
        api[f"GET {path}/payment/{pay['Id']}?minorversion=75"] = _answer("Payment", pay)
        api[f"GET {path}/invoice/{doc['Id']}?minorversion=75"] = _answer("Invoice", doc)
        entity = "invoice"
    req = _request(body, secret)
    lines = [x for x in doc["Line"] if x["DetailType"] == "SalesItemLineDetail"]
    return SampleOrder(platform="quickbooks", order_ref=f"quickbooks:{REALM}:{entity}:{doc['Id']}", requests=[req],
                       redeliveries=[req] if rng.random() < 0.3 else [], api=api,
                       expected=Expected(trigger="PAYMENT_RECEIVED", external_order_id=doc["Id"], currency="USD",
                                         line_count=len(lines), order_key=f"quickbooks:{REALM}:{entity}:{doc['Id']}"))
