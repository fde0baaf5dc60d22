"""Dynamics 365 (Dataverse Web API) sink: ``POST /api/data/v9.2/invoices`` with ``invoice_details`` deep insert.

Tax: Dataverse takes tax as an amount per invoice product (``invoicedetail.tax``); each line gets
its share of our VAT group (`domain.exact.line_taxes`), so ``totaltax`` and ``totalamount`` are
ours to the cent. There are no tax codes to map (`tax_mapping_gaps` is empty).

Dates follow the column metadata (Dynamics 365 Sales table reference): ``duedate`` has DateTime
behavior *DateOnly*, which the Web API types ``Edm.Date`` and which refuses a date-time literal, so
it is sent as ``yyyy-mm-dd``; ``datedelivered`` is *UserLocal* (``Edm.DateTimeOffset``) and is sent
as midnight UTC. ``ispricelocked`` is not valid for create and is not sent. No machine-readable
spec is public for an org (``$metadata`` is per org); requests are checked in the tests against the
column metadata of Microsoft's table reference (tests/fakes/specs/dynamics365_invoice_attributes.json).
"""
from __future__ import annotations

import re
from typing import Any, Mapping

from domain.errors import InvoiceRejected, RetriableSinkError
from domain.exact import json_body, line_taxes
from sinks.mapping import MappedSettings, map_id
from sinks.credentials import ClientCredentials, Need
from sinks.base import InvoiceRef, Sink, raise_for_status

__all__ = ["Dynamics365Sink", "Dynamics365Settings", "to_dataverse"]

_API = "/api/data/v9.2"
_HEADERS = {"OData-MaxVersion": "4.0", "OData-Version": "4.0", "Accept": "application/json"}
_GUID = re.compile(r"\(([0-9a-fA-F-]{36})\)\s*$")


class Dynamics365Settings(MappedSettings):
    """``INVOICING_DYNAMICS365_*``: BASE_URL (``https://<org>.crm.dynamics.com``), TENANT (Entra ID tenant),
    CLIENT_ID, CLIENT_SECRET, TOKEN_URL (default ``https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token``),
    SCOPE (default ``<BASE_URL>/.default``), ID_MAP (``customer:…`` → account id, ``currency:EUR`` →
    transactioncurrency id, optional ``pricelist:*`` → pricelevel id)."""

    scope: str | None = None


def _odata_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def to_dataverse(invoice: Mapping[str, Any], settings: MappedSettings) -> dict[str, Any]:
    """The invoice entity with its lines (write-in products); money as exact JSON numbers, tax per line
    allocated so that it sums to our VAT breakdown."""
    t = "dynamics365"
    taxes = line_taxes(invoice)
    details = [{
        "lineitemnumber": n,
        "isproductoverridden": True,
        "productdescription": ln["description"][:4000],
        "quantity": ln["quantity"],
        "priceperunit": ln["unit_price"],
        "manualdiscountamount": ln["allowance"],
        "tax": tax,
        "description": f"{ln.get('sku') or ''} VAT {ln['tax_category']} {ln['tax_rate'].normalize()}%".strip(),
    } for n, (ln, tax) in enumerate(zip(invoice["lines"], taxes), 1)]
    body: dict[str, Any] = {
        "name": invoice["number"],
        "invoicenumber": invoice["number"],
        "customerid_account@odata.bind": f"/accounts({map_id(settings, t, 'customer', invoice['customer_id'])})",
        "transactioncurrencyid@odata.bind": f"/transactioncurrencies({map_id(settings, t, 'currency', invoice['currency'])})",
        "duedate": invoice["due_date"].isoformat(),  # DateOnly behavior: Edm.Date
        "datedelivered": f"{invoice['supply_date'].isoformat()}T00:00:00Z" if invoice.get("supply_date") else None,
        "description": f"Invoice {invoice['number']} ({invoice['invoice_id']}); {invoice.get('payment_terms', '')}"[:2000],
        "invoice_details": details,
    }
    price_list = map_id(settings, t, "pricelist", invoice["currency"], required=False)
    if price_list:
        body["pricelevelid@odata.bind"] = f"/pricelevels({price_list})"
    return {k: v for k, v in body.items() if v is not None}


def _message(doc: Any) -> str | None:
    err = doc.get("error") or {}
    return f"{err.get('code')}: {err.get('message')}" if err else None


class Dynamics365Sink(Sink):
    """Invoices into Dynamics 365 Sales / Dataverse.

    Delivery guarantee: exactly once per invoice number. Dataverse has no idempotency key for
    ``POST``; the sink looks up ``invoices?$filter=invoicenumber eq '<our number>'`` first (the
    delivery loop does this on every attempt, also after a crash), and creates with
    ``invoicenumber = name = <our number>``. Define an alternate key on ``invoicenumber`` in the
    org to make a racing duplicate fail with 412/duplicate-key instead of being stored.
    Idempotency key: our invoice number. Credit notes: none (``no_credit_notes``); they get a
    ``NOT_APPLICABLE`` receipt and reach the customer by e-mail and the register.
    Auth: Entra ID OAuth 2.0 client credentials, scope ``<org URL>/.default``.
    Rate limit: service protection 6,000 requests per user per 5 minutes (1,200/min); 429 answers
    carry ``Retry-After``, which the delivery loop honours.
    """

    target = "dynamics365"
    settings_class = Dynamics365Settings
    settings: Dynamics365Settings
    rate_limit_per_minute = 1200
    no_credit_notes = (
        "Dynamics 365 Sales (Dataverse) has no credit-note table: its sales tables are quote, order and invoice "
        "with their products, and an invoice is only closed as paid or cancelled "
        "(https://learn.microsoft.com/en-us/dynamics365/sales/developer/entities/invoice; table list: "
        "https://learn.microsoft.com/en-us/dynamics365/sales/developer/sales-entities-lead-opportunity-competitor-quote-order-invoice)")

    auth_spec = ClientCredentials(
        token_url=lambda s: s.token_url or (f"https://login.microsoftonline.com/{s.tenant}/oauth2/v2.0/token" if s.tenant else None),
        token_url_from="tenant", scope=lambda s: s.scope or f"{s.base_url.rstrip('/')}/.default")
    requires = (Need("base_url", "the environment URL"),)

    async def find_invoice(self, invoice: Mapping[str, Any], idempotency_key: str) -> InvoiceRef | None:
        r = await self.client.get(f"{self.base_url()}{_API}/invoices", headers=_HEADERS, auth=self.auth, params={
            "$select": "invoiceid,invoicenumber", "$filter": f"invoicenumber eq {_odata_str(invoice['number'])}"})
        raise_for_status(r, what=f"dynamics365: look up invoice {invoice['number']}", message=_message)
        for found in r.json().get("value") or []:
            if found.get("invoicenumber") == invoice["number"]:
                return InvoiceRef(found["invoiceid"], url=f"{self.base_url()}{_API}/invoices({found['invoiceid']})")
        return None

    async def create_invoice(self, invoice: Mapping[str, Any], idempotency_key: str) -> InvoiceRef:
        if invoice.get("document_type", "INVOICE") != "INVOICE":
            raise InvoiceRejected(f"dynamics365: {invoice['number']} is a credit note; {self.no_credit_notes}")
        r = await self.client.post(f"{self.base_url()}{_API}/invoices", content=json_body(to_dataverse(invoice, self.settings)),
                                   headers={**_HEADERS, "Content-Type": "application/json; charset=utf-8"}, auth=self.auth)
        what = f"dynamics365: create invoice {invoice['number']}"
        raise_for_status(r, what=what, message=_message)
        entity = r.headers.get("odata-entityid", "")
        m = _GUID.search(entity)
        if m:
            return InvoiceRef(m.group(1), url=entity)
        found = await self.find_invoice(invoice, idempotency_key)
        if found is None:
            raise RetriableSinkError(f"{what}: accepted without OData-EntityId and not found by number")
        return found

