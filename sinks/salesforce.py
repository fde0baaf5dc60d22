"""Salesforce sink: Revenue Cloud Billing invoices (generate from an Order, or Billing Checkout) and credit memos.

Connect REST (``/services/data/v68.0/commerce/invoicing/…``, Revenue Management developer guide):
``invoices/collection/actions/generate`` (billingTransactionId, action Draft) and ``…/actions/post``
{invoiceIds} [S: "Invoice Draft to Posted Status"]; ``invoices/collection/actions/checkout`` (Billing
Checkout, 68.0: accountId, invoiceDate, currencyIsoCode, lineItems[] {productName, transactionId,
quantity, unitPrice, netUnitPrice, lineTotal, sellingModelType, taxTreatmentId}) [C];
``credit-memos/actions/generate`` (Standalone Credit Memo: billingAccountId, type, currencyIsoCode,
effectiveDate, externalReference, taxStrategy ManualOverride, charges[] {chargeAmount, productName,
treatmentId, taxes[] {taxAmount, taxName, taxRate}}) and ``credit-memos/{id}/actions/apply``
{applications[] {appliedToId, amount, effectiveDate}} [C]; ``invoices/{id}/actions/void`` [S].
Shapes checked in tests/sinks/test_salesforce_spec.py against tests/fakes/specs/salesforce_billing.json
(written from those pages: Salesforce publishes no OpenAPI for these resources).
"""
from __future__ import annotations

import re
from decimal import Decimal
from typing import Any, Collection, Mapping

import httpx
from pydantic import Field

from domain.errors import InvoiceRejected, RetriableSinkError
from domain.exact import decimal_text, json_body, line_taxes
from sinks.mapping import MappedSettings, invoice_lines, map_id, order_ids, rate_key
from sinks.credentials import ClientCredentials, Need, under_base_url
from sinks.base import InvoiceRef, Sink, TaxKey, original_of, raise_for_status

__all__ = ["SalesforceSink", "SalesforceSettings"]

_V = "/services/data/v68.0"
_BILLING = _V + "/commerce/invoicing"
_SOQL_SAFE = re.compile(r"^[A-Za-z0-9_.:/#\- ]+$")


class SalesforceSettings(MappedSettings):
    """``INVOICING_SALESFORCE_*``: BASE_URL (``https://<my-domain>.my.salesforce.com``), CLIENT_ID, CLIENT_SECRET
    (client-credentials flow of a connected/external client app), TOKEN_URL (default ``<BASE_URL>/services/oauth2/token``),
    NUMBER_FIELD (custom text field on Invoice holding our number, unique; default External_Invoice_Number__c),
    ID_MAP (``customer:…`` → Account id), TAX_TREATMENTS (``"S:19"`` → TaxTreatment id)."""

    number_field: str = "External_Invoice_Number__c"
    tax_treatments: dict[str, str] = Field(default_factory=dict, description='"<category>:<rate>" → TaxTreatment id')


def _message(doc: Any) -> str | None:
    if isinstance(doc, list):
        return "; ".join(f"{e.get('errorCode')}: {e.get('message')}" for e in doc if isinstance(e, dict)) or None
    if isinstance(doc, dict) and doc.get("errors"):
        return _message(doc["errors"])
    return None


def _request_limit(r: httpx.Response, what: str) -> RetriableSinkError | None:
    """Salesforce answers 403 ``REQUEST_LIMIT_EXCEEDED`` when the org's daily API allowance is spent."""
    if r.status_code == 403 and "REQUEST_LIMIT_EXCEEDED" in r.text:
        return RetriableSinkError(f"{what}: Salesforce API request limit exceeded", retry_after=3600)
    return None


def _lit(value: str) -> str:
    if not _SOQL_SAFE.match(value):
        raise InvoiceRejected(f"salesforce: {value!r} cannot be used in a SOQL literal")
    return "'" + value + "'"


class SalesforceSink(Sink):
    """Invoices and credit memos in Salesforce Revenue Cloud Billing.

    Invoice: for a Salesforce Order (``salesforce:<OrderId>``) generate runs on its billing schedules
    (``billingTransactionId``, action Draft); for an order from elsewhere, Billing Checkout books our lines
    for the mapped Account (each with the TaxTreatment of its (category, rate)). Salesforce prices and taxes
    what it invoices: the invoice's ``TotalAmount``/``TotalTaxAmount`` are compared with ours, a draft is
    posted only when they match, and a checkout invoice that does not match is voided; either way the
    delivery is refused with both figures (e.g. a tax engine rounding per line where ours rounds per group).

    Credit note: a standalone credit memo (``externalReference`` = our number, ``taxStrategy``
    ManualOverride with each line's share of our tax per group, the TaxTreatment as ``treatmentId``),
    posted, then applied to Salesforce's invoice (``appliedToId`` = ``original.external_id``) for its total.

    Delivery guarantee: exactly once per document number. These APIs take no idempotency key, so
    `find_invoice` runs SOQL ``WHERE <NUMBER_FIELD> = '<our number>'`` first, then claims an unstamped
    invoice made for the same Order or Account and date (a crash between creating and stamping);
    `find_credit_note` finds ``CreditMemo.ExternalReference`` = our number [S] and applies it if its
    balance shows it never was. Idempotency key: our number (NUMBER_FIELD, ExternalReference).
    Auth: OAuth 2.0 client credentials. Errors ``[{"errorCode","message"}]``; 403 ``REQUEST_LIMIT_EXCEEDED``
    (the org's rolling 24 h API allocation) is retriable. Rate limit: per-org daily allocation, not per minute.
    """

    target = "salesforce"
    settings_class = SalesforceSettings
    settings: SalesforceSettings
    rate_limit_per_minute = None

    auth_spec = ClientCredentials(token_url=under_base_url("/services/oauth2/token"), token_url_from="base_url")
    requires = (Need("base_url", "the My Domain URL"),)

    def tax_mapping_gaps(self, taxes: Collection[TaxKey]) -> list[str]:
        return [f'INVOICING_SALESFORCE_TAX_TREATMENTS has no entry "{rate_key(c, r)}" (the TaxTreatment id)'
                for c, r in sorted(taxes) if rate_key(c, r) not in self.settings.tax_treatments]

    async def _query(self, soql: str, what: str) -> list[dict[str, Any]]:
        r = await self.client.get(f"{self.base_url()}{_V}/query", params={"q": soql}, auth=self.auth)
        raise_for_status(r, what=what, message=_message, retriable=_request_limit)
        return list(r.json().get("records") or [])

    async def _call(self, method: str, path: str, body: Any, what: str) -> Any:
        r = await self.client.request(method, f"{self.base_url()}{path}", content=json_body(body), auth=self.auth,
                                      headers={"Content-Type": "application/json"})
        raise_for_status(r, what=what, message=_message, retriable=_request_limit)
        doc = r.json() if r.content else {}
        if isinstance(doc, dict) and doc.get("success") is False:
            raise InvoiceRejected(f"{what}: {_message(doc) or 'success: false'}")
        return doc

    def _target(self, invoice: Mapping[str, Any]) -> tuple[str, str]:
        """("ReferenceEntityId", Order) for a Salesforce Order, else ("BillingAccountId", the mapped Account)."""
        orders = order_ids(invoice, "salesforce")
        if len(orders) > 1:
            raise InvoiceRejected(f"salesforce: invoice {invoice['number']} bills {len(orders)} Orders; generate takes one")
        if orders:
            return "ReferenceEntityId", orders[0]
        return "BillingAccountId", str(map_id(self.settings, "salesforce", "customer", invoice["customer_id"]))

    async def _claim(self, invoice: Mapping[str, Any]) -> InvoiceRef | None:
        """The unstamped invoice made for our Order/Account and date: checked, posted if a draft, stamped."""
        field, ref = self._target(invoice)
        rows = await self._query(
            f"SELECT Id, Status, TotalAmount, TotalTaxAmount, CurrencyIsoCode FROM Invoice WHERE {field} = {_lit(ref)} "
            f"AND InvoiceDate = {invoice['issue_date'].isoformat()} AND {self.settings.number_field} = null "
            "AND Status != 'Canceled' ORDER BY CreatedDate LIMIT 1", f"salesforce: unstamped invoice of {ref}")
        if not rows:
            return None
        row, inv_id = rows[0], rows[0]["Id"]
        got = (Decimal(str(row["TotalAmount"])), Decimal(str(row["TotalTaxAmount"])), row.get("CurrencyIsoCode"))
        if got != (invoice["total"], invoice["tax_total"], invoice["currency"]):
            if row["Status"] == "Posted":
                await self._call("POST", f"{_BILLING}/invoices/{inv_id}/actions/void", {}, f"salesforce: void invoice {inv_id}")
            raise InvoiceRejected(f"salesforce: invoice {inv_id} for {invoice['number']}: Salesforce computed total "
                                  f"{decimal_text(got[0])}, tax {decimal_text(got[1])} {got[2]}; we issued "
                                  f"{decimal_text(invoice['total'])}, {decimal_text(invoice['tax_total'])} {invoice['currency']}; "
                                  f"{'voided' if row['Status'] == 'Posted' else 'left in draft'} (check schedules, tax treatments "
                                  "and the tax engine's rounding)")
        if row["Status"] == "Draft":
            await self._call("POST", f"{_BILLING}/invoices/collection/actions/post", {"invoiceIds": [inv_id]},
                             f"salesforce: post invoice {inv_id}")
        await self._call("PATCH", f"{_V}/sobjects/Invoice/{inv_id}", {self.settings.number_field: invoice["number"]},
                         f"salesforce: stamp {invoice['number']} on Invoice {inv_id}")
        return InvoiceRef(inv_id, url=f"{self.base_url()}/{inv_id}")

    async def find_invoice(self, invoice: Mapping[str, Any], idempotency_key: str) -> InvoiceRef | None:
        rows = await self._query(f"SELECT Id, DocumentNumber FROM Invoice WHERE {self.settings.number_field} = "
                                 f"{_lit(invoice['number'])} LIMIT 1", f"salesforce: look up invoice {invoice['number']}")
        if rows:
            return InvoiceRef(rows[0]["Id"], url=f"{self.base_url()}/{rows[0]['Id']}")
        return await self._claim(invoice)

    async def create_invoice(self, invoice: Mapping[str, Any], idempotency_key: str) -> InvoiceRef:
        field, ref = self._target(invoice)
        what = f"salesforce: invoice {invoice['number']} for {ref}"
        if field == "ReferenceEntityId":
            await self._call("POST", f"{_BILLING}/invoices/collection/actions/generate", {
                "billingTransactionId": ref, "action": "Draft", "invoiceDate": invoice["issue_date"],
                "targetDate": invoice["issue_date"], "correlationId": invoice["invoice_id"]}, what)
        else:
            items = [{"productName": ln.description[:255], "transactionId": f"{invoice['number']}-{ln.number}",
                      "quantity": ln.quantity, "unitPrice": ln.unit_price, "netUnitPrice": ln.unit_price, "lineTotal": ln.net,
                      "sellingModelType": "OneTime", "taxTreatmentId": self._treatment(invoice, ln.tax_category, ln.tax_rate)}
                     for ln in invoice_lines(invoice, self.target)]
            await self._call("POST", f"{_BILLING}/invoices/collection/actions/checkout", {
                "previewInvoice": False, "shouldCapturePayment": False, "accountId": ref, "invoiceDate": invoice["issue_date"],
                "currencyIsoCode": invoice["currency"], "lineItems": items}, what)
        claimed = await self._claim(invoice)
        if claimed is None:  # generation can be asynchronous: the next attempt's look-up claims it
            raise RetriableSinkError(f"{what}: accepted, invoice not visible yet")
        return claimed

    def _treatment(self, doc: Mapping[str, Any], category: str, rate: Decimal) -> str:
        key = rate_key(category, rate)
        if key not in self.settings.tax_treatments:
            raise InvoiceRejected(f'salesforce: INVOICING_SALESFORCE_TAX_TREATMENTS has no entry "{key}"; {doc["number"]} not sent')
        return self.settings.tax_treatments[key]

    async def find_credit_note(self, note: Mapping[str, Any], idempotency_key: str) -> InvoiceRef | None:
        rows = await self._query(f"SELECT Id, Balance FROM CreditMemo WHERE ExternalReference = {_lit(note['number'])} LIMIT 1",
                                 f"salesforce: look up credit memo {note['number']}")
        if not rows:
            return None
        if Decimal(str(rows[0].get("Balance") or 0)) != 0:  # created, never applied (a crash): apply it now
            invoice = await self.find_invoice(original_of(note), str(note.get("preceding_invoice_id")))
            if invoice is None:
                raise InvoiceRejected(f"salesforce: credit memo {note['number']} exists unapplied and invoice "
                                      f"{note.get('preceding_invoice')} is not in Salesforce")
            await self._apply(rows[0]["Id"], note, invoice)
        return InvoiceRef(rows[0]["Id"], url=f"{self.base_url()}/{rows[0]['Id']}")

    async def create_credit_note(self, note: Mapping[str, Any], idempotency_key: str, original: InvoiceRef) -> InvoiceRef:
        lines = invoice_lines(note, self.target)
        shares = line_taxes({"lines": [{"net_amount": ln.net, "tax_category": ln.tax_category, "tax_rate": ln.tax_rate}
                                       for ln in lines], "tax_breakdown": note["tax_breakdown"], "currency": note["currency"]})
        charges = [{"chargeAmount": ln.net, "productName": ln.description[:255], "taxStrategy": "ManualOverride",
                    "treatmentId": self._treatment(note, ln.tax_category, ln.tax_rate),
                    "taxes": [{"taxAmount": tax, "taxRate": ln.tax_rate, "taxName": f"{ln.tax_category} {decimal_text(ln.tax_rate)} %"}]}
                   for ln, tax in zip(lines, shares)]
        doc = await self._call("POST", f"{_BILLING}/credit-memos/actions/generate", {
            "billingAccountId": map_id(self.settings, "salesforce", "customer", note["customer_id"]), "type": "Posted",
            "currencyIsoCode": note["currency"], "effectiveDate": note["issue_date"], "externalReference": note["number"],
            "description": f"Credit note {note['number']} for invoice {note.get('preceding_invoice')}"[:255],
            "taxStrategy": "ManualOverride", "charges": charges}, f"salesforce: credit memo {note['number']}")
        memo_id = str(doc["creditMemoId"])
        await self._apply(memo_id, note, original)
        return InvoiceRef(memo_id, url=f"{self.base_url()}/{memo_id}")

    async def _apply(self, memo_id: str, note: Mapping[str, Any], invoice: InvoiceRef) -> None:
        await self._call("POST", f"{_BILLING}/credit-memos/{memo_id}/actions/apply", {"applications": [
            {"appliedToId": invoice.external_id, "amount": note["total"], "effectiveDate": note["issue_date"]}]},
            f"salesforce: apply credit memo {note['number']} to {invoice.external_id}")
