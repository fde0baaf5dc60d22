"""Shopify ``orders/fulfilled`` webhooks shaped like the REST Admin API Order resource."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from demo.samples.base import CATALOGUE, CUSTOMERS, Expected, SampleOrder, SampleRequest

__all__ = ["order", "signed", "shopify_payload", "sign_shopify"]

SHOP = "kompressor-nord.myshopify.com"
_BASE_TIME = datetime(2026, 11, 23, 7, 30, tzinfo=timezone.utc)


def sign_shopify(body: bytes, secret: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def shopify_payload(n: int, rng: random.Random) -> dict[str, object]:
    cust_no, name, email, (street, city, zip_code, region, country), currency = CUSTOMERS[n % len(CUSTOMERS)]
    order_id = 5_800_000_000_000 + n
    created = _BASE_TIME + timedelta(minutes=7 * (n % 1000))
    company = name
    first, last = ("Erika", "Mustermann") if country == "DE" else ("Alex", "Morgan")
    rate = {"DE": Decimal("0.19"), "FR": Decimal("0.20"), "NL": Decimal("0.21")}.get(country, Decimal("0"))
    items = []
    subtotal = Decimal("0")
    tax_total = Decimal("0")
    for k in range(1 + n % 4):
        sku, title, price = CATALOGUE[(n + k * 3) % len(CATALOGUE)]
        if currency == "JPY":
            price = str((Decimal(price) * 160).quantize(Decimal("1")))
        qty = 1 + (n * 7 + k) % 5
        line = Decimal(price) * qty
        tax = (line * rate).quantize(Decimal("0.01"))
        subtotal += line
        tax_total += tax
        items.append({
            "id": 13_000_000_000 + n * 10 + k,
            "admin_graphql_api_id": f"gid://shopify/LineItem/{13_000_000_000 + n * 10 + k}",
            "variant_id": 44_000_000_000 + k, "product_id": 8_800_000_000 + k,
            "title": title, "name": title, "variant_title": None, "vendor": "Kompressortechnik Nord",
            "sku": sku, "quantity": qty, "current_quantity": qty, "fulfillable_quantity": 0,
            "fulfillment_status": "fulfilled", "requires_shipping": True, "taxable": True, "gift_card": False,
            "grams": 85000, "price": price,
            "price_set": {"shop_money": {"amount": price, "currency_code": currency},
                          "presentment_money": {"amount": price, "currency_code": currency}},
            "total_discount": "0.00", "discount_allocations": [],
            "tax_lines": ([{"title": "VAT", "price": str(tax), "rate": float(rate),
                            "channel_liable": False}] if rate else []),
            "properties": [],
        })
    shipping = Decimal("0") if currency == "JPY" else Decimal(rng.choice(["0.00", "49.00", "149.00"]))
    total = subtotal + tax_total + shipping
    address = {
        "first_name": first, "last_name": last, "company": company, "address1": street, "address2": None,
        "city": city, "zip": zip_code, "province": region, "province_code": region, "country": country,
        "country_code": country, "phone": "+49 40 1234567", "name": f"{first} {last}",
        "latitude": None, "longitude": None,
    }
    return {
        "id": order_id,
        "admin_graphql_api_id": f"gid://shopify/Order/{order_id}",
        "app_id": 580111, "browser_ip": None, "buyer_accepts_marketing": False,
        "cancel_reason": None, "cancelled_at": None, "cart_token": None, "checkout_id": 36_000_000_000 + n,
        "confirmation_number": f"K{n:07d}", "confirmed": True, "contact_email": email,
        "created_at": created.isoformat(), "processed_at": created.isoformat(),
        "updated_at": (created + timedelta(hours=20)).isoformat(),
        "currency": currency, "presentment_currency": currency,
        "current_subtotal_price": f"{subtotal:.2f}", "current_total_price": f"{total:.2f}",
        "current_total_tax": f"{tax_total:.2f}", "customer_locale": "de", "email": email,
        "estimated_taxes": False, "financial_status": "paid", "fulfillment_status": "fulfilled",
        "name": f"#K{1000 + n}", "order_number": 1000 + n, "number": n, "note": None, "note_attributes": [],
        "payment_gateway_names": ["manual"], "po_number": f"PO-{4400 + n}" if n % 3 == 0 else None,
        "source_name": "web", "subtotal_price": f"{subtotal:.2f}", "tags": "b2b",
        "tax_exempt": False, "taxes_included": False, "test": False,
        "total_discounts": "0.00", "total_line_items_price": f"{subtotal:.2f}",
        "total_price": f"{total:.2f}", "total_tax": f"{tax_total:.2f}", "total_weight": 85000,
        "billing_address": address, "shipping_address": address,
        "customer": {"id": int(cust_no), "email": email, "first_name": first, "last_name": last,
                     "state": "enabled", "verified_email": True, "tax_exempt": False,
                     "currency": currency, "admin_graphql_api_id": f"gid://shopify/Customer/{cust_no}"},
        "line_items": items,
        "shipping_lines": [{"id": 4_500_000_000 + n, "title": "Freight", "code": "Freight",
                            "price": f"{shipping:.2f}", "source": "shopify", "tax_lines": [],
                            "discount_allocations": []}],
        "fulfillments": [{"id": 5_100_000_000 + n, "status": "success", "tracking_company": "DHL Freight",
                          "tracking_number": f"JJD{n:012d}", "created_at": (created + timedelta(hours=20)).isoformat()}],
        "refunds": [],
    }


def _request(topic: str, body: bytes, secret: str, event_id: str, triggered: datetime) -> SampleRequest:
    return SampleRequest(
        path="/webhooks/shopify",
        body=body,
        headers={
            "Content-Type": "application/json",
            "X-Shopify-Topic": topic,
            "X-Shopify-Hmac-Sha256": sign_shopify(body, secret),
            "X-Shopify-Shop-Domain": SHOP,
            "X-Shopify-API-Version": "2026-10",
            "X-Shopify-Webhook-Id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{topic}/{event_id}")),
            "X-Shopify-Event-Id": event_id,
            "X-Shopify-Triggered-At": triggered.isoformat(),
        },
    )


def signed(body: bytes, secret: str, at: datetime) -> SampleRequest:
    """*body* as an ``orders/fulfilled`` webhook signed with *secret*."""
    return _request("orders/fulfilled", body, secret, f"evt-any-{hashlib.sha256(body).hexdigest()[:12]}", at)


def order(n: int, rng: random.Random, secret: str, at: datetime | None = None) -> SampleOrder:
    """An order's ``orders/paid`` (every second order) and ``orders/fulfilled`` webhooks; some redelivered."""
    doc = shopify_payload(n, rng)
    body = json.dumps(doc, default=str).encode()
    created = datetime.fromisoformat(str(doc["created_at"]))
    fulfilled = _request("orders/fulfilled", body, secret, f"evt-ful-{doc['id']}", created + timedelta(hours=20))
    requests = [fulfilled]
    if n % 2 == 0:
        requests.insert(0, _request("orders/paid", body, secret, f"evt-paid-{doc['id']}", created + timedelta(minutes=2)))
    redeliveries = [fulfilled] if rng.random() < 0.3 else []
    items = doc["line_items"]
    assert isinstance(items, list)
    expected = Expected(trigger="PAYMENT_RECEIVED" if n % 2 == 0 else "SHIPMENT_CONFIRMED",
                        external_order_id=str(doc["id"]), currency=str(doc["currency"]),
                        line_count=len(items), order_key=f"shopify:{doc['id']}")
    return SampleOrder(platform="shopify", order_ref=f"shopify:{doc['id']}", requests=requests,
                       redeliveries=redeliveries, expected=expected)
