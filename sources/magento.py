"""Magento / Adobe Commerce: ``observer.sales_order_invoice_pay`` delivered by Adobe I/O Events.

* Handshake: on registration Adobe I/O sends ``GET ?challenge=<token>``; `challenge` echoes it as
  ``{"challenge": "<token>"}``.
* Authentication: ``x-adobe-digital-signature-1`` and ``-2`` are base64 RSA-SHA256 (PKCS#1 v1.5)
  signatures of the raw body; ``x-adobe-public-key1-path`` / ``-key2-path`` name the public keys,
  served from ``https://static.adobeioevents.com`` (``INVOICING_MAGENTO_KEY_BASE_URL``; its host must be
  in ``INVOICING_MAGENTO_KEY_HOSTS``). Keys are cached; ``INVOICING_MAGENTO_PUBLIC_KEY_PEM`` pins one
  key instead (no download). Either signature valid is enough (Adobe rotates one key at a time).
  Then ``recipient_client_id`` in the body must equal our I/O client id
  (``INVOICING_MAGENTO_CLIENT_ID``, required: without it every request is refused), so an event
  signed by Adobe for another integration is refused too. Adobe signs no timestamp; redeliveries
  are caught by the event id.
* Trigger: ``com.adobe.commerce.observer.sales_order_invoice_pay`` → PAYMENT_RECEIVED. Magento
  dispatches it from ``Invoice::pay()``: the Magento invoice exists and is paid. Other event types
  are answered 200 and ignored.
* Event id: ``event_id`` (``id`` for CloudEvents-only payloads).
* Payload: full. ``data.value`` is the invoice with the fields selected at subscription
  (``items``, totals, currency, ``order`` with increment id, customer e-mail and billing address).
* Order key: ``magento:<order entity id>``; the order increment id is the order number.
"""
from __future__ import annotations

import base64
import binascii
import json
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, ClassVar, Mapping

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from pydantic import Field

from domain.errors import IgnoredEvent, PayloadError, SignatureError
from domain.money import to_decimal
from sources.support.remote_keys import RemoteKeys
from domain.settings import PlatformSettings
from sources.base import EventInfo, InboundRequest, Reply, Source, ThinEvent
from sources.canonical import OrderEvent, order_event, order_line, party
from sources.support.payload import one_typed_event, parse_json, parse_time
from sources.support.signing import constant_time_equal

__all__ = ["Magento", "MagentoSettings", "EVENT_TRIGGERS"]

EVENT_TRIGGERS = {"com.adobe.commerce.observer.sales_order_invoice_pay": "PAYMENT_RECEIVED"}
_KEYS = RemoteKeys()


class MagentoSettings(PlatformSettings):
    public_key_pem: str | None = Field(None, description="Pinned Adobe I/O Events public key (PEM); skips downloading.")
    key_base_url: str = Field("https://static.adobeioevents.com", description="Where x-adobe-public-key*-path is resolved.")
    key_hosts: str = Field("static.adobeioevents.com", description="Comma-separated hosts public keys may come from.")


class Magento(Source):
    platform = "magento"
    settings_class = MagentoSettings
    settings: MagentoSettings
    keep_headers: ClassVar[tuple[str, ...]] = (
        "x-adobe-digital-signature-1", "x-adobe-digital-signature-2", "x-adobe-public-key1-path",
        "x-adobe-public-key2-path", "x-adobe-event-code", "x-adobe-event-id", "x-adobe-provider",
    )

    def challenge(self, request: InboundRequest) -> Reply | None:
        token = request.query_params().get("challenge")
        if request.method == "GET" and token:
            return Reply(200, json.dumps({"challenge": token}).encode())
        return None

    def _public_key(self, path: str) -> rsa.RSAPublicKey:
        if self.settings.public_key_pem:
            pem = self.settings.public_key_pem.encode()
        else:
            if not path.startswith("/") or path.startswith("//") or ".." in path or "@" in path or "\\" in path:
                raise SignatureError("malformed x-adobe-public-key path")
            pem = _KEYS.get(self.settings.key_base_url.rstrip("/") + path, self.settings.key_hosts.split(","))
        try:
            key = serialization.load_pem_public_key(pem)
        except (ValueError, UnsupportedAlgorithm):
            raise SignatureError("Adobe I/O public key is not a PEM public key") from None
        if not isinstance(key, rsa.RSAPublicKey):
            raise SignatureError("Adobe I/O public key is not RSA")
        return key

    blocking_verify = True

    def verify(self, request: InboundRequest) -> None:
        client_id = self.settings.client_id
        if not client_id:
            raise SignatureError("no Adobe I/O client id configured for magento (INVOICING_MAGENTO_CLIENT_ID)")
        pairs = [(request.header(f"x-adobe-digital-signature-{i}"), request.header(f"x-adobe-public-key{i}-path")) for i in (1, 2)]
        pairs = [(s, p) for s, p in pairs if s]
        if not pairs:
            raise SignatureError("missing x-adobe-digital-signature-1/2")
        valid = False
        for sig, path in pairs:
            try:
                raw_sig = base64.b64decode(sig, validate=True)
                self._public_key(path).verify(raw_sig, request.body, padding.PKCS1v15(), hashes.SHA256())
                valid = True
                break
            except (InvalidSignature, binascii.Error, ValueError):
                continue
        if not valid:
            raise SignatureError("no x-adobe-digital-signature matches the body")
        try:
            doc = json.loads(request.body)
        except ValueError:
            return  # authentic but unreadable: describe() answers 400
        recipient = str(doc.get("recipient_client_id") or doc.get("recipientclientid") or "") if isinstance(doc, dict) else ""
        if not constant_time_equal(recipient, client_id):
            raise SignatureError("event is addressed to another Adobe I/O client")

    def describe(self, request: InboundRequest) -> EventInfo:
        doc = parse_json(request.body)
        if not isinstance(doc, dict) or not (doc.get("event_id") or doc.get("id")) or not isinstance(doc.get("data"), dict):
            raise PayloadError("body is not an Adobe I/O event")
        event_type = str(doc.get("type") or "")
        if event_type not in EVENT_TRIGGERS:
            raise IgnoredEvent(f"Adobe I/O event {event_type!r} does not trigger invoicing")
        return EventInfo(event_type=event_type, event_id=str(doc.get("event_id") or doc["id"]))

    def normalise(self, raw: Mapping[str, Any]) -> list[OrderEvent | ThinEvent]:
        return one_typed_event(raw, EVENT_TRIGGERS, self._order, not_an_event="body is not an Adobe I/O event",
                               lacking="Magento invoice")

    def _order(self, raw: Mapping[str, Any], doc: dict[str, Any], trigger: str) -> OrderEvent:
        inv = doc["data"]["value"]
        order = inv.get("order") or {}
        lines = []
        for item in inv["items"]:
            if item.get("parent_item_id"):  # children of configurable/bundle products repeat the parent
                continue
            qty, price = to_decimal(item["qty"], "qty"), to_decimal(item["price"], "price")
            row, tax = qty * price, to_decimal(item.get("tax_amount") or "0", "tax_amount")
            rate = item.get("tax_percent")
            if rate is None and row:
                rate = (tax * 100 / row).quantize(Decimal("0.01"), ROUND_HALF_UP)
            lines.append(order_line(item.get("name") or "", qty, price, sku=item.get("sku"),
                                    discount=item.get("discount_amount") or 0, tax_rate=rate))
        bill = order.get("billing_address") or {}
        street = bill.get("street") or ""
        street_lines = street if isinstance(street, list) else str(street).split("\n")
        name = bill.get("company") or " ".join(x for x in (bill.get("firstname"), bill.get("lastname")) if x) \
            or " ".join(x for x in (order.get("customer_firstname"), order.get("customer_lastname")) if x)
        order_id = str(inv["order_id"])
        meta = doc["data"].get("_metadata") or {}
        return order_event(
            raw, event_id=str(doc.get("event_id") or doc["id"]), event_type=str(doc["type"]), trigger=trigger,
            external_order_id=order_id, order_number=order.get("increment_id"),
            occurred_at=parse_time(inv.get("updated_at") or doc.get("time"), raw["received_at"]),
            customer_ref=f"magento:{order['customer_id']}" if order.get("customer_id") else None,
            customer=party(name, email=order.get("customer_email") or bill.get("email"), vat_id=bill.get("vat_id"),
                           line1=street_lines[0] if street_lines else "", line2=street_lines[1] if len(street_lines) > 1 else None,
                           city=bill.get("city") or "", postal_code=bill.get("postcode") or "", region=bill.get("region_code"),
                           country=bill.get("country_id") or ""),
            currency=inv.get("order_currency_code") or inv["base_currency_code"],
            lines=lines, shipping=inv.get("shipping_amount") or 0, announced_total=inv.get("grand_total"),
            amount_paid=inv.get("grand_total") if str(inv.get("state")) == "2" else None,
            dedup_keys=[f"magento:invoice:{inv.get('increment_id') or inv.get('entity_id')}:paid"],
            attributes={"invoice_increment_id": str(inv.get("increment_id") or ""), "store_id": str(meta.get("storeId") or ""),
                        "commerce_version": str(meta.get("commerceVersion") or "")},
        )
