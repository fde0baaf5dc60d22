"""Sage Intacct target: AR invoices and AR adjustments (credit memos) through the REST API (``https://api.intacct.com/ia/api/v1``).

``POST /objects/accounts-receivable/invoice`` creates the invoice, ``POST /objects/accounts-receivable/adjustment``
the credit memo; ``POST /services/core/query`` finds invoices, adjustments and customers. Bodies follow
Sage Intacct's published Accounts Receivable OpenAPI definition (a trimmed copy in
tests/fakes/specs/sage_intacct_ar.trimmed.json, checked in tests/sinks/test_sage_intacct_spec.py). OAuth 2.0: client credentials (``username`` = the Web Services
user, ``user@company``) or a refresh token; the token is shared per (token URL, client)
and refreshed before expiry and once on 401. Errors carry
``{"ia::error": {"code", "message", "supportId", "details"}, "ia::meta": {...}}`` (also
seen nested under ``ia::result``); code and message are kept.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any, Collection, Mapping

from pydantic import Field

from domain.errors import InvoiceRejected
from domain.settings import PlatformSettings
from domain.exact import decimal_text, json_body, line_taxes
from sinks.mapping import Line, invoice_lines, rate_key
from sinks.credentials import AnyOf, ClientCredentials, Need, RefreshToken, under_base_url
from sinks.base import InvoiceRef, Sink, TaxKey, raise_for_status

__all__ = ["SageIntacctSink", "SageIntacctSettings"]


class SageIntacctSettings(PlatformSettings):
    entity: str | None = Field(None, description="Entity id for multi-entity companies (X-IA-API-Param-Entity).")
    revenue_account: str = Field("4000", description="GL account id for invoice lines.")
    tax_details: dict[str, str] = Field(default_factory=dict, description='Order Entry tax detail id per "<EN 16931 '
                                        'category>:<rate>", e.g. {"S:19": "DE Standard Sales 19", "K:0": "DE EU Goods 0"}.')
    tax_solution: str | None = Field(None, description="Tax solution id for VAT companies (e.g. 'Germany - VAT').")
    create_customers: bool = Field(True, description="Create the customer (id = our customer id) when it is missing.")


def _intacct_message(body: Any) -> str | None:
    if not isinstance(body, dict):
        return str(body)[:500] if body else None
    err = body.get("ia::error")
    if err is None and isinstance(body.get("ia::result"), dict):
        err = body["ia::result"].get("ia::error")
    if not isinstance(err, dict):
        return body.get("error_description") or body.get("error")
    details = "; ".join(str(d.get("message", d)) for d in err.get("details") or [] if isinstance(d, dict))
    return f"{err.get('code', 'error')}: {err.get('message', '')}" + (f" ({details})" if details else "")


class SageIntacctSink(Sink):
    """Creates one AR invoice per invoice and one AR adjustment (credit memo) per credit note.

    Delivery guarantee: exactly once per document number. Intacct REST has no idempotency key
    for creates [U], so `find_invoice` queries ``accounts-receivable/invoice`` where
    ``invoiceNumber`` = our number, and `find_credit_note` ``accounts-receivable/adjustment`` where
    ``adjustmentNumber`` = our credit note number, before every create; a crash after Intacct
    accepted is found on redelivery. Idempotency key: our number in ``invoiceNumber`` /
    ``adjustmentNumber``.

    Mapping: one line per invoice line on ``revenue_account`` (``txnAmount`` = our net, exact);
    tax as Intacct tax: each line's ``taxEntries`` name the Order Entry tax detail mapped from its
    (category, rate) (INVOICING_SAGE_INTACCT_TAX_DETAILS) with the line's share of the group's tax
    in ``txnTaxAmount`` (so Intacct keeps our figures instead of recalculating, and the shares add
    up to our tax per group) and the rate in ``taxRate``; ``taxSolution`` when configured;
    ``currency.txnCurrency``; ``referenceNumber`` = the buyer's PO (or our number).
    A credit note is an AR adjustment with negative amounts (a credit memo) whose ``documentNumber``
    is the Intacct invoice it corrects, looked up by Intacct's key (``original.external_id``).
    Orders that came from Intacct Order Entry are invoiced the same way (AR invoice);
    converting the Sales Order (``document::Sales Invoice`` with ``sourceDocument``) is not done.
    """

    target = "sage-intacct"
    settings_class = SageIntacctSettings
    settings: SageIntacctSettings
    rate_limit_per_minute = None  # tiers bound monthly volume and concurrency, not calls per minute
    #: a refresh token when one is configured, else client credentials (which also name the Web Services user)
    auth_spec = AnyOf(RefreshToken(token_url=under_base_url("/oauth2/token"), token_url_from="base_url"),
                      ClientCredentials(token_url=under_base_url("/oauth2/token"), token_url_from="base_url",
                                        form=(("username", "username"),)))
    requires = (Need("base_url"),)

    def tax_mapping_gaps(self, taxes: Collection[TaxKey]) -> list[str]:
        return [f'INVOICING_SAGE_INTACCT_TAX_DETAILS has no entry "{rate_key(c, r)}" (the Order Entry tax detail id)'
                for c, r in sorted(taxes) if rate_key(c, r) not in self.settings.tax_details]

    async def _request(self, method: str, path: str, what: str, body: Any = None) -> Any:
        headers = {"Accept": "application/json", "Content-Type": "application/json"}
        if self.settings.entity:
            headers["X-IA-API-Param-Entity"] = self.settings.entity
        r = await self.client.request(method, f"{self.base_url()}{path}", headers=headers, auth=self.auth,
                                      content=json_body(body) if body is not None else None)
        raise_for_status(r, what=f"sage-intacct {what}", message=_intacct_message, secrets=self._secrets())
        return r.json()

    async def _query(self, obj: str, fields: list[str], eq: Mapping[str, str]) -> list[dict[str, Any]]:
        doc = await self._request("POST", "/services/core/query", f"query {obj}", {
            "object": obj, "fields": fields, "filters": [{"$eq": {k: v}} for k, v in eq.items()], "start": 1, "size": 2})
        rows = doc.get("ia::result")
        if not isinstance(rows, list):  # an ia::error in a 200 must not read as "not found"
            raise InvoiceRejected(f"sage-intacct query {obj}: unexpected answer: {_intacct_message(doc)}")
        return rows

    def _ref(self, obj: str, row: Mapping[str, Any]) -> InvoiceRef:
        key = str(row.get("key") or row.get("id"))
        return InvoiceRef(key, url=f"{self.base_url()}/objects/accounts-receivable/{obj}/{key}")

    async def _find(self, obj: str, field: str, number: str) -> InvoiceRef | None:
        rows = await self._query(f"accounts-receivable/{obj}", ["key", "id", field, "state"], {field: number})
        if len(rows) > 1:
            raise InvoiceRejected(f"sage-intacct: {len(rows)} AR {obj}s numbered {number}; resolve by hand")
        return self._ref(obj, rows[0]) if rows else None

    async def find_invoice(self, invoice: Mapping[str, Any], idempotency_key: str) -> InvoiceRef | None:
        return await self._find("invoice", "invoiceNumber", invoice["number"])

    async def find_credit_note(self, note: Mapping[str, Any], idempotency_key: str) -> InvoiceRef | None:
        return await self._find("adjustment", "adjustmentNumber", note["number"])

    def _lines(self, doc: Mapping[str, Any], customer: str, sign: Decimal) -> list[tuple[Line, dict[str, Any], dict[str, Any]]]:
        """(line, the line's fields, its tax entry) per line, amounts multiplied by *sign*."""
        lines = invoice_lines(doc, self.target)
        shares = line_taxes({"lines": [{"net_amount": ln.net, "tax_category": ln.tax_category, "tax_rate": ln.tax_rate}
                                       for ln in lines], "tax_breakdown": doc["tax_breakdown"], "currency": doc["currency"]})
        out = []
        for ln, tax in zip(lines, shares):
            key = rate_key(ln.tax_category, ln.tax_rate)
            if key not in self.settings.tax_details:
                raise InvoiceRejected(f'sage-intacct: INVOICING_SAGE_INTACCT_TAX_DETAILS has no entry "{key}"; '
                                      f'{doc["number"]} not sent')
            fields = {"glAccount": {"id": self.settings.revenue_account}, "dimensions": {"customer": {"id": customer}},
                      "memo": f"{ln.description} ({ln.sku or '-'}): {decimal_text(ln.quantity)} x {decimal_text(ln.unit_price)}"[:1000]}
            entry = {"orderEntryTaxDetail": {"id": self.settings.tax_details[key]},
                     "txnTaxAmount": decimal_text(sign * tax), "taxRate": ln.tax_rate}
            out.append((ln, fields, entry))
        return out

    async def create_invoice(self, invoice: Mapping[str, Any], idempotency_key: str) -> InvoiceRef:
        customer = await self._customer(invoice)
        lines = [{**fields, "txnAmount": decimal_text(ln.net), "taxEntries": [entry]}
                 for ln, fields, entry in self._lines(invoice, customer, Decimal(1))]
        body: dict[str, Any] = {
            "customer": {"id": customer}, "invoiceNumber": invoice["number"],
            "referenceNumber": invoice.get("purchase_order") or invoice.get("buyer_reference") or invoice["number"],
            "description": f"Invoice {invoice['number']} for {', '.join(invoice.get('orders') or [])}"[:1000],
            "invoiceDate": invoice["issue_date"].isoformat(), "dueDate": invoice["due_date"].isoformat(),
            "currency": {"txnCurrency": invoice["currency"]}, "lines": lines}
        if self.settings.tax_solution:
            body["taxSolution"] = {"id": self.settings.tax_solution}
        doc = await self._request("POST", "/objects/accounts-receivable/invoice", "create invoice", body)
        return self._ref("invoice", doc["ia::result"])

    async def create_credit_note(self, note: Mapping[str, Any], idempotency_key: str, original: InvoiceRef) -> InvoiceRef:
        rows = await self._query("accounts-receivable/invoice", ["key", "invoiceNumber"], {"key": original.external_id})
        if not rows:
            raise InvoiceRejected(f"sage-intacct: invoice key {original.external_id} ({note.get('preceding_invoice')}) is gone")
        customer = await self._customer(note)
        lines = [{**fields, "txnCurrency": {"amount": decimal_text(-ln.net)}, "taxEntries": [entry]}
                 for ln, fields, entry in self._lines(note, customer, Decimal(-1))]
        body: dict[str, Any] = {
            "adjustmentNumber": note["number"], "documentNumber": rows[0]["invoiceNumber"], "customer": {"id": customer},
            "createdDate": note["issue_date"].isoformat(), "txnCurrency": {"currency": note["currency"]},
            "description": f"Credit note {note['number']} for invoice {rows[0]['invoiceNumber']}"[:1000], "lines": lines}
        if self.settings.tax_solution:
            body["taxSolution"] = {"id": self.settings.tax_solution}
        doc = await self._request("POST", "/objects/accounts-receivable/adjustment", "create adjustment", body)
        return self._ref("adjustment", doc["ia::result"])

    async def _customer(self, invoice: Mapping[str, Any]) -> str:
        cid = str(invoice["customer_id"])
        if await self._query("accounts-receivable/customer", ["key", "id"], {"id": cid}):
            return cid
        if not self.settings.create_customers:
            raise InvoiceRejected(f"sage-intacct: customer {cid} does not exist")
        buyer = invoice["buyer"]
        addr = buyer.get("address") or {}
        await self._request("POST", "/objects/accounts-receivable/customer", "create customer", {
            "id": cid, "name": buyer["name"], "status": "active",
            "contacts": {"default": {"email1": buyer.get("email") or "", "companyName": buyer["name"],
                                     "mailingAddress": {"addressLine1": addr.get("line1") or "", "city": addr.get("city") or "",
                                                        "postCode": addr.get("postal_code") or "",
                                                        "isoCountryCode": addr.get("country") or ""}}}})
        return cid
