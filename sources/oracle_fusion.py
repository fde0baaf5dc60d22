"""Oracle Fusion Cloud (Order Management): order status events forwarded by an Oracle Integration flow.

Fusion business events reach third parties only through Oracle Integration (OIC); the flow
subscribes to the Order Management event and forwards a small JSON we define
(schema ``invoicing.oracle-fusion.order-status/1``) [U for exact event payloads, platforms.md §11]:

* ``POST /webhooks/oracle-fusion`` from the OIC REST adapter, ``X-Invoicing-Token: <secret>`` (set as a
  static header in the invoke), constant time. Secret: ``INVOICING_ORACLE_FUSION_SECRET``.
* Body: ``{"schema", "eventId" (the OIC-forwarded event id, stable on the flow's retries),
  "eventName" ("OrderStatusUpdated"), "occurredAt", "headerId", "orderNumber",
  "sourceTransactionNumber", "statusCode"}``.
* Trigger: ``statusCode`` ``CLOSED`` or ``AWAITING_BILLING`` (every fulfilment line shipped; the
  order waits for billing) → SHIPMENT_CONFIRMED; ``CANCELED`` → ORDER_CANCELLED; others ignored.
  Dedupe: ``eventId``; ``oracle-fusion:order:<headerId>:shipped`` across events.
* Thin: the worker reads ``GET /fscmRestApi/resources/11.13.18.05/salesOrdersForOrderHub/<headerId>
  ?expand=lines,billToCustomer&onlyData=true`` with Basic (``USERNAME``/``PASSWORD``) or OAuth2 client
  credentials (``CLIENT_ID``/``CLIENT_SECRET``/``TOKEN_URL`` of the IAM domain).
* Buyer: the order's bill-to customer account and its bill-to site, the ``billToCustomer`` child
  (Bill-to Customers, keyed by ``AddressId``) [C: child resource in Oracle's REST API for SCM]:
  ``PartyName``, ``AccountNumber``, ``AddressLine1``..``AddressLine4``, ``City``, ``PostalCode``,
  ``State``/``Province``, ``Country`` (territory code) [S: attribute names as integrations use them].
  The header's ``BuyingPartyName`` only when the bill-to child has no name. VAT id: the lines'
  ``ThirdPartyTaxRegistrationNumber`` (the customer's tax registration used for the order's tax) [S].
  The customer reference stays ``BuyingPartyNumber`` (the bill-to ``AccountNumber`` when it is absent).
"""
from __future__ import annotations

import re
from typing import Any, Mapping

import httpx

from sources.support.country_names import country_code
from sources.support.fetch import fetch_json, platform_auth
from domain.errors import FetchError, IgnoredEvent, PayloadError
from domain.reasons import plain_reason
from sources.support.webhook_auth import presented_tokens, require_token
from sources.base import EventInfo, InboundRequest, Source, ThinEvent
from sources.canonical import OrderEvent, order_event, order_line, party
from sources.support.payload import parse_time, schema_document

__all__ = ["OracleFusion", "STATUS_TRIGGERS", "SCHEMA", "RESOURCE", "EXPAND", "bill_to_customer"]

SCHEMA = "invoicing.oracle-fusion.order-status/1"
RESOURCE = "/fscmRestApi/resources/11.13.18.05/salesOrdersForOrderHub"
#: the children read with the order header
EXPAND = "lines,billToCustomer"
STATUS_TRIGGERS = {"CLOSED": "SHIPMENT_CONFIRMED", "AWAITING_BILLING": "SHIPMENT_CONFIRMED", "CANCELED": "ORDER_CANCELLED"}
_ID = re.compile(r"^[0-9]{1,20}$")


def _children(doc: Mapping[str, Any], name: str) -> list[dict[str, Any]]:
    """An expanded child collection: ``{"items": [...]}`` (REST framework) or a plain list."""
    value = doc.get(name)
    items = value.get("items") if isinstance(value, dict) else value
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []


def _text(value: Any) -> str:
    return str(value).strip() if value is not None else ""


def bill_to_customer(so: Mapping[str, Any]) -> dict[str, Any]:
    """The order's buyer as `party`: the bill-to customer and its bill-to site, the VAT id from the lines."""
    bill = (_children(so, "billToCustomer") or [{}])[0]
    vat = next((_text(li.get("ThirdPartyTaxRegistrationNumber")) for li in _children(so, "lines")
                if _text(li.get("ThirdPartyTaxRegistrationNumber"))), "")
    return party(_text(bill.get("PartyName")) or _text(so.get("BuyingPartyName")),
                 email=_text(so.get("BuyingPartyContactEmail")) or None,
                 vat_id=vat or None, line1=_text(bill.get("AddressLine1")),
                 line2=" ".join(_text(bill.get(f"AddressLine{i}")) for i in (2, 3, 4) if _text(bill.get(f"AddressLine{i}"))) or None,
                 city=_text(bill.get("City")), postal_code=_text(bill.get("PostalCode")),
                 region=_text(bill.get("State")) or _text(bill.get("Province")) or None,
                 country=country_code(bill.get("Country")))


class OracleFusion(Source):
    platform = "oracle-fusion"
    thin = True

    def verify(self, request: InboundRequest) -> None:
        require_token(self.secret(), presented_tokens(request.headers, {}), self.platform)

    @staticmethod
    def _doc(body: bytes) -> dict[str, Any]:
        doc = schema_document(body, SCHEMA)
        if not _ID.match(str(doc.get("headerId") or "")):
            raise PayloadError("headerId is not an Order Management header id")
        return doc

    def describe(self, request: InboundRequest) -> EventInfo:
        doc = self._doc(request.body)
        if doc.get("statusCode") not in STATUS_TRIGGERS:
            raise IgnoredEvent(f"order status {doc.get('statusCode')!r} does not trigger invoicing")
        return EventInfo(event_type=f"{doc.get('eventName') or 'OrderStatusUpdated'}.{doc['statusCode']}",
                         event_id=str(doc["eventId"]))

    def normalise(self, raw: Mapping[str, Any]) -> list[OrderEvent | ThinEvent]:
        doc = self._doc(raw["body"])
        trigger = STATUS_TRIGGERS.get(str(doc.get("statusCode")))
        if trigger is None:
            return []
        return [ThinEvent(event_id=str(doc["eventId"]), event_type=raw["event_type"], trigger=trigger,
                          resource="salesOrdersForOrderHub", resource_id=str(doc["headerId"]),
                          occurred_at=parse_time(doc.get("occurredAt"), raw["received_at"]),
                          attributes={"status": str(doc["statusCode"]),
                                      "source_transaction": str(doc.get("sourceTransactionNumber") or "")})]

    async def fetch(self, event: ThinEvent, client: httpx.AsyncClient) -> list[OrderEvent]:
        base = self.base_url()
        auth = platform_auth(self.settings, grant="client_credentials", base_url=base, client=client, prefer_basic=True)
        so = await fetch_json(client, self.platform, "GET", f"{base}{RESOURCE}/{event.resource_id}", auth=auth,
                              params={"expand": EXPAND, "onlyData": "true"})
        if not isinstance(so, dict) or "HeaderId" not in so:
            raise FetchError(f"oracle-fusion: order {event.resource_id}: unexpected answer", retriable=False)
        try:
            return [self._order(event, so)]
        except (KeyError, TypeError) as exc:
            raise FetchError(plain_reason(exc, what="the oracle-fusion order"), retriable=False) from None

    def _order(self, event: ThinEvent, so: dict[str, Any]) -> OrderEvent:
        lines = [order_line(li.get("ProductDescription") or li.get("ProductNumber") or "", li["OrderedQuantity"],
                            li["UnitSellingPrice"], sku=li.get("ProductNumber"))
                 for li in _children(so, "lines") if li.get("OrderedQuantity") and li.get("StatusCode") != "CANCELED"]
        raw = {"platform": self.platform, "event_type": event.event_type, "received_at": event.occurred_at}
        kind = "shipped" if event.trigger == "SHIPMENT_CONFIRMED" else "canceled"
        number = so.get("BuyingPartyNumber") or (_children(so, "billToCustomer") or [{}])[0].get("AccountNumber")
        return order_event(
            raw, event_id=event.event_id, trigger=event.trigger, external_order_id=str(so["HeaderId"]),
            order_number=so.get("OrderNumber"), occurred_at=parse_time(so.get("LastUpdateDate"), event.occurred_at),
            customer_ref=f"oracle-fusion:{number}" if number else None,
            customer=bill_to_customer(so),
            currency=so["TransactionalCurrencyCode"], lines=lines, announced_total=so.get("TotalAmount"),
            purchase_order=so.get("CustomerPONumber"), dedup_keys=[f"oracle-fusion:order:{so['HeaderId']}:{kind}"],
            attributes={**event.attributes, "business_unit": str(so.get("BusinessUnitName") or "")})
