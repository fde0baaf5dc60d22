"""HubSpot Commerce invoices (CRM v3 objects): draft invoice + line items + contact, then ``open``.

Delivery guarantee: exactly once per invoice number, by look-up before create.
HubSpot has no request idempotency key; our number is written to a custom
invoice property with ``hasUniqueValue: true`` (default ``invoicing_number``,
created once per portal) so HubSpot itself refuses a second invoice with it
(409), and `find_invoice` searches it (``POST /crm/v3/objects/invoices/search``,
``EQ``). A draft found there (crash before the status moved to ``open``) is
resumed: its line items are replaced and it is opened. ``hs_number`` is
HubSpot's own (system-assigned) number and is not written.
Idempotency key: our invoice number. Tax is carried as one line item per tax
subtotal so HubSpot's amount billed equals our total to the cent.
Auth: private-app token (``INVOICING_HUBSPOT_ACCESS_TOKEN``) or OAuth refresh token.
Rate limit: 190 requests/10 s per private app (Professional/Enterprise) → 1140/min.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any, Mapping

import httpx

from invoicing.errors import ConfigError, InvoiceRejected
from invoicing.exact import money_str, qty_str
from invoicing.mapping import check_mappable
from invoicing.settings import PlatformSettings
from sinks.auth import OAuth2RefreshToken, StaticBearer
from sinks.base import InvoiceRef, Sink, raise_for_status

__all__ = ["HubSpotSink", "HubSpotSettings", "invoice_properties", "line_item_inputs"]

INVOICE_TO_CONTACT = 177  # HUBSPOT_DEFINED association type ids [S: HubSpot associations v4 reference]
LINE_ITEM_TO_INVOICE = 410


class HubSpotSettings(PlatformSettings):
    base_url: str | None = "https://api.hubapi.com"
    token_url: str | None = "https://api.hubapi.com/oauth/v1/token"
    number_property: str = "invoicing_number"


def invoice_properties(invoice: Mapping[str, Any], number_property: str) -> dict[str, str]:
    check_mappable(invoice, "hubspot")
    props = {"hs_currency": str(invoice["currency"]), "hs_invoice_date": invoice["issue_date"].isoformat(),
             "hs_due_date": invoice["due_date"].isoformat(), number_property: str(invoice["number"]),
             "hs_comments": f"{invoice.get('payment_terms') or ''} (invoice_id {invoice['invoice_id']})".strip()}
    if invoice.get("purchase_order") or invoice.get("buyer_reference"):
        props["hs_purchase_order_number"] = str(invoice.get("purchase_order") or invoice.get("buyer_reference"))
    return props


def line_item_inputs(invoice: Mapping[str, Any], invoice_id: str) -> list[dict[str, Any]]:
    cur = str(invoice["currency"])
    assoc = [{"to": {"id": invoice_id},
              "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": LINE_ITEM_TO_INVOICE}]}]
    out = []
    for line in invoice["lines"]:
        props = {"name": str(line["description"])[:500], "quantity": qty_str(line["quantity"]),
                 "price": qty_str(line["unit_price"]), "hs_line_item_currency_code": cur}
        if Decimal(line.get("allowance") or 0):
            props["hs_discount"] = money_str(line["allowance"], cur)
        if line.get("sku"):
            props["hs_sku"] = str(line["sku"])
        out.append({"properties": props, "associations": assoc})
    for sub in invoice["tax_breakdown"]:
        out.append({"properties": {"name": f"VAT {Decimal(sub['rate']).normalize():f}% ({sub['category']})",
                                   "quantity": "1", "price": money_str(sub["tax_amount"], cur),
                                   "hs_line_item_currency_code": cur}, "associations": assoc})
    return out


class HubSpotSink(Sink):
    target = "hubspot"
    settings_class = HubSpotSettings
    settings: HubSpotSettings
    rate_limit_per_minute = 1140.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        s = self.settings
        self.auth: Any
        if s.refresh_token and s.client_id and s.client_secret and s.token_url:
            self.auth = OAuth2RefreshToken(s.token_url, s.client_id, s.client_secret.get_secret_value(),
                                           s.refresh_token.get_secret_value(), client=self.client)
        elif s.access_token or s.api_key:
            self.auth = StaticBearer((s.access_token or s.api_key).get_secret_value())  # type: ignore[union-attr]
        else:
            raise ConfigError("hubspot: set INVOICING_HUBSPOT_ACCESS_TOKEN (private app) or CLIENT_ID/SECRET/REFRESH_TOKEN")

    async def _call(self, method: str, path: str, what: str, body: Any = None, *, ok: tuple[int, ...] = ()) -> httpx.Response:
        r = await self.client.request(method, f"{self.base_url()}{path}", json=body, auth=self.auth)
        if r.status_code in ok:
            return r
        if r.status_code in (400, 404, 409, 422):
            raise InvoiceRejected(f"hubspot {what}: HTTP {r.status_code}: {_message(r)}")
        raise_for_status(r, what=f"hubspot {what}")
        return r

    async def _search(self, invoice: Mapping[str, Any]) -> dict[str, Any] | None:
        prop = self.settings.number_property
        r = await self._call("POST", "/crm/v3/objects/invoices/search", "search", {
            "filterGroups": [{"filters": [{"propertyName": prop, "operator": "EQ", "value": str(invoice["number"])}]}],
            "properties": [prop, "hs_invoice_status", "hs_invoice_link"], "limit": 2})
        for doc in r.json().get("results") or []:
            if (doc.get("properties") or {}).get(prop) == invoice["number"]:
                return dict(doc)
        return None

    async def find_invoice(self, invoice: Mapping[str, Any], idempotency_key: str) -> InvoiceRef | None:
        doc = await self._search(invoice)
        if doc is None or doc["properties"].get("hs_invoice_status") == "draft":
            return None  # absent, or a draft that create_invoice resumes
        return InvoiceRef(str(doc["id"]), doc["properties"].get("hs_invoice_link"))

    async def _contact(self, invoice: Mapping[str, Any]) -> str:
        email = invoice["buyer"].get("email")
        if not email:
            raise InvoiceRejected("hubspot: the buyer has no e-mail; an open invoice needs a contact")
        search = {"filterGroups": [{"filters": [{"propertyName": "email", "operator": "EQ", "value": email}]}],
                  "properties": ["email"], "limit": 1}
        found = (await self._call("POST", "/crm/v3/objects/contacts/search", "contact search", search)).json()
        if found.get("results"):
            return str(found["results"][0]["id"])
        r = await self._call("POST", "/crm/v3/objects/contacts", "create contact",
                             {"properties": {"email": email, "company": str(invoice["buyer"]["name"])}}, ok=(409,))
        if r.status_code == 409:  # created concurrently: "Contact already exists. Existing ID: …"
            found = (await self._call("POST", "/crm/v3/objects/contacts/search", "contact search", search)).json()
            if not found.get("results"):
                raise InvoiceRejected(f"hubspot create contact: {_message(r)}")
            return str(found["results"][0]["id"])
        return str(r.json()["id"])

    async def create_invoice(self, invoice: Mapping[str, Any], idempotency_key: str) -> InvoiceRef:
        props = invoice_properties(invoice, self.settings.number_property)
        doc = await self._search(invoice)
        if doc is None:
            contact = await self._contact(invoice)
            r = await self._call("POST", "/crm/v3/objects/invoices", "create", {"properties": props, "associations": [
                {"to": {"id": contact}, "types": [{"associationCategory": "HUBSPOT_DEFINED",
                                                   "associationTypeId": INVOICE_TO_CONTACT}]}]}, ok=(409,))
            if r.status_code == 409:  # our unique number is already there: the lost answer of an earlier try
                doc = await self._search(invoice)
                if doc is None:
                    raise InvoiceRejected(f"hubspot create: {_message(r)}")
            else:
                doc = dict(r.json())
        inv_id = str(doc["id"])
        if (doc.get("properties") or {}).get("hs_invoice_status", "draft") == "draft":
            linked = (await self._call("GET", f"/crm/v4/objects/invoices/{inv_id}/associations/line_items", "line items")).json()
            stale = [{"id": str(x["toObjectId"])} for x in linked.get("results") or []]
            if stale:  # a crashed run left some: replace them all
                await self._call("POST", "/crm/v3/objects/line_items/batch/archive", "archive line items", {"inputs": stale},
                                 ok=(204,))
            await self._call("POST", "/crm/v3/objects/line_items/batch/create", "add line items",
                             {"inputs": line_item_inputs(invoice, inv_id)})
            draft = (await self._call("GET", f"/crm/v3/objects/invoices/{inv_id}?properties=hs_amount_billed",
                                      "read draft")).json()
            billed = (draft.get("properties") or {}).get("hs_amount_billed")
            if billed is not None and Decimal(billed) != Decimal(invoice["total"]):
                raise InvoiceRejected(f"hubspot amount billed {billed} differs from our total {invoice['total']}; "
                                      f"draft {inv_id} left unopened")
            r = await self._call("PATCH", f"/crm/v3/objects/invoices/{inv_id}", "open",
                                 {"properties": {"hs_invoice_status": "open"}})
            doc = dict(r.json())
        return InvoiceRef(inv_id, (doc.get("properties") or {}).get("hs_invoice_link"))


def _message(r: httpx.Response) -> str:
    """``category: message [errors]`` from HubSpot's error body."""
    try:
        doc = r.json()
    except ValueError:
        return r.text[:300]
    errs = "; ".join(str(e.get("message")) for e in doc.get("errors") or [])
    return f"{doc.get('category', '')}: {doc.get('message', '')}" + (f" [{errs}]" if errs else "")
