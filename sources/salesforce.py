"""Salesforce: Opportunity → Closed Won, as a SOAP 1.1 Outbound Message (sent by a record-triggered Flow).

* Transport: ``POST /webhooks/salesforce?token=<secret>`` with a SOAP envelope holding
  ``notifications`` (``OrganizationId``, ``ActionId``, 1–100 ``Notification`` with ``Id`` and
  ``sObject xsi:type="sf:Opportunity"``: ``Id``, ``StageName``, optionally ``IsWon``).
  The Outbound Message definition must include the ``StageName`` field.
* Authentication (OM has no signature): a secret token compared in constant time. Salesforce
  can only be given an endpoint URL, so the token rides in the query (``?token=``, redacted by the
  gateway before the URL is stored); a proxy may send it as ``X-Invoicing-Token`` instead.
  Then ``OrganizationId`` must equal ``INVOICING_SALESFORCE_TENANT`` (the 15- or 18-character
  org id; both forms are accepted). Secret: ``INVOICING_SALESFORCE_SECRET``. Lock the listener
  to Salesforce's IP ranges (and mTLS) in front of the gateway.
* XML is parsed with defusedxml, DTDs refused (XXE and entity bombs → 400).
* Reply: ``notificationsResponse`` with ``Ack`` true (else Salesforce retries for 24 h).
* Dedupe: ``Notification/Id`` (event id); ``salesforce:opportunity:<id>:closed-won`` across notifications.
* Trigger: ``StageName == "Closed Won"`` (``INVOICING_SALESFORCE_WON_STAGE`` if renamed) → STAGE_REACHED;
  every other stage is ignored with 200 + Ack (so Salesforce stops retrying).
* Thin: the worker fetches the Opportunity, its Account and OpportunityLineItems in one REST SOQL
  query with OAuth2 client credentials (``CLIENT_ID``/``CLIENT_SECRET``; token endpoint
  ``<BASE_URL>/services/oauth2/token`` unless ``TOKEN_URL``). ``BASE_URL`` is the My Domain URL.
  ``CurrencyIsoCode`` exists in multi-currency orgs only; otherwise ``DEFAULT_CURRENCY``.
* Buyer: the Opportunity's Account: ``Name``, ``BillingStreet`` (a text area: its first line, then the
  rest), ``BillingCity``, ``BillingPostalCode``, ``BillingStateCode``, ``BillingCountryCode`` [C: Account
  fields; the ``*Code`` fields need state and country picklists]. Salesforce has no standard VAT id field:
  ``INVOICING_SALESFORCE_VAT_FIELD`` names the org's custom Account field that holds it (e.g.
  ``VAT_Number__c``) [S], and it is read with the same query.
"""
from __future__ import annotations

import re
from typing import Any, ClassVar, Mapping
from xml.etree.ElementTree import Element

import httpx
from pydantic import Field

from sources.support.fetch import fetch_json, platform_auth
from domain.errors import FetchError, IgnoredEvent, PayloadError, SignatureError
from domain.reasons import plain_reason
from domain.money import to_decimal
from domain.settings import PlatformSettings
from sources.support.webhook_auth import presented_tokens, require_token
from sources.support.xmlsafe import attr, children, descendants, parse_xml, text
from sources.base import EventInfo, InboundRequest, Reply, Source, ThinEvent
from sources.canonical import OrderEvent, order_event, order_line, party
from sources.support.payload import parse_time
from sources.support.signing import constant_time_equal

__all__ = ["Salesforce", "SalesforceSettings", "ACK", "opportunity_soql"]

ACK = (b'<?xml version="1.0" encoding="UTF-8"?>'
       b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
       b'<soapenv:Body><notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound">'
       b'<Ack>true</Ack></notificationsResponse></soapenv:Body></soapenv:Envelope>')
_SF_ID = re.compile(r"^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$")
_LINE_FIELDS = "Id, Quantity, UnitPrice, TotalPrice, Discount, Description, Product2.Name, Product2.ProductCode"
_OPP_FIELDS = ("Id, Name, StageName, CloseDate, Amount, CurrencyIsoCode, LastModifiedDate, Account.Id, Account.Name, "
               "Account.AccountNumber, Account.BillingStreet, Account.BillingCity, Account.BillingPostalCode, "
               "Account.BillingStateCode, Account.BillingCountryCode")


def opportunity_soql(opp_id: str, vat_field: str | None = None) -> str:
    """The one SOQL query for an Opportunity, its Account (with the VAT id field if configured) and its lines."""
    fields = _OPP_FIELDS + (f", Account.{vat_field}" if vat_field else "")
    return (f"SELECT {fields}, (SELECT {_LINE_FIELDS} FROM OpportunityLineItems ORDER BY SortOrder) "
            f"FROM Opportunity WHERE Id = '{opp_id}'")


class SalesforceSettings(PlatformSettings):
    api_version: str = Field("v62.0", description="REST API version for the SOQL query.")
    won_stage: str = Field("Closed Won", description="The StageName that triggers invoicing.")
    default_currency: str = Field("EUR", description="Currency when the org is not multi-currency.")
    vat_field: str | None = Field(None, pattern=r"^[A-Za-z][A-Za-z0-9_]{0,79}$",
                                  description="API name of the custom Account field holding the VAT id (e.g. VAT_Number__c).")


def _org15(org_id: str) -> str:
    return org_id.strip()[:15]


class Salesforce(Source):
    platform = "salesforce"
    settings_class = SalesforceSettings
    thin = True
    keep_headers: ClassVar[tuple[str, ...]] = ("soapaction",)
    settings: SalesforceSettings

    def verify(self, request: InboundRequest) -> None:
        require_token(self.secret(), presented_tokens(request.headers, request.query_params(), query_names=("token",)),
                      self.platform)
        org = self.settings.tenant
        if not org:
            raise SignatureError("salesforce: INVOICING_SALESFORCE_TENANT (organisation id) not configured")
        try:
            root = parse_xml(request.body)
        except PayloadError:
            return  # describe() answers 400
        given = text(next(descendants(root, "OrganizationId"), None))
        if given and not constant_time_equal(_org15(given), _org15(org)):
            raise SignatureError("salesforce: OrganizationId is not the configured org")

    def _notifications(self, body: bytes) -> tuple[Element, list[Element]]:
        root = parse_xml(body)
        notes = next(descendants(root, "notifications"), None)
        if notes is None:
            raise PayloadError("not a Salesforce outbound message (no notifications element)")
        items = children(notes, "Notification")
        if not items or not text(notes, "OrganizationId"):
            raise PayloadError("outbound message without OrganizationId or Notification")
        return notes, items

    def _won(self, note: Element) -> bool:
        sobj = next(iter(children(note, "sObject")), None)
        return (attr(sobj, "type").split(":")[-1] == "Opportunity"
                and text(sobj, "StageName") == self.settings.won_stage and bool(text(sobj, "Id")))

    def describe(self, request: InboundRequest) -> EventInfo:
        notes, items = self._notifications(request.body)
        if any(not text(n, "Id") for n in items):
            raise PayloadError("Notification without Id")
        if not any(self._won(n) for n in items):
            raise IgnoredEvent("no Opportunity reached the won stage")
        ids = sorted(text(n, "Id") for n in items)
        event_id = ids[0] if len(ids) == 1 else f"{ids[0]}+{len(ids) - 1}"
        return EventInfo(event_type="OutboundMessage:Opportunity", event_id=event_id)

    def acknowledge(self, request: InboundRequest, info: EventInfo) -> Reply:
        return Reply(200, ACK, content_type="text/xml; charset=utf-8")

    def normalise(self, raw: Mapping[str, Any]) -> list[OrderEvent | ThinEvent]:
        notes, items = self._notifications(raw["body"])
        org = text(notes, "OrganizationId")
        out: list[OrderEvent | ThinEvent] = []
        for note in items:
            if not self._won(note):
                continue
            sobj = children(note, "sObject")[0]
            out.append(ThinEvent(
                event_id=text(note, "Id"), event_type="OutboundMessage:Opportunity", trigger="STAGE_REACHED",
                resource="Opportunity", resource_id=text(sobj, "Id"), occurred_at=raw["received_at"],
                attributes={"organization_id": org, "action_id": text(notes, "ActionId")}))
        return out

    async def fetch(self, event: ThinEvent, client: httpx.AsyncClient) -> list[OrderEvent]:
        if not _SF_ID.match(event.resource_id):
            raise FetchError(f"salesforce: bad Opportunity id {event.resource_id!r}", retriable=False)
        base = self.base_url()
        auth = platform_auth(self.settings, grant="client_credentials", token_url="/services/oauth2/token", base_url=base,
                             client=client)
        soql = opportunity_soql(event.resource_id, self.settings.vat_field)
        doc = await fetch_json(client, self.platform, "GET", f"{base}/services/data/{self.settings.api_version}/query",
                               auth=auth, params={"q": soql})
        records = doc.get("records") if isinstance(doc, dict) else None
        if not records:
            raise FetchError(f"salesforce: Opportunity {event.resource_id} not found", retriable=False)
        try:
            return [self._order(event, records[0])]
        except (KeyError, TypeError, AttributeError) as exc:
            raise FetchError(plain_reason(exc, what="the salesforce Opportunity"), retriable=False) from None

    def _order(self, event: ThinEvent, opp: dict[str, Any]) -> OrderEvent:
        acct = opp.get("Account") or {}
        street = [s.strip() for s in str(acct.get("BillingStreet") or "").splitlines() if s.strip()]
        lines = []
        for li in (opp.get("OpportunityLineItems") or {}).get("records") or []:
            qty, price = to_decimal(li["Quantity"]), to_decimal(li["UnitPrice"])
            pct = to_decimal(li.get("Discount") or 0)
            product = li.get("Product2") or {}
            lines.append(order_line(product.get("Name") or li.get("Description") or "", qty, price,
                                    sku=product.get("ProductCode"), discount=qty * price * pct / 100))
        if not lines:
            raise FetchError(f"salesforce: Opportunity {opp['Id']} has no products", retriable=False)
        raw = {"platform": self.platform, "event_type": event.event_type, "received_at": event.occurred_at}
        return order_event(
            raw, event_id=event.event_id, trigger=event.trigger, external_order_id=opp["Id"],
            order_number=opp.get("Name"), occurred_at=parse_time(opp.get("LastModifiedDate"), event.occurred_at),
            customer_ref=f"salesforce:{acct.get('AccountNumber') or acct.get('Id')}" if acct else None,
            customer=party(acct.get("Name") or "", vat_id=str(acct.get(self.settings.vat_field) or "").strip() or None
                           if self.settings.vat_field else None,
                           line1=street[0] if street else "", line2=" ".join(street[1:]) or None,
                           city=acct.get("BillingCity") or "", postal_code=acct.get("BillingPostalCode") or "",
                           region=acct.get("BillingStateCode"), country=acct.get("BillingCountryCode") or ""),
            currency=opp.get("CurrencyIsoCode") or self.settings.default_currency, lines=lines,
            announced_total=opp.get("Amount"), dedup_keys=[f"salesforce:opportunity:{opp['Id']}:closed-won"],
            attributes={**event.attributes, "stage": opp.get("StageName") or ""})
