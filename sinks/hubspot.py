"""HubSpot Commerce invoices (CRM v3 objects): draft invoice + line items + contact, then ``open``.

Delivery guarantee: exactly once per invoice number, by look-up before create.
HubSpot has no request idempotency key; our number is written to a custom
invoice property with ``hasUniqueValue: true`` (default ``invoicing_number``,
created once per portal) so HubSpot itself refuses a second invoice with it
(409), and `find_invoice` searches it (``POST /crm/v3/objects/invoices/search``,
``EQ``; ``after``, ``sorts``, ``limit``, ``properties`` and ``filterGroups`` are all sent, as the
spec's ``PublicObjectSearchRequest`` requires). A draft found there (crash before the status moved
to ``open``) is resumed: its line items are replaced and it is opened. ``hs_number`` is HubSpot's
own (system-assigned) number and is not written. Idempotency key: our invoice number.

Tax is HubSpot's own line-item tax: each line item carries ``hs_tax_rate_group_id``, the account's
tax rate for the line's (category, rate) from ``INVOICING_HUBSPOT_TAX_RATES``
(``{"S:19": "<taxRateGroupId>"}``; zero-rate lines carry none). Tax rates live in the account's tax
rate library and the API only reads them (``GET /tax-rates/v1/tax-rates/{id}``): each mapped id is
read once and must be active with our percentage, else the invoice is refused naming the setting;
`tax_mapping_gaps` names every non-zero rate the reference data can produce that has no entry.
HubSpot computes the tax per line item (rounded per line to the currency's decimals, half-up
assumed [U]); when that would not give our group tax the invoice is refused before anything is
created, and ``hs_amount_billed`` is compared with our total before the invoice is opened.
Credit notes: none (`no_credit_notes`, see its text).
Auth: private-app token (``INVOICING_HUBSPOT_ACCESS_TOKEN``) or OAuth refresh token.
Rate limit: 190 requests/10 s per private app (Professional/Enterprise) → 1140/min.
Requests are validated against HubSpot/HubSpot-public-api-spec-collection's CRM v3 schemas
(tests/fakes/specs/hubspot_crm_v3.trimmed.json, tests/sinks/test_hubspot_spec.py).
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any, Collection, Mapping

import httpx
from pydantic import Field

from domain.errors import InvoiceRejected
from domain.exact import money_str, qty_str
from sinks.mapping import check_mappable, rate_key
from domain.money import ZERO, round_amount
from domain.settings import PlatformSettings, Settings
from sinks.credentials import AnyOf, Bearer, RefreshToken
from sinks.base import InvoiceRef, Sink, TaxKey, raise_for_status

__all__ = ["HubSpotSink", "HubSpotSettings", "invoice_properties", "line_item_inputs", "per_line_tax_gaps"]

NO_CREDIT_NOTES = ("HubSpot's public CRM API has no credit-note object for commerce invoices: the invoices API "
                   "(https://developers.hubspot.com/docs/api-reference/crm-invoices-v3/guide) creates, updates and "
                   "voids invoices only, and HubSpot/HubSpot-public-api-spec-collection (PublicApiSpecs/CRM) holds no "
                   "credit note or credit memo spec; the credit memos HubSpot's UI offers (beta) have no public API")
SEARCH_PAGE = {"after": "0", "sorts": ["hs_object_id"]}  # required by the spec's PublicObjectSearchRequest

INVOICE_TO_CONTACT = 177  # HUBSPOT_DEFINED association type ids [S: HubSpot associations v4 reference]
LINE_ITEM_TO_INVOICE = 410


class HubSpotSettings(PlatformSettings):
    base_url: str | None = "https://api.hubapi.com"
    token_url: str | None = "https://api.hubapi.com/oauth/v1/token"
    number_property: str = "invoicing_number"
    tax_rates: dict[str, str] = Field(default_factory=dict, description='JSON: tax rate group id per "<category>:<rate>".')


def per_line_tax_gaps(invoice: Mapping[str, Any]) -> list[str]:
    """Each (category, rate) whose tax HubSpot, rounding per line item, would book differently from ours."""
    cur, sums = str(invoice["currency"]), dict[TaxKey, Decimal]()
    for ln in invoice["lines"]:
        key = (str(ln["tax_category"]), Decimal(ln["tax_rate"]))
        sums[key] = sums.get(key, ZERO) + round_amount(Decimal(ln["net_amount"]) * key[1] / 100, cur)
    return [f"{rate_key(str(s['category']), Decimal(s['rate']))}: {sums.get((str(s['category']), Decimal(s['rate'])), ZERO)} "
            f"per line, {round_amount(Decimal(s['tax_amount']), cur)} on the group" for s in invoice["tax_breakdown"]
            if sums.get((str(s["category"]), Decimal(s["rate"])), ZERO) != Decimal(s["tax_amount"])]


def invoice_properties(invoice: Mapping[str, Any], number_property: str) -> dict[str, str]:
    check_mappable(invoice, "hubspot")
    props = {"hs_currency": str(invoice["currency"]), "hs_invoice_date": invoice["issue_date"].isoformat(),
             "hs_due_date": invoice["due_date"].isoformat(), number_property: str(invoice["number"]),
             "hs_comments": f"{invoice.get('payment_terms') or ''} (invoice_id {invoice['invoice_id']})".strip()}
    if invoice.get("purchase_order") or invoice.get("buyer_reference"):
        props["hs_purchase_order_number"] = str(invoice.get("purchase_order") or invoice.get("buyer_reference"))
    return props


def line_item_inputs(invoice: Mapping[str, Any], invoice_id: str, tax_rates: Mapping[str, str]) -> list[dict[str, Any]]:
    """One line item per line, each with its HubSpot tax rate (*tax_rates*: ``"S:19"`` → tax rate group id)."""
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
        if Decimal(line["tax_rate"]):
            props["hs_tax_rate_group_id"] = tax_rates[rate_key(str(line["tax_category"]), Decimal(line["tax_rate"]))]
        out.append({"properties": props, "associations": assoc})
    return out


class HubSpotSink(Sink):
    target = "hubspot"
    rounds_tax_per_line = True
    no_credit_notes = NO_CREDIT_NOTES
    settings_class = HubSpotSettings
    settings: HubSpotSettings
    rate_limit_per_minute = 1140.0

    auth_spec = AnyOf(RefreshToken(), Bearer("access_token", "a private app's token"), Bearer("api_key"))

    def __init__(self, settings: HubSpotSettings, client: httpx.AsyncClient, pipeline: Settings) -> None:
        super().__init__(settings, client, pipeline)
        self._checked: set[str] = set()

    def tax_mapping_gaps(self, taxes: Collection[TaxKey]) -> list[str]:
        return [f'INVOICING_HUBSPOT_TAX_RATES has no entry "{rate_key(cat, rate)}"' for cat, rate in sorted(taxes)
                if Decimal(rate) and rate_key(cat, Decimal(rate)) not in self.settings.tax_rates]

    async def _tax_rates(self, invoice: Mapping[str, Any]) -> dict[str, str]:
        """The mapped tax rate groups of *invoice*, each read once: active and at our percentage.

        Raises:
            InvoiceRejected: a rate without an entry, or an entry HubSpot does not hold at that rate.
        """
        rates = {rate_key(str(ln["tax_category"]), Decimal(ln["tax_rate"])): Decimal(ln["tax_rate"])
                 for ln in invoice["lines"] if Decimal(ln["tax_rate"])}
        missing = [k for k in rates if k not in self.settings.tax_rates]
        if missing:
            raise InvoiceRejected(f"hubspot: INVOICING_HUBSPOT_TAX_RATES has no entry {', '.join(map(repr, missing))}")
        for key, rate in rates.items():
            group_id = self.settings.tax_rates[key]
            if group_id not in self._checked:
                group = (await self._call("GET", f"/tax-rates/v1/tax-rates/{group_id}", "read tax rate")).json()
                if not group.get("active") or Decimal(str(group.get("percentageRate"))) != rate:
                    raise InvoiceRejected(f"hubspot: tax rate {group_id} (INVOICING_HUBSPOT_TAX_RATES {key!r}) is "
                                          f"{group.get('percentageRate')} %, active={group.get('active')}; it must be an active {rate:f} %")
                self._checked.add(group_id)
        return {k: self.settings.tax_rates[k] for k in rates}

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
            "properties": [prop, "hs_invoice_status", "hs_invoice_link"], "limit": 2, **SEARCH_PAGE})
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
                  "properties": ["email"], "limit": 1, **SEARCH_PAGE}
        found = (await self._call("POST", "/crm/v3/objects/contacts/search", "contact search", search)).json()
        if found.get("results"):
            return str(found["results"][0]["id"])
        r = await self._call("POST", "/crm/v3/objects/contacts", "create contact",
                             {"properties": {"email": email, "company": str(invoice["buyer"]["name"])}, "associations": []},
                             ok=(409,))
        if r.status_code == 409:  # created concurrently: "Contact already exists. Existing ID: …"
            found = (await self._call("POST", "/crm/v3/objects/contacts/search", "contact search", search)).json()
            if not found.get("results"):
                raise InvoiceRejected(f"hubspot create contact: {_message(r)}")
            return str(found["results"][0]["id"])
        return str(r.json()["id"])

    async def create_invoice(self, invoice: Mapping[str, Any], idempotency_key: str) -> InvoiceRef:
        props = invoice_properties(invoice, self.settings.number_property)
        gaps = per_line_tax_gaps(invoice)
        if gaps:
            raise InvoiceRejected(f"hubspot computes tax per line item from its tax rate and would book {'; '.join(gaps)} "
                                  f"for {invoice['number']}: HubSpot cannot take our tax; book it by hand")
        tax_rates = await self._tax_rates(invoice)
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
                             {"inputs": line_item_inputs(invoice, inv_id, tax_rates)})
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
