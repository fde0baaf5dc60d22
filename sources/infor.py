"""Infor CloudSuite Industrial (SyteLine): ``SyncSalesOrder`` BODs from ION, delivered by an ION API connection point.

* Transport: ION routes the ``SyncSalesOrder`` BOD (OAGIS XML, namespace
  ``http://schema.infor.com/InforOAGIS/2``) through a connection point of type API that POSTs the
  BOD document as ``application/xml`` to ``/webhooks/infor`` [U for CSI specifics, platforms.md §13].
* Authentication: the connection point's shared secret as ``X-Invoicing-Token`` or as a static
  ``Authorization: Bearer <secret>``, constant time. Secret: ``INVOICING_INFOR_SECRET``. (Validating
  real ION OAuth access tokens would need the ION API gateway's introspection; not done.)
* XML via defusedxml, DTDs refused (XXE / entity bombs → 400).
* Dedupe: ``ApplicationArea/BODID``; ``infor:salesorder:<id>:complete`` across BODs.
* Trigger — our reading of CSI: ``ActionExpression/@actionCode`` Add or Replace with
  ``SalesOrderHeader/Status/Code`` ``Complete`` (CSI status C) → SHIPMENT_CONFIRMED; Delete, or
  Status ``Cancelled``/``Stopped`` → nothing billed (ignored); other statuses ignored.
* Full payload: header (DocumentID/ID, CustomerParty, TotalAmount@currencyID) and SalesOrderLine
  (Item/ItemID/ID, Description, Quantity, UnitPrice/Amount, PerQuantity). No fetch.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any, Mapping
from xml.etree.ElementTree import Element

from domain.errors import IgnoredEvent, PayloadError
from domain.money import to_decimal
from sources.support.webhook_auth import presented_tokens, require_token
from sources.support.xmlsafe import attr, child, children, local, parse_xml, text
from sources.base import EventInfo, InboundRequest, Source, ThinEvent
from sources.canonical import OrderEvent, order_event, order_line, party
from sources.support.payload import parse_time

__all__ = ["Infor", "BILLING_STATUSES"]

BILLING_STATUSES = {"Complete": "SHIPMENT_CONFIRMED"}
_ACTIONS = ("Add", "Replace")


class Infor(Source):
    platform = "infor"

    def verify(self, request: InboundRequest) -> None:
        require_token(self.secret(), presented_tokens(request.headers, {}, bearer=True), self.platform)

    @staticmethod
    def _bod(body: bytes) -> tuple[Element, str, str, Element]:
        root = parse_xml(body)
        if local(root.tag) != "SyncSalesOrder":
            raise PayloadError(f"expected a SyncSalesOrder BOD, got {local(root.tag)}")
        bod_id = text(root, "ApplicationArea/BODID")
        action = attr(child(root, "DataArea/Sync/ActionCriteria/ActionExpression"), "actionCode")
        so = child(root, "DataArea/SalesOrder")
        if not bod_id or so is None or not text(so, "SalesOrderHeader/DocumentID/ID"):
            raise PayloadError("BOD lacks BODID or SalesOrder/SalesOrderHeader/DocumentID/ID")
        return root, bod_id, action, so

    @staticmethod
    def _trigger(action: str, so: Element) -> str | None:
        return BILLING_STATUSES.get(text(so, "SalesOrderHeader/Status/Code")) if action in _ACTIONS else None

    def describe(self, request: InboundRequest) -> EventInfo:
        _, bod_id, action, so = self._bod(request.body)
        if self._trigger(action, so) is None:
            raise IgnoredEvent(f"{action} with status {text(so, 'SalesOrderHeader/Status/Code')!r} does not trigger invoicing")
        return EventInfo(event_type=f"SyncSalesOrder.{action}", event_id=bod_id)

    def normalise(self, raw: Mapping[str, Any]) -> list[OrderEvent | ThinEvent]:
        root, bod_id, action, so = self._bod(raw["body"])
        trigger = self._trigger(action, so)
        if trigger is None:
            return []
        head = child(so, "SalesOrderHeader")
        currency = attr(child(head, "TotalAmount"), "currencyID")
        lines = []
        for line in children(so, "SalesOrderLine"):
            qty = to_decimal(text(line, "Quantity"), "Quantity")
            if qty <= 0:
                continue
            price_el = child(line, "UnitPrice/Amount")
            per = to_decimal(text(line, "UnitPrice/PerQuantity", "1"), "PerQuantity") or Decimal(1)
            currency = currency or attr(price_el, "currencyID")
            lines.append(order_line(text(line, "Item/Description") or text(line, "Description"), qty,
                                    to_decimal(text(price_el), "UnitPrice") / per, sku=text(line, "Item/ItemID/ID") or None))
        cust = child(head, "CustomerParty")
        addr = child(cust, "Location/Address")
        order_id = text(head, "DocumentID/ID")
        email = next((text(c, "URI") for c in children(child(cust, "Contact"), "Communication")
                      if text(c, "ChannelCode") == "EMail"), None)
        return [order_event(
            raw, event_id=bod_id, trigger=trigger, external_order_id=order_id, order_number=order_id,
            occurred_at=parse_time(text(root, "ApplicationArea/CreationDateTime"), raw["received_at"]),
            customer_ref=f"infor:{text(cust, 'PartyIDs/ID')}" if text(cust, "PartyIDs/ID") else None,
            customer=party(text(cust, "Name"), email=email, line1=text(addr, "AddressLine"), city=text(addr, "CityName"),
                           postal_code=text(addr, "PostalCode"), region=text(addr, "CountrySubDivisionCode") or None,
                           country=text(addr, "CountryCode")),
            currency=currency, lines=lines, announced_total=text(head, "TotalAmount") or None,
            purchase_order=text(head, "CustomerPurchaseOrderReference/DocumentID/ID") or None,
            dedup_keys=[f"infor:salesorder:{order_id}:complete"],
            attributes={"logical_id": text(root, "ApplicationArea/Sender/LogicalID"),
                        "accounting_entity": text(root, "DataArea/Sync/AccountingEntityID"), "action": action})]
