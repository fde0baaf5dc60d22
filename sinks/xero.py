"""Xero Accounting API: ``PUT /api.xro/2.0/Invoices``; credit notes ``PUT /CreditNotes`` (``ACCRECCREDIT``)
allocated to the invoice with ``PUT /CreditNotes/{CreditNoteID}/Allocations``.

Tax: every line carries the organisation's ``TaxType`` for its (category, rate), from
``INVOICING_XERO_TAX_TYPES`` (JSON, e.g. ``{"S:19": "OUTPUT2", "K:0": "ECZROUTPUT", "G:0": "ZERORATEDOUTPUT"}``);
there is no default type: a (category, rate) without an entry is a gap the worker refuses to start
on (`XeroSink.tax_mapping_gaps`). Xero computes tax per line from the type's rate and rounds each
line, which can differ from our tax rounded per (category, rate) group by a cent; so every line
also sends ``TaxAmount`` (which Xero lets a caller set) as its share of the group's tax
(`domain.exact.line_taxes`): the lines add up to our tax and total exactly.

Requests are checked in the tests against xero-python's models (the official SDK generated from
XeroAPI/Xero-OpenAPI ``xero_accounting.yaml``): tests/sinks/test_xero_spec.py.
"""
from __future__ import annotations

import json
from decimal import Decimal
from typing import Any, Collection, Mapping

import httpx
from pydantic import Field

from domain.errors import InvoiceRejected
from domain.exact import dumps_exact, line_taxes
from sinks.mapping import rate_key, reject_document_charges
from domain.settings import PlatformSettings
from sinks.credentials import Need, RefreshToken
from sinks.base import InvoiceRef, Sink, TaxKey, raise_for_status

__all__ = ["XeroSink", "XeroSettings", "to_xero", "to_xero_credit_note"]

_TAX_TYPES = "INVOICING_XERO_TAX_TYPES"


class XeroSettings(PlatformSettings):
    base_url: str | None = "https://api.xero.com/api.xro/2.0"
    token_url: str | None = "https://identity.xero.com/connect/token"
    sales_account_code: str = Field("200", description="Revenue account for every line.")
    tax_types: dict[str, str] = Field(default_factory=dict,
                                      description='Xero TaxType per "<category>:<rate>", e.g. {"S:19": "OUTPUT2"}.')


def _tax_type(settings: XeroSettings, category: str, rate: Decimal) -> str:
    key = rate_key(category, rate)
    if key not in settings.tax_types:
        raise InvoiceRejected(f'xero: {_TAX_TYPES} has no entry "{key}" (the Xero TaxType of that sales tax)')
    return settings.tax_types[key]


def _line_items(invoice: Mapping[str, Any], settings: XeroSettings) -> list[dict[str, Any]]:
    """Our lines as Xero ``LineItems`` (amounts exclusive of tax, our tax per line in ``TaxAmount``)."""
    reject_document_charges(invoice, "xero")
    items = []
    for line, tax in zip(invoice["lines"], line_taxes(invoice)):
        item: dict[str, Any] = {
            "Description": line["description"],
            "Quantity": Decimal(line["quantity"]),
            "UnitAmount": Decimal(line["unit_price"]),
            "AccountCode": settings.sales_account_code,
            "TaxType": _tax_type(settings, line["tax_category"], Decimal(line["tax_rate"])),
            "TaxAmount": tax,
            "LineAmount": Decimal(line["net_amount"]),
        }
        if Decimal(line.get("allowance") or 0):
            item["DiscountAmount"] = Decimal(line["allowance"])
        items.append(item)
    return items


def _contact(invoice: Mapping[str, Any]) -> dict[str, Any]:
    buyer = invoice["buyer"]
    contact: dict[str, Any] = {"Name": buyer["name"], "ContactNumber": str(invoice["customer_id"])[:50]}
    if buyer.get("email"):
        contact["EmailAddress"] = buyer["email"]
    return contact


def to_xero(invoice: Mapping[str, Any], settings: XeroSettings) -> dict[str, Any]:
    """Our invoice as one Xero ``Invoice`` (LineAmountTypes Exclusive, amounts exact)."""
    doc: dict[str, Any] = {
        "Type": "ACCREC",
        "Contact": _contact(invoice),
        "InvoiceNumber": invoice["number"],
        "Date": invoice["issue_date"].isoformat(),
        "DueDate": invoice["due_date"].isoformat(),
        "CurrencyCode": invoice["currency"],
        "LineAmountTypes": "Exclusive",
        "Status": "AUTHORISED",
        "LineItems": _line_items(invoice, settings),
    }
    reference = invoice.get("purchase_order") or invoice.get("buyer_reference")
    if reference:
        doc["Reference"] = reference
    return doc


def to_xero_credit_note(note: Mapping[str, Any], settings: XeroSettings) -> dict[str, Any]:
    """Our credit note as one Xero ``CreditNote`` of type ``ACCRECCREDIT`` (positive amounts)."""
    return {
        "Type": "ACCRECCREDIT",
        "Contact": _contact(note),
        "CreditNoteNumber": note["number"],
        "Reference": str(note.get("preceding_invoice") or "")[:255],
        "Date": note["issue_date"].isoformat(),
        "CurrencyCode": note["currency"],
        "LineAmountTypes": "Exclusive",
        "Status": "AUTHORISED",
        "LineItems": _line_items(note, settings),
    }


def _validation_messages(response: httpx.Response) -> str:
    try:
        doc = response.json()
    except ValueError:
        return response.text[:300]
    messages = [e.get("Message", "") for el in doc.get("Elements") or [] for e in el.get("ValidationErrors") or []]
    return "; ".join(m for m in messages if m) or str(doc.get("Message") or doc.get("Detail") or "")[:300]


class XeroSink(Sink):
    """Invoices and credit notes into Xero.

    Delivery guarantee: exactly once per document number. Every create carries an
    ``Idempotency-Key`` (Xero replays the first response for the same key, ≤128 chars): our
    ``invoice_id`` for an invoice or credit note, ``<invoice_id>:allocation`` for the allocation.
    `find_invoice` looks the invoice up by number (``GET /Invoices?InvoiceNumbers=…``) and
    `find_credit_note` the credit note (``GET /CreditNotes?where=CreditNoteNumber=="…"``) before any
    create, so a crash after Xero accepted is found on redelivery. A credit note counts as
    delivered once it is allocated to the invoice; one found without its allocation is reused and
    allocated (``min(credit total, invoice AmountDue)``), never created twice.
    Idempotency keys: our ``invoice_id``; look-up keys: ``InvoiceNumber`` / ``CreditNoteNumber``.
    Auth: OAuth 2.0 refresh token (rotated tokens kept), header ``xero-tenant-id``.
    Rate limit: 60 calls/min per tenant (developer.xero.com/faq/limits).
    """

    target = "xero"
    settings_class = XeroSettings
    settings: XeroSettings
    rate_limit_per_minute = 60.0
    auth_spec = RefreshToken()
    requires = (Need("tenant", "the xero-tenant-id"),)

    def tax_mapping_gaps(self, taxes: Collection[TaxKey]) -> list[str]:
        return [f'{_TAX_TYPES} has no entry "{rate_key(c, r)}" (the Xero TaxType of that sales tax)'
                for c, r in sorted(taxes) if rate_key(c, r) not in self.settings.tax_types]

    def _headers(self) -> dict[str, str]:
        return {"xero-tenant-id": str(self.settings.tenant), "Accept": "application/json"}

    def _check(self, response: httpx.Response, what: str) -> dict[str, Any]:
        if response.status_code == 400:
            raise InvoiceRejected(f"xero {what}: {_validation_messages(response)}")
        raise_for_status(response, what=f"xero {what}")
        doc: dict[str, Any] = json.loads(response.text, parse_float=Decimal)
        return doc

    async def _get(self, path: str, what: str, params: dict[str, str] | None = None) -> dict[str, Any]:
        r = await self.client.get(f"{self.base_url()}{path}", params=params, headers=self._headers(), auth=self.auth)
        return self._check(r, what)

    async def _put(self, path: str, body: dict[str, Any], key: str, what: str) -> dict[str, Any]:
        r = await self.client.put(f"{self.base_url()}{path}", params={"unitdp": "4"}, content=dumps_exact(body).encode(),
                                  headers={**self._headers(), "Content-Type": "application/json",
                                           "Idempotency-Key": key[:128]}, auth=self.auth)
        doc = self._check(r, what)
        for item in next((v for v in doc.values() if isinstance(v, list)), []):
            if isinstance(item, dict) and (item.get("HasErrors") or item.get("ValidationErrors")):
                raise InvoiceRejected(f"xero {what}: " + "; ".join(e.get("Message", "")
                                                                  for e in item.get("ValidationErrors") or []))
        return doc

    async def find_invoice(self, invoice: Mapping[str, Any], idempotency_key: str) -> InvoiceRef | None:
        doc = await self._get("/Invoices", "find", {"InvoiceNumbers": invoice["number"]})
        for found in doc.get("Invoices") or []:
            if found.get("InvoiceNumber") == invoice["number"] and found.get("Type") == "ACCREC":
                return InvoiceRef(str(found["InvoiceID"]))
        return None

    async def create_invoice(self, invoice: Mapping[str, Any], idempotency_key: str) -> InvoiceRef:
        doc = await self._put("/Invoices", {"Invoices": [to_xero(invoice, self.settings)]}, idempotency_key, "create")
        return InvoiceRef(str(doc["Invoices"][0]["InvoiceID"]))

    async def _credit_note(self, number: str) -> dict[str, Any] | None:
        doc = await self._get("/CreditNotes", "find credit note", {"where": f'CreditNoteNumber=="{number}"'})
        for found in doc.get("CreditNotes") or []:
            if found.get("CreditNoteNumber") == number and found.get("Type") == "ACCRECCREDIT" \
                    and found.get("Status") not in ("DELETED", "VOIDED"):
                return dict(found)
        return None

    async def find_credit_note(self, note: Mapping[str, Any], idempotency_key: str) -> InvoiceRef | None:
        found = await self._credit_note(str(note["number"]))
        if found is None or not found.get("Allocations"):
            return None  # not there, or not allocated yet: create_credit_note finishes it
        return InvoiceRef(str(found["CreditNoteID"]))

    async def create_credit_note(self, note: Mapping[str, Any], idempotency_key: str, original: InvoiceRef) -> InvoiceRef:
        found = await self._credit_note(str(note["number"]))
        if found is None:
            doc = await self._put("/CreditNotes", {"CreditNotes": [to_xero_credit_note(note, self.settings)]},
                                  idempotency_key, f"create credit note {note['number']}")
            found = doc["CreditNotes"][0]
        cn_id = str(found["CreditNoteID"])
        if not found.get("Allocations"):
            invoice = (await self._get(f"/Invoices/{original.external_id}", "read invoice"))["Invoices"][0]
            amount = min(Decimal(found["Total"]), Decimal(invoice["AmountDue"]))
            if amount > 0:
                allocation = {"Amount": amount, "Date": note["issue_date"].isoformat(),
                              "Invoice": {"InvoiceID": original.external_id}}
                await self._put(f"/CreditNotes/{cn_id}/Allocations", {"Allocations": [allocation]},
                                f"{idempotency_key}:allocation", f"allocate credit note {note['number']}")
        return InvoiceRef(cn_id)
