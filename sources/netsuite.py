"""NetSuite: our own SuiteScript 2.1 User Event script posts the sales order on ``afterSubmit``.

NetSuite has no generic webhooks, so the contract is ours (schema ``invoicing.netsuite.salesorder/1``):

* ``POST /webhooks/netsuite``, ``Content-Type: application/json``, headers
  ``X-Invoicing-Timestamp: <unix seconds>`` and
  ``X-Invoicing-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>." + raw body)>``;
  300 s tolerance (``INVOICING_NETSUITE_TIMESTAMP_TOLERANCE``). Secret: ``INVOICING_NETSUITE_SECRET``
  (in NetSuite: an API secret, read with ``N/crypto`` ``createSecretKey``).
* Body: ``{"schema", "eventId" ("<record id>:<lastmodifieddate ms>", the same on retries),
  "eventType" (UserEventType), "account", "occurredAt", "salesOrder": {"id", "tranId", "status"
  (status id, e.g. ``pendingBilling``), "statusText", "currency", "subtotal", "shippingCost",
  "total", "otherRefNum", "customer": {"id", "entityId", "companyName", "email", "vatRegNumber",
  "billAddress": {"addr1", "addr2", "city", "zip", "state", "country"}}, "lines": [{"line",
  "item", "description", "quantity", "rate", "amount", "taxRate"}]}}``. Numbers as decimal strings.
* Trigger: ``status`` ``pendingBilling`` / ``pendingBillingPartFulfilled`` / ``fullyBilled``
  (Pending Billing, Billed) → SHIPMENT_CONFIRMED; ``cancelled`` → ORDER_CANCELLED; others ignored.
  Dedupe: ``eventId``, and ``netsuite:salesorder:<id>:billable`` so Pending Billing then Billed bill once.

SuiteScript (deploy on Sales Order, event type afterSubmit)::

    /** @NApiVersion 2.1  @NScriptType UserEventScript */
    define(['N/https', 'N/crypto', 'N/encode', 'N/runtime'], (https, crypto, encode, runtime) => ({
      afterSubmit(ctx) {
        const r = ctx.newRecord, n = r.getLineCount({sublistId: 'item'}), lines = [];
        for (let i = 0; i < n; i++) {
          const v = (f) => r.getSublistValue({sublistId: 'item', fieldId: f, line: i});
          lines.push({line: i + 1, item: r.getSublistText({sublistId: 'item', fieldId: 'item', line: i}),
            description: v('description'), quantity: String(v('quantity')), rate: String(v('rate')),
            amount: String(v('amount')), taxRate: v('taxrate1') ? String(parseFloat(v('taxrate1'))) : null});
        }
        const body = JSON.stringify({schema: 'invoicing.netsuite.salesorder/1', eventType: ctx.type,
          eventId: r.id + ':' + new Date(r.getValue('lastmodifieddate')).getTime(), account: runtime.accountId,
          occurredAt: new Date().toISOString(), salesOrder: {id: String(r.id), tranId: r.getValue('tranid'),
          status: r.getValue('statusRef'), statusText: r.getText('status'),
          currency: r.getText('currencysymbol') || r.getValue('currencysymbol'), subtotal: String(r.getValue('subtotal')),
          shippingCost: String(r.getValue('shippingcost') || 0), total: String(r.getValue('total')),
          otherRefNum: r.getValue('otherrefnum'), customer: {/* from N/search lookupFields on the entity */}, lines}});
        const ts = String(Math.floor(Date.now() / 1000));
        const key = crypto.createSecretKey({secret: 'custsecret_invoicing_webhook', encoding: encode.Encoding.UTF_8});
        const mac = crypto.createHmac({algorithm: crypto.HashAlg.SHA256, key});
        mac.update({input: ts + '.' + body, inputEncoding: encode.Encoding.UTF_8});
        https.post({url: 'https://invoicing.example.com/webhooks/netsuite', body, headers: {
          'Content-Type': 'application/json', 'X-Invoicing-Timestamp': ts,
          'X-Invoicing-Signature': 'sha256=' + mac.digest({outputEncoding: encode.Encoding.HEX}).toLowerCase()}});
      }
    }));

For volume, hand the callout to a Map/Reduce script instead of calling from the user event.
"""
from __future__ import annotations

from typing import Any, ClassVar, Mapping

from domain.errors import IgnoredEvent, PayloadError
from domain.reasons import plain_reason
from sources.base import EventInfo, InboundRequest, Source, ThinEvent
from sources.canonical import OrderEvent, order_event, order_line, party
from sources.support.payload import parse_time, schema_document
from sources.support.signing import TIMESTAMPED_HEADERS, verify_timestamped_request

__all__ = ["NetSuite", "STATUS_TRIGGERS", "SCHEMA"]

SCHEMA = "invoicing.netsuite.salesorder/1"
STATUS_TRIGGERS = {"pendingBilling": "SHIPMENT_CONFIRMED", "pendingBillingPartFulfilled": "SHIPMENT_CONFIRMED",
                   "fullyBilled": "SHIPMENT_CONFIRMED", "cancelled": "ORDER_CANCELLED"}


class NetSuite(Source):
    platform = "netsuite"
    keep_headers: ClassVar[tuple[str, ...]] = TIMESTAMPED_HEADERS

    def verify(self, request: InboundRequest) -> None:
        verify_timestamped_request(self, request)

    @staticmethod
    def _doc(body: bytes) -> dict[str, Any]:
        return schema_document(body, SCHEMA, salesOrder=dict)

    def describe(self, request: InboundRequest) -> EventInfo:
        doc = self._doc(request.body)
        status = doc["salesOrder"].get("status")
        if status not in STATUS_TRIGGERS:
            raise IgnoredEvent(f"sales order status {status!r} does not trigger invoicing")
        return EventInfo(event_type=f"salesorder.{status}", event_id=str(doc["eventId"]))

    def normalise(self, raw: Mapping[str, Any]) -> list[OrderEvent | ThinEvent]:
        doc = self._doc(raw["body"])
        so = doc["salesOrder"]
        trigger = STATUS_TRIGGERS.get(so.get("status"))
        if trigger is None:
            return []
        try:
            cust = so.get("customer") or {}
            addr = cust.get("billAddress") or {}
            lines = [order_line(li.get("description") or li.get("item") or "", li["quantity"], li["rate"],
                                sku=li.get("item"), tax_rate=li.get("taxRate"))
                     for li in so["lines"] if li.get("quantity") not in (None, "", "0")]
            kind = "billable" if trigger == "SHIPMENT_CONFIRMED" else "cancelled"
            return [order_event(
                raw, event_id=str(doc["eventId"]), trigger=trigger, external_order_id=str(so["id"]),
                order_number=so.get("tranId"), occurred_at=parse_time(doc.get("occurredAt"), raw["received_at"]),
                customer_ref=f"netsuite:{cust.get('entityId') or cust.get('id')}" if cust else None,
                customer=party(cust.get("companyName") or "", email=cust.get("email"), vat_id=cust.get("vatRegNumber"),
                               line1=addr.get("addr1") or "", line2=addr.get("addr2"), city=addr.get("city") or "",
                               postal_code=addr.get("zip") or "", region=addr.get("state"), country=addr.get("country") or ""),
                currency=so["currency"], lines=lines, shipping=so.get("shippingCost") or 0,
                announced_total=so.get("total"), purchase_order=so.get("otherRefNum"),
                dedup_keys=[f"netsuite:salesorder:{so['id']}:{kind}"],
                attributes={"account": str(doc.get("account") or ""), "status": str(so.get("statusText") or so["status"])})]
        except (KeyError, TypeError, AttributeError) as exc:
            raise PayloadError(plain_reason(exc, what="the NetSuite sales order")) from None
