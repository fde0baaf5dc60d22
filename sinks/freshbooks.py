"""FreshBooks sink: ``POST /accounting/account/{account_id}/invoices/invoices`` with our number; credit notes
``POST …/credit_notes/credit_notes``, applied to the invoice by a payment of type ``Credit`` that names the
credit (``POST …/payments/payments`` with ``invoiceid`` and ``creditid``).

Tax: FreshBooks takes a tax on a line as a name and a percentage (``taxName1``/``taxAmount1``); the
name per (category, rate) comes from ``ID_MAP`` (``"tax:S:19": "MwSt"``) for every non-zero rate; a
zero-rated line carries no tax. FreshBooks computes the tax from the percentage; how it rounds is
not documented [U] (the stand-in rounds each tax on the sum of its lines, as our VAT breakdown does).

No machine-readable FreshBooks spec exists; the requests are checked in the tests against the
documented field lists (freshbooks.com/api/invoices, /credits, /payments), kept as JSON Schema in
tests/fakes/specs/freshbooks_accounting_fields.json. That the API applies a credit note to an invoice
through a payment carrying ``creditid`` and type ``Credit`` follows from the payment fields FreshBooks
documents ("creditid: id of related credit"; type 'Check', 'Credit', …) but is not spelled out [S].
"""
from __future__ import annotations

import json
from decimal import Decimal
from typing import Any, Collection, Mapping

from domain.errors import InvoiceRejected
from domain.exact import decimal_text, json_body
from sinks.mapping import MappedSettings, map_id, rate_key, reject_document_charges
from sinks.credentials import Need, RefreshToken, under_base_url
from sinks.base import InvoiceRef, Sink, TaxKey, original_of, raise_for_status

__all__ = ["FreshBooksSink", "FreshBooksSettings", "to_freshbooks", "to_freshbooks_credit_note"]

_T = "freshbooks"


class FreshBooksSettings(MappedSettings):
    """``INVOICING_FRESHBOOKS_*``: TENANT (account_id), CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN,
    BASE_URL (default ``https://api.freshbooks.com``), TOKEN_URL (default ``<BASE_URL>/auth/oauth/token``),
    ID_MAP (``customer:…`` → customerid; ``tax:S:19`` → the tax's name in FreshBooks, for every non-zero rate)."""

    base_url: str | None = "https://api.freshbooks.com"


def _lines(document: Mapping[str, Any], settings: MappedSettings) -> list[dict[str, Any]]:
    """Lines with exact decimal-string unit costs and the tax as name + percent."""
    reject_document_charges(document, _T)
    cur = document["currency"]
    lines = []
    for ln in document["lines"]:
        qty = Decimal(ln["quantity"])
        line: dict[str, Any] = {"type": 0, "name": (ln.get("sku") or ln["description"])[:255],
                                "description": ln["description"], "qty": int(qty) if qty == qty.to_integral_value() else qty,
                                "unit_cost": {"amount": decimal_text(ln["unit_price"]), "code": cur}}
        if ln["allowance"]:
            # FreshBooks lines have no allowance: fold it into the unit cost only when that stays exact
            net = ln["net_amount"] / ln["quantity"]
            if net * ln["quantity"] != ln["net_amount"] or net != net.quantize(ln["unit_price"]):
                raise InvoiceRejected(f"freshbooks: line {ln['line_id']} has an allowance that no exact unit cost expresses")
            line["unit_cost"]["amount"] = decimal_text(net)
        if ln["tax_rate"]:
            key = f"tax:{rate_key(ln['tax_category'], ln['tax_rate'])}"
            if key not in settings.id_map:
                raise InvoiceRejected(f'freshbooks: INVOICING_FRESHBOOKS_ID_MAP has no entry "{key}" (the tax name)')
            line["taxName1"] = settings.id_map[key]
            line["taxAmount1"] = decimal_text(ln["tax_rate"], min_places=0)
        lines.append(line)
    return lines


def _client(document: Mapping[str, Any], settings: MappedSettings) -> int | str:
    customer = map_id(settings, _T, "customer", document["customer_id"]) or ""
    return int(customer) if customer.isdigit() else customer


def to_freshbooks(invoice: Mapping[str, Any], settings: MappedSettings) -> dict[str, Any]:
    """``{"invoice": {…}}``: unit costs as exact decimal strings, tax as name + percent per line."""
    body: dict[str, Any] = {
        "customerid": _client(invoice, settings),
        "invoice_number": invoice["number"],
        "create_date": invoice["issue_date"],
        "due_offset_days": (invoice["due_date"] - invoice["issue_date"]).days,
        "currency_code": invoice["currency"],
        "po_number": invoice.get("purchase_order") or invoice.get("buyer_reference"),
        "terms": invoice.get("payment_terms"),
        "notes": "\n".join(invoice.get("notes") or []) or None,
        "lines": _lines(invoice, settings),
    }
    return {"invoice": {k: v for k, v in body.items() if v is not None}}


def to_freshbooks_credit_note(note: Mapping[str, Any], settings: MappedSettings) -> dict[str, Any]:
    """``{"credit_note": {…}}`` of type ``goodwill`` (a credit instead of a refund), lines as on an invoice."""
    notes = [f"Credit note for invoice {note.get('preceding_invoice')}"] + list(note.get("notes") or [])
    return {"credit_note": {"clientid": _client(note, settings), "credit_number": note["number"],
                            "create_date": note["issue_date"], "currency_code": note["currency"],
                            "credit_type": "goodwill", "notes": "\n".join(dict.fromkeys(notes)),
                            "lines": _lines(note, settings)}}


def _message(doc: Any) -> str | None:
    errors = (doc.get("response") or {}).get("errors") or []
    return "; ".join(f"{e.get('message')} (errno {e.get('errno')}, field {e.get('field')})" for e in errors) or None


class FreshBooksSink(Sink):
    """Invoices and credit notes into FreshBooks.

    Delivery guarantee: exactly once per document number. FreshBooks documents no idempotency key,
    so the sink looks up ``GET …/invoices/invoices?search[invoice_number]=<our number>``
    (``…/credit_notes/credit_notes?search[credit_number]=…``) before creating (the delivery loop
    calls the look-up first on every attempt, also after a crash), and creates with our number. A
    credit note counts as delivered once a ``Credit`` payment of the invoice names it
    (``GET …/payments/payments?search[invoiceid]=…``); one found without it is reused and applied
    (``min(credit total, invoice outstanding)``), never created twice.
    Idempotency key: our document number. Residual risk: two workers delivering the same document
    at the same instant (the pipeline keys deliveries by invoice id on one partition, so this needs
    a rebalance in the same second).
    Auth: OAuth 2.0 bearer, refresh-token grant, rotated refresh tokens kept. Rate limit: not published.
    """

    target = "freshbooks"
    settings_class = FreshBooksSettings
    settings: FreshBooksSettings
    rate_limit_per_minute = None

    auth_spec = RefreshToken(token_url=under_base_url("/auth/oauth/token"), token_url_from="base_url")
    requires = (Need("tenant", "the account_id"),)

    def tax_mapping_gaps(self, taxes: Collection[TaxKey]) -> list[str]:
        return [f'INVOICING_FRESHBOOKS_ID_MAP has no entry "tax:{rate_key(c, r)}" (the FreshBooks tax name)'
                for c, r in sorted(taxes) if r and f"tax:{rate_key(c, r)}" not in self.settings.id_map]

    def _url(self, resource: str) -> str:
        return f"{self.base_url()}/accounting/account/{self.settings.tenant}/{resource}"

    async def _call(self, method: str, resource: str, what: str, body: dict[str, Any] | None = None,
                    params: dict[str, str] | None = None) -> dict[str, Any]:
        r = await self.client.request(method, self._url(resource), params=params, auth=self.auth,
                                      content=json_body(body) if body is not None else None,
                                      headers={"Content-Type": "application/json"} if body is not None else None)
        raise_for_status(r, what=f"freshbooks: {what}", message=_message)
        result: dict[str, Any] = json.loads(r.text, parse_float=Decimal)["response"]["result"]
        return result

    async def find_invoice(self, invoice: Mapping[str, Any], idempotency_key: str) -> InvoiceRef | None:
        result = await self._call("GET", "invoices/invoices", f"look up invoice {invoice['number']}",
                                  params={"search[invoice_number]": invoice["number"]})
        for found in result.get("invoices") or []:
            if found.get("invoice_number") == invoice["number"]:
                return InvoiceRef(str(found.get("invoiceid") or found["id"]))
        return None

    async def create_invoice(self, invoice: Mapping[str, Any], idempotency_key: str) -> InvoiceRef:
        created = (await self._call("POST", "invoices/invoices", f"create invoice {invoice['number']}",
                                    to_freshbooks(invoice, self.settings)))["invoice"]
        return InvoiceRef(str(created.get("invoiceid") or created["id"]))

    async def _credit_note(self, number: str) -> dict[str, Any] | None:
        result = await self._call("GET", "credit_notes/credit_notes", f"look up credit note {number}",
                                  params={"search[credit_number]": number})
        return next((dict(c) for c in result.get("credit_notes") or [] if c.get("credit_number") == number), None)

    async def _applied(self, credit: Mapping[str, Any], invoice_id: str) -> bool:
        result = await self._call("GET", "payments/payments", "list the invoice's payments",
                                  params={"search[invoiceid]": invoice_id})
        return any(p.get("type") == "Credit" and str(p.get("creditid")) == str(credit.get("creditid") or credit["id"])
                   for p in result.get("payments") or [])

    async def find_credit_note(self, note: Mapping[str, Any], idempotency_key: str) -> InvoiceRef | None:
        found = await self._credit_note(str(note["number"]))
        if found is None:
            return None
        invoice = await self.find_invoice(original_of(note), idempotency_key)
        if invoice is None or not await self._applied(found, invoice.external_id):
            return None  # not applied to the invoice yet: create_credit_note finishes it
        return InvoiceRef(str(found.get("creditid") or found["id"]))

    async def create_credit_note(self, note: Mapping[str, Any], idempotency_key: str, original: InvoiceRef) -> InvoiceRef:
        found = await self._credit_note(str(note["number"]))
        if found is None:
            found = (await self._call("POST", "credit_notes/credit_notes", f"create credit note {note['number']}",
                                      to_freshbooks_credit_note(note, self.settings)))["credit_note"]
        credit_id = str(found.get("creditid") or found["id"])
        if not await self._applied(found, original.external_id):
            invoice = (await self._call("GET", f"invoices/invoices/{original.external_id}", "read invoice"))["invoice"]
            amount = min(Decimal(found["amount"]["amount"]), Decimal(invoice["outstanding"]["amount"]))
            if amount > 0:
                payment = {"payment": {"invoiceid": int(original.external_id), "creditid": int(credit_id), "type": "Credit",
                                       "amount": {"amount": decimal_text(amount)}, "date": note["issue_date"],
                                       "note": f"Credit note {note['number']}"}}
                await self._call("POST", "payments/payments", f"apply credit note {note['number']}", payment)
        return InvoiceRef(credit_id)
