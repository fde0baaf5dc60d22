"""Shopify: ``orders/fulfilled`` (and ``orders/paid``, ``orders/cancelled``) webhooks.

* Authentication: ``X-Shopify-Hmac-Sha256`` = base64(HMAC-SHA256(app client secret, raw body)).
  Secret: ``INVOICING_SHOPIFY_SECRET``.
* Event id: ``X-Shopify-Event-Id`` (Shopify's duplicate signal); ``X-Shopify-Webhook-Id`` as fallback.
* Payload: the REST Order, full (no fetch needed). Money values are decimal strings.
* Buyer: ``billing_address`` only [C: "the mailing address associated with the payment method";
  absent on orders that need no payment method, e.g. some POS or digital orders]: ``company`` (else
  the billing name, else the customer's name), ``address1``/``address2``, ``city``, ``zip``,
  ``province_code``, ``country_code``. The ``shipping_address`` is where goods go, not who is billed,
  so it is never used as the buyer's address; an order without a billing address leaves it empty and
  is refused before numbering unless reference data knows the customer. Shopify orders carry no VAT id.
"""
from __future__ import annotations

from typing import Any, ClassVar, Mapping

from domain.errors import IgnoredEvent, PayloadError, SignatureError
from domain.reasons import plain_reason
from domain.money import ZERO, to_decimal
from sources.base import EventInfo, InboundRequest, Source, ThinEvent
from sources.canonical import OrderEvent, order_event, order_line, party
from sources.support.payload import parse_json, parse_time
from sources.support.signing import constant_time_equal, hmac_digest

__all__ = ["Shopify", "TOPIC_TRIGGERS"]

TOPIC_TRIGGERS = {
    "orders/fulfilled": "SHIPMENT_CONFIRMED",
    "orders/paid": "PAYMENT_RECEIVED",
    "orders/cancelled": "ORDER_CANCELLED",
}


class Shopify(Source):
    platform = "shopify"
    keep_headers: ClassVar[tuple[str, ...]] = (
        "x-shopify-hmac-sha256", "x-shopify-topic", "x-shopify-shop-domain", "x-shopify-event-id",
        "x-shopify-webhook-id", "x-shopify-triggered-at", "x-shopify-api-version",
    )

    def verify(self, request: InboundRequest) -> None:
        given = request.header("x-shopify-hmac-sha256")
        if not given:
            raise SignatureError("missing X-Shopify-Hmac-Sha256")
        if not constant_time_equal(hmac_digest(self.secret(), request.body), given):
            raise SignatureError("X-Shopify-Hmac-Sha256 does not match the body")

    def describe(self, request: InboundRequest) -> EventInfo:
        topic = request.header("x-shopify-topic")
        event_id = request.header("x-shopify-event-id") or request.header("x-shopify-webhook-id")
        if not event_id:
            raise PayloadError("missing X-Shopify-Event-Id")
        doc = parse_json(request.body)
        if not isinstance(doc, dict) or "id" not in doc:
            raise PayloadError("body is not a Shopify order")
        if topic not in TOPIC_TRIGGERS:
            raise IgnoredEvent(f"topic {topic!r} does not trigger invoicing")
        return EventInfo(event_type=topic, event_id=event_id)

    def normalise(self, raw: Mapping[str, Any]) -> list[OrderEvent | ThinEvent]:
        headers = raw["headers"]
        topic = headers.get("x-shopify-topic") or raw["event_type"]
        trigger = TOPIC_TRIGGERS.get(topic)
        if trigger is None:
            return []
        doc = parse_json(raw["body"])
        if not isinstance(doc, dict):
            raise PayloadError("body is not a Shopify order")
        try:
            return [self._order(raw, doc, trigger, topic)]
        except (KeyError, TypeError) as exc:
            raise PayloadError(plain_reason(exc, what="the Shopify order")) from None

    def _order(self, raw: Mapping[str, Any], doc: dict[str, Any], trigger: str, topic: str) -> OrderEvent:
        bill = doc.get("billing_address") or {}
        cust = doc.get("customer") or {}
        name = (bill.get("company") or " ".join(x for x in (bill.get("first_name"), bill.get("last_name")) if x)
                or " ".join(x for x in (cust.get("first_name"), cust.get("last_name")) if x) or "")
        lines = []
        for item in doc["line_items"]:
            discount = sum((to_decimal(a["amount"]) for a in item.get("discount_allocations") or []), start=ZERO)
            rate = None
            if item.get("tax_lines"):
                rate = sum((to_decimal(t["rate"]) for t in item["tax_lines"]), start=ZERO) * 100
            lines.append(order_line(item.get("title") or item.get("name") or "", item["quantity"], item["price"],
                                    sku=item.get("sku") or None, discount=discount, tax_rate=rate))
        shipping = sum((to_decimal(s["price"]) for s in doc.get("shipping_lines") or []), start=ZERO)
        headers = raw["headers"]
        return order_event(
            raw,
            event_id=headers.get("x-shopify-event-id") or raw["event_id"],
            event_type=topic,
            trigger=trigger,
            external_order_id=str(doc["id"]),
            order_number=doc.get("name") or str(doc.get("order_number") or ""),
            occurred_at=parse_time(doc.get("processed_at") or doc.get("updated_at"), raw["received_at"]),
            customer_ref=f"shopify:{cust['id']}" if cust.get("id") else None,
            customer=party(name, email=doc.get("email") or cust.get("email"), line1=bill.get("address1") or "",
                           line2=bill.get("address2"), city=bill.get("city") or "", postal_code=bill.get("zip") or "",
                           region=bill.get("province_code"), country=bill.get("country_code") or ""),
            currency=doc["currency"],
            tax_included=bool(doc.get("taxes_included")),
            lines=lines,
            shipping=shipping,
            announced_total=doc.get("total_price"),
            amount_paid=doc.get("total_price") if doc.get("financial_status") == "paid" and trigger == "PAYMENT_RECEIVED" else None,
            purchase_order=doc.get("po_number"),
            dedup_keys=[f"shopify:order:{doc['id']}:{topic}"],
            attributes={"shop_domain": headers.get("x-shopify-shop-domain", ""), "order_name": doc.get("name") or ""},
        )

