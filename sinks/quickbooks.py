"""QuickBooks Online Accounting API: ``POST /v3/company/{realmId}/invoice?minorversion=75&requestid=…``
(``…/salesreceipt`` for a cash sale, an invoice fully paid when it was issued); credit notes as a
``CreditMemo`` (``…/creditmemo``), applied to the invoice by a zero ``Payment`` whose lines link the
Invoice and the CreditMemo (``Line.LinkedTxn``): a CreditMemo has no link of its own to an invoice.

Tax, QuickBooks' global model (non-US companies): every line carries the company's ``TaxCodeRef``
for its (category, rate), ``INVOICING_QUICKBOOKS_TAX_CODES`` (JSON, e.g. ``{"S:19": "5", "K:0": "6"}``),
and ``TxnTaxDetail`` carries one ``TaxLine`` per rate with our tax amount for the group
(``TaxRateRef`` from ``INVOICING_QUICKBOOKS_TAX_RATES``, required for every non-zero rate), so the
books show our figures rather than a recomputation. US companies (``INVOICING_QUICKBOOKS_US_SALES_TAX=true``)
use QuickBooks' US model: lines are ``TAX``/``NON`` and the transaction's ``TxnTaxCodeRef`` is the
sales-tax code of the rate (``TAX_CODES``), one rate per invoice. There is no default code: a
(category, rate) without its mapping is a gap the worker refuses to start on.

The request bodies are checked in the tests against the QuickBooks v3 XSDs of the official Java SDK
(intuit/QuickBooks-V3-Java-SDK, trimmed copy in tests/fakes/specs/quickbooks_finance.trimmed.xsd).
"""
from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from typing import Any, Collection, Mapping

import httpx
from pydantic import Field

from domain.errors import InvoiceRejected
from domain.exact import dumps_exact
from sinks.mapping import rate_key, reject_document_charges
from domain.settings import PlatformSettings
from sinks.credentials import Need, RefreshToken
from sinks.base import InvoiceRef, Sink, TaxKey, raise_for_status

__all__ = ["QuickBooksSink", "QuickBooksSettings", "to_quickbooks", "request_id", "entity_for"]

DOC_NUMBER_MAX = 21
_CODES, _RATES = "INVOICING_QUICKBOOKS_TAX_CODES", "INVOICING_QUICKBOOKS_TAX_RATES"


class QuickBooksSettings(PlatformSettings):
    base_url: str | None = "https://quickbooks.api.intuit.com"
    token_url: str | None = "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer"
    minor_version: str = "75"
    item_ref: str = Field("1", description="Item (product/service) id used on every sales line.")
    tax_codes: dict[str, str] = Field(default_factory=dict, description='TaxCode id per "<category>:<rate>".')
    tax_rates: dict[str, str] = Field(default_factory=dict, description='TaxRate id per "<category>:<rate>" (non-zero rates).')
    us_sales_tax: bool = Field(False, description="The company uses QuickBooks' US sales-tax model.")


def request_id(key: str, prefix: str = "") -> str:
    """A QuickBooks ``requestid``: the key itself when it fits in 50 chars, else a stable hash."""
    value = prefix + key
    return value if len(value) <= 50 else hashlib.sha256(value.encode()).hexdigest()[:50]


def entity_for(invoice: Mapping[str, Any]) -> str:
    """``SalesReceipt`` for a cash sale (paid in full when issued), ``CreditMemo`` for a credit note, else ``Invoice``."""
    if invoice.get("document_type") == "CREDIT_NOTE":
        return "CreditMemo"
    if Decimal(invoice.get("prepaid") or 0) > 0 and Decimal(invoice["amount_due"]) == 0:
        return "SalesReceipt"
    return "Invoice"


def _mapped(table: Mapping[str, str], var: str, category: str, rate: Decimal) -> str:
    key = rate_key(category, rate)
    if key not in table:
        raise InvoiceRejected(f'quickbooks: {var} has no entry "{key}"')
    return table[key]


def _tax(invoice: Mapping[str, Any], settings: QuickBooksSettings) -> tuple[list[str], dict[str, Any]]:
    """The line tax codes and the ``TxnTaxDetail`` of *invoice* in the company's tax model."""
    total: dict[str, Any] = {"TotalTax": Decimal(invoice["tax_total"])}
    if settings.us_sales_tax:
        taxed = {(g["category"], Decimal(g["rate"])) for g in invoice["tax_breakdown"] if Decimal(g["rate"])}
        if len(taxed) > 1:
            raise InvoiceRejected("quickbooks: the US sales-tax model takes one rate per invoice; this one has "
                                  + ", ".join(sorted(rate_key(c, r) for c, r in taxed)))
        if taxed:
            total["TxnTaxCodeRef"] = {"value": _mapped(settings.tax_codes, _CODES, *next(iter(taxed)))}
        return ["TAX" if Decimal(ln["tax_rate"]) else "NON" for ln in invoice["lines"]], total
    codes = [_mapped(settings.tax_codes, _CODES, ln["tax_category"], Decimal(ln["tax_rate"])) for ln in invoice["lines"]]
    lines = []
    for group in invoice["tax_breakdown"]:
        rate = Decimal(group["rate"])
        if rate or rate_key(group["category"], rate) in settings.tax_rates:
            lines.append({"Amount": Decimal(group["tax_amount"]), "DetailType": "TaxLineDetail",
                          "TaxLineDetail": {"TaxRateRef": {"value": _mapped(settings.tax_rates, _RATES, group["category"], rate)},
                                            "PercentBased": True, "TaxPercent": rate,
                                            "NetAmountTaxable": Decimal(group["taxable_amount"])}})
    if lines:
        total["TaxLine"] = lines
    return codes, total


def to_quickbooks(invoice: Mapping[str, Any], customer_id: str, settings: QuickBooksSettings) -> dict[str, Any]:
    """Our invoice or credit note as a QuickBooks ``Invoice``, ``SalesReceipt`` or ``CreditMemo`` (tax-exclusive
    lines, our tax in ``TxnTaxDetail``); only an invoice has a due date."""
    reject_document_charges(invoice, "quickbooks")
    number = str(invoice["number"])
    if len(number) > DOC_NUMBER_MAX:
        raise InvoiceRejected(f"quickbooks: DocNumber {number!r} is longer than {DOC_NUMBER_MAX} characters")
    codes, tax = _tax(invoice, settings)
    lines = [{
        "LineNum": n,
        "Description": line["description"],
        "Amount": Decimal(line["net_amount"]),
        "DetailType": "SalesItemLineDetail",
        "SalesItemLineDetail": {"ItemRef": {"value": settings.item_ref}, "Qty": Decimal(line["quantity"]),
                                "UnitPrice": Decimal(line["unit_price"]), "TaxCodeRef": {"value": code}},
    } for n, (line, code) in enumerate(zip(invoice["lines"], codes), 1)]
    note = [f"invoice_id {invoice['invoice_id']}"]
    if invoice.get("preceding_invoice"):
        note.append(f"credits invoice {invoice['preceding_invoice']}")
    if invoice.get("purchase_order") or invoice.get("buyer_reference"):
        note.append(f"reference {invoice.get('purchase_order') or invoice.get('buyer_reference')}")
    doc: dict[str, Any] = {
        "DocNumber": number,
        "TxnDate": invoice["issue_date"].isoformat(),
        "CustomerRef": {"value": customer_id},
        "CurrencyRef": {"value": invoice["currency"]},
        "GlobalTaxCalculation": "TaxExcluded",
        "Line": lines,
        "TxnTaxDetail": tax,
        "PrivateNote": "; ".join(note),
    }
    if entity_for(invoice) == "Invoice":
        doc["DueDate"] = invoice["due_date"].isoformat()
    if invoice["buyer"].get("email"):
        doc["BillEmail"] = {"Address": invoice["buyer"]["email"]}
    return doc


def _q(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


class QuickBooksSink(Sink):
    """Invoices and credit notes into QuickBooks Online.

    Delivery guarantee: exactly once per document number. Every create carries ``requestid``
    (≤50 chars, unique per realm; QuickBooks answers a repeated request id with the original
    response): our ``invoice_id`` for an invoice, sales receipt or credit memo, ``pay-<invoice_id>``
    for the Payment that applies a credit memo, ``cus-<customer_id>`` for a new customer.
    `find_invoice` / `find_credit_note` first run ``select * from Invoice|SalesReceipt|CreditMemo where
    DocNumber = '<our number>'``, so a crash after QuickBooks accepted is found on redelivery. A credit
    memo counts as delivered once a Payment links it (its ``LinkedTxn``); one found unapplied is
    reused and applied (``min(credit total, invoice Balance)``), never created twice.
    Idempotency key: our ``invoice_id`` (hashed when longer than 50 chars); look-up key:
    ``DocNumber`` = our number (max 21 chars).
    Auth: OAuth 2.0 refresh token (client authenticated with HTTP Basic, rotated refresh tokens kept).
    Rate limit: 500 requests/min per realm.
    """

    target = "quickbooks"
    settings_class = QuickBooksSettings
    settings: QuickBooksSettings
    rate_limit_per_minute = 500.0

    auth_spec = RefreshToken(basic_client_auth=True)
    requires = (Need("tenant", "the realm id"),)

    def tax_mapping_gaps(self, taxes: Collection[TaxKey]) -> list[str]:
        s, gaps = self.settings, []
        for category, rate in sorted(taxes):
            key = rate_key(category, rate)
            if key not in s.tax_codes and (rate or not s.us_sales_tax):
                gaps.append(f'{_CODES} has no entry "{key}" (the QuickBooks TaxCode id of that sales tax)')
            if rate and not s.us_sales_tax and key not in s.tax_rates:
                gaps.append(f'{_RATES} has no entry "{key}" (the QuickBooks TaxRate id of that rate)')
        return gaps

    def _url(self, entity: str) -> str:
        return f"{self.base_url()}/v3/company/{self.settings.tenant}/{entity}"

    def _check(self, r: httpx.Response, what: str) -> dict[str, Any]:
        if r.status_code == 400:
            raise InvoiceRejected(f"quickbooks {what}: {_fault(r)}")
        raise_for_status(r, what=f"quickbooks {what}")
        doc: dict[str, Any] = json.loads(r.text, parse_float=Decimal)
        if "Fault" in doc:
            raise InvoiceRejected(f"quickbooks {what}: {_fault(r)}")
        return doc

    async def _query(self, sql: str, entity: str) -> list[dict[str, Any]]:
        r = await self.client.get(self._url("query"), params={"query": sql, "minorversion": self.settings.minor_version},
                                  headers={"Accept": "application/json"}, auth=self.auth)
        return list(self._check(r, "query")["QueryResponse"].get(entity) or [])

    async def _post(self, entity: str, body: dict[str, Any], rid: str) -> dict[str, Any]:
        r = await self.client.post(self._url(entity), content=dumps_exact(body).encode(),
                                   params={"minorversion": self.settings.minor_version, "requestid": rid},
                                   headers={"Accept": "application/json", "Content-Type": "application/json"},
                                   auth=self.auth)
        return self._check(r, f"create {entity}")

    async def _by_number(self, document: Mapping[str, Any]) -> dict[str, Any] | None:
        entity = entity_for(document)
        found = await self._query(f"select * from {entity} where DocNumber = '{_q(str(document['number']))}'", entity)
        return found[0] if found else None

    async def find_invoice(self, invoice: Mapping[str, Any], idempotency_key: str) -> InvoiceRef | None:
        found = await self._by_number(invoice)
        return InvoiceRef(str(found["Id"])) if found else None

    async def _customer(self, invoice: Mapping[str, Any]) -> str:
        name = str(invoice["buyer"]["name"]).replace(":", "-")[:100]
        found = await self._query(f"select * from Customer where DisplayName = '{_q(name)}'", "Customer")
        if found:
            return str(found[0]["Id"])
        body: dict[str, Any] = {"DisplayName": name, "CompanyName": name, "CurrencyRef": {"value": invoice["currency"]}}
        if invoice["buyer"].get("email"):
            body["PrimaryEmailAddr"] = {"Address": invoice["buyer"]["email"]}
        doc = await self._post("customer", body, request_id(str(invoice["customer_id"]), "cus-"))
        return str(doc["Customer"]["Id"])

    async def create_invoice(self, invoice: Mapping[str, Any], idempotency_key: str) -> InvoiceRef:
        entity = entity_for(invoice)
        body = to_quickbooks(invoice, "", self.settings)  # refuses what QuickBooks cannot book before any call
        body["CustomerRef"] = {"value": await self._customer(invoice)}
        doc = await self._post(entity.lower(), body, request_id(idempotency_key))
        return InvoiceRef(str(doc[entity]["Id"]))

    async def find_credit_note(self, note: Mapping[str, Any], idempotency_key: str) -> InvoiceRef | None:
        found = await self._by_number(note)
        if found is None or not any(t.get("TxnType") == "Payment" for t in found.get("LinkedTxn") or []):
            return None  # not there, or not applied yet: create_credit_note finishes it
        return InvoiceRef(str(found["Id"]))

    async def create_credit_note(self, note: Mapping[str, Any], idempotency_key: str, original: InvoiceRef) -> InvoiceRef:
        memo = await self._by_number(note)
        if memo is None:
            body = to_quickbooks(note, "", self.settings)
            body["CustomerRef"] = {"value": await self._customer(note)}
            memo = (await self._post("creditmemo", body, request_id(idempotency_key)))["CreditMemo"]
        if not any(t.get("TxnType") == "Payment" for t in memo.get("LinkedTxn") or []):
            r = await self.client.get(self._url(f"invoice/{original.external_id}"), auth=self.auth,
                                      params={"minorversion": self.settings.minor_version}, headers={"Accept": "application/json"})
            invoice = self._check(r, "read invoice")["Invoice"]
            amount = min(Decimal(memo["TotalAmt"]), Decimal(invoice["Balance"]))
            if amount > 0:
                payment = {"CustomerRef": memo["CustomerRef"], "CurrencyRef": {"value": note["currency"]},
                           "TxnDate": note["issue_date"].isoformat(), "TotalAmt": Decimal(0),
                           "PrivateNote": f"applies credit memo {note['number']} to invoice {note.get('preceding_invoice')}",
                           "Line": [{"Amount": amount, "LinkedTxn": [{"TxnId": original.external_id, "TxnType": "Invoice"}]},
                                    {"Amount": amount, "LinkedTxn": [{"TxnId": str(memo["Id"]), "TxnType": "CreditMemo"}]}]}
                await self._post("payment", payment, request_id(idempotency_key, "pay-"))
        return InvoiceRef(str(memo["Id"]))


def _fault(r: httpx.Response) -> str:
    """``Fault.Error[].Message/Detail/code`` as one line."""
    try:
        errors = r.json()["Fault"]["Error"]
        return "; ".join(f"{e.get('Message', '')}: {e.get('Detail', '')} (code {e.get('code', '?')})" for e in errors)
    except (ValueError, KeyError, TypeError):
        return f"HTTP {r.status_code}: {r.text[:300]}"
