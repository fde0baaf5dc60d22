"""Wave (GraphQL, ``POST /graphql/public``): mutation ``invoiceCreate(input: InvoiceCreateInput!)``.

Delivery guarantee: exactly once per invoice number, by look-up before create:
Wave has no request idempotency [U], so `find_invoice` queries
``business(id) { invoices(sort: [MODIFIED_AT_ASC], invoiceNumber: …) }`` (``sort`` is non-null on
``invoices`` and ``customers``) and the create sets ``invoiceNumber`` = our number. A create whose
answer was lost is found by that look-up on the next attempt. Validation failures come back as
HTTP 200 with ``didSucceed: false`` + ``inputErrors`` → `InvoiceRejected` with Wave's messages.
Idempotency key: our invoice number.

Tax is Wave's own: each item carries ``taxes: [{salesTaxId}]``, the business's sales tax for the
line's (category, rate) from ``INVOICING_WAVE_SALES_TAXES`` (``{"S:19": "<salesTaxId>"}``; a zero-rate
line carries ``taxes: []``, else Wave applies the product's default sales taxes); `tax_mapping_gaps` names every rate the reference data can produce that has no
entry, and the worker refuses to start on one. ``InvoiceCreateItemTaxInput.amount`` is deprecated:
Wave computes the tax per item, rounded to the cent (half-up assumed [U]). When that per-item
rounding would not give our group tax the invoice is refused before anything is created; Wave's
total is checked after the create too (a mismatch deletes the invoice and parks it).
Credit notes: none (`no_credit_notes`): the public API has no credit-note type or mutation.
Auth: OAuth 2.0 refresh token. Rate limit: ≈60 requests/min per token [S].
Wave publishes no machine-readable schema file; the requests are validated against the SDL in
tests/fakes/specs/wave_public.trimmed.graphql, written from Wave's API reference (see its header).
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any, Collection, Mapping

from pydantic import Field

from domain.errors import AuthError, InvoiceRejected, RetriableSinkError
from domain.exact import money_str, qty_str
from sinks.mapping import check_mappable, rate_key
from domain.money import ZERO, round_amount
from domain.settings import PlatformSettings
from sinks.credentials import Need, RefreshToken
from sinks.base import InvoiceRef, Sink, TaxKey, raise_for_status

__all__ = ["WaveSink", "WaveSettings", "wave_input", "per_item_tax_gaps"]

NO_CREDIT_NOTES = ("Wave's public API has no credit notes: its schema reference lists invoice mutations only "
                   "(invoiceCreate, invoicePatch, invoiceClone, invoiceDelete, invoiceSend, invoiceApprove, "
                   "invoiceMarkSent), https://developer.waveapps.com/hc/en-us/articles/360019968212-API-Reference; "
                   "Wave's own answer is to write the invoice off, "
                   "https://support.waveapps.com/hc/en-us/articles/115000031243-How-to-write-off-an-invoice")

FIND = """query FindInvoice($businessId: ID!, $number: String!) {
  business(id: $businessId) { invoices(invoiceNumber: $number, page: 1, pageSize: 10, sort: [MODIFIED_AT_ASC]) {
    edges { node { id invoiceNumber status viewUrl total { value } } } } } }"""
FIND_CUSTOMER = """query FindCustomer($businessId: ID!, $email: String!) {
  business(id: $businessId) { customers(email: $email, page: 1, pageSize: 10, sort: [NAME_ASC]) {
    edges { node { id email } } } } }"""
CREATE_CUSTOMER = """mutation CreateCustomer($input: CustomerCreateInput!) {
  customerCreate(input: $input) { didSucceed inputErrors { message code path } customer { id } } }"""
CREATE = """mutation CreateInvoice($input: InvoiceCreateInput!) {
  invoiceCreate(input: $input) { didSucceed inputErrors { message code path }
    invoice { id invoiceNumber status viewUrl pdfUrl total { value currency { code } } } } }"""
DELETE = """mutation DeleteInvoice($input: InvoiceDeleteInput!) {
  invoiceDelete(input: $input) { didSucceed inputErrors { message code path } } }"""


class WaveSettings(PlatformSettings):
    base_url: str | None = "https://gql.waveapps.com/graphql/public"
    token_url: str | None = "https://api.waveapps.com/oauth2/token/"
    product_id: str | None = Field(None, description="Wave product (item) id used on every line.")
    sales_taxes: dict[str, str] = Field(default_factory=dict, description='JSON: salesTaxId per "<category>:<rate>", e.g. {"S:19": "…"}.')


def _sales_tax(settings: WaveSettings, category: str, rate: Decimal) -> str | None:
    key = rate_key(category, rate)
    return settings.sales_taxes.get(key) or settings.sales_taxes.get(key.replace(":", "/"))


def per_item_tax_gaps(invoice: Mapping[str, Any]) -> list[str]:
    """Each (category, rate) whose tax Wave, rounding per item, would book differently from ours."""
    cur, sums = str(invoice["currency"]), dict[TaxKey, Decimal]()
    for ln in invoice["lines"]:
        key = (str(ln["tax_category"]), Decimal(ln["tax_rate"]))
        sums[key] = sums.get(key, ZERO) + round_amount(Decimal(ln["net_amount"]) * key[1] / 100, cur)
    return [f"{rate_key(str(s['category']), Decimal(s['rate']))}: {sums.get((str(s['category']), Decimal(s['rate'])), ZERO)} per item, "
            f"{round_amount(Decimal(s['tax_amount']), cur)} on the group" for s in invoice["tax_breakdown"]
            if sums.get((str(s["category"]), Decimal(s["rate"])), ZERO) != Decimal(s["tax_amount"])]


def wave_input(invoice: Mapping[str, Any], business: str, customer: str, settings: WaveSettings) -> dict[str, Any]:
    """``InvoiceCreateInput`` for our invoice; Decimal scalars as exact strings."""
    check_mappable(invoice, "wave")
    cur = str(invoice["currency"])
    items = []
    for line in invoice["lines"]:
        rate = Decimal(line["tax_rate"])
        item: dict[str, Any] = {"productId": settings.product_id, "description": str(line["description"]),
                                "quantity": qty_str(line["quantity"]), "unitPrice": qty_str(line["unit_price"])}
        if Decimal(line.get("allowance") or 0):
            item.update(quantity="1", unitPrice=money_str(line["net_amount"], cur),
                        description=f"{line['description']} ({qty_str(line['quantity'])} x {qty_str(line['unit_price'])}, "
                                    f"less {money_str(line['allowance'], cur)})")
        if rate:
            tax = _sales_tax(settings, str(line["tax_category"]), rate)
            if tax is None:
                raise InvoiceRejected(f"wave: no salesTaxId for {rate_key(str(line['tax_category']), rate)} "
                                      "(INVOICING_WAVE_SALES_TAXES)")
            item["taxes"] = [{"salesTaxId": tax}]
        else:
            item["taxes"] = []
        items.append(item)
    gaps = per_item_tax_gaps(invoice)
    if gaps:
        raise InvoiceRejected(f"wave computes tax per item (the tax amount input is deprecated) and would book "
                              f"{'; '.join(gaps)} for {invoice['number']}: Wave cannot take our tax; book it by hand")
    out: dict[str, Any] = {"businessId": business, "customerId": customer, "status": "SAVED", "currency": cur,
                           "invoiceNumber": str(invoice["number"]), "invoiceDate": invoice["issue_date"].isoformat(),
                           "dueDate": invoice["due_date"].isoformat(), "items": items,
                           "memo": f"invoice_id {invoice['invoice_id']}"}
    if invoice.get("purchase_order") or invoice.get("buyer_reference"):
        out["poNumber"] = str(invoice.get("purchase_order") or invoice.get("buyer_reference"))
    return out


class WaveSink(Sink):
    target = "wave"
    rounds_tax_per_line = True
    no_credit_notes = NO_CREDIT_NOTES
    settings_class = WaveSettings
    settings: WaveSettings
    rate_limit_per_minute = 60.0

    auth_spec = RefreshToken()
    requires = (Need("tenant", "the businessId"), Need("product_id", "the Wave product on every line"))

    def tax_mapping_gaps(self, taxes: Collection[TaxKey]) -> list[str]:
        return [f'INVOICING_WAVE_SALES_TAXES has no entry "{rate_key(cat, rate)}"' for cat, rate in sorted(taxes)
                if Decimal(rate) and _sales_tax(self.settings, cat, Decimal(rate)) is None]

    async def _gql(self, query: str, variables: dict[str, Any], what: str) -> dict[str, Any]:
        r = await self.client.post(self.base_url(), json={"query": query, "variables": variables}, auth=self.auth)
        raise_for_status(r, what=f"wave {what}")
        doc = r.json()
        errors = doc.get("errors") or []
        if errors:
            text = "; ".join(str(e.get("message")) for e in errors)[:500]
            codes = {str((e.get("extensions") or {}).get("code")) for e in errors}
            if codes & {"UNAUTHENTICATED", "FORBIDDEN", "NOT_AUTHORIZED"}:
                raise AuthError(f"wave {what}: {text}")
            if codes & {"INTERNAL_SERVER_ERROR", "SERVICE_UNAVAILABLE", "RATE_LIMITED", "TOO_MANY_REQUESTS"}:
                raise RetriableSinkError(f"wave {what}: {text}")
            raise InvoiceRejected(f"wave {what}: {text}")
        return dict(doc["data"])

    @staticmethod
    def _outcome(out: Mapping[str, Any], what: str) -> None:
        if not out.get("didSucceed"):
            errs = "; ".join(f"{e.get('message')} ({'.'.join(e.get('path') or [])}, {e.get('code')})"
                             for e in out.get("inputErrors") or [])
            raise InvoiceRejected(f"wave {what}: {errs or 'didSucceed false'}")

    async def find_invoice(self, invoice: Mapping[str, Any], idempotency_key: str) -> InvoiceRef | None:
        data = await self._gql(FIND, {"businessId": self.settings.tenant, "number": str(invoice["number"])}, "find")
        for edge in ((data.get("business") or {}).get("invoices") or {}).get("edges") or []:
            node = edge["node"]
            if node["invoiceNumber"] == invoice["number"]:
                return InvoiceRef(str(node["id"]), node.get("viewUrl"))
        return None

    async def _customer(self, invoice: Mapping[str, Any]) -> str:
        buyer = invoice["buyer"]
        if buyer.get("email"):
            data = await self._gql(FIND_CUSTOMER, {"businessId": self.settings.tenant, "email": buyer["email"]}, "find customer")
            edges = ((data.get("business") or {}).get("customers") or {}).get("edges") or []
            if edges:
                return str(edges[0]["node"]["id"])
        new = {"businessId": self.settings.tenant, "name": str(buyer["name"]), "currency": str(invoice["currency"])}
        if buyer.get("email"):
            new["email"] = buyer["email"]
        out = (await self._gql(CREATE_CUSTOMER, {"input": new}, "create customer"))["customerCreate"]
        self._outcome(out, "create customer")
        return str(out["customer"]["id"])

    async def create_invoice(self, invoice: Mapping[str, Any], idempotency_key: str) -> InvoiceRef:
        wave_input(invoice, "", "", self.settings)  # refuse before any call
        customer = await self._customer(invoice)
        payload = wave_input(invoice, str(self.settings.tenant), customer, self.settings)
        out = (await self._gql(CREATE, {"input": payload}, "create"))["invoiceCreate"]
        self._outcome(out, "create")
        inv = out["invoice"]
        if Decimal(inv["total"]["value"]) != Decimal(invoice["total"]):
            deleted = (await self._gql(DELETE, {"input": {"invoiceId": inv["id"]}}, "delete"))["invoiceDelete"]
            self._outcome(deleted, "delete mismatched invoice")
            raise InvoiceRejected(f"wave computed total {inv['total']['value']} for {invoice['number']}, ours is "
                                  f"{invoice['total']}; invoice deleted (per-line tax rounding differs)")
        return InvoiceRef(str(inv["id"]), inv.get("viewUrl"))
