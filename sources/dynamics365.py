"""Microsoft Dynamics 365 Sales (Dataverse): a webhook step on ``Update`` of ``salesorder``.

* Transport: a service endpoint of type WebHook registered with the Plug-in Registration Tool,
  step on message ``Update``, entity ``salesorder``, filtering attribute ``statecode``, asynchronous,
  with a post image holding ``statecode``/``statuscode``. Body: the ``RemoteExecutionContext`` JSON.
* Authentication (Dataverse does not sign): ``HttpHeader`` auth with ``X-Invoicing-Token: <secret>``
  (recommended), or ``WebhookKey`` (``?code=<secret>``, redacted from the stored URL), constant time.
  Secret: ``INVOICING_DYNAMICS365_SECRET``.
* Trigger: post-image (else Target) ``statecode`` 3 Fulfilled → SHIPMENT_CONFIRMED, 2 Canceled →
  ORDER_CANCELLED; Active/Submitted/Invoiced are ignored.
* Dedupe: ``OperationId`` of the async operation (kept across Dataverse's retries), else ``RequestId``,
  else ``x-request-id``; ``dynamics365:salesorder:<id>:fulfilled`` across events.
* Thin: the worker reads ``GET <BASE_URL>/api/data/v9.2/salesorders(<id>)`` with ``$expand`` of
  ``order_details``, ``customerid_account`` and ``transactioncurrencyid``, OAuth2 client credentials
  against Entra ID (``TENANT``, ``CLIENT_ID``, ``CLIENT_SECRET``; scope ``<BASE_URL>/.default``;
  ``TOKEN_URL`` overrides ``https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token``).
* Buyer: the account's name (``customerid_account``) and the order's bill-to address
  (``billto_line1..3``, ``billto_city``, ``billto_postalcode``, ``billto_stateorprovince``,
  ``billto_country``), else the account's ``address1_*`` [C: Dataverse salesorder/account columns].
  Dataverse countries are free text ("Germany"), mapped to ISO 3166 alpha-2. Dataverse has no
  standard VAT id column, so none is read.
* Not handled here: F&O business events (``SalesInvoicePostedBusinessEvent``) — they fire after F&O
  posted its own invoice.
"""
from __future__ import annotations

import re
from typing import Any, ClassVar, Mapping

import httpx

from sources.support.country_names import country_code
from sources.support.fetch import fetch_json, platform_auth
from domain.errors import FetchError, IgnoredEvent, PayloadError
from domain.reasons import plain_reason
from sources.support.webhook_auth import presented_tokens, require_token
from sources.base import EventInfo, InboundRequest, Source, ThinEvent
from sources.canonical import OrderEvent, order_event, order_line, party
from sources.support.payload import parse_json, parse_time

__all__ = ["Dynamics365", "STATE_TRIGGERS", "ORDER_QUERY"]

STATE_TRIGGERS = {3: "SHIPMENT_CONFIRMED", 2: "ORDER_CANCELLED"}
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_ZERO_GUID = "00000000-0000-0000-0000-000000000000"
ORDER_QUERY = {
    "$select": ("salesorderid,ordernumber,name,totalamount,totallineitemamount,freightamount,statecode,modifiedon,"
                "billto_name,billto_line1,billto_line2,billto_line3,billto_city,billto_postalcode,billto_stateorprovince,"
                "billto_country"),
    "$expand": ("order_details($select=quantity,priceperunit,manualdiscountamount,productdescription,"
                "extendedamount,_productid_value),customerid_account($select=name,accountnumber,emailaddress1,"
                "address1_line1,address1_line2,address1_city,address1_postalcode,address1_stateorprovince,address1_country),"
                "transactioncurrencyid($select=isocurrencycode)"),
}
_NAME = "@OData.Community.Display.V1.FormattedValue"


def _attributes(entity: Any) -> dict[str, Any]:
    """Dataverse serialises an Entity's attributes as a list of ``{"key", "value"}`` pairs."""
    if not isinstance(entity, dict):
        return {}
    return {str(a.get("key")): a.get("value") for a in entity.get("Attributes") or [] if isinstance(a, dict)}


def _option(value: Any) -> int | None:
    v = value.get("Value") if isinstance(value, dict) else value
    return int(v) if isinstance(v, int) and not isinstance(v, bool) else None


def _buyer(so: Mapping[str, Any], acct: Mapping[str, Any]) -> dict[str, Any]:
    """The account as buyer, at the order's bill-to address when the order has one, else the account's address 1."""
    src, prefix = (so, "billto_") if so.get("billto_line1") else (acct, "address1_")

    def col(name: str) -> str:
        return str(src.get(prefix + name) or "").strip()

    return party(str(acct.get("name") or so.get("billto_name") or "").strip(), email=acct.get("emailaddress1"),
                 line1=col("line1"), line2=" ".join(x for x in (col("line2"), col("line3")) if x) or None, city=col("city"),
                 postal_code=col("postalcode"), region=col("stateorprovince") or None, country=country_code(col("country")))


class Dynamics365(Source):
    platform = "dynamics365"
    thin = True
    keep_headers: ClassVar[tuple[str, ...]] = ("x-request-id", "x-ms-dynamics-organization", "x-ms-dynamics-entity-name",
                                                "x-ms-dynamics-request-name", "x-ms-correlation-request-id")

    def verify(self, request: InboundRequest) -> None:
        require_token(self.secret(), presented_tokens(request.headers, request.query_params(), query_names=("code",)),
                      self.platform)

    def _context(self, body: bytes) -> tuple[dict[str, Any], str, int | None]:
        ctx = parse_json(body)
        if not isinstance(ctx, dict) or "PrimaryEntityId" not in ctx or "MessageName" not in ctx:
            raise PayloadError("body is not a Dataverse RemoteExecutionContext")
        if not _GUID.match(str(ctx["PrimaryEntityId"])):
            raise PayloadError("PrimaryEntityId is not a GUID")
        images = {i.get("key"): i.get("value") for i in ctx.get("PostEntityImages") or [] if isinstance(i, dict)}
        inputs = {i.get("key"): i.get("value") for i in ctx.get("InputParameters") or [] if isinstance(i, dict)}
        state = None
        for entity in (*images.values(), inputs.get("Target")):
            state = _option(_attributes(entity).get("statecode"))
            if state is not None:
                break
        return ctx, str(ctx["PrimaryEntityId"]).lower(), state

    def _event_id(self, ctx: Mapping[str, Any], headers: Mapping[str, str]) -> str:
        for key in ("OperationId", "RequestId"):
            value = str(ctx.get(key) or "")
            if value and value != _ZERO_GUID:
                return value
        if headers.get("x-request-id"):
            return headers["x-request-id"]
        raise PayloadError("RemoteExecutionContext without OperationId/RequestId")

    def describe(self, request: InboundRequest) -> EventInfo:
        ctx, _, state = self._context(request.body)
        event_id = self._event_id(ctx, request.headers)
        if ctx.get("PrimaryEntityName") != "salesorder" or ctx.get("MessageName") not in ("Update", "SetState", "SetStateDynamicEntity"):
            raise IgnoredEvent(f"{ctx.get('MessageName')} of {ctx.get('PrimaryEntityName')} does not trigger invoicing")
        if state not in STATE_TRIGGERS:
            raise IgnoredEvent(f"salesorder statecode {state} does not trigger invoicing")
        return EventInfo(event_type=f"salesorder.{ctx['MessageName']}", event_id=event_id)

    def normalise(self, raw: Mapping[str, Any]) -> list[OrderEvent | ThinEvent]:
        ctx, order_id, state = self._context(raw["body"])
        if ctx.get("PrimaryEntityName") != "salesorder" or state not in STATE_TRIGGERS:
            return []
        return [ThinEvent(event_id=raw["event_id"], event_type=raw["event_type"], trigger=STATE_TRIGGERS[state],
                          resource="salesorders", resource_id=order_id, occurred_at=raw["received_at"],
                          attributes={"organization": str(ctx.get("OrganizationName") or ctx.get("OrganizationId") or ""),
                                      "correlation_id": str(ctx.get("CorrelationId") or "")})]

    async def fetch(self, event: ThinEvent, client: httpx.AsyncClient) -> list[OrderEvent]:
        base = self.base_url()
        tenant = self.settings.tenant or "common"
        auth = platform_auth(self.settings, grant="client_credentials", scope=f"{base}/.default", base_url=base,
                             token_url=f"https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token", client=client)
        doc = await fetch_json(client, self.platform, "GET", f"{base}/api/data/v9.2/salesorders({event.resource_id})",
                               auth=auth, params=ORDER_QUERY,
                               headers={"Accept": "application/json", "OData-MaxVersion": "4.0", "OData-Version": "4.0",
                                        "Prefer": 'odata.include-annotations="OData.Community.Display.V1.FormattedValue"'})
        if not isinstance(doc, dict) or "salesorderid" not in doc:
            raise FetchError(f"dynamics365: salesorder {event.resource_id}: unexpected answer", retriable=False)
        try:
            return [self._order(event, doc)]
        except (KeyError, TypeError) as exc:
            raise FetchError(plain_reason(exc, what="the dynamics365 sales order"), retriable=False) from None

    def _order(self, event: ThinEvent, so: dict[str, Any]) -> OrderEvent:
        acct = so.get("customerid_account") or {}
        lines = [order_line(d.get("productdescription") or d.get(f"_productid_value{_NAME}") or "", d["quantity"],
                            d["priceperunit"], discount=d.get("manualdiscountamount") or 0)
                 for d in so.get("order_details") or [] if d.get("quantity")]
        raw = {"platform": self.platform, "event_type": event.event_type, "received_at": event.occurred_at}
        kind = "fulfilled" if event.trigger == "SHIPMENT_CONFIRMED" else "canceled"
        return order_event(
            raw, event_id=event.event_id, trigger=event.trigger, external_order_id=so["salesorderid"],
            order_number=so.get("ordernumber"), occurred_at=parse_time(so.get("modifiedon"), event.occurred_at),
            customer_ref=f"dynamics365:{acct['accountnumber']}" if acct.get("accountnumber") else None,
            customer=_buyer(so, acct),
            currency=(so.get("transactioncurrencyid") or {})["isocurrencycode"], lines=lines,
            shipping=so.get("freightamount") or 0, announced_total=so.get("totalamount"),
            dedup_keys=[f"dynamics365:salesorder:{so['salesorderid']}:{kind}"], attributes=event.attributes)
