"""PayPal webhooks as PayPal sends them: ``PAYMENT.CAPTURE.COMPLETED`` (Orders v2, even *n*) and
``PAYMENT.SALE.COMPLETED`` (v1 Payments, odd *n*), signed SHA256withRSA over
``transmissionId|transmissionTime|webhookId|crc32(body)``, plus the Orders v2 / Payments v1
documents the source fetches.

PayPal signs with its own key; here each *secret* stands for one PayPal signing identity: a
2048-bit RSA key, a self-signed ``messageverificationcerts.paypal.com`` certificate and a webhook
id, all derived from the secret, so a sample "signed with the wrong secret" fails verification.
"""
from __future__ import annotations

import base64
import hashlib
import json
import random
import zlib
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from functools import lru_cache

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from demo.samples.base import CATALOGUE, CUSTOMERS, Expected, SampleOrder, SampleRequest

__all__ = ["order", "signed", "settings_env", "identity", "sign_paypal", "CERT_URL"]

CERT_URL = "https://api-m.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-bee66d5c"
_BASE_TIME = datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)
_VAT = {"DE": Decimal("0.19"), "FR": Decimal("0.20"), "NL": Decimal("0.21")}
_PAYERS = [("Jonas", "Albrecht"), ("Claire", "Dubois"), ("Pieter", "van Dijk"), ("Ingrid", "Hansen"), ("Markus", "Steiner"),
           ("Dana", "Whitfield"), ("Kevin", "Lau"), ("Sabine", "Kühn"), ("Yuki", "Tanaka")]


@lru_cache(maxsize=8)
def identity(secret: str) -> tuple[rsa.RSAPrivateKey, str, str]:
    """(private key, certificate PEM, webhook id) standing for *secret*."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "US"), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "PayPal, Inc."),
                      x509.NameAttribute(NameOID.COMMON_NAME, "messageverificationcerts.paypal.com")])
    now = datetime.now(timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(int(hashlib.sha256(secret.encode()).hexdigest()[:16], 16))
            .not_valid_before(now - timedelta(days=30)).not_valid_after(now + timedelta(days=365))
            .sign(key, hashes.SHA256()))
    webhook_id = hashlib.sha256(b"webhook:" + secret.encode()).hexdigest()[:17].upper()
    return key, cert.public_bytes(serialization.Encoding.PEM).decode(), webhook_id


def settings_env(secret: str) -> dict[str, str]:
    _, pem, webhook_id = identity(secret)
    return {"INVOICING_PAYPAL_WEBHOOK_ID": webhook_id, "INVOICING_PAYPAL_CERT_PEM": pem,
            "INVOICING_PAYPAL_CLIENT_ID": "AYSq3RDGsmBLJE-otTkBtM-jBRd1TCQwFf9RGfwddNXWz0uFU9ztymylOhRS",
            "INVOICING_PAYPAL_CLIENT_SECRET": "EGnHDxD_qRPdaLdZz8iCr8N7_MzF-YHPTkjs6NKYQvQSBngp4PTTVWkPZRbL"}


def sign_paypal(body: bytes, secret: str, at: datetime, transmission_id: str, cert_url: str = CERT_URL) -> dict[str, str]:
    key, _, webhook_id = identity(secret)
    ttime = at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    message = f"{transmission_id}|{ttime}|{webhook_id}|{zlib.crc32(body) & 0xFFFFFFFF}".encode()
    sig = base64.b64encode(key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()
    return {"Content-Type": "application/json", "User-Agent": "PayPal/AUHD-214.0-58981232",
            "PAYPAL-TRANSMISSION-ID": transmission_id, "PAYPAL-TRANSMISSION-TIME": ttime,
            "PAYPAL-TRANSMISSION-SIG": sig, "PAYPAL-CERT-URL": cert_url, "PAYPAL-AUTH-ALGO": "SHA256withRSA",
            "PAYPAL-AUTH-VERSION": "v2", "CORRELATION-ID": transmission_id[:13].replace("-", "")}


def _tid(body: bytes, at: datetime) -> str:
    h = hashlib.sha256(body + at.isoformat().encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-11ef-{h[12:16]}-{h[16:28]}"


def signed(body: bytes, secret: str, at: datetime) -> SampleRequest:
    """*body* as a PayPal webhook delivery signed for *secret* at *at*."""
    return SampleRequest(path="/webhooks/paypal", body=body, headers=sign_paypal(body, secret, at, _tid(body, at)))


def _money(currency: str, value: Decimal) -> dict[str, str]:
    return {"currency_code": currency, "value": f"{value:.0f}" if currency == "JPY" else f"{value:.2f}"}


def _fmt(currency: str, value: Decimal) -> str:
    return f"{value:.0f}" if currency == "JPY" else f"{value:.2f}"


def documents(n: int, rng: random.Random) -> tuple[dict[str, object], str, dict[str, object], int]:
    """(webhook event, API route, API document, line count) for order *n*."""
    cust_no, name, email, (street, city, zip_code, region, country), currency = CUSTOMERS[n % len(CUSTOMERS)]
    created = _BASE_TIME + timedelta(minutes=13 * (n % 1000))
    rate = _VAT.get(country, Decimal("0"))
    h = hashlib.sha256(f"paypal{n}".encode()).hexdigest().upper()
    items, item_total, tax_total = [], Decimal("0"), Decimal("0")
    for k in range(1 + n % 3):
        sku, title, price = CATALOGUE[(n + 2 * k) % len(CATALOGUE)]
        unit = Decimal(price) * (160 if currency == "JPY" else 1)
        qty = 1 + (n + 2 * k) % 3
        tax = (unit * rate).quantize(Decimal("1") if currency == "JPY" else Decimal("0.01"))
        items.append((sku, title, unit, qty, tax))
        item_total += unit * qty
        tax_total += tax * qty
    shipping = Decimal("0") if currency == "JPY" else Decimal("95.00")
    total = item_total + tax_total + shipping
    invoice_no = f"KN-PP-{20000 + n}"
    stamp = created.strftime("%Y-%m-%dT%H:%M:%SZ")
    payer_id = h[20:33]
    first, last = _PAYERS[n % len(_PAYERS)]  # the person who paid with the company's PayPal account
    if n % 2 == 0:  # Orders v2 checkout, captured
        order_id, capture_id = h[:17], h[17:34]
        resource = {
            "id": capture_id, "status": "COMPLETED", "amount": _money(currency, total), "final_capture": True,
            "seller_protection": {"status": "ELIGIBLE", "dispute_categories": ["ITEM_NOT_RECEIVED", "UNAUTHORIZED_TRANSACTION"]},
            "seller_receivable_breakdown": {"gross_amount": _money(currency, total),
                                            "paypal_fee": _money(currency, (total * Decimal("0.0299")).quantize(Decimal("0.01"))),
                                            "net_amount": _money(currency, total - (total * Decimal("0.0299")).quantize(Decimal("0.01")))},
            "invoice_id": invoice_no, "custom_id": None,
            "supplementary_data": {"related_ids": {"order_id": order_id}},
            "create_time": stamp, "update_time": stamp,
            "links": [{"href": f"https://api.paypal.com/v2/payments/captures/{capture_id}", "rel": "self", "method": "GET"},
                      {"href": f"https://api.paypal.com/v2/payments/captures/{capture_id}/refund", "rel": "refund", "method": "POST"},
                      {"href": f"https://api.paypal.com/v2/checkout/orders/{order_id}", "rel": "up", "method": "GET"}],
        }
        event_type, resource_type, summary = "PAYMENT.CAPTURE.COMPLETED", "capture", f"Payment completed for {_fmt(currency, total)} {currency}"
        api_doc: dict[str, object] = {
            "id": order_id, "intent": "CAPTURE", "status": "COMPLETED",
            "payment_source": {"paypal": {"email_address": email, "account_id": payer_id, "account_status": "VERIFIED"}},
            "payer": {"name": {"given_name": first, "surname": last}, "email_address": email, "payer_id": payer_id,
                      "address": {"address_line_1": street, "admin_area_2": city, **({"admin_area_1": region} if region else {}),
                                  "postal_code": zip_code, "country_code": country}},
            "purchase_units": [{
                "reference_id": "default", "invoice_id": invoice_no, "custom_id": None,
                "amount": {**_money(currency, total), "breakdown": {"item_total": _money(currency, item_total),
                                                                    "shipping": _money(currency, shipping),
                                                                    "tax_total": _money(currency, tax_total)}},
                "payee": {"email_address": "sales@kompressortechnik-nord.de", "merchant_id": "7KNW8RQZ2PB9A"},
                "items": [{"name": t, "unit_amount": _money(currency, u), "tax": _money(currency, tx), "quantity": str(q),
                           "sku": s, "category": "PHYSICAL_GOODS"} for s, t, u, q, tx in items],
                "shipping": {"name": {"full_name": name}, "address": {"address_line_1": street, "admin_area_2": city,
                                                                      "admin_area_1": region, "postal_code": zip_code,
                                                                      "country_code": country}},
                "payments": {"captures": [{"id": capture_id, "status": "COMPLETED", "amount": _money(currency, total),
                                           "final_capture": True, "create_time": stamp, "update_time": stamp}]},
            }],
            "create_time": (created - timedelta(minutes=3)).strftime("%Y-%m-%dT%H:%M:%SZ"), "update_time": stamp,
            "links": [{"href": f"https://api.paypal.com/v2/checkout/orders/{order_id}", "rel": "self", "method": "GET"}],
        }
        route = f"GET /v2/checkout/orders/{order_id}"
    else:  # v1 Payments sale
        pay_id, sale_id = f"PAYID-M{h[:23]}", h[23:40]
        amount = {"total": _fmt(currency, total), "currency": currency,
                  "details": {"subtotal": _fmt(currency, item_total), "tax": _fmt(currency, tax_total),
                              "shipping": _fmt(currency, shipping)}}
        resource = {
            "id": sale_id, "state": "completed", "amount": amount, "payment_mode": "INSTANT_TRANSFER",
            "protection_eligibility": "ELIGIBLE", "protection_eligibility_type": "ITEM_NOT_RECEIVED_ELIGIBLE,UNAUTHORIZED_PAYMENT_ELIGIBLE",
            "transaction_fee": {"value": _fmt(currency, (total * Decimal("0.0299")).quantize(Decimal("0.01"))), "currency": currency},
            "invoice_number": invoice_no, "custom": "", "parent_payment": pay_id, "create_time": stamp, "update_time": stamp,
            "links": [{"href": f"https://api.paypal.com/v1/payments/sale/{sale_id}", "rel": "self", "method": "GET"},
                      {"href": f"https://api.paypal.com/v1/payments/sale/{sale_id}/refund", "rel": "refund", "method": "POST"},
                      {"href": f"https://api.paypal.com/v1/payments/payment/{pay_id}", "rel": "parent_payment", "method": "GET"}],
        }
        event_type, resource_type, summary = "PAYMENT.SALE.COMPLETED", "sale", f"Payment completed for {_fmt(currency, total)} {currency}"
        ship_addr = {"recipient_name": name, "line1": street, "city": city, "state": region, "postal_code": zip_code,
                     "country_code": country}
        api_doc = {
            "id": pay_id, "intent": "sale", "state": "approved", "cart": h[40:57],
            "payer": {"payment_method": "paypal", "status": "VERIFIED",
                      "payer_info": {"email": email, "first_name": first, "last_name": last, "payer_id": payer_id,
                                     "shipping_address": ship_addr, "country_code": country,
                                     "billing_address": {k: v for k, v in ship_addr.items() if k != "recipient_name"}}},
            "transactions": [{
                "amount": amount, "payee": {"merchant_id": "7KNW8RQZ2PB9A", "email": "sales@kompressortechnik-nord.de"},
                "description": f"Order {invoice_no}", "invoice_number": invoice_no, "custom": "",
                "item_list": {"items": [{"name": t, "sku": s, "price": _fmt(currency, u), "currency": currency,
                                         "tax": _fmt(currency, tx), "quantity": q} for s, t, u, q, tx in items],
                              "shipping_address": ship_addr},
                "related_resources": [{"sale": {"id": sale_id, "state": "completed", "amount": amount,
                                                "parent_payment": pay_id, "create_time": stamp}}],
            }],
            "create_time": stamp, "update_time": stamp,
            "links": [{"href": f"https://api.paypal.com/v1/payments/payment/{pay_id}", "rel": "self", "method": "GET"}],
        }
        route = f"GET /v1/payments/payment/{pay_id}"
    event: dict[str, object] = {
        "id": f"WH-{h[:17]}-{h[17:34]}", "event_version": "1.0" if n % 2 else "2.0", "create_time": stamp,
        "resource_type": resource_type, "resource_version": "2.0" if n % 2 == 0 else None, "event_type": event_type,
        "summary": summary, "resource": resource,
        "links": [{"href": f"https://api.paypal.com/v1/notifications/webhooks-events/WH-{h[:17]}-{h[17:34]}",
                   "rel": "self", "method": "GET"},
                  {"href": f"https://api.paypal.com/v1/notifications/webhooks-events/WH-{h[:17]}-{h[17:34]}/resend",
                   "rel": "resend", "method": "POST"}],
    }
    return event, route, api_doc, len(items)


def order(n: int, rng: random.Random, secret: str, at: datetime | None = None) -> SampleOrder:
    event, route, api_doc, line_count = documents(n, rng)
    body = json.dumps(event).encode()
    when = at or datetime.fromisoformat(str(event["create_time"]).replace("Z", "+00:00"))
    req = SampleRequest(path="/webhooks/paypal", body=body, headers=sign_paypal(body, secret, when, _tid(body, when)))
    # a PayPal retry is a new transmission (new id and time) of the same event
    again = when + timedelta(seconds=20)
    redeliveries = ([SampleRequest(path="/webhooks/paypal", body=body, headers=sign_paypal(body, secret, again, _tid(body, again)))]
                    if rng.random() < 0.3 else [])
    pay_or_order = str(api_doc["id"])
    api = {route: api_doc, "POST /v1/oauth2/token": {
        "scope": "https://uri.paypal.com/services/payments/payment https://uri.paypal.com/services/payments/refund",
        "access_token": "A21AAFEpH4PsADK7qSS7pSRsgzfENtu-Q1ysgEDVDESseMHBYXVJYE8ovjj68elIDy8nF26AwPhfXTIeWAZHSLIsQkSYz9ifg",
        "token_type": "Bearer", "app_id": "APP-80W284485P519543T", "expires_in": 32400, "nonce": "2026-11-23T09:00:00ZaRo"}}
    resource = event["resource"]
    assert isinstance(resource, dict)
    currency = str((resource["amount"] or {}).get("currency_code") or resource["amount"].get("currency"))
    expected = Expected(trigger="PAYMENT_RECEIVED", external_order_id=pay_or_order, currency=currency,
                        line_count=line_count, order_key=f"paypal:{pay_or_order}")
    return SampleOrder(platform="paypal", order_ref=f"paypal:{pay_or_order}", requests=[req], redeliveries=redeliveries,
                       expected=expected, api=api)
