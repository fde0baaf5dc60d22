"""Adobe I/O Events deliveries of ``com.adobe.commerce.observer.sales_order_invoice_pay`` with the
invoice fields an Adobe Commerce subscription selects, signed RSA-SHA256 twice as Adobe does.

Adobe signs with its own keys; here each *secret* stands for one signing identity (an RSA key and
an I/O client id derived from the secret), so a sample "signed with the wrong secret" fails.
"""
from __future__ import annotations

import base64
import hashlib
import json
import random
import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from functools import lru_cache

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from demo.samples.base import CATALOGUE, CUSTOMERS, Expected, SampleOrder, SampleRequest, customer_vat

__all__ = ["order", "signed", "settings_env", "identity", "signature_headers", "KEY1_PATH", "KEY2_PATH"]

KEY1_PATH = "/prod/keys/pub-key-voy5XEbWmT.pem"
KEY2_PATH = "/prod/keys/pub-key-maAv3Tg6ZH.pem"
_BASE_TIME = datetime(2026, 11, 23, 13, 0, tzinfo=timezone.utc)
_VAT = {"DE": Decimal("19"), "FR": Decimal("20"), "NL": Decimal("21")}
_FOUR = Decimal("0.0001")


@lru_cache(maxsize=8)
def identity(secret: str) -> tuple[rsa.RSAPrivateKey, str, str]:
    """(private key, public key PEM, I/O client id) standing for *secret*."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return key, pem, hashlib.sha256(b"adobe-io:" + secret.encode()).hexdigest()[:32]


def settings_env(secret: str) -> dict[str, str]:
    _, pem, client_id = identity(secret)
    return {"INVOICING_MAGENTO_CLIENT_ID": client_id, "INVOICING_MAGENTO_PUBLIC_KEY_PEM": pem}


def signature_headers(body: bytes, secret: str) -> dict[str, str]:
    key, _, _ = identity(secret)
    sig = base64.b64encode(key.sign(body, padding.PKCS1v15(), hashes.SHA256())).decode()
    return {"x-adobe-digital-signature-1": sig, "x-adobe-digital-signature-2": sig,
            "x-adobe-public-key1-path": KEY1_PATH, "x-adobe-public-key2-path": KEY2_PATH}


def _request(body: bytes, secret: str, event_id: str) -> SampleRequest:
    return SampleRequest(path="/webhooks/magento", body=body, headers={
        "Content-Type": "application/cloudevents+json; charset=UTF-8", "User-Agent": "Adobe I/O Events",
        "x-adobe-event-code": "com.adobe.commerce.observer.sales_order_invoice_pay", "x-adobe-event-id": event_id,
        "x-adobe-provider": "3rd_party_custom_events", **signature_headers(body, secret)})


def signed(body: bytes, secret: str, at: datetime) -> SampleRequest:
    """*body* as an Adobe I/O Events delivery signed for *secret*."""
    return _request(body, secret, str(uuid.uuid5(uuid.NAMESPACE_URL, hashlib.sha256(body).hexdigest())))


def _d(value: Decimal) -> str:
    return f"{value.quantize(_FOUR)}"


def invoice_event(n: int, client_id: str) -> dict[str, object]:
    cust_no, name, email, (street, city, zip_code, region, country), currency = CUSTOMERS[n % len(CUSTOMERS)]
    order_id, invoice_id = 3100 + n, 2900 + n
    created = _BASE_TIME + timedelta(minutes=29 * (n % 1000))
    stamp = created.strftime("%Y-%m-%d %H:%M:%S")
    rate = _VAT.get(country, Decimal("0"))
    items, subtotal, tax_total = [], Decimal("0"), Decimal("0")
    for k in range(1 + n % 4):
        sku, title, price = CATALOGUE[(n * 4 + k) % len(CATALOGUE)]
        unit = Decimal(price) * (160 if currency == "JPY" else 1)
        qty = Decimal(1 + (n + k) % 3)
        row = unit * qty
        tax = (row * rate / 100).quantize(Decimal("0.01"))
        subtotal += row
        tax_total += tax
        items.append({"entity_id": str(invoice_id * 10 + k), "parent_id": str(invoice_id), "order_item_id": str(order_id * 10 + k),
                      "product_id": str(400 + (n * 4 + k) % len(CATALOGUE)), "sku": sku, "name": title, "qty": _d(qty),
                      "price": _d(unit), "base_price": _d(unit), "row_total": _d(row), "base_row_total": _d(row),
                      "tax_amount": _d(tax), "base_tax_amount": _d(tax), "discount_amount": None,
                      "price_incl_tax": _d(unit + (unit * rate / 100).quantize(Decimal("0.01"))),
                      "row_total_incl_tax": _d(row + tax), "parent_item_id": None})
    shipping = Decimal("0") if currency == "JPY" else Decimal("120.00")
    grand = subtotal + tax_total + shipping
    first, last = ("Erika", "Mustermann") if country == "DE" else ("Alex", "Morgan")
    value = {
        "entity_id": str(invoice_id), "increment_id": f"00000{invoice_id}", "order_id": str(order_id), "store_id": "1",
        "state": "2", "is_used_for_refund": None, "can_void_flag": "0", "email_sent": None, "send_email": "1",
        "base_currency_code": currency, "order_currency_code": currency, "global_currency_code": currency,
        "store_currency_code": currency, "subtotal": _d(subtotal), "base_subtotal": _d(subtotal), "tax_amount": _d(tax_total),
        "base_tax_amount": _d(tax_total), "shipping_amount": _d(shipping), "base_shipping_amount": _d(shipping),
        "discount_amount": "0.0000", "grand_total": _d(grand), "base_grand_total": _d(grand), "total_qty": _d(sum((Decimal(str(i["qty"])) for i in items), start=Decimal(0))),
        "created_at": stamp, "updated_at": stamp, "billing_address_id": str(order_id * 2),
        "items": items,
        "order": {"entity_id": str(order_id), "increment_id": f"00000{order_id}", "customer_id": str(int(cust_no) % 100000),
                  "customer_email": email, "customer_firstname": first, "customer_lastname": last,
                  "billing_address": {"company": name, "firstname": first, "lastname": last, "street": [street],
                                      "city": city, "postcode": zip_code, "region_code": region, "country_id": country,
                                      "telephone": "+49 40 1234567", "email": email, "vat_id": customer_vat(cust_no)}},
    }
    event_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"adobe-io/invoice-pay/{invoice_id}"))
    return {
        "specversion": "1.0", "type": "com.adobe.commerce.observer.sales_order_invoice_pay",
        "source": "urn:uuid:6e0f7f1c-4b0d-4d5e-9a77-2d1c0b3a4e5f", "id": event_id,
        "time": created.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z", "datacontenttype": "application/json",
        "recipient_client_id": client_id, "event_id": event_id,
        "data": {"key": str(uuid.uuid5(uuid.NAMESPACE_URL, f"key/{invoice_id}")), "value": value,
                 "source": "kompressor_nord.production",
                 "_metadata": {"commerceEdition": "Adobe Commerce", "commerceVersion": "2.4.7-p3",
                               "eventsClientVersion": "1.12.1", "storeId": "1", "websiteId": "1", "storeGroupId": "1"}},
    }


def order(n: int, rng: random.Random, secret: str, at: datetime | None = None) -> SampleOrder:
    _, _, client_id = identity(secret)
    doc = invoice_event(n, client_id)
    body = json.dumps(doc).encode()
    req = _request(body, secret, str(doc["event_id"]))
    redeliveries = [req] if rng.random() < 0.3 else []
    value = doc["data"]["value"]  # type: ignore[index]
    expected = Expected(trigger="PAYMENT_RECEIVED", external_order_id=value["order_id"], currency=value["order_currency_code"],
                        line_count=len(value["items"]), order_key=f"magento:{value['order_id']}")
    return SampleOrder(platform="magento", order_ref=f"magento:{value['order_id']}", requests=[req],
                       redeliveries=redeliveries, expected=expected)
