"""Zoho Books workflow webhooks on Sales Orders: the default payload ``{"salesorder": {...}}``
(Books API v3 sales order fields, amounts as JSON numbers), signed with the webhook secret the
Zoho Billing way (sorted query pairs + raw body, HMAC-SHA256, hex) [S]."""
from __future__ import annotations

import hashlib
import hmac
import random
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

from domain.exact import dumps_exact
from demo.samples.base import CATALOGUE, CUSTOMERS, Expected, SampleOrder, SampleRequest, customer_vat

__all__ = ["order", "signed", "sign_zoho", "salesorder", "webhook", "ORGANIZATION_ID"]

ORGANIZATION_ID = "20061234567"
QUERY = f"organization_id={ORGANIZATION_ID}&source=workflow"
_CET = timezone(timedelta(hours=1))
_BASE = datetime(2026, 11, 23, 9, 30, tzinfo=_CET)
_RATES = {"DE": Decimal("19"), "FR": Decimal("20"), "NL": Decimal("21")}
_COUNTRY_NAMES = {"DE": "Germany", "FR": "France", "NL": "Netherlands", "NO": "Norway", "US": "U.S.A", "JP": "Japan"}


def sign_zoho(query: str, body: bytes, secret: str) -> str:
    pairs = sorted(parse_qsl(query, keep_blank_values=True), key=lambda kv: kv[0])
    message = "".join(k + v for k, v in pairs).encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _zoho_time(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S%z")


def salesorder(n: int, kind: str = "confirmed") -> dict[str, Any]:
    cust_no, name, email, (street, city, zip_code, region, country), currency = CUSTOMERS[n % len(CUSTOMERS)]
    rate = _RATES.get(country)
    created = _BASE + timedelta(hours=3 * n)
    modified = created + timedelta(hours=2 if kind == "confirmed" else 30)
    items, sub, tax_total = [], Decimal("0"), Decimal("0")
    for k in range(1 + n % 3):
        sku, title, price = CATALOGUE[(2 * n + k) % len(CATALOGUE)]
        if currency == "JPY":
            price = str((Decimal(price) * 160).quantize(Decimal("1")))
        qty = Decimal(1 + (n + 2 * k) % 5)
        total = Decimal(price) * qty
        tax = (total * (rate or 0) / 100).quantize(Decimal("0.01"))
        sub, tax_total = sub + total, tax_total + tax
        items.append({"line_item_id": str(460000000090000 + 10 * n + k), "item_id": str(460000000070000 + (2 * n + k) % len(CATALOGUE)),
                      "sku": sku, "name": sku, "description": title, "item_order": k + 1, "bcy_rate": Decimal(price),
                      "rate": Decimal(price), "quantity": qty, "unit": "pcs", "discount": Decimal("0"), "discount_amount": Decimal("0"),
                      "tax_id": "460000000055001" if rate else "", "tax_name": "VAT" if rate else "", "tax_type": "tax",
                      "tax_percentage": rate or Decimal("0"), "item_total": total, "quantity_invoiced": Decimal("0"),
                      "quantity_shipped": qty if kind == "fulfilled" else Decimal("0")})
    shipping = Decimal("0") if currency == "JPY" else Decimal("45.00")
    status = {"confirmed": "open", "fulfilled": "open", "draft": "draft", "void": "void"}[kind]
    return {
        "salesorder_id": str(460000000039000 + n), "zcrm_potential_id": "", "documents": [],
        "salesorder_number": f"SO-{n:05d}", "date": created.strftime("%Y-%m-%d"), "offline_created_date_with_time": "",
        "status": status, "order_status": "confirmed" if kind in ("confirmed", "fulfilled") else kind,
        "invoiced_status": "not_invoiced", "paid_status": "unpaid",
        "shipped_status": "fulfilled" if kind == "fulfilled" else "pending", "current_sub_status": status,
        "shipment_date": (created + timedelta(days=7)).strftime("%Y-%m-%d"), "reference_number": f"PO-{8100 + n}",
        "customer_id": str(460000000026000 + n % len(CUSTOMERS)), "customer_name": name, "email": email,
        "contact_persons": [], "currency_id": "460000000000097", "currency_code": currency, "currency_symbol": currency,
        "exchange_rate": Decimal("1.00"), "discount_amount": Decimal("0.00"), "discount": Decimal("0.00"),
        "discount_applied_on_amount": Decimal("0.00"), "is_discount_before_tax": True, "discount_type": "entity_level",
        "estimate_id": "", "delivery_method": "Spedition", "delivery_method_id": "", "is_inclusive_tax": False,
        "tax_rounding": "entity_level", "line_items": items, "shipping_charge": shipping, "adjustment": Decimal("0.00"),
        "adjustment_description": "Adjustment", "sub_total": sub, "tax_total": tax_total, "total": sub + tax_total + shipping,
        "taxes": [{"tax_name": "VAT", "tax_amount": tax_total}] if rate else [], "price_precision": 2,
        "billing_address": {"address": street, "street2": "", "city": city, "state": region or "", "zip": zip_code,
                            "country": _COUNTRY_NAMES.get(country, country), "fax": "", "phone": ""},
        "shipping_address": {"address": street, "street2": "", "city": city, "state": region or "", "zip": zip_code,
                             "country": _COUNTRY_NAMES.get(country, country), "fax": "", "phone": ""},
        "notes": "", "terms": "", "custom_fields": [], "template_id": "460000000021001", "template_name": "Standard",
        "created_time": _zoho_time(created), "last_modified_time": _zoho_time(modified), "salesperson_id": "",
        "salesperson_name": "", "tax_reg_no": customer_vat(cust_no) or "",
    }


def webhook(body: bytes, secret: str, query: str = QUERY) -> SampleRequest:
    return SampleRequest(path="/webhooks/zoho-books", body=body, query=query,
                         headers={"Content-Type": "application/json;charset=UTF-8",
                                  "X-Zoho-Webhook-Signature": sign_zoho(query, body, secret), "User-Agent": "ZohoBooks"})


def signed(body: bytes, secret: str, at: datetime) -> SampleRequest:
    """*body* as a workflow webhook with the sample query string, signed with *secret*."""
    return webhook(body, secret)


def order(n: int, rng: random.Random, secret: str, at: datetime | None = None) -> SampleOrder:
    """Odd *n*: the "fulfilled" rule fires (SHIPMENT_CONFIRMED); even *n*: the "confirmed"
    rule (STAGE_REACHED). Zoho does not redeliver on its own; some are sent twice."""
    kind = "fulfilled" if n % 2 else "confirmed"
    so = salesorder(n, kind)
    req = webhook(dumps_exact({"salesorder": so}).encode(), secret)
    return SampleOrder(platform="zoho-books", order_ref=f"zoho-books:{so['salesorder_id']}", requests=[req],
                       redeliveries=[req] if rng.random() < 0.3 else [],
                       expected=Expected(trigger="SHIPMENT_CONFIRMED" if kind == "fulfilled" else "STAGE_REACHED",
                                         external_order_id=so["salesorder_id"], currency=so["currency_code"],
                                         line_count=len(so["line_items"]), order_key=f"zoho-books:{so['salesorder_id']}"))
