"""WooCommerce webhooks as ``WC_Webhook::deliver`` sends them (headers ``X-WC-Webhook-*``, body
the REST v3 order, or ``{"action", "arg"}`` for ``action.*`` topics) and the REST v3 order the
thin ones fetch. Money values are strings; ``line_items[].price`` is a JSON number."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from domain.exact import dumps_exact
from demo.samples.base import CATALOGUE, CUSTOMERS, Expected, SampleOrder, SampleRequest, customer_vat

__all__ = ["order", "signed", "settings_env", "sign_woocommerce", "order_document", "webhook", "ping", "SITE"]

SITE = "https://shop.kompressortechnik-nord.de/"
WEBHOOK_ID = "17"
_BASE = datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)
_RATES = {"DE": ("19", 1), "FR": ("20", 2), "NL": ("21", 3)}


def sign_woocommerce(body: bytes, secret: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def _iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S")


def order_document(n: int, status: str = "completed") -> dict[str, Any]:
    """A REST v3 order (``GET /wp-json/wc/v3/orders/{id}``)."""
    cust_no, name, email, (street, city, zip_code, region, country), currency = CUSTOMERS[n % len(CUSTOMERS)]
    rate, rate_id = _RATES.get(country, (None, 0))
    created = _BASE + timedelta(hours=5 * n)
    items: list[dict[str, Any]] = []
    net, tax_total = Decimal("0"), Decimal("0")
    for k in range(1 + n % 4):
        sku, title, price = CATALOGUE[(n + 4 * k) % len(CATALOGUE)]
        if currency == "JPY":
            price = str((Decimal(price) * 160).quantize(Decimal("1")))
        qty = 1 + (n * 3 + k) % 4
        sub = Decimal(price) * qty
        disc = (sub * Decimal("0.05")).quantize(Decimal("0.01")) if k == 0 and n % 3 == 0 else Decimal("0")
        total = sub - disc
        tax = (total * Decimal(rate or "0") / 100).quantize(Decimal("0.01"))
        net, tax_total = net + total, tax_total + tax
        items.append({"id": 900 + 10 * n + k, "name": title, "product_id": 40 + (n + 4 * k) % len(CATALOGUE),
                      "variation_id": 0, "quantity": qty, "tax_class": "", "subtotal": f"{sub:.2f}", "subtotal_tax": f"{(sub * Decimal(rate or '0') / 100).quantize(Decimal('0.01')):.2f}",
                      "total": f"{total:.2f}", "total_tax": f"{tax:.2f}",
                      "taxes": [{"id": rate_id, "total": f"{tax:.2f}", "subtotal": f"{tax:.2f}"}] if rate else [],
                      "meta_data": [], "sku": sku, "price": Decimal(price), "image": {"id": "", "src": ""}, "parent_name": None})
    shipping = Decimal("0") if currency == "JPY" else Decimal(random.Random(n).choice(["0.00", "39.00", "89.00"]))
    grand = net + tax_total + shipping
    first, last = ("Erika", "Mustermann") if country == "DE" else ("Alex", "Morgan")
    paid_at = created + timedelta(minutes=20)
    done_at = created + timedelta(days=1, hours=3) if status == "completed" else None
    return {
        "id": 7100 + n, "parent_id": 0, "status": status, "currency": currency, "version": "9.4.2",
        "prices_include_tax": False, "date_created": _iso(created), "date_modified": _iso(done_at or paid_at),
        "discount_total": f"{sum((Decimal(i['subtotal']) - Decimal(i['total']) for i in items), Decimal('0')):.2f}",
        "discount_tax": "0.00", "shipping_total": f"{shipping:.2f}", "shipping_tax": "0.00", "cart_tax": f"{tax_total:.2f}",
        "total": f"{grand:.2f}", "total_tax": f"{tax_total:.2f}", "customer_id": 300 + n % len(CUSTOMERS),
        "order_key": f"wc_order_{hashlib.sha1(str(n).encode()).hexdigest()[:13]}",
        "billing": {"first_name": first, "last_name": last, "company": name, "address_1": street, "address_2": "",
                    "city": city, "state": region or "", "postcode": zip_code, "country": country, "email": email,
                    "phone": "+49 40 1234567"},
        "shipping": {"first_name": first, "last_name": last, "company": name, "address_1": street, "address_2": "",
                     "city": city, "state": region or "", "postcode": zip_code, "country": country, "phone": ""},
        "payment_method": "bacs", "payment_method_title": "Direct bank transfer", "transaction_id": "",
        "customer_ip_address": "", "customer_user_agent": "", "created_via": "checkout", "customer_note": "",
        "date_completed": _iso(done_at) if done_at else None, "date_paid": _iso(paid_at), "cart_hash": "",
        "number": str(7100 + n), "line_items": items,
        "meta_data": [{"id": 90_000 + n, "key": "_billing_vat_number", "value": customer_vat(cust_no)}] if customer_vat(cust_no) else [],
        "tax_lines": [{"id": 5000 + n, "rate_code": f"{country}-VAT-1", "rate_id": rate_id, "label": "VAT", "compound": False,
                       "tax_total": f"{tax_total:.2f}", "shipping_tax_total": "0.00", "rate_percent": int(rate), "meta_data": []}] if rate else [],
        "shipping_lines": [{"id": 6000 + n, "method_title": "Spedition", "method_id": "flat_rate", "instance_id": "1",
                            "total": f"{shipping:.2f}", "total_tax": "0.00", "taxes": [], "meta_data": []}],
        "fee_lines": [], "coupon_lines": [], "refunds": [], "payment_url": "", "is_editable": False, "needs_payment": False,
        "needs_processing": True, "date_created_gmt": _iso(created), "date_modified_gmt": _iso(done_at or paid_at),
        "date_completed_gmt": _iso(done_at) if done_at else None, "date_paid_gmt": _iso(paid_at), "currency_symbol": {"EUR": "€", "USD": "$", "JPY": "¥"}.get(currency, currency),
        "_links": {"self": [{"href": f"{SITE}wp-json/wc/v3/orders/{7100 + n}"}], "collection": [{"href": f"{SITE}wp-json/wc/v3/orders"}]},
    }


def webhook(topic: str, body: bytes, secret: str, delivery: int) -> SampleRequest:
    resource, _, event = topic.partition(".")
    return SampleRequest(path="/webhooks/woocommerce", body=body, headers={
        "Content-Type": "application/json", "User-Agent": "WooCommerce/9.4.2 Hookshot (WordPress/6.8.1)",
        "X-WC-Webhook-Source": SITE, "X-WC-Webhook-Topic": topic, "X-WC-Webhook-Resource": resource,
        "X-WC-Webhook-Event": event, "X-WC-Webhook-Signature": sign_woocommerce(body, secret),
        "X-WC-Webhook-ID": WEBHOOK_ID, "X-WC-Webhook-Delivery-ID": hashlib.md5(f"{delivery}".encode()).hexdigest()})


def ping(webhook_id: str = WEBHOOK_ID) -> SampleRequest:
    """The unsigned ping WooCommerce posts when a webhook is created."""
    return SampleRequest(path="/webhooks/woocommerce", body=f"webhook_id={webhook_id}".encode(),
                         headers={"Content-Type": "application/x-www-form-urlencoded",
                                  "User-Agent": "WooCommerce/9.4.2 Hookshot (WordPress/6.8.1)"})


def signed(body: bytes, secret: str, at: datetime) -> SampleRequest:
    """*body* as an ``order.updated`` delivery signed with *secret*."""
    return webhook("order.updated", body, secret, int(at.timestamp()))


def settings_env(secret: str) -> dict[str, str]:
    return {"INVOICING_WOOCOMMERCE_CONSUMER_KEY": "ck_4f1c0de5a1b2c3d4e5f60718293a4b5c6d7e8f90",
            "INVOICING_WOOCOMMERCE_CONSUMER_SECRET": "cs_0a9b8c7d6e5f40312a3b4c5d6e7f8091a2b3c4d5"}


def order(n: int, rng: random.Random, secret: str, at: datetime | None = None) -> SampleOrder:
    """Even *n*: ``order.updated`` with status completed (full order). Odd *n*: the thin
    ``action.woocommerce_order_status_completed``. Deliveries get fresh delivery ids."""
    doc = order_document(n)
    if n % 2 == 0:
        body = dumps_exact(doc).encode()
        topic = "order.updated"
    else:
        body = json.dumps({"action": "woocommerce_order_status_completed", "arg": doc["id"]}).encode()
        topic = "action.woocommerce_order_status_completed"
    req = webhook(topic, body, secret, 10 * n)
    again = webhook(topic, body, secret, 10 * n + 1)  # WooCommerce resends with a new delivery id
    return SampleOrder(platform="woocommerce", order_ref=f"woocommerce:{doc['id']}", requests=[req],
                       redeliveries=[again] if rng.random() < 0.3 else [],
                       api={f"GET /wp-json/wc/v3/orders/{doc['id']}": dumps_exact(doc).encode()},
                       expected=Expected(trigger="SHIPMENT_CONFIRMED", external_order_id=str(doc["id"]), currency=doc["currency"],
                                         line_count=len(doc["line_items"]), order_key=f"woocommerce:{doc['id']}"))
