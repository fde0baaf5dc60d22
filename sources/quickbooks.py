"""QuickBooks Online: thin entity-change webhooks (CloudEvents, or the legacy format).

* Authentication: ``intuit-signature`` = base64(HMAC-SHA256(app verifier token, raw body)).
  Secret: ``INVOICING_QUICKBOOKS_SECRET`` (the verifier token). No timestamp.
* Body: a JSON array of CloudEvents (``type`` ``qbo.<entity>.<op>.v1``, ``id``,
  ``intuitentityid``, ``intuitaccountid`` = realm id), mandatory from 2026; the legacy
  ``eventNotifications[].dataChangeEvent.entities[]`` body is accepted too.
* Triggers: SalesReceipt Create (a cash sale is paid) → PAYMENT_RECEIVED; Payment Create
  → its linked invoices, PAYMENT_RECEIVED when the invoice's ``Balance`` is 0, else
  ORDER_UPDATED; SalesReceipt/Invoice Void → ORDER_CANCELLED. Everything else is ignored.
* Event id: the CloudEvent ``id``; legacy: realm, entity, id, operation and ``lastUpdated``.
* Fetch: ``GET {base}/v3/company/{realmId}/{entity}/{id}?minorversion=75`` with OAuth 2.0
  (``INVOICING_QUICKBOOKS_CLIENT_ID``/``_CLIENT_SECRET``/``_REFRESH_TOKEN``; Intuit rotates
  refresh tokens, the rotated one is kept for the process).
"""
from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any, ClassVar, Mapping

import httpx

from sources.support.country_names import country_code
from domain.errors import ConfigError, FetchError, IgnoredEvent, PayloadError, SignatureError
from domain.reasons import plain_reason
from sources.support.fetch import fetch_json, platform_auth
from domain.money import ZERO, to_decimal
from sources.base import EventInfo, InboundRequest, Source, ThinEvent
from sources.canonical import OrderEvent, order_event, order_line, party
from sources.support.payload import parse_json, parse_time
from sources.support.signing import constant_time_equal, hmac_digest

__all__ = ["QuickBooks", "TRIGGERS_BY_CHANGE", "changes"]

API = "https://quickbooks.api.intuit.com"
TOKEN_URL = "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer"
MINOR_VERSION = "75"
#: (entity, operation) → trigger
TRIGGERS_BY_CHANGE = {
    ("salesreceipt", "create"): "PAYMENT_RECEIVED",
    ("payment", "create"): "PAYMENT_RECEIVED",
    ("salesreceipt", "void"): "ORDER_CANCELLED",
    ("invoice", "void"): "ORDER_CANCELLED",
}
_OPS = {"created": "create", "updated": "update", "deleted": "delete", "merged": "merge", "voided": "void",
        "emailed": "emailed"}


def changes(body: bytes) -> list[dict[str, str]]:
    """Every entity change in a webhook body: entity, op, id, realm, event_id, time.

    Raises:
        PayloadError: neither a CloudEvents array nor a legacy notification.
    """
    doc = parse_json(body)
    out: list[dict[str, str]] = []
    try:
        if isinstance(doc, list):
            for ev in doc:
                parts = str(ev["type"]).split(".")
                if len(parts) < 3 or parts[0] != "qbo":
                    raise PayloadError(f"unexpected CloudEvent type {ev['type']!r}")
                out.append({"entity": parts[1].lower(), "op": _OPS.get(parts[2].lower(), parts[2].lower()),
                            "id": str(ev["intuitentityid"]), "realm": str(ev["intuitaccountid"]),
                            "event_id": str(ev["id"]), "time": str(ev.get("time") or ""), "type": str(ev["type"])})
        elif isinstance(doc, dict) and isinstance(doc.get("eventNotifications"), list):
            for note in doc["eventNotifications"]:
                realm = str(note["realmId"])
                for ent in note["dataChangeEvent"]["entities"]:
                    entity, op = str(ent["name"]).lower(), str(ent["operation"]).lower()
                    out.append({"entity": entity, "op": op, "id": str(ent["id"]), "realm": realm,
                                "event_id": f"{realm}:{entity}:{ent['id']}:{op}:{ent.get('lastUpdated', '')}",
                                "time": str(ent.get("lastUpdated") or ""), "type": f"{ent['name']}.{ent['operation']}"})
        else:
            raise PayloadError("body is neither a CloudEvents array nor eventNotifications")
    except (KeyError, TypeError) as exc:
        raise PayloadError(plain_reason(exc, what="the QuickBooks event")) from None
    return out


class QuickBooks(Source):
    platform = "quickbooks"
    thin = True
    keep_headers: ClassVar[tuple[str, ...]] = ("intuit-signature", "intuit-t-id")

    def verify(self, request: InboundRequest) -> None:
        given = request.header("intuit-signature")
        if not given:
            raise SignatureError("missing intuit-signature")
        if not constant_time_equal(hmac_digest(self.secret(), request.body), given):
            raise SignatureError("intuit-signature does not match the body")

    def describe(self, request: InboundRequest) -> EventInfo:
        wanted = [c for c in changes(request.body) if (c["entity"], c["op"]) in TRIGGERS_BY_CHANGE]
        if not wanted:
            raise IgnoredEvent("no SalesReceipt/Payment create or void in this notification")
        ids = sorted(c["event_id"] for c in wanted)
        event_id = ids[0] if len(ids) == 1 else "batch:" + hashlib.sha256("\n".join(ids).encode()).hexdigest()[:32]
        return EventInfo(event_type="+".join(sorted({c["type"] for c in wanted})), event_id=event_id)

    def normalise(self, raw: Mapping[str, Any]) -> list[OrderEvent | ThinEvent]:
        return [ThinEvent(event_id=c["event_id"], event_type=c["type"], trigger=TRIGGERS_BY_CHANGE[(c["entity"], c["op"])],
                          resource=c["entity"], resource_id=c["id"], occurred_at=parse_time(c["time"], raw["received_at"]),
                          attributes={"realm_id": c["realm"], "received_at": raw["received_at"].isoformat()})
                for c in changes(raw["body"]) if (c["entity"], c["op"]) in TRIGGERS_BY_CHANGE]

    async def fetch(self, event: ThinEvent, client: httpx.AsyncClient) -> list[OrderEvent]:
        realm = event.attributes["realm_id"]
        raw = {"platform": self.platform, "event_type": event.event_type,
               "received_at": datetime.fromisoformat(event.attributes["received_at"])}
        try:
            if event.resource == "payment":
                payment = (await self._get(client, realm, "payment", event.resource_id))["Payment"]
                out = []
                for line in payment.get("Line") or []:
                    for txn in line.get("LinkedTxn") or []:
                        if txn.get("TxnType") != "Invoice":
                            continue
                        inv = (await self._get(client, realm, "invoice", str(txn["TxnId"])))["Invoice"]
                        settled = to_decimal(inv.get("Balance", 0), "Balance") == ZERO
                        out.append(self._order(raw, event, realm, "invoice", inv,
                                               "PAYMENT_RECEIVED" if settled else "ORDER_UPDATED",
                                               event_id=f"{event.event_id}:{inv['Id']}"))
                return out
            key = "SalesReceipt" if event.resource == "salesreceipt" else "Invoice"
            doc = (await self._get(client, realm, event.resource, event.resource_id))[key]
            return [self._order(raw, event, realm, event.resource, doc, event.trigger, event_id=event.event_id)]
        except (KeyError, TypeError) as exc:
            raise FetchError(plain_reason(exc, what=f"the QuickBooks {event.resource} {event.resource_id}"), retriable=False) from None

    async def _get(self, client: httpx.AsyncClient, realm: str, entity: str, entity_id: str) -> dict[str, Any]:
        try:
            auth = platform_auth(self.settings, grant="refresh_token", token_url=TOKEN_URL, basic_client_auth=True)
        except ConfigError as exc:
            raise FetchError(f"quickbooks API credentials: {exc}", retriable=True) from None
        base = (self.settings.base_url or API).rstrip("/")
        doc = await fetch_json(client, self.platform, "GET", f"{base}/v3/company/{realm}/{entity}/{entity_id}", auth=auth,
                               headers={"Accept": "application/json"}, params={"minorversion": MINOR_VERSION})
        if not isinstance(doc, dict):
            raise FetchError(f"QuickBooks {entity} {entity_id}: unexpected answer", retriable=True)
        return doc

    def _order(self, raw: Mapping[str, Any], event: ThinEvent, realm: str, entity: str, doc: dict[str, Any],
               trigger: str, *, event_id: str) -> OrderEvent:
        tax = doc.get("TxnTaxDetail") or {}
        tax_lines = [t.get("TaxLineDetail") or {} for t in tax.get("TaxLine") or []]
        rate = tax_lines[0].get("TaxPercent") if len(tax_lines) == 1 and tax_lines[0].get("PercentBased") else None
        lines, shipping = [], ZERO
        for line in doc["Line"]:
            if line.get("DetailType") != "SalesItemLineDetail":
                continue
            detail = line["SalesItemLineDetail"]
            item = detail.get("ItemRef") or {}
            if item.get("value") == "SHIPPING_ITEM_ID":
                shipping += to_decimal(line["Amount"], "Amount")
                continue
            qty = to_decimal(detail.get("Qty", 1), "Qty")
            unit = detail.get("UnitPrice", to_decimal(line["Amount"], "Amount") / qty if qty else 0)
            taxable = (detail.get("TaxCodeRef") or {}).get("value") not in (None, "NON")
            lines.append(order_line(line.get("Description") or item.get("name") or "", qty, unit, sku=item.get("name"),
                                    tax_rate=rate if taxable else None))
        cust = doc.get("CustomerRef") or {}
        addr = doc.get("BillAddr") or {}
        total = to_decimal(doc.get("TotalAmt", 0), "TotalAmt")
        paid = total if entity == "salesreceipt" else total - to_decimal(doc.get("Balance", 0), "Balance")
        return order_event(
            raw, event_id=event_id, event_type=event.event_type, trigger=trigger, external_order_id=str(doc["Id"]),
            order_key=f"quickbooks:{realm}:{entity}:{doc['Id']}", order_number=doc.get("DocNumber") or None,
            occurred_at=parse_time(doc.get("TxnDate"), event.occurred_at) if trigger != "ORDER_CANCELLED" else event.occurred_at,
            customer_ref=f"quickbooks:{realm}:{cust['value']}" if cust.get("value") else None,
            customer=party(cust.get("name") or "", email=(doc.get("BillEmail") or {}).get("Address"), line1=addr.get("Line1") or "",
                           line2=addr.get("Line2"), city=addr.get("City") or "", postal_code=addr.get("PostalCode") or "",
                           region=addr.get("CountrySubDivisionCode"), country=country_code(addr.get("Country"))),
            currency=(doc.get("CurrencyRef") or {})["value"], tax_included=doc.get("GlobalTaxCalculation") == "TaxInclusive",
            lines=lines, shipping=shipping, announced_total=total, amount_paid=paid if trigger != "ORDER_CANCELLED" else None,
            dedup_keys=[f"quickbooks:{realm}:{entity}:{doc['Id']}:{trigger}"],
            attributes={"realm_id": realm, "entity": entity, "balance": str(doc.get("Balance", ""))},
        )
