"""PayPal: ``PAYMENT.SALE.COMPLETED`` (v1 Payments) and ``PAYMENT.CAPTURE.COMPLETED`` (Orders v2) webhooks.

* Authentication (PayPal's self-verification): ``PAYPAL-TRANSMISSION-SIG`` is base64 SHA256withRSA
  over ``<PAYPAL-TRANSMISSION-ID>|<PAYPAL-TRANSMISSION-TIME>|<webhook id>|<crc32(raw body), unsigned
  decimal>``, verified with the certificate at ``PAYPAL-CERT-URL``. The certificate is fetched only
  over HTTPS from ``INVOICING_PAYPAL_CERT_HOSTS`` (default ``paypal.com`` and its subdomains), its
  validity dates are checked, and it is cached; ``INVOICING_PAYPAL_CERT_PEM`` pins a certificate
  instead (no download). ``INVOICING_PAYPAL_WEBHOOK_ID`` (the id PayPal gave the subscription) is
  required: without it every request is refused. A transmission time further than
  ``INVOICING_PAYPAL_TIMESTAMP_TOLERANCE`` seconds from now is a replay (each PayPal retry is a new
  transmission with its own id and time).
* Event id: the event ``id`` (``WH-…``), constant across PayPal's retries.
* Triggers: both events → PAYMENT_RECEIVED. Anything else is answered 200 and ignored.
* Thin: the sale and capture resources carry amounts but no lines, so the worker fetches the
  payment (``GET /v1/payments/payment/{parent_payment}``) or the order
  (``GET /v2/checkout/orders/{order_id}``) with an OAuth2 client-credentials token
  (``INVOICING_PAYPAL_CLIENT_ID`` / ``_CLIENT_SECRET``, ``POST /v1/oauth2/token``).
* Order key: the purchase unit's ``custom_id`` (v1: transaction ``custom``) when the seller's checkout
  stored the order's canonical key there (``shopify:5800000000003``), else ``paypal:<order or payment id>``;
  ``invoice_id``/``invoice_number`` becomes the order number.
* Buyer: the payer, "the customer who approves and pays for the order" [C: Orders v2 ``payer``]:
  its ``name`` (``given_name`` ``surname``) and ``address`` (``address_line_1/2``, ``admin_area_2`` city,
  ``admin_area_1`` state, ``postal_code``, ``country_code``); v1: ``payer_info`` names and
  ``billing_address`` [S]. PayPal often gives only the payer's country; the purchase unit's shipping
  address is where goods go and is never taken as the buyer's, so such a buyer is refused before
  numbering unless reference data knows the customer. PayPal holds no VAT id for the payer.
"""
from __future__ import annotations

import base64
import binascii
import re
import time
import zlib
from datetime import datetime, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, ClassVar, Mapping

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from pydantic import Field

from domain.errors import FetchError, IgnoredEvent, PayloadError, SignatureError
from domain.reasons import plain_reason
from domain.money import ZERO, to_decimal
from domain.settings import PlatformSettings
from sources.support.fetch import fetch_json
from sources.support.remote_keys import RemoteKeys
from sources.base import EventInfo, InboundRequest, Source, ThinEvent
from sources.canonical import OrderEvent, order_event, order_line, party
from sources.support.payload import parse_json, parse_time

__all__ = ["PayPal", "PayPalSettings", "EVENT_TRIGGERS", "signed_message"]

EVENT_TRIGGERS = {"PAYMENT.SALE.COMPLETED": "PAYMENT_RECEIVED", "PAYMENT.CAPTURE.COMPLETED": "PAYMENT_RECEIVED"}
_ORDER_KEY = re.compile(r"^[a-z0-9-]+:\S+$")
_CERTS = RemoteKeys()


class PayPalSettings(PlatformSettings):
    webhook_id: str | None = Field(None, description="Webhook id PayPal assigned to our subscription (signed into every message).")
    cert_pem: str | None = Field(None, description="Pinned signing certificate (PEM); skips downloading PAYPAL-CERT-URL.")
    cert_hosts: str = Field("paypal.com", description="Comma-separated hosts PAYPAL-CERT-URL may point at.")
    base_url: str | None = Field("https://api-m.paypal.com", description="REST API base (sandbox: https://api-m.sandbox.paypal.com).")


def signed_message(transmission_id: str, transmission_time: str, webhook_id: str, body: bytes) -> bytes:
    """The string PayPal signs: ``id|time|webhookId|crc32``."""
    return f"{transmission_id}|{transmission_time}|{webhook_id}|{zlib.crc32(body) & 0xFFFFFFFF}".encode()


class PayPal(Source):
    platform = "paypal"
    thin = True
    settings_class = PayPalSettings
    settings: PayPalSettings
    keep_headers: ClassVar[tuple[str, ...]] = (
        "paypal-transmission-id", "paypal-transmission-time", "paypal-transmission-sig", "paypal-cert-url",
        "paypal-auth-algo",
    )

    def __init__(self, settings: PlatformSettings | None = None) -> None:
        super().__init__(settings)
        self._token: tuple[float, str] | None = None

    # -- inbound -------------------------------------------------------------
    blocking_verify = True

    def verify(self, request: InboundRequest) -> None:
        webhook_id = self.settings.webhook_id
        if not webhook_id:
            raise SignatureError("no webhook id configured for paypal (INVOICING_PAYPAL_WEBHOOK_ID)")
        tid, ttime = request.header("paypal-transmission-id"), request.header("paypal-transmission-time")
        sig, algo = request.header("paypal-transmission-sig"), request.header("paypal-auth-algo")
        if not (tid and ttime and sig):
            raise SignatureError("missing PAYPAL-TRANSMISSION-* headers")
        if algo != "SHA256withRSA":
            raise SignatureError(f"unsupported PAYPAL-AUTH-ALGO {algo!r}")
        try:
            sent = datetime.fromisoformat(ttime.replace("Z", "+00:00"))
            signature = base64.b64decode(sig, validate=True)
        except (ValueError, binascii.Error):
            raise SignatureError("malformed PAYPAL-TRANSMISSION-TIME or -SIG") from None
        if sent.tzinfo is None or abs(time.time() - sent.timestamp()) > self.settings.timestamp_tolerance:
            raise SignatureError("PAYPAL-TRANSMISSION-TIME outside the tolerance")
        key = self._certificate(request.header("paypal-cert-url")).public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            raise SignatureError("PayPal certificate key is not RSA")
        try:
            key.verify(signature, signed_message(tid, ttime, webhook_id, request.body), padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            raise SignatureError("PAYPAL-TRANSMISSION-SIG does not match") from None

    def _certificate(self, url: str) -> x509.Certificate:
        pinned = self.settings.cert_pem
        pem = pinned.encode() if pinned else _CERTS.get(url, self.settings.cert_hosts.split(","))
        try:
            cert = x509.load_pem_x509_certificate(pem)
        except ValueError:
            raise SignatureError("PayPal certificate is not a PEM certificate") from None
        now = datetime.now(timezone.utc)
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            raise SignatureError("PayPal certificate is outside its validity period")
        return cert

    def describe(self, request: InboundRequest) -> EventInfo:
        doc = parse_json(request.body)
        if not isinstance(doc, dict) or not doc.get("id") or not isinstance(doc.get("resource"), dict):
            raise PayloadError("body is not a PayPal webhook event")
        event_type = str(doc.get("event_type") or "")
        if event_type not in EVENT_TRIGGERS:
            raise IgnoredEvent(f"PayPal event {event_type!r} does not trigger invoicing")
        return EventInfo(event_type=event_type, event_id=str(doc["id"]))

    def normalise(self, raw: Mapping[str, Any]) -> list[OrderEvent | ThinEvent]:
        doc = parse_json(raw["body"])
        if not isinstance(doc, dict) or not isinstance(doc.get("resource"), dict):
            raise PayloadError("body is not a PayPal webhook event")
        event_type = str(doc.get("event_type"))
        trigger = EVENT_TRIGGERS.get(event_type)
        if trigger is None:
            return []
        res = doc["resource"]
        if event_type == "PAYMENT.SALE.COMPLETED":
            resource, rid = "payment", res.get("parent_payment")
            ref, number = res.get("custom"), res.get("invoice_number")
        else:
            resource = "checkout-order"
            rid = ((res.get("supplementary_data") or {}).get("related_ids") or {}).get("order_id")
            ref, number = res.get("custom_id"), res.get("invoice_id")
        if not rid:
            raise PayloadError(f"PayPal {res.get('id')} names no payment or order to fetch")
        attrs = {"payment_id": str(res.get("id") or ""), "invoice_number": str(number or ""), "custom": str(ref or "")}
        return [ThinEvent(event_id=str(doc["id"]), event_type=event_type, trigger=trigger, resource=resource,
                          resource_id=str(rid), occurred_at=parse_time(doc.get("create_time"), raw["received_at"]),
                          attributes=attrs)]

    # -- fetch ---------------------------------------------------------------
    async def _access_token(self, client: httpx.AsyncClient) -> str:
        if self._token and self._token[0] > time.monotonic():
            return self._token[1]
        cid, csecret = self.settings.client_id, self.settings.client_secret
        if not cid or csecret is None:
            raise FetchError("paypal: INVOICING_PAYPAL_CLIENT_ID/_CLIENT_SECRET not configured", retriable=False)
        doc = await fetch_json(client, self.platform, "POST", f"{self.base_url()}/v1/oauth2/token",
                               data={"grant_type": "client_credentials"}, auth=(cid, csecret.get_secret_value()),
                               headers={"Accept": "application/json"})
        token = str(doc.get("access_token") or "")
        if not token:
            raise FetchError("paypal: token endpoint returned no access_token", retriable=True)
        self._token = (time.monotonic() + max(60, int(doc.get("expires_in") or 0)) - 60, token)
        return token

    async def fetch(self, event: ThinEvent, client: httpx.AsyncClient) -> list[OrderEvent]:
        token = await self._access_token(client)
        path = (f"/v1/payments/payment/{event.resource_id}" if event.resource == "payment"
                else f"/v2/checkout/orders/{event.resource_id}")
        doc = await fetch_json(client, self.platform, "GET", self.base_url() + path,
                               headers={"Authorization": f"Bearer {token}", "Accept": "application/json"})
        try:
            return [self._from_payment(event, doc) if event.resource == "payment" else self._from_order(event, doc)]
        except (KeyError, TypeError, IndexError, AttributeError) as exc:
            raise FetchError(plain_reason(exc, what=f"the paypal {event.resource} {event.resource_id}"), retriable=False) from None

    def _raw(self, event: ThinEvent) -> dict[str, Any]:
        return {"platform": self.platform, "event_type": event.event_type, "received_at": datetime.now(timezone.utc)}

    def _key(self, event: ThinEvent, fallback: str) -> str | None:
        ref = event.attributes.get("custom", "")
        return ref if _ORDER_KEY.match(ref) else f"paypal:{fallback}"

    def _from_order(self, event: ThinEvent, doc: dict[str, Any]) -> OrderEvent:
        unit = doc["purchase_units"][0]
        currency = unit["amount"]["currency_code"]
        lines = []
        for item in unit["items"]:
            price = to_decimal(item["unit_amount"]["value"], "unit_amount")
            tax = to_decimal((item.get("tax") or {}).get("value") or "0", "tax")
            rate = (tax * 100 / price).quantize(Decimal("0.01"), ROUND_HALF_UP) if price and item.get("tax") else None
            lines.append(order_line(item["name"], item["quantity"], price, sku=item.get("sku"), tax_rate=rate))
        breakdown = unit["amount"].get("breakdown") or {}
        payer = doc.get("payer") or {}
        addr = payer.get("address") or {}
        pname = payer.get("name") or {}
        name = " ".join(x for x in (pname.get("given_name"), pname.get("surname")) if x)
        captures = (unit.get("payments") or {}).get("captures") or []
        paid = sum((to_decimal(c["amount"]["value"]) for c in captures if c.get("status") == "COMPLETED"), start=ZERO)
        return order_event(
            self._raw(event), event_id=event.event_id, trigger=event.trigger, external_order_id=str(doc["id"]),
            order_key=self._key(event, str(doc["id"])), order_number=unit.get("invoice_id") or None,
            occurred_at=event.occurred_at, customer_ref=f"paypal:{payer['payer_id']}" if payer.get("payer_id") else None,
            customer=party(name, email=payer.get("email_address"), line1=addr.get("address_line_1") or "",
                           line2=addr.get("address_line_2"), city=addr.get("admin_area_2") or "",
                           postal_code=addr.get("postal_code") or "", region=addr.get("admin_area_1"),
                           country=addr.get("country_code") or ""),
            currency=currency, lines=lines, shipping=(breakdown.get("shipping") or {}).get("value") or 0,
            announced_total=unit["amount"]["value"], amount_paid=paid or None, purchase_order=None,
            dedup_keys=[f"paypal:order:{doc['id']}:captured"],
            attributes={"capture_id": event.attributes.get("payment_id", ""), "paypal_order_status": str(doc.get("status") or "")},
        )

    def _from_payment(self, event: ThinEvent, doc: dict[str, Any]) -> OrderEvent:
        tx = doc["transactions"][0]
        currency = tx["amount"]["currency"]
        lines = []
        for item in tx["item_list"]["items"]:
            price = to_decimal(item["price"], "price")
            tax = to_decimal(item.get("tax") or "0", "tax")
            rate = (tax * 100 / price).quantize(Decimal("0.01"), ROUND_HALF_UP) if price and item.get("tax") else None
            lines.append(order_line(item["name"], item["quantity"], price, sku=item.get("sku"), tax_rate=rate))
        info = (doc.get("payer") or {}).get("payer_info") or {}
        addr = info.get("billing_address") or {}
        name = " ".join(x for x in (info.get("first_name"), info.get("last_name")) if x)
        sales = [r["sale"] for r in tx.get("related_resources") or [] if "sale" in r]
        paid = sum((to_decimal(s["amount"]["total"]) for s in sales if s.get("state") == "completed"), start=ZERO)
        return order_event(
            self._raw(event), event_id=event.event_id, trigger=event.trigger, external_order_id=str(doc["id"]),
            order_key=self._key(event, str(doc["id"])), order_number=tx.get("invoice_number") or None,
            occurred_at=event.occurred_at, customer_ref=f"paypal:{info['payer_id']}" if info.get("payer_id") else None,
            customer=party(name, email=info.get("email"), line1=addr.get("line1") or "", line2=addr.get("line2"),
                           city=addr.get("city") or "", postal_code=addr.get("postal_code") or "",
                           region=addr.get("state"), country=addr.get("country_code") or ""),
            currency=currency, lines=lines, shipping=(tx["amount"].get("details") or {}).get("shipping") or 0,
            announced_total=tx["amount"]["total"], amount_paid=paid or None,
            dedup_keys=[f"paypal:payment:{doc['id']}:sale-completed"],
            attributes={"sale_id": event.attributes.get("payment_id", "")},
        )
