"""SAP S/4HANA: sales order events as CloudEvents 1.0, pushed by SAP Event Mesh / Advanced Event Mesh.

* Transport: a webhook subscription of the Event Mesh queue (``POST /webhooks/sap``), structured
  mode (``application/cloudevents+json``) or binary mode (``ce-*`` headers, body = ``data``).
  Types: ``sap.s4.beh.salesorder.v1.SalesOrder.Created.v1`` / ``.Changed.v1``; others are ignored.
* Authentication: the webhook's shared secret, as configured in the Event Mesh webhook
  (Basic auth password, or an ``X-Invoicing-Token`` header), compared in constant time. SAP puts
  no signature on the payload. Secret: ``INVOICING_SAP_SECRET``.
* Dedupe: the CloudEvent ``id``; ``sap:salesorder:<id>:delivered`` across the many Changed events.
* Thin (``data`` holds ``SalesOrder``, ``SalesOrderType``, ``SalesOrganization``, ``SoldToParty`` …):
  the worker reads ``GET /sap/opu/odata/sap/API_SALES_ORDER_SRV/A_SalesOrder('<id>')
  ?$expand=to_Item,to_Partner&$format=json`` with Basic (``USERNAME``/``PASSWORD``, a communication
  user) or OAuth2 client credentials (``CLIENT_ID``/``CLIENT_SECRET``/``TOKEN_URL``). Reads need no
  CSRF token (only modifying calls do).
* Trigger — our decision (SAP sends no status in the event): after the fetch,
  ``OverallDeliveryStatus == 'C'`` (completely delivered) or ``OverallSDProcessStatus == 'C'``
  (completely processed) → SHIPMENT_CONFIRMED; ``OverallSDDocumentRejectionSts == 'C'`` (fully rejected)
  → ORDER_CANCELLED; any other state → nothing (a later Changed event will come).
* Item unit price = ``NetAmount / RequestedQuantity`` when exact to 4 places, else one line at ``NetAmount``.
"""
from __future__ import annotations

import re
from decimal import Decimal
from typing import Any, ClassVar, Mapping

import httpx

from invoicing.fetch import fetch_json, platform_auth
from invoicing.cloudevents import CE_HEADERS, CloudEvent, read_cloudevent
from invoicing.errors import FetchError, IgnoredEvent, PayloadError
from invoicing.money import q4, to_decimal
from invoicing.webhook_auth import presented_tokens, require_token
from sources.base import EventInfo, InboundRequest, Source, ThinEvent, order_event, order_line, parse_time, party

__all__ = ["Sap", "EVENT_TYPES", "order_path"]

EVENT_TYPES = ("sap.s4.beh.salesorder.v1.SalesOrder.Created.v1", "sap.s4.beh.salesorder.v1.SalesOrder.Changed.v1")
_SO_ID = re.compile(r"^[0-9A-Za-z]{1,10}$")


def order_path(sales_order: str) -> str:
    return f"/sap/opu/odata/sap/API_SALES_ORDER_SRV/A_SalesOrder('{sales_order}')"


def _odata_date(value: Any) -> str | None:
    """``/Date(1795420800000)/`` or ``/Date(1795420800000+0000)/`` → epoch seconds as text."""
    m = re.match(r"^/Date\((-?\d+)(?:[+-]\d{4})?\)/$", str(value or ""))
    return str(int(m.group(1)) // 1000) if m else None


class Sap(Source):
    platform = "sap"
    thin = True
    signs_body = False
    keep_headers: ClassVar[tuple[str, ...]] = CE_HEADERS

    def verify(self, request: InboundRequest) -> None:
        require_token(self.secret(), presented_tokens(request.headers, {}, basic=True), self.platform)

    def _event(self, headers: Mapping[str, str], body: bytes) -> CloudEvent:
        event = read_cloudevent(headers, body)
        data = event.data
        if not isinstance(data, dict) or not str(data.get("SalesOrder") or ""):
            raise PayloadError(f"CloudEvent {event.type} has no data.SalesOrder")
        if not _SO_ID.match(str(data["SalesOrder"])):
            raise PayloadError("data.SalesOrder is not a sales order number")
        return event

    def describe(self, request: InboundRequest) -> EventInfo:
        event = self._event(request.headers, request.body)
        if event.type not in EVENT_TYPES:
            raise IgnoredEvent(f"event type {event.type} does not trigger invoicing")
        return EventInfo(event_type=event.type, event_id=event.id)

    def normalise(self, raw: Mapping[str, Any]) -> list[dict[str, Any] | ThinEvent]:
        event = self._event(raw["headers"], raw["body"])
        if event.type not in EVENT_TYPES:
            return []
        data = event.data
        return [ThinEvent(event_id=event.id, event_type=event.type, trigger="SHIPMENT_CONFIRMED", resource="A_SalesOrder",
                          resource_id=str(data["SalesOrder"]), occurred_at=parse_time(event.time, raw["received_at"]),
                          attributes={"source": event.source, "sales_organization": str(data.get("SalesOrganization") or "")})]

    async def fetch(self, event: ThinEvent, client: httpx.AsyncClient) -> list[dict[str, Any]]:
        base = self.base_url()
        auth = platform_auth(self.settings, grant="client_credentials", base_url=base, client=client, prefer_basic=True)
        doc = await fetch_json(client, self.platform, "GET", base + order_path(event.resource_id), auth=auth,
                               headers={"Accept": "application/json"},
                               params={"$expand": "to_Item,to_Partner", "$format": "json"})
        so = doc.get("d") if isinstance(doc, dict) else None
        if not isinstance(so, dict):
            raise FetchError(f"sap: sales order {event.resource_id}: unexpected answer", retriable=False)
        if so.get("OverallSDDocumentRejectionSts") == "C":
            trigger = "ORDER_CANCELLED"
        elif so.get("OverallDeliveryStatus") == "C" or so.get("OverallSDProcessStatus") == "C":
            trigger = "SHIPMENT_CONFIRMED"
        else:
            return []
        try:
            return [self._order(event, so, trigger)]
        except (KeyError, TypeError) as exc:
            raise FetchError(f"sap: sales order lacks {exc}", retriable=False) from None

    def _order(self, event: ThinEvent, so: dict[str, Any], trigger: str) -> dict[str, Any]:
        lines = []
        for item in (so.get("to_Item") or {}).get("results") or []:
            qty, net = to_decimal(item["RequestedQuantity"], "quantity"), to_decimal(item["NetAmount"], "NetAmount")
            if qty <= 0:
                continue
            text = item.get("SalesOrderItemText") or item.get("Material") or ""
            unit = net / qty
            if q4(unit) * qty == net:
                lines.append(order_line(text, qty, unit, sku=item.get("Material") or None))
            else:
                lines.append(order_line(f"{text} ({qty:f} {item.get('RequestedQuantityUnit') or ''})".strip(), 1, net,
                                        sku=item.get("Material") or None))
        sold_to = str(so.get("SoldToParty") or "")
        partners = {p.get("PartnerFunction"): p for p in (so.get("to_Partner") or {}).get("results") or []}
        payer = (partners.get("RE") or partners.get("AG") or {}).get("Customer") or sold_to
        created = _odata_date(so.get("LastChangeDateTime") or so.get("CreationDate"))
        raw = {"platform": self.platform, "event_type": event.event_type, "received_at": event.occurred_at}
        kind = "rejected" if trigger == "ORDER_CANCELLED" else "delivered"
        return order_event(
            raw, event_id=event.event_id, trigger=trigger, external_order_id=str(so["SalesOrder"]),
            order_number=str(so["SalesOrder"]), occurred_at=parse_time(Decimal(created), event.occurred_at) if created else None,
            customer_ref=f"sap:{payer}" if payer else None, customer=party(payer),
            currency=so["TransactionCurrency"], lines=lines, announced_total=so.get("TotalNetAmount"),
            purchase_order=so.get("PurchaseOrderByCustomer"),
            dedup_keys=[f"sap:salesorder:{so['SalesOrder']}:{kind}"],
            attributes={**event.attributes, "sales_order_type": str(so.get("SalesOrderType") or ""),
                        "sold_to_party": sold_to})
