"""WooCommerce: ``order.updated`` webhooks (full order) or ``action.woocommerce_order_status_completed`` (thin).

* Authentication: ``X-WC-Webhook-Signature`` = base64(HMAC-SHA256(webhook secret, raw body)).
  Secret: ``INVOICING_WOOCOMMERCE_SECRET``. The creation ping (form body ``webhook_id=<id>``,
  unsigned) is answered 200 and never published.
* Triggers: status ``completed`` → SHIPMENT_CONFIRMED; status ``processing`` with a
  ``date_paid`` → PAYMENT_RECEIVED (WooCommerce sets ``processing`` once a payment cleared;
  the customer's invoice policy decides whether payment or shipment issues the invoice, and
  a payment after issuing marks the invoice paid); ``cancelled`` → ORDER_CANCELLED; any other
  status or update is ignored. ``action.woocommerce_order_status_completed`` carries only
  ``{"action", "arg": <order id>}`` → ``GET /wp-json/wc/v3/orders/{id}`` with the REST
  consumer key/secret as HTTP Basic (``INVOICING_WOOCOMMERCE_CONSUMER_KEY``/``_SECRET``).
* Event id: ``X-WC-Webhook-Delivery-ID`` changes per delivery and ``order.updated`` fires on
  every edit, so the event id is order id + status (equal across both topics).
"""
from __future__ import annotations

import re
from datetime import datetime
from typing import Any, ClassVar, Mapping

import httpx
from pydantic import Field, SecretStr

from invoicing.errors import FetchError, IgnoredEvent, PayloadError, SignatureError
from invoicing.fetch import fetch_json
from invoicing.money import ZERO, to_decimal
from invoicing.settings import PlatformSettings
from sources.base import (
    EventInfo, InboundRequest, Reply, Source, ThinEvent, constant_time_equal, hmac_digest, order_event, order_line,
    parse_json, parse_time, party,
)

__all__ = ["WooCommerce", "WooCommerceSettings", "STATUS_TRIGGERS", "ACTIONS"]

STATUS_TRIGGERS = {"completed": "SHIPMENT_CONFIRMED", "processing": "PAYMENT_RECEIVED", "cancelled": "ORDER_CANCELLED"}
#: action hook → the order status it stands for
ACTIONS = {"woocommerce_order_status_completed": "completed", "woocommerce_payment_complete": "processing",
           "woocommerce_order_status_cancelled": "cancelled"}
_PING = re.compile(rb"webhook_id=\d+")


class WooCommerceSettings(PlatformSettings):
    consumer_key: str | None = Field(None, description="REST API consumer key (ck_...), for thin action webhooks.")
    consumer_secret: SecretStr | None = Field(None, description="REST API consumer secret (cs_...).")


def _status_trigger(doc: Mapping[str, Any]) -> tuple[str, str] | None:
    status = str(doc.get("status") or "")
    if status == "processing" and not (doc.get("date_paid_gmt") or doc.get("date_paid")):
        return None  # processing without a payment date (e.g. manual order): not paid yet
    trigger = STATUS_TRIGGERS.get(status)
    return (status, trigger) if trigger else None


class WooCommerce(Source):
    platform = "woocommerce"
    thin = True
    settings_class = WooCommerceSettings
    keep_headers: ClassVar[tuple[str, ...]] = (
        "x-wc-webhook-signature", "x-wc-webhook-topic", "x-wc-webhook-resource", "x-wc-webhook-event",
        "x-wc-webhook-source", "x-wc-webhook-id", "x-wc-webhook-delivery-id",
    )

    def challenge(self, request: InboundRequest) -> Reply | None:
        if request.method == "POST" and not request.header("x-wc-webhook-signature") and _PING.fullmatch(request.body.strip()):
            return Reply(200, b'{"status":"pong"}')
        return None

    def verify(self, request: InboundRequest) -> None:
        given = request.header("x-wc-webhook-signature")
        if not given:
            raise SignatureError("missing X-WC-Webhook-Signature")
        if not constant_time_equal(hmac_digest(self.secret(), request.body), given):
            raise SignatureError("X-WC-Webhook-Signature does not match the body")

    def describe(self, request: InboundRequest) -> EventInfo:
        topic, order_id, status, _ = self._read(request.header("x-wc-webhook-topic"), request.body)
        return EventInfo(event_type=topic, event_id=f"order:{order_id}:{status}")

    def _read(self, topic: str, body: bytes) -> tuple[str, str, str, dict[str, Any] | None]:
        doc = parse_json(body)
        if not isinstance(doc, dict):
            raise PayloadError("body is not a WooCommerce webhook")
        if "action" in doc or topic.startswith("action."):
            action = str(doc.get("action") or topic.removeprefix("action."))
            if not doc.get("arg") or not str(doc["arg"]).isdigit():
                raise PayloadError("action webhook lacks the order id in arg")
            if action not in ACTIONS:
                raise IgnoredEvent(f"action {action!r} does not trigger invoicing")
            return f"action.{action}", str(doc["arg"]), ACTIONS[action], None
        if "id" not in doc or "status" not in doc:
            raise PayloadError("body is not a WooCommerce order")
        found = _status_trigger(doc)
        if found is None:
            raise IgnoredEvent(f"order status {doc['status']!r} does not trigger invoicing")
        return topic or "order.updated", str(doc["id"]), found[0], doc

    def normalise(self, raw: Mapping[str, Any]) -> list[dict[str, Any] | ThinEvent]:
        try:
            topic, order_id, status, doc = self._read(raw["headers"].get("x-wc-webhook-topic", ""), raw["body"])
        except IgnoredEvent:
            return []
        event_id = f"order:{order_id}:{status}"
        if doc is None:
            return [ThinEvent(event_id=event_id, event_type=topic, trigger=STATUS_TRIGGERS[status], resource="order",
                              resource_id=order_id, occurred_at=raw["received_at"],
                              attributes={"status": status, "received_at": raw["received_at"].isoformat()})]
        try:
            return [self._order(raw, doc, STATUS_TRIGGERS[status], event_id, topic)]
        except (KeyError, TypeError) as exc:
            raise PayloadError(f"WooCommerce order lacks {exc}") from None

    async def fetch(self, event: ThinEvent, client: httpx.AsyncClient) -> list[dict[str, Any]]:
        s = self.settings
        key = getattr(s, "consumer_key", None)
        secret = getattr(s, "consumer_secret", None)
        if not s.base_url or not key or secret is None:
            raise FetchError("woocommerce: BASE_URL, CONSUMER_KEY and CONSUMER_SECRET are needed to fetch orders", retriable=True)
        doc = await fetch_json(client, self.platform, "GET", f"{s.base_url.rstrip('/')}/wp-json/wc/v3/orders/{event.resource_id}",
                               auth=(key, secret.get_secret_value()), headers={"Accept": "application/json"})
        if not isinstance(doc, dict) or "id" not in doc:
            raise FetchError(f"woocommerce order {event.resource_id}: unexpected answer", retriable=True)
        raw = {"platform": self.platform, "event_type": event.event_type,
               "received_at": datetime.fromisoformat(event.attributes["received_at"])}
        try:
            return [self._order(raw, doc, event.trigger, event.event_id, event.event_type)]
        except (KeyError, TypeError, PayloadError) as exc:
            raise FetchError(f"woocommerce order {event.resource_id} unreadable: {exc}", retriable=False) from None

    def _order(self, raw: Mapping[str, Any], doc: dict[str, Any], trigger: str, event_id: str, topic: str) -> dict[str, Any]:
        rates = {t.get("rate_id"): t.get("rate_percent") for t in doc.get("tax_lines") or []}
        lines = []
        for item in doc["line_items"]:
            qty = to_decimal(item["quantity"], "quantity")
            if qty <= 0:
                continue
            subtotal = to_decimal(item.get("subtotal") or "0", "subtotal")
            discount = subtotal - to_decimal(item.get("total") or "0", "total")
            taxed = [t for t in item.get("taxes") or [] if to_decimal(t.get("total") or "0") != ZERO]
            rate = rates.get(taxed[0].get("id")) if len(taxed) == 1 else None
            lines.append(order_line(item.get("name") or "", qty, subtotal / qty, sku=item.get("sku") or None,
                                    discount=discount, tax_rate=rate))
        bill = doc.get("billing") or {}
        name = bill.get("company") or " ".join(x for x in (bill.get("first_name"), bill.get("last_name")) if x)
        paid_at = doc.get("date_paid_gmt")
        return order_event(
            raw, event_id=event_id, event_type=topic, trigger=trigger, external_order_id=str(doc["id"]),
            order_number=str(doc.get("number") or doc["id"]),
            occurred_at=parse_time((doc.get("date_completed_gmt") if trigger == "SHIPMENT_CONFIRMED" else paid_at)
                                   or doc.get("date_modified_gmt"), raw["received_at"]),
            customer_ref=f"woocommerce:{doc['customer_id']}" if doc.get("customer_id") else None,
            customer=party(name, email=bill.get("email"), line1=bill.get("address_1") or "", line2=bill.get("address_2") or None,
                           city=bill.get("city") or "", postal_code=bill.get("postcode") or "", region=bill.get("state") or None,
                           country=bill.get("country") or ""),
            currency=doc["currency"], lines=lines, shipping=doc.get("shipping_total") or "0", announced_total=doc.get("total"),
            amount_paid=doc.get("total") if paid_at and trigger != "ORDER_CANCELLED" else None,
            dedup_keys=[f"woocommerce:order:{doc['id']}:{doc.get('status')}"],
            attributes={"status": str(doc.get("status")), "order_key": str(doc.get("order_key") or ""),
                        "payment_method": str(doc.get("payment_method") or "")},
        )
