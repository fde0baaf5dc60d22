"""Stripe ``invoice.payment_succeeded`` Events, shaped like API version 2025-09-30.clover
(Invoice with ``lines.data[].pricing``, ``taxes``, ``parent``), signed as Stripe signs them."""
from __future__ import annotations

import hashlib
import hmac
import json
import random
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from demo.samples.base import CATALOGUE, CUSTOMERS, Expected, SampleOrder, SampleRequest, customer_vat

__all__ = ["order", "signed", "stripe_event", "sign_stripe"]

API_VERSION = "2025-09-30.clover"
_BASE_TIME = datetime(2026, 11, 23, 8, 0, tzinfo=timezone.utc)
_VAT = {"DE": Decimal("0.19"), "FR": Decimal("0.20"), "NL": Decimal("0.21")}


def sign_stripe(body: bytes, secret: str, at: datetime) -> str:
    t = int(at.timestamp())
    sig = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={sig}"


def _id(prefix: str, n: int, salt: str = "") -> str:
    return prefix + hashlib.sha256(f"{prefix}{n}{salt}".encode()).hexdigest()[:24]


def _minor(amount: Decimal, currency: str) -> int:
    return int(amount if currency == "JPY" else amount * 100)


def stripe_event(n: int, rng: random.Random, *, order_ref: str | None = None) -> dict[str, object]:
    cust_no, name, email, (street, city, zip_code, region, country), currency = CUSTOMERS[n % len(CUSTOMERS)]
    created = _BASE_TIME + timedelta(minutes=11 * (n % 1000))
    ts = int(created.timestamp())
    inv_id = _id("in_1Q", n)
    rate = _VAT.get(country, Decimal("0"))
    lines: list[dict[str, object]] = []
    subtotal = tax_total = 0
    taxes_by_rate: dict[str, list[int]] = {}
    for k in range(1 + n % 3):
        sku, title, price = CATALOGUE[(n * 2 + k) % len(CATALOGUE)]
        unit = _minor(Decimal(price) * (160 if currency == "JPY" else 1), currency)
        qty = 1 + (n + k) % 4
        amount = unit * qty
        tax = int((Decimal(amount) * rate).quantize(Decimal("1")))
        subtotal += amount
        tax_total += tax
        txr = _id("txr_1Q", int(rate * 100))
        line_taxes = ([{"amount": tax, "tax_behavior": "exclusive", "tax_rate_details": {"tax_rate": txr},
                        "taxability_reason": "standard_rated", "taxable_amount": amount, "type": "tax_rate_details"}]
                      if rate else [])
        if rate:
            acc = taxes_by_rate.setdefault(txr, [0, 0])
            acc[0] += tax
            acc[1] += amount
        lines.append({
            "id": _id("il_1Q", n, str(k)), "object": "line_item", "amount": amount, "currency": currency.lower(),
            "description": title, "discount_amounts": [], "discountable": True, "discounts": [],
            "invoice": inv_id, "livemode": False, "metadata": {"sku": sku},
            "parent": {"type": "invoice_item_details", "subscription_item_details": None,
                       "invoice_item_details": {"invoice_item": _id("ii_1Q", n, str(k)), "proration": False,
                                                "proration_details": {"credited_items": None}, "subscription": None}},
            "period": {"start": ts, "end": ts}, "pretax_credit_amounts": [],
            "pricing": {"type": "price_details", "unit_amount_decimal": str(unit),
                        "price_details": {"price": _id("price_1Q", n, str(k)), "product": _id("prod_", k, sku)}},
            "quantity": qty, "taxes": line_taxes,
        })
    total = subtotal + tax_total
    vat_id = customer_vat(cust_no)
    invoice = {
        "id": inv_id, "object": "invoice", "account_country": "DE", "account_name": "Kompressortechnik Nord GmbH",
        "account_tax_ids": None, "amount_due": total, "amount_overpaid": 0, "amount_paid": total, "amount_remaining": 0,
        "amount_shipping": 0, "application": None, "attempt_count": 1, "attempted": True, "auto_advance": False,
        "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None, "provider": None, "status": None},
        "automatically_finalizes_at": None, "billing_reason": "manual", "collection_method": "charge_automatically",
        "confirmation_secret": None, "created": ts, "currency": currency.lower(), "custom_fields": None,
        "customer": _id("cus_", int(cust_no)),
        "customer_address": {"city": city, "country": country, "line1": street, "line2": None,
                             "postal_code": zip_code, "state": region},
        "customer_email": email, "customer_name": name, "customer_phone": None, "customer_shipping": None,
        "customer_tax_exempt": "none" if rate else "reverse",
        "customer_tax_ids": [{"type": "eu_vat", "value": vat_id}] if vat_id else [],
        "default_payment_method": None, "default_source": None, "default_tax_rates": [], "description": None,
        "discounts": [], "due_date": None, "effective_at": ts, "ending_balance": 0, "footer": None,
        "from_invoice": None, "hosted_invoice_url": f"https://invoice.stripe.com/i/acct_1Q/test_{inv_id}",
        "invoice_pdf": f"https://pay.stripe.com/invoice/acct_1Q/test_{inv_id}/pdf?s=ap", "issuer": {"type": "self"},
        "last_finalization_error": None, "latest_revision": None,
        "lines": {"object": "list", "data": lines, "has_more": False, "total_count": len(lines),
                  "url": f"/v1/invoices/{inv_id}/lines"},
        "livemode": False, "metadata": {"order_ref": order_ref} if order_ref else {},
        "next_payment_attempt": None, "number": f"KN-{7000 + n:04d}-0001", "on_behalf_of": None, "parent": None,
        "payment_settings": {"default_mandate": None, "payment_method_options": None, "payment_method_types": None},
        "period_end": ts, "period_start": ts, "post_payment_credit_notes_amount": 0,
        "pre_payment_credit_notes_amount": 0, "receipt_number": None, "rendering": None, "shipping_cost": None,
        "shipping_details": None, "starting_balance": 0, "statement_descriptor": None, "status": "paid",
        "status_transitions": {"finalized_at": ts, "marked_uncollectible_at": None, "paid_at": ts + 90, "voided_at": None},
        "subtotal": subtotal, "subtotal_excluding_tax": subtotal, "test_clock": None, "total": total,
        "total_discount_amounts": [], "total_excluding_tax": subtotal, "total_pretax_credit_amounts": [],
        "total_taxes": [{"amount": a, "tax_behavior": "exclusive", "tax_rate_details": {"tax_rate": r},
                         "taxability_reason": "standard_rated", "taxable_amount": b, "type": "tax_rate_details"}
                        for r, (a, b) in taxes_by_rate.items()],
        "webhooks_delivered_at": ts,
    }
    return {
        "id": _id("evt_1Q", n), "object": "event", "api_version": API_VERSION, "created": ts + 90,
        "data": {"object": invoice}, "livemode": False, "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None}, "type": "invoice.payment_succeeded",
    }


def _request(body: bytes, secret: str, at: datetime) -> SampleRequest:
    return SampleRequest(path="/webhooks/stripe", body=body, headers={
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        "Stripe-Signature": sign_stripe(body, secret, at),
        "Cache-Control": "no-cache",
    })


def signed(body: bytes, secret: str, at: datetime) -> SampleRequest:
    """*body* as a Stripe webhook delivery signed with *secret* at *at*."""
    return _request(body, secret, at)


def order(n: int, rng: random.Random, secret: str, at: datetime | None = None) -> SampleOrder:
    """One paid invoice's ``invoice.payment_succeeded`` event; some redelivered (new t=, same event)."""
    doc = stripe_event(n, rng)
    body = json.dumps(doc, indent=2).encode()  # Stripe pretty-prints its payloads
    when = at or datetime.fromtimestamp(int(str(doc["created"])), tz=timezone.utc)
    req = _request(body, secret, when)
    redeliveries = [_request(body, secret, when + timedelta(seconds=30))] if rng.random() < 0.3 else []
    inv = doc["data"]["object"]  # type: ignore[index]
    expected = Expected(trigger="PAYMENT_RECEIVED", external_order_id=inv["id"], currency=inv["currency"].upper(),
                        line_count=len(inv["lines"]["data"]), order_key=f"stripe:{inv['id']}")
    return SampleOrder(platform="stripe", order_ref=f"stripe:{inv['id']}", requests=[req],
                       redeliveries=redeliveries, expected=expected)
