"""Xero: batched, thin ``INVOICE`` webhooks; an invoice that is ``PAID`` is the trigger.

* Authentication: ``x-xero-signature`` = base64(HMAC-SHA256(webhook signing key, raw body)).
  Secret: ``INVOICING_XERO_SECRET``. No timestamp, so no staleness check.
* Intent to Receive: Xero posts probes with an empty ``events`` list, some correctly
  signed (must get 200), some not (must get 401). Verification answers 401 for the bad
  ones; a correctly signed probe is an `IgnoredEvent` (200, nothing published).
* Events carry no id and no status: dedupe on (tenantId, resourceId, eventType,
  eventDateUtc); fetch ``GET /api.xro/2.0/Invoices/{id}`` (OAuth 2.0 bearer plus the
  ``xero-tenant-id`` header) and bill only ``ACCREC`` invoices with ``Status == PAID``
  (PAYMENT_RECEIVED). ``VOIDED``/``DELETED`` → ORDER_CANCELLED; anything else: nothing.
* API auth: ``INVOICING_XERO_CLIENT_ID``/``_CLIENT_SECRET``/``_REFRESH_TOKEN`` (refresh
  grant at identity.xero.com, client credentials as HTTP Basic), or ``_ACCESS_TOKEN``.
"""
from __future__ import annotations

import hashlib
import re
from datetime import datetime, timezone
from typing import Any, ClassVar, Mapping

import httpx

from sources.support.country_names import country_code
from domain.errors import ConfigError, FetchError, IgnoredEvent, PayloadError, SignatureError
from domain.reasons import plain_reason
from sources.support.fetch import fetch_json, platform_auth
from domain.money import ZERO, q4, to_decimal
from sources.base import EventInfo, InboundRequest, Reply, Source, ThinEvent
from sources.canonical import OrderEvent, order_event, order_line, party
from sources.support.payload import parse_json, parse_time
from sources.support.signing import constant_time_equal, hmac_digest

__all__ = ["Xero", "event_key", "xero_date"]

API = "https://api.xero.com"
TOKEN_URL = "https://identity.xero.com/connect/token"
_MS_DATE = re.compile(r"/Date\((-?\d+)([+-]\d{4})?\)/")
STATUS_TRIGGERS = {"PAID": "PAYMENT_RECEIVED", "VOIDED": "ORDER_CANCELLED", "DELETED": "ORDER_CANCELLED"}


def event_key(ev: Mapping[str, Any]) -> str:
    """Xero's duplicate signal: tenant, resource, event type and time."""
    return f"{ev['tenantId']}:{ev['resourceId']}:{ev['eventType']}:{ev['eventDateUtc']}"


def xero_date(value: Any, default: datetime) -> datetime:
    """``/Date(1518685950940+0000)/`` (Xero's JSON dates) or ISO 8601."""
    m = _MS_DATE.fullmatch(str(value or ""))
    if m:
        return datetime.fromtimestamp(int(m.group(1)) / 1000, tz=timezone.utc)
    return parse_time(value, default)


def _invoice_events(body: bytes) -> list[dict[str, Any]]:
    doc = parse_json(body)
    if not isinstance(doc, dict) or not isinstance(doc.get("events"), list):
        raise PayloadError("body is not a Xero webhook (no events list)")
    events = doc["events"]
    for ev in events:
        if not isinstance(ev, dict) or not all(ev.get(k) for k in ("tenantId", "resourceId", "eventType", "eventDateUtc", "eventCategory")):
            raise PayloadError("Xero event lacks tenantId/resourceId/eventType/eventDateUtc/eventCategory")
    return [ev for ev in events if ev["eventCategory"] == "INVOICE" and ev["eventType"] in ("CREATE", "UPDATE")]


class Xero(Source):
    platform = "xero"
    thin = True
    keep_headers: ClassVar[tuple[str, ...]] = ("x-xero-signature",)

    def verify(self, request: InboundRequest) -> None:
        given = request.header("x-xero-signature")
        if not given:
            raise SignatureError("missing x-xero-signature")
        if not constant_time_equal(hmac_digest(self.secret(), request.body), given):
            raise SignatureError("x-xero-signature does not match the body")

    def describe(self, request: InboundRequest) -> EventInfo:
        events = _invoice_events(request.body)
        if not events:
            raise IgnoredEvent("no INVOICE events (Intent to Receive probe or other categories)")
        keys = sorted(event_key(ev) for ev in events)
        event_id = keys[0] if len(keys) == 1 else "batch:" + hashlib.sha256("\n".join(keys).encode()).hexdigest()[:32]
        return EventInfo(event_type="INVOICE." + "+".join(sorted({ev["eventType"] for ev in events})), event_id=event_id)

    def acknowledge(self, request: InboundRequest, info: EventInfo) -> Reply:
        return Reply(200, b"", content_type="")  # Xero: 200, empty body, no cookies

    def normalise(self, raw: Mapping[str, Any]) -> list[OrderEvent | ThinEvent]:
        out: list[OrderEvent | ThinEvent] = []
        for ev in _invoice_events(raw["body"]):
            out.append(ThinEvent(
                event_id=event_key(ev), event_type=f"INVOICE.{ev['eventType']}", trigger="PAYMENT_RECEIVED",
                resource="Invoices", resource_id=str(ev["resourceId"]),
                occurred_at=parse_time(ev["eventDateUtc"], raw["received_at"]),
                attributes={"tenant_id": str(ev["tenantId"]), "received_at": raw["received_at"].isoformat()},
            ))
        return out

    async def fetch(self, event: ThinEvent, client: httpx.AsyncClient) -> list[OrderEvent]:
        base = (self.settings.base_url or API).rstrip("/")
        try:
            auth = platform_auth(self.settings, grant="refresh_token", token_url=TOKEN_URL, basic_client_auth=True)
        except ConfigError as exc:  # park the event until credentials exist
            raise FetchError(f"xero API credentials: {exc}", retriable=True) from None
        doc = await fetch_json(client, "xero", "GET", f"{base}/api.xro/2.0/Invoices/{event.resource_id}", auth=auth,
                               headers={"xero-tenant-id": event.attributes["tenant_id"], "Accept": "application/json"})
        invoices = doc.get("Invoices") if isinstance(doc, dict) else None
        if not invoices:
            raise FetchError(f"xero invoice {event.resource_id} not in the answer", retriable=True)
        inv = invoices[0]
        trigger = STATUS_TRIGGERS.get(str(inv.get("Status")))
        if inv.get("Type") != "ACCREC" or trigger is None:
            return []  # a bill (ACCPAY), a draft or an unpaid invoice: nothing to do
        raw = {"platform": "xero", "event_type": event.event_type,
               "received_at": datetime.fromisoformat(event.attributes["received_at"])}
        try:
            return [self._order(raw, event, inv, trigger)]
        except (KeyError, TypeError) as exc:
            raise FetchError(plain_reason(exc, what="the xero invoice"), retriable=False) from None

    def _order(self, raw: Mapping[str, Any], event: ThinEvent, inv: dict[str, Any], trigger: str) -> OrderEvent:
        contact = inv.get("Contact") or {}
        addresses = contact.get("Addresses") or []
        addr = next((a for a in addresses if a.get("AddressType") == "POBOX"), addresses[0] if addresses else {})
        lines = []
        for item in inv["LineItems"]:
            qty = to_decimal(item.get("Quantity", 1), "Quantity")
            if qty == 0:
                continue
            unit = to_decimal(item["UnitAmount"], "UnitAmount")
            rate = item.get("DiscountRate")
            discount = (q4(qty * unit * to_decimal(rate) / 100) if rate not in (None, "")
                        else to_decimal(item.get("DiscountAmount") or 0))
            lines.append(order_line(item.get("Description") or "", qty, unit, sku=item.get("ItemCode"), discount=discount))
        paid = inv.get("Status") == "PAID"
        return order_event(
            raw, event_id=event.event_id, event_type=event.event_type, trigger=trigger,
            external_order_id=str(inv["InvoiceID"]), order_number=inv.get("InvoiceNumber") or None,
            occurred_at=xero_date(inv.get("FullyPaidOnDate") or inv.get("UpdatedDateUTC"), event.occurred_at),
            customer_ref=f"xero:{contact['ContactID']}" if contact.get("ContactID") else None,
            customer=party(contact.get("Name") or "", email=contact.get("EmailAddress"), vat_id=contact.get("TaxNumber"),
                           line1=addr.get("AddressLine1") or "", line2=addr.get("AddressLine2"), city=addr.get("City") or "",
                           postal_code=addr.get("PostalCode") or "", region=addr.get("Region") or None,
                           country=country_code(addr.get("Country"))),
            currency=inv["CurrencyCode"], tax_included=inv.get("LineAmountTypes") == "Inclusive", lines=lines,
            announced_total=inv.get("Total"), amount_paid=inv.get("AmountPaid") if paid else None,
            purchase_order=inv.get("Reference") or None,
            dedup_keys=[f"xero:invoice:{inv['InvoiceID']}:{inv.get('Status')}"],
            attributes={"tenant_id": event.attributes["tenant_id"], "xero_status": str(inv.get("Status")),
                        "amount_due": str(inv.get("AmountDue", ZERO))},
        )

