"""Zoho Books: a workflow-rule webhook on Sales Orders, full entity payload.

* Zoho Books has no named event catalogue: a workflow rule on the Sales Order module
  (e.g. "status becomes Confirmed", "shipment status becomes Fulfilled") calls this URL
  with the default payload ``{"salesorder": {...}}`` (or a user-defined JSON body).
* Authentication [S]: with the webhook's optional ``secret`` set, Zoho sends
  ``X-Zoho-Webhook-Signature`` = HMAC-SHA256(secret, S) where S is every query-string and
  form key/value pair, URL-decoded, sorted by key and concatenated as ``keyvalue``, followed
  by the raw JSON body. This is the algorithm Zoho documents for Zoho Billing/Subscriptions
  (same webhook engine); Zoho Books' own page names the secret but not the algorithm, and
  the digest encoding is not stated: lower-case hex is accepted, and base64 too. Verify it
  against a live organisation before relying on it. No secret configured → 401 (fail closed).
  Secret: ``INVOICING_ZOHO_BOOKS_SECRET``.
* Triggers: ``status`` void → ORDER_CANCELLED; ``shipped_status``/``status`` fulfilled
  (or shipped) → SHIPMENT_CONFIRMED; ``status``/``order_status`` confirmed (the API calls a
  confirmed order ``open``) → STAGE_REACHED; anything else is ignored.
* No event id: the event id is salesorder_id + status kind + ``last_modified_time``.
* Buyer: ``customer_name``, ``email`` and the sales order's ``billing_address`` (``address``,
  ``street2``, ``city``, ``zip``, ``state``, ``country_code`` or free-text ``country``) [C]; the VAT id
  from ``vat_reg_no`` (EU/UK editions) [S], ``tax_reg_no`` or ``gst_no`` [C] as the edition names it.
"""
from __future__ import annotations

import hmac
import hashlib
from typing import Any, ClassVar, Mapping
from urllib.parse import parse_qsl

from sources.support.country_names import country_code
from domain.errors import IgnoredEvent, PayloadError, SignatureError
from domain.reasons import plain_reason
from domain.money import q4, to_decimal
from sources.base import EventInfo, InboundRequest, Source, ThinEvent
from sources.canonical import OrderEvent, order_event, order_line, party
from sources.support.payload import parse_json, parse_time
from sources.support.signing import constant_time_equal, hmac_digest

__all__ = ["ZohoBooks", "signing_string", "status_kind", "KIND_TRIGGERS"]

KIND_TRIGGERS = {"void": "ORDER_CANCELLED", "fulfilled": "SHIPMENT_CONFIRMED", "confirmed": "STAGE_REACHED"}


def _is_form(content_type: str) -> bool:
    return content_type.split(";")[0].strip().lower() == "application/x-www-form-urlencoded"


def signing_string(query: str, body: bytes, content_type: str) -> bytes:
    """Sorted ``keyvalue`` pairs of the query string (and form body), then the raw JSON body."""
    pairs = parse_qsl(query, keep_blank_values=True)
    if _is_form(content_type):
        pairs += parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
        tail = b""
    else:
        tail = body
    return "".join(k + v for k, v in sorted(pairs, key=lambda kv: kv[0])).encode() + tail


def status_kind(so: Mapping[str, Any]) -> str | None:
    status = str(so.get("status") or "").lower()
    if status in ("void", "cancelled"):
        return "void"
    if str(so.get("shipped_status") or "").lower() in ("fulfilled", "shipped") or status == "fulfilled":
        return "fulfilled"
    if status in ("confirmed", "open") or str(so.get("order_status") or "").lower() == "confirmed":
        return "confirmed"
    return None


def _salesorder(body: bytes, content_type: str) -> dict[str, Any]:
    if _is_form(content_type):
        fields = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        inner = fields.get("salesorder") or fields.get("JSONString")
        doc: Any = parse_json(inner.encode()) if inner else fields
    else:
        doc = parse_json(body)
    so = doc.get("salesorder", doc) if isinstance(doc, dict) else None
    if not isinstance(so, dict) or not so.get("salesorder_id"):
        raise PayloadError("body is not a Zoho Books sales order (no salesorder_id)")
    return so


def _event_id(so: Mapping[str, Any], kind: str) -> str:
    return f"{so['salesorder_id']}:{kind}:{so.get('last_modified_time') or ''}"


class ZohoBooks(Source):
    platform = "zoho-books"
    keep_headers: ClassVar[tuple[str, ...]] = ("x-zoho-webhook-signature",)

    def verify(self, request: InboundRequest) -> None:
        given = request.header("x-zoho-webhook-signature").strip()
        if not given:
            raise SignatureError("missing X-Zoho-Webhook-Signature (set the webhook's secret in Zoho Books)")
        message = signing_string(request.query, request.body, request.header("content-type"))
        key = self.secret()
        hex_digest = hmac.new(key, message, hashlib.sha256).hexdigest()
        if not (constant_time_equal(hex_digest, given.lower()) or constant_time_equal(hmac_digest(key, message), given)):
            raise SignatureError("X-Zoho-Webhook-Signature does not match")

    def describe(self, request: InboundRequest) -> EventInfo:
        so = _salesorder(request.body, request.header("content-type"))
        kind = status_kind(so)
        if kind is None:
            raise IgnoredEvent(f"sales order status {so.get('status')!r} does not trigger invoicing")
        return EventInfo(event_type=f"salesorder.{kind}", event_id=_event_id(so, kind))

    def normalise(self, raw: Mapping[str, Any]) -> list[OrderEvent | ThinEvent]:
        so = _salesorder(raw["body"], raw.get("content_type") or "")
        kind = status_kind(so)
        if kind is None:
            return []
        try:
            return [self._order(raw, so, kind)]
        except (KeyError, TypeError) as exc:
            raise PayloadError(plain_reason(exc, what="the Zoho Books sales order")) from None

    def _order(self, raw: Mapping[str, Any], so: dict[str, Any], kind: str) -> OrderEvent:
        lines = []
        for item in so["line_items"]:
            qty = to_decimal(item["quantity"], "quantity")
            if qty <= 0:
                continue
            rate = to_decimal(item["rate"], "rate")
            disc = item.get("discount_amount")
            if disc in (None, ""):
                pct = str(item.get("discount") or "0").rstrip("%")
                disc = q4(qty * rate * to_decimal(pct, "discount") / 100)
            lines.append(order_line(item.get("description") or item.get("name") or "", qty, rate,
                                    sku=item.get("sku") or item.get("name") or None, discount=disc,
                                    tax_rate=item.get("tax_percentage") if item.get("tax_id") else None))
        addr = so.get("billing_address") or {}
        org = so.get("zoho_org_id") or so.get("organization_id") or ""
        return order_event(
            raw, event_id=_event_id(so, kind), event_type=f"salesorder.{kind}", trigger=KIND_TRIGGERS[kind],
            external_order_id=str(so["salesorder_id"]), order_number=so.get("salesorder_number") or None,
            occurred_at=parse_time(so.get("last_modified_time"), raw["received_at"]),
            customer_ref=f"zoho-books:{so['customer_id']}" if so.get("customer_id") else None,
            customer=party(so.get("customer_name") or "", email=so.get("email") or None, vat_id=so.get("vat_reg_no") or so.get("tax_reg_no") or so.get("gst_no") or None,
                           line1=addr.get("address") or "", line2=addr.get("street2") or None, city=addr.get("city") or "",
                           postal_code=addr.get("zip") or "", region=addr.get("state") or None,
                           country=addr.get("country_code") or country_code(addr.get("country"))),
            currency=so["currency_code"], tax_included=bool(so.get("is_inclusive_tax")), lines=lines,
            shipping=so.get("shipping_charge") or 0, announced_total=so.get("total"),
            purchase_order=so.get("reference_number") or None,
            dedup_keys=[f"zoho-books:salesorder:{so['salesorder_id']}:{kind}"],
            attributes={"organization_id": str(org), "status": str(so.get("status") or ""),
                        "shipped_status": str(so.get("shipped_status") or "")},
        )
