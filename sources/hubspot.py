"""HubSpot: Webhooks API ``deal.propertyChange`` on ``dealstage`` (or ``object.propertyChange`` for deals).

* Authentication (v3): ``X-HubSpot-Signature-v3`` = base64 HMAC-SHA256(app client secret,
  method + URI + raw body + ``X-HubSpot-Request-Timestamp``); the timestamp (ms) must be within
  ``INVOICING_HUBSPOT_TIMESTAMP_TOLERANCE`` (300 s). The URI is the target URL as registered in
  the app (``INVOICING_HUBSPOT_WEBHOOK_URL``; behind a proxy the observed URL differs), falling
  back to the URL the gateway saw. v1/v2 signatures (no timestamp, no replay protection) are refused.
  Secret: ``INVOICING_HUBSPOT_SECRET`` (the app's client secret).
* Body: a JSON **array** of events (batched). A deal whose ``dealstage`` became one of
  ``INVOICING_HUBSPOT_WON_STAGES`` (default ``closedwon``; custom pipelines use stage ids) →
  STAGE_REACHED; every other change is ignored (200, nothing published).
* Event id: HubSpot says ``eventId`` is not unique, so the id is
  ``<portalId>-<objectId>-<propertyValue>-<occurredAt>`` (a digest of those for a batch of several).
* Thin: the worker fetches the deal with its line-item and company associations
  (``GET /crm/v3/objects/deals/{id}``), the line items (``POST /crm/v3/objects/line_items/batch/read``)
  and the company, with the private-app token ``INVOICING_HUBSPOT_ACCESS_TOKEN``.
* Buyer: the deal's associated company: ``name``, ``address``/``address2``, ``city``, ``zip``, ``state``,
  ``country`` (free text, e.g. "Germany", mapped to ISO 3166 alpha-2) [C: default company properties];
  VAT id from the ``vat_id`` company property, a custom property HubSpot does not define [S]. The
  deal's name is never taken as the buyer's name.
* Order key: ``hubspot:<deal id>`` (HubSpot deals carry no reference to another system's order).
"""
from __future__ import annotations

import hashlib
import time
from datetime import datetime, timezone
from typing import Any, ClassVar, Mapping

import httpx
from pydantic import Field

from sources.support.country_names import country_code
from domain.errors import FetchError, IgnoredEvent, PayloadError, SignatureError
from domain.reasons import plain_reason
from domain.settings import PlatformSettings
from sources.support.fetch import fetch_json
from sources.base import EventInfo, InboundRequest, Source, ThinEvent
from sources.canonical import OrderEvent, order_event, order_line, party
from sources.support.payload import ms_to_datetime, parse_json
from sources.support.signing import constant_time_equal, hmac_digest

__all__ = ["HubSpot", "HubSpotSettings", "v3_signature", "DEAL_PROPERTIES", "LINE_ITEM_PROPERTIES", "COMPANY_PROPERTIES"]

DEAL_PROPERTIES = "dealname,amount,deal_currency_code,dealstage,pipeline,closedate,hs_object_id"
LINE_ITEM_PROPERTIES = ["name", "hs_sku", "quantity", "price", "amount", "hs_discount_percentage",
                        "discount", "hs_tax_rate", "hs_line_item_currency_code"]
COMPANY_PROPERTIES = "name,domain,address,address2,city,zip,state,country,vat_id"


class HubSpotSettings(PlatformSettings):
    base_url: str | None = Field("https://api.hubapi.com", description="CRM API base.")
    webhook_url: str | None = Field(None, description="Target URL exactly as registered in the app (signed into v3).")
    won_stages: str = Field("closedwon", description="Comma-separated dealstage values that mean Closed Won.")


def v3_signature(secret: bytes, method: str, uri: str, body: bytes, timestamp: str) -> str:
    return hmac_digest(secret, method.upper().encode() + uri.encode() + body + timestamp.encode())


def _is_trigger(ev: Any, stages: set[str]) -> bool:
    if not isinstance(ev, dict) or ev.get("propertyName") != "dealstage" or str(ev.get("propertyValue")) not in stages:
        return False
    kind = ev.get("subscriptionType")
    return kind == "deal.propertyChange" or (kind == "object.propertyChange" and ev.get("objectTypeId") == "0-3")


def _event_key(ev: Mapping[str, Any]) -> str:
    return f"{ev['portalId']}-{ev['objectId']}-{ev['propertyValue']}-{ev['occurredAt']}"


class HubSpot(Source):
    platform = "hubspot"
    thin = True
    settings_class = HubSpotSettings
    settings: HubSpotSettings
    keep_headers: ClassVar[tuple[str, ...]] = ("x-hubspot-signature-v3", "x-hubspot-request-timestamp")

    def _stages(self) -> set[str]:
        return {s.strip() for s in self.settings.won_stages.split(",") if s.strip()}

    def verify(self, request: InboundRequest) -> None:
        given, ts = request.header("x-hubspot-signature-v3"), request.header("x-hubspot-request-timestamp")
        if not given or not ts:
            raise SignatureError("missing X-HubSpot-Signature-v3 or X-HubSpot-Request-Timestamp")
        secret = self.secret()
        uri = self.settings.webhook_url or request.url
        if not constant_time_equal(v3_signature(secret, request.method, uri, request.body, ts), given):
            raise SignatureError("X-HubSpot-Signature-v3 does not match")
        if not ts.isdigit() or abs(time.time() * 1000 - int(ts)) > self.settings.timestamp_tolerance * 1000:
            raise SignatureError("X-HubSpot-Request-Timestamp outside the tolerance")

    def describe(self, request: InboundRequest) -> EventInfo:
        doc = parse_json(request.body)
        if not isinstance(doc, list) or not all(isinstance(e, dict) and "objectId" in e for e in doc):
            raise PayloadError("body is not a HubSpot webhook batch")
        hits = [e for e in doc if _is_trigger(e, self._stages())]
        if not hits:
            raise IgnoredEvent("no deal reached a won stage in this batch")
        try:
            keys = sorted(_event_key(e) for e in hits)
        except KeyError as exc:
            raise PayloadError(plain_reason(exc, what="the HubSpot event")) from None
        event_id = keys[0] if len(keys) == 1 else "batch-" + hashlib.sha256("|".join(keys).encode()).hexdigest()[:24]
        return EventInfo(event_type="deal.propertyChange", event_id=event_id)

    def normalise(self, raw: Mapping[str, Any]) -> list[OrderEvent | ThinEvent]:
        doc = parse_json(raw["body"])
        if not isinstance(doc, list):
            raise PayloadError("body is not a HubSpot webhook batch")
        out: list[OrderEvent | ThinEvent] = []
        for ev in doc:
            if not _is_trigger(ev, self._stages()):
                continue
            try:
                out.append(ThinEvent(event_id=_event_key(ev), event_type=str(ev["subscriptionType"]), trigger="STAGE_REACHED",
                                     resource="deal", resource_id=str(ev["objectId"]), occurred_at=ms_to_datetime(ev["occurredAt"]),
                                     attributes={"portal_id": str(ev["portalId"]), "dealstage": str(ev["propertyValue"]),
                                                 "change_source": str(ev.get("changeSource") or "")}))
            except (KeyError, ValueError, TypeError) as exc:
                raise PayloadError(plain_reason(exc, what="the HubSpot event")) from None
        return out

    async def fetch(self, event: ThinEvent, client: httpx.AsyncClient) -> list[OrderEvent]:
        token = self.settings.access_token
        if token is None:
            raise FetchError("hubspot: INVOICING_HUBSPOT_ACCESS_TOKEN not configured", retriable=False)
        headers = {"Authorization": f"Bearer {token.get_secret_value()}", "Accept": "application/json"}
        base = self.base_url()
        deal = await fetch_json(client, self.platform, "GET", f"{base}/crm/v3/objects/deals/{event.resource_id}",
                                headers=headers, params={"associations": "line_items,companies", "properties": DEAL_PROPERTIES})
        assoc = deal.get("associations") or {}
        item_ids = [r["id"] for r in ((assoc.get("line items") or assoc.get("line_items") or {}).get("results") or [])]
        if not item_ids:
            raise FetchError(f"hubspot deal {event.resource_id} has no line items", retriable=False)
        items = await fetch_json(client, self.platform, "POST", f"{base}/crm/v3/objects/line_items/batch/read",
                                 headers=headers, json={"properties": LINE_ITEM_PROPERTIES,
                                                        "inputs": [{"id": str(i)} for i in item_ids]})
        company: dict[str, Any] = {}
        company_ids = [r["id"] for r in ((assoc.get("companies") or {}).get("results") or [])]
        if company_ids:
            company = await fetch_json(client, self.platform, "GET", f"{base}/crm/v3/objects/companies/{company_ids[0]}",
                                       headers=headers, params={"properties": COMPANY_PROPERTIES})
        try:
            return [self._order(event, deal, items["results"], company)]
        except (KeyError, TypeError) as exc:
            raise FetchError(plain_reason(exc, what=f"the hubspot deal {event.resource_id}"), retriable=False) from None

    def _order(self, event: ThinEvent, deal: dict[str, Any], items: list[dict[str, Any]], company: dict[str, Any]) -> OrderEvent:
        props = deal["properties"]
        lines = []
        for item in sorted(items, key=lambda i: int(i["id"])):
            p = item["properties"]
            lines.append(order_line(p.get("name") or "", p.get("quantity") or "1", p["price"], sku=p.get("hs_sku"),
                                    discount=p.get("discount") or 0, tax_rate=p.get("hs_tax_rate")))
        currency = props.get("deal_currency_code") or (items[0]["properties"].get("hs_line_item_currency_code") if items else None)
        if not currency:
            raise PayloadError(f"hubspot deal {deal['id']} has no currency")
        c = company.get("properties") or {}
        country = country_code(c.get("country"))
        raw = {"platform": self.platform, "event_type": event.event_type, "received_at": datetime.now(timezone.utc)}
        return order_event(
            raw, event_id=event.event_id, trigger=event.trigger, external_order_id=str(deal["id"]),
            order_number=props.get("dealname"), occurred_at=event.occurred_at,
            customer_ref=f"hubspot:company:{company['id']}" if company.get("id") else None,
            customer=party(c.get("name") or "", vat_id=c.get("vat_id"), line1=c.get("address") or "",
                           line2=c.get("address2"), city=c.get("city") or "", postal_code=c.get("zip") or "",
                           region=c.get("state"), country=country),
            currency=currency, lines=lines, announced_total=props.get("amount"),
            dedup_keys=[f"hubspot:deal:{deal['id']}:{event.attributes.get('dealstage', '')}"],
            attributes={"portal_id": event.attributes.get("portal_id", ""), "pipeline": str(props.get("pipeline") or ""),
                        "company_domain": str(c.get("domain") or "")},
        )
