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
* Buyer: the bill-to party (partner function ``RE``), else the payer (``RG``), else the sold-to party
  (``AG``) of the sales order's ``to_Partner`` (A_SalesOrderHeaderPartner). Its document address comes
  with the same read (``$expand=…,to_Partner/to_Address`` → A_SalesOrderPartnerAddress:
  ``OrganizationName1..4``, ``StreetName``, ``HouseNumber``, ``CityName``, ``PostalCode``, ``Region``,
  ``Country``, ``EmailAddress``) and its VAT id from the partner's ``VATRegistration`` [S: field names
  from clients generated from SAP's API_SALES_ORDER_SRV spec; not run against a live tenant].
  What is still missing (no address, or no VAT id) is read from the business partner API
  (API_BUSINESS_PARTNER ``A_BusinessPartner('<ReferenceBusinessPartner or Customer>')
  ?$expand=to_BusinessPartnerAddress,to_BusinessPartnerTax``: ``OrganizationBPName1/2``,
  ``BusinessPartnerFullName``, the address fields above, ``BPTaxType``/``BPTaxNumber``) [S: SAP Cloud SDK
  VDM and public integrations]. The VAT id taken from the tax numbers is the one that carries the
  address country's VAT prefix (EU VAT ids do), preferring SAP's ``<country>0`` tax category (``DE0``).
  That read needs the communication arrangement for business partners; ``INVOICING_SAP_READ_BUSINESS_PARTNER
  =false`` turns it off (the buyer then has only what the sales order holds, and an incomplete buyer
  is refused before numbering unless reference data knows the customer).
"""
from __future__ import annotations

import re
from decimal import Decimal
from typing import Any, ClassVar, Mapping

import httpx
from pydantic import Field

from sources.support.fetch import fetch_json, platform_auth
from sources.support.cloudevents import CE_HEADERS, CloudEvent, read_cloudevent
from domain.errors import FetchError, IgnoredEvent, PayloadError
from domain.reasons import plain_reason
from domain.money import q4, to_decimal
from domain.settings import PlatformSettings
from sources.support.webhook_auth import presented_tokens, require_token
from sources.base import EventInfo, InboundRequest, Source, ThinEvent
from sources.canonical import OrderEvent, order_event, order_line, party
from sources.support.payload import parse_time

__all__ = ["Sap", "SapSettings", "EVENT_TYPES", "ORDER_EXPAND", "BP_EXPAND", "order_path", "business_partner_path",
           "buyer_partner", "street_line"]

EVENT_TYPES = ("sap.s4.beh.salesorder.v1.SalesOrder.Created.v1", "sap.s4.beh.salesorder.v1.SalesOrder.Changed.v1")
_SO_ID = re.compile(r"^[0-9A-Za-z]{1,10}$")
_BP_ID = re.compile(r"^[0-9A-Za-z]{1,10}$")
#: the sales order read: items, header partners and each partner's document address
ORDER_EXPAND = "to_Item,to_Partner,to_Partner/to_Address"
#: the business partner read: addresses and tax numbers
BP_EXPAND = "to_BusinessPartnerAddress,to_BusinessPartnerTax"
#: bill-to party, payer, sold-to party (SAP's internal partner function codes; English external codes too)
_BUYER_FUNCTIONS = (("RE", "BP"), ("RG", "PY"), ("AG", "SP"))
#: countries whose addresses put the house number before the street name
_NUMBER_FIRST = frozenset({"US", "CA", "GB", "IE", "FR", "AU", "NZ", "JP", "LU", "IL", "ZA", "SG", "IN", "PH", "MY", "TH"})


class SapSettings(PlatformSettings):
    read_business_partner: bool = Field(
        True, description="Read the buyer's address and VAT id from API_BUSINESS_PARTNER when the sales order lacks them.")


def order_path(sales_order: str) -> str:
    return f"/sap/opu/odata/sap/API_SALES_ORDER_SRV/A_SalesOrder('{sales_order}')"


def business_partner_path(partner: str) -> str:
    return f"/sap/opu/odata/sap/API_BUSINESS_PARTNER/A_BusinessPartner('{partner}')"


def street_line(street: str, house: str, country: str) -> str:
    """``StreetName`` and ``HouseNumber`` as one address line, in the order the country writes them."""
    street, house = street.strip(), house.strip()
    if not house:
        return street
    if not street:
        return house
    return f"{house} {street}" if country.upper() in _NUMBER_FIRST else f"{street} {house}"


def buyer_partner(so: Mapping[str, Any]) -> dict[str, Any]:
    """The sales order partner the invoice is addressed to: bill-to, else payer, else sold-to (``{}`` if none)."""
    partners: dict[str, dict[str, Any]] = {}
    for p in (so.get("to_Partner") or {}).get("results") or []:
        if isinstance(p, dict):
            for code in (p.get("PartnerFunction"), p.get("PartnerFunctionInternalCode")):
                if code:
                    partners.setdefault(str(code), p)
    for codes in _BUYER_FUNCTIONS:
        for code in codes:
            if partners.get(code, {}).get("Customer"):
                return partners[code]
    return {}


def _results(value: Any) -> list[dict[str, Any]]:
    """An OData V2 expanded collection (``{"results": [...]}``) or single entity as a list."""
    if isinstance(value, dict):
        items = value.get("results", [value] if value else [])
        return [i for i in items if isinstance(i, dict)]
    return [i for i in value if isinstance(i, dict)] if isinstance(value, list) else []


def _names(*values: Any) -> str:
    return " ".join(str(v).strip() for v in values if v and str(v).strip())


def _address(addr: Mapping[str, Any]) -> dict[str, Any]:
    """A_SalesOrderPartnerAddress or A_BusinessPartnerAddress → `party` keyword arguments."""
    country = str(addr.get("Country") or "").strip().upper()
    line1 = street_line(str(addr.get("StreetName") or ""), str(addr.get("HouseNumber") or ""), country)
    postal = str(addr.get("PostalCode") or "").strip()
    if not line1 and addr.get("POBox"):
        line1 = f"PO Box {str(addr['POBox']).strip()}"
        postal = str(addr.get("POBoxPostalCode") or "").strip() or postal
    return {"line1": line1, "line2": _names(addr.get("StreetPrefixName1"), addr.get("StreetSuffixName1")) or None,
            "city": str(addr.get("CityName") or "").strip(), "postal_code": postal,
            "region": str(addr.get("Region") or "").strip() or None, "country": country}


def _complete(address: Mapping[str, Any]) -> bool:
    return all(address.get(k) for k in ("line1", "city", "country"))


def _vat_from_tax_numbers(numbers: list[dict[str, Any]], country: str) -> str | None:
    """The VAT id among a business partner's tax numbers: the one with the country's VAT prefix,
    preferring SAP's ``<country>0`` tax category (``DE0``, ``FR0``)."""
    prefix = {"GR": "EL"}.get(country, country)
    found = []
    for t in numbers:
        value = re.sub(r"[\s.-]", "", str(t.get("BPTaxNumber") or t.get("BPTaxLongNumber") or "")).upper()
        if prefix and value.startswith(prefix) and len(value) > 4:
            found.append((str(t.get("BPTaxType") or "") != f"{country}0", value))
    return min(found)[1] if found else None


def _odata_date(value: Any) -> str | None:
    """``/Date(1795420800000)/`` or ``/Date(1795420800000+0000)/`` → epoch seconds as text."""
    m = re.match(r"^/Date\((-?\d+)(?:[+-]\d{4})?\)/$", str(value or ""))
    return str(int(m.group(1)) // 1000) if m else None


class Sap(Source):
    platform = "sap"
    settings_class = SapSettings
    thin = True
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

    def normalise(self, raw: Mapping[str, Any]) -> list[OrderEvent | ThinEvent]:
        event = self._event(raw["headers"], raw["body"])
        if event.type not in EVENT_TYPES:
            return []
        data = event.data
        return [ThinEvent(event_id=event.id, event_type=event.type, trigger="SHIPMENT_CONFIRMED", resource="A_SalesOrder",
                          resource_id=str(data["SalesOrder"]), occurred_at=parse_time(event.time, raw["received_at"]),
                          attributes={"source": event.source, "sales_organization": str(data.get("SalesOrganization") or "")})]

    async def fetch(self, event: ThinEvent, client: httpx.AsyncClient) -> list[OrderEvent]:
        base = self.base_url()
        auth = platform_auth(self.settings, grant="client_credentials", base_url=base, client=client, prefer_basic=True)
        doc = await fetch_json(client, self.platform, "GET", base + order_path(event.resource_id), auth=auth,
                               headers={"Accept": "application/json"},
                               params={"$expand": ORDER_EXPAND, "$format": "json"})
        so = doc.get("d") if isinstance(doc, dict) else None
        if not isinstance(so, dict):
            raise FetchError(f"sap: sales order {event.resource_id}: unexpected answer", retriable=False)
        if so.get("OverallSDDocumentRejectionSts") == "C":
            trigger = "ORDER_CANCELLED"
        elif so.get("OverallDeliveryStatus") == "C" or so.get("OverallSDProcessStatus") == "C":
            trigger = "SHIPMENT_CONFIRMED"
        else:
            return []
        customer = await self._buyer(so, client, base, auth)
        try:
            return [self._order(event, so, trigger, customer)]
        except (KeyError, TypeError) as exc:
            raise FetchError(plain_reason(exc, what="the sap sales order"), retriable=False) from None

    async def _buyer(self, so: Mapping[str, Any], client: httpx.AsyncClient, base: str,
                     auth: httpx.Auth | tuple[str, str] | None) -> dict[str, Any]:
        """The buyer from the sales order's bill-to/payer/sold-to partner, completed from its business partner."""
        partner = buyer_partner(so)
        addr = (_results(partner.get("to_Address")) or [{}])[0]
        name = _names(*(addr.get(f"OrganizationName{i}") for i in range(1, 5))) or str(addr.get("AddresseeFullName") or "").strip()
        address = _address(addr)
        vat = re.sub(r"\s", "", str(partner.get("VATRegistration") or "")) or None
        email = str(addr.get("EmailAddress") or "").strip() or None
        bp_id = str(partner.get("ReferenceBusinessPartner") or partner.get("Customer") or "")
        if (not name or not _complete(address) or not vat) and bp_id and _BP_ID.match(bp_id) \
                and getattr(self.settings, "read_business_partner", True):
            bp = await self._business_partner(client, base, auth, bp_id)
            if bp:
                bp_addrs = [_address(a) for a in _results(bp.get("to_BusinessPartnerAddress"))]
                if not _complete(address):
                    address = next((a for a in bp_addrs if _complete(a)), address)
                name = name or _names(bp.get("OrganizationBPName1"), bp.get("OrganizationBPName2")) \
                    or str(bp.get("BusinessPartnerFullName") or bp.get("BusinessPartnerName") or "").strip()
                vat = vat or _vat_from_tax_numbers(_results(bp.get("to_BusinessPartnerTax")), address["country"])
        return party(name, email=email, vat_id=vat, **address)

    async def _business_partner(self, client: httpx.AsyncClient, base: str, auth: httpx.Auth | tuple[str, str] | None,
                                bp_id: str) -> dict[str, Any]:
        """``A_BusinessPartner('<id>')`` with addresses and tax numbers; ``{}`` when SAP has no such partner.

        Raises:
            FetchError: the API failed (retriable: the event waits, e.g. for the business partner authorisation).
        """
        try:
            doc = await fetch_json(client, self.platform, "GET", base + business_partner_path(bp_id), auth=auth,
                                   headers={"Accept": "application/json"}, params={"$expand": BP_EXPAND, "$format": "json"})
        except FetchError as exc:
            if exc.retriable:
                raise
            return {}
        bp = doc.get("d") if isinstance(doc, dict) else None
        return bp if isinstance(bp, dict) else {}

    def _order(self, event: ThinEvent, so: dict[str, Any], trigger: str, customer: dict[str, Any]) -> OrderEvent:
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
        payer = buyer_partner(so).get("Customer") or sold_to
        created = _odata_date(so.get("LastChangeDateTime") or so.get("CreationDate"))
        raw = {"platform": self.platform, "event_type": event.event_type, "received_at": event.occurred_at}
        kind = "rejected" if trigger == "ORDER_CANCELLED" else "delivered"
        return order_event(
            raw, event_id=event.event_id, trigger=trigger, external_order_id=str(so["SalesOrder"]),
            order_number=str(so["SalesOrder"]), occurred_at=parse_time(Decimal(created), event.occurred_at) if created else None,
            customer_ref=f"sap:{payer}" if payer else None, customer=customer,
            currency=so["TransactionCurrency"], lines=lines, announced_total=so.get("TotalNetAmount"),
            purchase_order=so.get("PurchaseOrderByCustomer"),
            dedup_keys=[f"sap:salesorder:{so['SalesOrder']}:{kind}"],
            attributes={**event.attributes, "sales_order_type": str(so.get("SalesOrderType") or ""),
                        "sold_to_party": sold_to})
