"""FreshBooks webhook callbacks (form-encoded, signed over the JSON of the form fields) and the
payment/invoice documents of the accounting API (``{"response": {"result": {...}}}``, money as
``{"amount": "<string>", "code": "<ISO>"}``)."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlencode

from demo.samples.base import CATALOGUE, CUSTOMERS, Expected, SampleOrder, SampleRequest, customer_vat

__all__ = ["order", "signed", "settings_env", "sign_freshbooks", "callback_body", "verification_callback", "ACCOUNT"]

ACCOUNT = "6BApk"
BUSINESS = "6543"
_BASE = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)
_COUNTRY_NAMES = {"DE": "Germany", "FR": "France", "NL": "Netherlands", "NO": "Norway", "US": "United States", "JP": "Japan"}
_RATES = {"DE": "19", "FR": "20", "NL": "21"}


def sign_freshbooks(body: bytes, secret: str) -> str:
    """FreshBooks' scheme: HMAC over ``json.dumps`` of the form dict, default separators."""
    fields = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    return base64.b64encode(hmac.new(secret.encode(), json.dumps(fields).encode(), hashlib.sha256).digest()).decode()


def callback_body(name: str, object_id: int | str, user_id: int = 1) -> bytes:
    return urlencode([("name", name), ("object_id", str(object_id)), ("account_id", ACCOUNT), ("business_id", BUSINESS),
                      ("identity_id", "712052"), ("user_id", str(user_id))]).encode()


def _request(body: bytes, secret: str) -> SampleRequest:
    return SampleRequest(path="/webhooks/freshbooks", body=body,
                         headers={"Content-Type": "application/x-www-form-urlencoded",
                                  "X-FreshBooks-Hmac-SHA256": sign_freshbooks(body, secret), "User-Agent": "FreshBooks API (hooks)"})


def signed(body: bytes, secret: str, at: datetime) -> SampleRequest:
    """*body* as a FreshBooks callback signed with the verifier *secret*."""
    return _request(body, secret)


def verification_callback(verifier: str, callback_id: int = 2001) -> SampleRequest:
    """The unsigned registration callback that hands over the verifier."""
    body = urlencode([("name", "callback.verify"), ("object_id", str(callback_id)), ("verifier", verifier),
                      ("account_id", ACCOUNT), ("business_id", BUSINESS), ("identity_id", "712052"), ("user_id", "1")]).encode()
    return SampleRequest(path="/webhooks/freshbooks", body=body, headers={"Content-Type": "application/x-www-form-urlencoded"})


def settings_env(secret: str) -> dict[str, str]:
    return {"INVOICING_FRESHBOOKS_CLIENT_ID": "fb-client-id", "INVOICING_FRESHBOOKS_CLIENT_SECRET": "fb-client-secret",
            "INVOICING_FRESHBOOKS_REFRESH_TOKEN": "fb-refresh-token", "INVOICING_FRESHBOOKS_TOKEN_URL": "/auth/oauth/token"}


def invoice(n: int, status: str = "paid") -> dict[str, Any]:
    cust_no, name, email, (street, city, zip_code, region, country), currency = CUSTOMERS[n % len(CUSTOMERS)]
    rate = _RATES.get(country)
    lines, net = [], Decimal("0")
    for k in range(1 + n % 3):
        sku, title, price = CATALOGUE[(3 * n + k) % len(CATALOGUE)]
        if currency == "JPY":
            price = str((Decimal(price) * 160).quantize(Decimal("1")))
        qty = 1 + (n + k) % 3
        amount = Decimal(price) * qty
        net += amount
        lines.append({"lineid": k + 1, "type": 0, "name": sku, "description": title, "qty": str(qty),
                      "unit_cost": {"amount": price, "code": currency}, "amount": {"amount": f"{amount:.2f}", "code": currency},
                      "taxName1": "VAT" if rate else "", "taxAmount1": rate or "0", "taxName2": "", "taxAmount2": "0",
                      "taxNumber1": "", "taxNumber2": "", "compounded_tax": False, "invoiceid": 700000 + n,
                      "updated": "2026-11-23 05:00:00", "expenseid": 0, "retainer_id": None, "retainer_period_id": None})
    tax = (net * Decimal(rate or "0") / 100).quantize(Decimal("0.01"))
    total = net + tax
    paid = status == "paid"
    created = _BASE + timedelta(days=n % 6)
    def money(v: Decimal) -> dict[str, str]:
        return {"amount": f"{v:.2f}" if currency != "JPY" else f"{v:.0f}", "code": currency}
    return {"id": 700000 + n, "invoiceid": 700000 + n, "accountid": ACCOUNT, "accounting_systemid": ACCOUNT,
            "invoice_number": f"FB-{n:05d}", "customerid": 91000 + n % len(CUSTOMERS), "create_date": created.strftime("%Y-%m-%d"),
            "due_date": (created + timedelta(days=30)).strftime("%Y-%m-%d"), "due_offset_days": 30,
            "currency_code": currency, "language": "en", "organization": name, "fname": "Erika", "lname": "Mustermann",
            "street": street, "street2": "", "city": city, "province": region or "", "code": zip_code,
            "country": _COUNTRY_NAMES.get(country, country), "vat_name": "VAT" if rate else None,
            "vat_number": customer_vat(cust_no) or "", "po_number": f"PO-{5100 + n}" if n % 2 else None,
            "discount_value": "0", "discount_total": money(Decimal(0)), "amount": money(total),
            "paid": money(total if paid else total / 2), "outstanding": money(Decimal(0) if paid else total - total / 2),
            "payment_status": status, "v3_status": status, "status": 4 if paid else 6, "display_status": status,
            "date_paid": (created + timedelta(days=4)).strftime("%Y-%m-%d") if paid else None,
            "lines": lines, "updated": "2026-11-23 05:00:00", "created_at": "2026-11-23 04:00:00"}


def payment(n: int, inv: dict[str, Any]) -> dict[str, Any]:
    return {"id": 300000 + n, "logid": 300000 + n, "accounting_systemid": ACCOUNT, "invoiceid": inv["invoiceid"],
            "amount": inv["paid"], "date": inv["date_paid"] or inv["create_date"], "type": "Bank Transfer",
            "note": "", "clientid": inv["customerid"], "creditid": None, "overpaymentid": None, "gateway": None,
            "from_credit": False, "send_client_notification": False, "transactionid": None, "vis_state": 0,
            "updated": "2026-11-24 09:12:00"}


def _wrap(key: str, doc: dict[str, Any]) -> dict[str, Any]:
    return {"response": {"result": {key: doc}}}


def order(n: int, rng: random.Random, secret: str, at: datetime | None = None) -> SampleOrder:
    """The ``payment.create`` callback that settles the invoice; some redelivered."""
    inv = invoice(n)
    pay = payment(n, inv)
    req = _request(callback_body("payment.create", pay["id"]), secret)
    base = f"/accounting/account/{ACCOUNT}"
    api: dict[str, Any] = {
        f"GET {base}/payments/payments/{pay['id']}": _wrap("payment", pay),
        f"GET {base}/invoices/invoices/{inv['invoiceid']}?" + urlencode([("include[]", "lines")]): _wrap("invoice", inv),
        "POST /auth/oauth/token": {"access_token": "fb-access-token", "token_type": "Bearer", "expires_in": 43200,
                                   "refresh_token": "fb-refresh-token-rotated", "scope": "user:payments:read user:invoices:read"},
    }
    return SampleOrder(platform="freshbooks", order_ref=f"freshbooks:{ACCOUNT}:{inv['invoiceid']}", requests=[req],
                       redeliveries=[req] if rng.random() < 0.3 else [], api=api,
                       expected=Expected(trigger="PAYMENT_RECEIVED", external_order_id=str(inv["invoiceid"]),
                                         currency=inv["currency_code"], line_count=len(inv["lines"]),
                                         order_key=f"freshbooks:{ACCOUNT}:{inv['invoiceid']}"))
