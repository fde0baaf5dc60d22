"""Epicor Kinetic: our BPM Data Directive on ``OrderHed`` calls an Epicor Function that posts to us.

Epicor has no outbound webhook, so the contract is ours (schema ``invoicing.epicor.order/1``) [U for
Epicor internals, see platforms.md §12]:

* The directive fires when ``OrderHed.OpenOrder`` changes true → false (order closed: all lines shipped)
  or ``VoidOrder`` becomes true; the function serialises ``OrderHed`` + ``OrderDtl`` rows and posts them
  with ``System.Net.Http`` to ``POST /webhooks/epicor``.
* Headers ``X-Invoicing-Timestamp: <unix seconds>`` and
  ``X-Invoicing-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>." + raw body)>``, 300 s tolerance.
  Secret: ``INVOICING_EPICOR_SECRET`` (stored in the function library's secure settings).
* Body: ``{"schema", "eventId" ("<Company>:<OrderNum>:<SysRevID>", stable on resend), "company",
  "occurredAt", "change": {"OpenOrder": [before, after], "VoidOrder": [before, after]},
  "OrderHed": {Company, OrderNum, CustNum, CustID, CustomerName, PONum, OrderDate, CurrencyCode,
  OpenOrder, VoidOrder, DocOrderAmt, BTAddress1, BTCity, BTZip, BTState, BTCountryISO, EMailAddress},
  "OrderDtl": [{OrderLine, PartNum, LineDesc, SellingQuantity, DocUnitPrice, DocDiscount, DocExtPriceDtl,
  SalesUM, TaxPercent}]}``. Money as decimal strings (C# ``decimal.ToString(CultureInfo.InvariantCulture)``).
* Trigger: ``OpenOrder`` true → false (and not void) → SHIPMENT_CONFIRMED; ``VoidOrder`` false → true →
  ORDER_CANCELLED; anything else is ignored. Dedupe: ``eventId``; ``epicor:order:<company>:<num>:closed``.
"""
from __future__ import annotations

from typing import Any, ClassVar, Mapping

from domain.errors import IgnoredEvent, PayloadError
from domain.reasons import plain_reason
from sources.base import EventInfo, InboundRequest, Source, ThinEvent
from sources.canonical import OrderEvent, order_event, order_line, party
from sources.support.payload import parse_time, schema_document
from sources.support.signing import TIMESTAMPED_HEADERS, verify_timestamped_request

__all__ = ["Epicor", "SCHEMA", "trigger_of"]

SCHEMA = "invoicing.epicor.order/1"


def trigger_of(doc: Mapping[str, Any]) -> str | None:
    change = doc.get("change") or {}
    hed = doc.get("OrderHed") or {}
    void = change.get("VoidOrder") or [False, bool(hed.get("VoidOrder"))]
    opened = change.get("OpenOrder") or [None, hed.get("OpenOrder")]
    if list(void) == [False, True]:
        return "ORDER_CANCELLED"
    if list(opened) == [True, False] and not hed.get("VoidOrder"):
        return "SHIPMENT_CONFIRMED"
    return None


class Epicor(Source):
    platform = "epicor"
    keep_headers: ClassVar[tuple[str, ...]] = TIMESTAMPED_HEADERS

    def verify(self, request: InboundRequest) -> None:
        verify_timestamped_request(self, request)

    @staticmethod
    def _doc(body: bytes) -> dict[str, Any]:
        return schema_document(body, SCHEMA, OrderHed=dict, OrderDtl=list)

    def describe(self, request: InboundRequest) -> EventInfo:
        doc = self._doc(request.body)
        trigger = trigger_of(doc)
        if trigger is None:
            raise IgnoredEvent("order change does not close or void the order")
        return EventInfo(event_type="OrderHed.closed" if trigger == "SHIPMENT_CONFIRMED" else "OrderHed.voided",
                         event_id=str(doc["eventId"]))

    def normalise(self, raw: Mapping[str, Any]) -> list[OrderEvent | ThinEvent]:
        doc = self._doc(raw["body"])
        trigger = trigger_of(doc)
        if trigger is None:
            return []
        hed = doc["OrderHed"]
        try:
            lines = [order_line(d.get("LineDesc") or d.get("PartNum") or "", d["SellingQuantity"], d["DocUnitPrice"],
                                sku=d.get("PartNum"), discount=d.get("DocDiscount") or 0, tax_rate=d.get("TaxPercent"))
                     for d in doc["OrderDtl"] if str(d.get("SellingQuantity")) not in ("0", "0.00", "None")]
            company, num = str(hed["Company"]), str(hed["OrderNum"])
            kind = "closed" if trigger == "SHIPMENT_CONFIRMED" else "voided"
            return [order_event(
                raw, event_id=str(doc["eventId"]), trigger=trigger, external_order_id=f"{company}-{num}",
                order_number=num, occurred_at=parse_time(doc.get("occurredAt"), raw["received_at"]),
                customer_ref=f"epicor:{hed['CustID']}" if hed.get("CustID") else None,
                customer=party(hed.get("CustomerName") or "", email=hed.get("EMailAddress"), line1=hed.get("BTAddress1") or "",
                               city=hed.get("BTCity") or "", postal_code=hed.get("BTZip") or "", region=hed.get("BTState"),
                               country=hed.get("BTCountryISO") or ""),
                currency=hed["CurrencyCode"], lines=lines, announced_total=hed.get("DocOrderAmt"),
                purchase_order=hed.get("PONum"), dedup_keys=[f"epicor:order:{company}:{num}:{kind}"],
                attributes={"company": company, "cust_num": str(hed.get("CustNum") or "")})]
        except (KeyError, TypeError, AttributeError) as exc:
            raise PayloadError(plain_reason(exc, what="the Epicor order")) from None
