"""Zoho Books sink: ``POST /books/v3/invoices`` with our own invoice number; credit notes ``POST /books/v3/creditnotes``
credited to the invoice with ``POST /books/v3/creditnotes/{creditnote_id}/invoices``.

Tax: every line carries the organisation's ``tax_id`` for its (category, rate), from ``ID_MAP``
(``"tax:S:19"``, ``"tax:K:0"``, …); there is no default tax, a (category, rate) without one is a gap
the worker refuses to start on. Zoho Books computes a tax on the sum of the lines that carry it, not
line by line (zoho.com/books/kb/taxes/tax-override.html), which is how our VAT breakdown rounds.

Requests are checked in the tests against Zoho's published OpenAPI documents (trimmed copy in
tests/fakes/specs/zoho_books_v3.trimmed.json).
"""
from __future__ import annotations

import json
import logging
from decimal import Decimal
from typing import Any, Collection, Mapping

import httpx

from domain.errors import InvoiceRejected
from domain.exact import json_body
from sinks.mapping import MappedSettings, map_id, rate_key, reject_document_charges
from sinks.credentials import Need, RefreshToken
from sinks.base import InvoiceRef, Sink, TaxKey, raise_for_status

__all__ = ["ZohoBooksSink", "ZohoBooksSettings", "to_zoho", "to_zoho_credit_note"]

log = logging.getLogger(__name__)
_T = "zoho-books"


class ZohoBooksSettings(MappedSettings):
    """``INVOICING_ZOHO_BOOKS_*``: TENANT (organization_id), CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN,
    DC (data centre domain suffix: com, eu, in, com.au, jp, ca, sa), BASE_URL (default
    ``https://www.zohoapis.<dc>``), TOKEN_URL (default ``https://accounts.zoho.<dc>/oauth/v2/token``),
    ID_MAP (``customer:…``, ``tax:S:19`` → tax_id for every (category, rate), optional ``currency:EUR``
    → currency_id of a credit note)."""

    dc: str = "com"


def _tax_id(settings: MappedSettings, category: str, rate: Decimal) -> str:
    key = f"tax:{rate_key(category, rate)}"
    if key not in settings.id_map:
        raise InvoiceRejected(f'zoho-books: INVOICING_ZOHO_BOOKS_ID_MAP has no entry "{key}" (the Zoho tax_id of that tax)')
    return settings.id_map[key]


def _number(value: Decimal) -> Decimal | int:
    """A quantity as Zoho's schema types it: an integer when it is one."""
    return int(value) if value == value.to_integral_value() else value


def _lines(document: Mapping[str, Any], settings: MappedSettings, *, allowances: bool) -> list[dict[str, Any]]:
    reject_document_charges(document, _T)
    lines = []
    for n, ln in enumerate(document["lines"], 1):
        line: dict[str, Any] = {"name": (ln.get("sku") or ln["description"])[:100], "description": ln["description"],
                                "rate": ln["unit_price"], "quantity": _number(ln["quantity"]), "item_order": n,
                                "tax_id": _tax_id(settings, ln["tax_category"], ln["tax_rate"])}
        if ln["allowance"]:
            if not allowances:  # a credit note's line discount is a percentage in Zoho's schema
                raise InvoiceRejected(f"zoho-books: credit note line {ln['line_id']} has an allowance; Zoho takes a "
                                      "credit-note line discount as a percentage only")
            line["discount"] = ln["allowance"]
        lines.append(line)
    return lines


def to_zoho(invoice: Mapping[str, Any], settings: MappedSettings) -> dict[str, Any]:
    """The create-invoice body: our number, customer, dates and lines with exact rate/quantity/tax_id."""
    body: dict[str, Any] = {
        "customer_id": map_id(settings, _T, "customer", invoice["customer_id"]),
        "invoice_number": invoice["number"],
        "reference_number": invoice.get("purchase_order") or invoice.get("buyer_reference") or invoice["invoice_id"],
        "date": invoice["issue_date"], "due_date": invoice["due_date"],
        "is_inclusive_tax": False,
        "line_items": _lines(invoice, settings, allowances=True),
        "notes": "\n".join(invoice.get("notes") or []) or None,
        "terms": invoice.get("payment_terms"),
    }
    if any(ln["allowance"] for ln in invoice["lines"]):
        body["discount_type"] = "item_level"
    return {k: v for k, v in body.items() if v is not None}


def to_zoho_credit_note(note: Mapping[str, Any], settings: MappedSettings) -> dict[str, Any]:
    """The create-credit-note body: our number, the corrected invoice's number as reference, positive lines."""
    body: dict[str, Any] = {
        "customer_id": map_id(settings, _T, "customer", note["customer_id"]),
        "creditnote_number": note["number"],
        "reference_number": note.get("preceding_invoice") or note["invoice_id"],
        "date": note["issue_date"],
        "is_inclusive_tax": False,
        "line_items": _lines(note, settings, allowances=False),
        "notes": "\n".join(note.get("notes") or []) or None,
        "currency_id": map_id(settings, _T, "currency", note["currency"], required=False),
    }
    return {k: v for k, v in body.items() if v is not None}


def _check(r: httpx.Response, what: str) -> dict[str, Any]:
    """Zoho answers ``{"code": 0, "message": …}``; any other code is an error, whatever the HTTP status."""
    try:
        doc = json.loads(r.text, parse_float=Decimal)
    except ValueError:
        doc = None
    if not isinstance(doc, dict) or "code" not in doc:
        raise_for_status(r, what=what)
        raise InvoiceRejected(f"{what}: HTTP {r.status_code}: not a Zoho Books response")
    if r.status_code >= 400 or doc.get("code") != 0:
        message = f"Zoho code {doc.get('code')}: {doc.get('message')}"
        patched = httpx.Response(r.status_code if r.status_code >= 400 else 400, headers=r.headers,
                                 text=message, request=r.request)
        raise_for_status(patched, what=what)
    return doc


class ZohoBooksSink(Sink):
    """Invoices and credit notes into Zoho Books.

    Delivery guarantee: exactly once per document number. Zoho Books has no idempotency key, so the
    sink looks up ``GET /invoices?invoice_number=<our number>`` (``/creditnotes?creditnote_number=…``)
    before creating, and creates with our number and ``ignore_auto_number_generation=true``; Zoho
    refuses a second document with the same number, and a create that fails that way is resolved by
    the look-up. An invoice is marked sent once created (credit can only be applied to a sent invoice).
    A credit note counts as delivered once it is credited to the invoice (``GET /creditnotes/{id}/invoices``
    lists it); one found uncredited is reused and credited with ``min(credit total, invoice balance)``.
    Idempotency key: our document number (``invoice_id`` kept in ``reference_number`` of an invoice
    without a purchase order; a credit note's ``reference_number`` is the corrected invoice's number).
    Auth: ``Authorization: Zoho-oauthtoken <token>``, refreshed at ``accounts.zoho.<dc>``.
    Rate limit: 100 requests/minute per organization (Zoho's published limit).
    """

    target = "zoho-books"
    settings_class = ZohoBooksSettings
    settings: ZohoBooksSettings
    rate_limit_per_minute = 100

    auth_spec = RefreshToken(token_url=lambda s: s.token_url or f"https://accounts.zoho.{s.dc}/oauth/v2/token",
                             scheme="Zoho-oauthtoken")
    requires = (Need("tenant", "the organization_id"),)

    @property
    def base(self) -> str:
        """``https://www.zohoapis.<dc>/books/v3`` (or under INVOICING_ZOHO_BOOKS_BASE_URL)."""
        return (self.settings.base_url or f"https://www.zohoapis.{self.settings.dc}").rstrip("/") + "/books/v3"

    def tax_mapping_gaps(self, taxes: Collection[TaxKey]) -> list[str]:
        return [f'INVOICING_ZOHO_BOOKS_ID_MAP has no entry "tax:{rate_key(c, r)}" (the Zoho tax_id of that tax)'
                for c, r in sorted(taxes) if f"tax:{rate_key(c, r)}" not in self.settings.id_map]

    async def _call(self, method: str, path: str, what: str, body: dict[str, Any] | None = None,
                    **params: str) -> dict[str, Any]:
        r = await self.client.request(method, f"{self.base}{path}", auth=self.auth,
                                      params={"organization_id": str(self.settings.tenant), **params},
                                      content=json_body(body) if body is not None else None,
                                      headers={"Content-Type": "application/json"} if body is not None else None)
        return _check(r, f"zoho-books: {what}")

    async def find_invoice(self, invoice: Mapping[str, Any], idempotency_key: str) -> InvoiceRef | None:
        doc = await self._call("GET", "/invoices", f"look up invoice {invoice['number']}", invoice_number=invoice["number"])
        for found in doc.get("invoices") or []:
            if found.get("invoice_number") == invoice["number"]:
                return InvoiceRef(str(found["invoice_id"]))
        return None

    async def create_invoice(self, invoice: Mapping[str, Any], idempotency_key: str) -> InvoiceRef:
        body = to_zoho(invoice, self.settings)
        what = f"create invoice {invoice['number']}"
        try:
            created = (await self._call("POST", "/invoices", what, body, ignore_auto_number_generation="true"))["invoice"]
        except InvoiceRejected:
            found = await self.find_invoice(invoice, idempotency_key)  # "number already exists": ours, from a crash
            if found is None:
                raise
            return found
        if Decimal(created.get("total", invoice["total"])) != invoice["total"]:
            log.warning("zoho-books: %s: Zoho computed total %s, ours is %s (check the tax mapping)", what,
                        created["total"], invoice["total"])
        await self._call("POST", f"/invoices/{created['invoice_id']}/status/sent", f"mark invoice {invoice['number']} sent")
        return InvoiceRef(str(created["invoice_id"]))

    async def _credit_note(self, number: str) -> dict[str, Any] | None:
        doc = await self._call("GET", "/creditnotes", f"look up credit note {number}", creditnote_number=number)
        return next((dict(c) for c in doc.get("creditnotes") or [] if c.get("creditnote_number") == number), None)

    async def _credited(self, creditnote_id: str) -> bool:
        doc = await self._call("GET", f"/creditnotes/{creditnote_id}/invoices", "list invoices credited")
        return bool(doc.get("invoices_credited"))

    async def find_credit_note(self, note: Mapping[str, Any], idempotency_key: str) -> InvoiceRef | None:
        found = await self._credit_note(str(note["number"]))
        if found is None or not await self._credited(str(found["creditnote_id"])):
            return None  # not there, or not credited to the invoice yet: create_credit_note finishes it
        return InvoiceRef(str(found["creditnote_id"]))

    async def create_credit_note(self, note: Mapping[str, Any], idempotency_key: str, original: InvoiceRef) -> InvoiceRef:
        found = await self._credit_note(str(note["number"]))
        if found is None:
            found = (await self._call("POST", "/creditnotes", f"create credit note {note['number']}",
                                      to_zoho_credit_note(note, self.settings), ignore_auto_number_generation="true"))["creditnote"]
        cn_id = str(found["creditnote_id"])
        if not await self._credited(cn_id):
            invoice = (await self._call("GET", f"/invoices/{original.external_id}", "read invoice"))["invoice"]
            if invoice.get("status") == "draft":  # credit cannot be applied to a draft
                await self._call("POST", f"/invoices/{original.external_id}/status/sent", "mark invoice sent")
            amount = min(Decimal(found["total"]), Decimal(invoice["balance"]))
            if amount > 0:
                # the schema requires invoice_id/amount_applied at the top; Zoho's example sends the list
                apply = {"invoices": [{"invoice_id": original.external_id, "amount_applied": amount}],
                         "invoice_id": original.external_id, "amount_applied": amount}
                await self._call("POST", f"/creditnotes/{cn_id}/invoices", f"credit invoice with {note['number']}", apply)
        return InvoiceRef(cn_id)
