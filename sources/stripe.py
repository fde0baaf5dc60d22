"""Stripe: ``invoice.payment_succeeded`` webhooks (an Event whose ``data.object`` is the Invoice).

* Authentication: ``Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>…]`` where each ``v1`` is
  lower-case hex HMAC-SHA256(endpoint secret ``whsec_…``, ``"<t>.<raw body>"``); any matching
  ``v1`` passes (Stripe sends two while a secret is being rolled). Timestamps older than
  ``INVOICING_STRIPE_TIMESTAMP_TOLERANCE`` (300 s, as the SDK) are replays; so are timestamps
  more than that far in the future. Secret: ``INVOICING_STRIPE_SECRET``.
* Event id: the Event ``id`` (``evt_…``), Stripe's duplicate signal.
* Trigger: ``invoice.payment_succeeded`` → PAYMENT_RECEIVED. Other event types (the sibling
  ``invoice.paid``, ``payment_intent.succeeded``, ``checkout.session.completed``) are answered 200
  and ignored: they describe the same payment without invoice lines, and billing on two of
  them would double the trigger.
* Payload: full (the Invoice with its ``lines``); amounts are integers in the currency's minor
  unit (`domain.money.from_minor`), ``pricing.unit_amount_decimal`` is a decimal string of
  minor units. Tax rate per line = tax amount / taxable amount.
* Order key: ``invoice.metadata.order_ref`` when the seller's checkout put the order's key
  there (e.g. ``shopify:5800000000003``, so a Shopify fulfilment and this payment are one order);
  otherwise ``stripe:<invoice id>``.
"""
from __future__ import annotations

import time
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, ClassVar, Mapping

from domain.errors import IgnoredEvent, PayloadError, SignatureError
from domain.money import ZERO, from_minor, minor_units, to_decimal
from sources.base import EventInfo, InboundRequest, Source, ThinEvent
from sources.canonical import OrderEvent, order_event, order_line, party
from sources.support.payload import one_typed_event, parse_json, parse_time
from sources.support.signing import constant_time_equal, hmac_digest

__all__ = ["Stripe", "EVENT_TRIGGERS", "parse_signature_header"]

EVENT_TRIGGERS = {"invoice.payment_succeeded": "PAYMENT_RECEIVED"}


def parse_signature_header(header: str) -> tuple[int, list[str]]:
    """``t=…,v1=…,v1=…,v0=…`` → (timestamp, v1 signatures).

    Raises:
        SignatureError: no timestamp or no v1 signature.
    """
    timestamp: int | None = None
    v1: list[str] = []
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1" and value:
            v1.append(value)
    if timestamp is None or not v1:
        raise SignatureError("Stripe-Signature lacks t= or v1=")
    return timestamp, v1


class Stripe(Source):
    platform = "stripe"
    keep_headers: ClassVar[tuple[str, ...]] = ("stripe-signature",)

    def verify(self, request: InboundRequest) -> None:
        header = request.header("stripe-signature")
        if not header:
            raise SignatureError("missing Stripe-Signature")
        secret = self.secret()
        timestamp, candidates = parse_signature_header(header)
        expected = hmac_digest(secret, str(timestamp).encode() + b"." + request.body, encoding="hex")
        # compare with every candidate (no early exit) so timing says nothing about which matched
        matched = [constant_time_equal(expected, c) for c in candidates]
        if not any(matched):
            raise SignatureError("no Stripe-Signature v1 matches the body")
        if abs(time.time() - timestamp) > self.settings.timestamp_tolerance:
            raise SignatureError("Stripe-Signature timestamp outside the tolerance")

    def describe(self, request: InboundRequest) -> EventInfo:
        doc = parse_json(request.body)
        if not isinstance(doc, dict) or doc.get("object") != "event" or not doc.get("id"):
            raise PayloadError("body is not a Stripe Event")
        event_type = str(doc.get("type") or "")
        if event_type not in EVENT_TRIGGERS:
            raise IgnoredEvent(f"Stripe event {event_type!r} does not trigger invoicing")
        obj = (doc.get("data") or {}).get("object")
        if not isinstance(obj, dict) or obj.get("object") != "invoice":
            raise PayloadError("Stripe event carries no invoice")
        return EventInfo(event_type=event_type, event_id=str(doc["id"]))

    def normalise(self, raw: Mapping[str, Any]) -> list[OrderEvent | ThinEvent]:
        return one_typed_event(raw, EVENT_TRIGGERS, self._order, not_an_event="body is not a Stripe Event",
                               lacking="Stripe invoice")

    def _order(self, raw: Mapping[str, Any], event: dict[str, Any], trigger: str) -> OrderEvent:
        inv = event["data"]["object"]
        currency = str(inv["currency"]).upper()
        scale = Decimal(1).scaleb(-minor_units(currency))
        lines = []
        tax_included = False
        for item in inv["lines"]["data"]:
            qty = item["quantity"] if item.get("quantity") is not None else 1  # 0 stays 0: the gate refuses it
            amount = from_minor(item["amount"], currency, "line amount")
            unit_minor = (item.get("pricing") or {}).get("unit_amount_decimal")
            if unit_minor is None and item.get("price"):  # API versions before 2025-03 (basil)
                unit_minor = item["price"].get("unit_amount_decimal")
            unit = to_decimal(unit_minor, "unit_amount_decimal") * scale if unit_minor is not None else amount / to_decimal(qty)
            discount = sum((from_minor(d["amount"], currency, "discount") for d in item.get("discount_amounts") or []), start=ZERO)
            rate = None
            taxes = item.get("taxes") or []
            taxable = sum((t.get("taxable_amount") or 0 for t in taxes), start=0)
            if taxes and taxable:
                tax = sum((t["amount"] for t in taxes), start=0)
                rate = (Decimal(tax) * 100 / Decimal(taxable)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
                tax_included = tax_included or any(t.get("tax_behavior") == "inclusive" for t in taxes)
            sku = (item.get("metadata") or {}).get("sku")
            lines.append(order_line(item.get("description") or "", qty, unit, sku=sku, discount=discount, tax_rate=rate))
        addr = inv.get("customer_address") or {}
        tax_ids = inv.get("customer_tax_ids") or []
        vat = next((t.get("value") for t in tax_ids if str(t.get("type", "")).endswith("_vat")), None)
        customer = inv.get("customer")
        customer_id = customer.get("id") if isinstance(customer, dict) else customer
        paid_at = (inv.get("status_transitions") or {}).get("paid_at") or event.get("created")
        ref = str((inv.get("metadata") or {}).get("order_ref") or "").strip()
        return order_event(
            raw,
            event_id=str(event["id"]),
            event_type=str(event["type"]),
            trigger=trigger,
            external_order_id=str(inv["id"]),
            order_key=ref or None,
            order_number=inv.get("number"),
            occurred_at=parse_time(paid_at, raw["received_at"]),
            customer_ref=f"stripe:{customer_id}" if customer_id else None,
            customer=party(inv.get("customer_name") or "", email=inv.get("customer_email"), vat_id=vat,
                           line1=addr.get("line1") or "", line2=addr.get("line2"), city=addr.get("city") or "",
                           postal_code=addr.get("postal_code") or "", region=addr.get("state"),
                           country=addr.get("country") or ""),
            currency=currency,
            tax_included=tax_included,
            lines=lines,
            shipping=from_minor(inv.get("amount_shipping") or 0, currency, "amount_shipping"),
            announced_total=from_minor(inv["total"], currency, "total"),
            amount_paid=from_minor(inv["amount_paid"], currency, "amount_paid"),
            purchase_order=(inv.get("metadata") or {}).get("po_number"),
            dedup_keys=[f"stripe:invoice:{inv['id']}:paid"],
            attributes={"livemode": str(bool(event.get("livemode"))).lower(), "api_version": str(event.get("api_version") or ""),
                        "invoice_pdf": str(inv.get("invoice_pdf") or "")},
        )
