"""QuickBooks Online Accounting API: ``POST /v3/company/{realmId}/invoice?minorversion=75&requestid=…``,
or ``…/salesreceipt`` for a cash sale (an invoice fully paid when it was issued).

Delivery guarantee: exactly once per invoice number. Every create carries
``requestid`` (≤50 chars, unique per realm): QuickBooks answers a repeated
request id with the original response instead of creating a second invoice.
`find_invoice` runs ``select * from Invoice (or SalesReceipt) where DocNumber = '<our number>'``
first, so a crash after QuickBooks accepted but before our receipt is found
on redelivery. Idempotency key: our ``invoice_id`` (hashed when longer than
50 chars); look-up key: ``DocNumber`` = our number (max 21 chars).
The customer is found by ``DisplayName`` or created with its own request id.
Auth: OAuth 2.0 refresh token (client authenticated with HTTP Basic, rotated
refresh tokens kept). Rate limit: 500 requests/min per realm.
"""
from __future__ import annotations

import hashlib
from decimal import Decimal
from typing import Any, Mapping

import httpx
from pydantic import Field

from invoicing.errors import ConfigError, InvoiceRejected
from invoicing.exact import dumps_exact
from invoicing.mapping import check_mappable
from invoicing.settings import PlatformSettings
from sinks.auth import refresh_token_auth
from sinks.base import InvoiceRef, Sink, raise_for_status

__all__ = ["QuickBooksSink", "QuickBooksSettings", "to_quickbooks", "request_id", "entity_for"]

DOC_NUMBER_MAX = 21


class QuickBooksSettings(PlatformSettings):
    base_url: str | None = "https://quickbooks.api.intuit.com"
    token_url: str | None = "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer"
    minor_version: str = "75"
    item_ref: str = Field("1", description="Item (product/service) id used on every sales line.")
    tax_codes: dict[str, str] = Field(default_factory=dict, description='TaxCode id per "<category>/<rate>".')
    standard_tax_code: str = "TAX"
    exempt_tax_code: str = "NON"
    tax_rates: dict[str, str] = Field(default_factory=dict,
                                      description='TaxRate id per "<category>/<rate>" (adds TxnTaxDetail.TaxLine).')


def request_id(key: str, prefix: str = "") -> str:
    """A QuickBooks ``requestid``: the key itself when it fits in 50 chars, else a stable hash."""
    value = prefix + key
    return value if len(value) <= 50 else hashlib.sha256(value.encode()).hexdigest()[:50]


def _key(category: str, rate: Decimal) -> str:
    return f"{category}/{Decimal(rate).normalize():f}"


def entity_for(invoice: Mapping[str, Any]) -> str:
    """``SalesReceipt`` for a cash sale (paid in full when issued), else ``Invoice``."""
    if Decimal(invoice.get("prepaid") or 0) > 0 and Decimal(invoice["amount_due"]) == 0:
        return "SalesReceipt"
    return "Invoice"


def to_quickbooks(invoice: Mapping[str, Any], customer_id: str, settings: QuickBooksSettings) -> dict[str, Any]:
    """Our invoice as a QuickBooks ``Invoice`` or ``SalesReceipt`` (tax-exclusive lines, our tax
    total as TxnTaxDetail); a sales receipt has no due date."""
    check_mappable(invoice, "quickbooks")
    number = str(invoice["number"])
    if len(number) > DOC_NUMBER_MAX:
        raise InvoiceRejected(f"quickbooks: DocNumber {number!r} is longer than {DOC_NUMBER_MAX} characters")
    lines = []
    for n, line in enumerate(invoice["lines"], 1):
        key = _key(line["tax_category"], line["tax_rate"])
        code = settings.tax_codes.get(key) or (settings.standard_tax_code if line["tax_category"] == "S"
                                               else settings.exempt_tax_code)
        lines.append({
            "LineNum": n,
            "Description": line["description"],
            "Amount": Decimal(line["net_amount"]),
            "DetailType": "SalesItemLineDetail",
            "SalesItemLineDetail": {"ItemRef": {"value": settings.item_ref}, "Qty": Decimal(line["quantity"]),
                                    "UnitPrice": Decimal(line["unit_price"]), "TaxCodeRef": {"value": code}},
        })
    tax: dict[str, Any] = {"TotalTax": Decimal(invoice["tax_total"])}
    tax_lines = [{"Amount": Decimal(sub["tax_amount"]), "DetailType": "TaxLineDetail",
                  "TaxLineDetail": {"TaxRateRef": {"value": settings.tax_rates[_key(sub["category"], sub["rate"])]},
                                    "PercentBased": True, "TaxPercent": Decimal(sub["rate"]),
                                    "NetAmountTaxable": Decimal(sub["taxable_amount"])}}
                 for sub in invoice["tax_breakdown"] if _key(sub["category"], sub["rate"]) in settings.tax_rates]
    if tax_lines:
        tax["TaxLine"] = tax_lines
    doc: dict[str, Any] = {
        "DocNumber": number,
        "TxnDate": invoice["issue_date"].isoformat(),
        "DueDate": invoice["due_date"].isoformat(),
        "CustomerRef": {"value": customer_id},
        "CurrencyRef": {"value": invoice["currency"]},
        "GlobalTaxCalculation": "TaxExcluded",
        "Line": lines,
        "TxnTaxDetail": tax,
        "PrivateNote": f"invoice_id {invoice['invoice_id']}",
    }
    if entity_for(invoice) == "SalesReceipt":
        del doc["DueDate"]
    if invoice["buyer"].get("email"):
        doc["BillEmail"] = {"Address": invoice["buyer"]["email"]}
    if invoice.get("purchase_order") or invoice.get("buyer_reference"):
        doc["CustomerMemo"] = {"value": str(invoice.get("purchase_order") or invoice.get("buyer_reference"))}
    return doc


def _q(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


class QuickBooksSink(Sink):
    target = "quickbooks"
    settings_class = QuickBooksSettings
    settings: QuickBooksSettings
    rate_limit_per_minute = 500.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        s = self.settings
        self.auth = refresh_token_auth("quickbooks", s, self.client, basic_client_auth=True)
        if not s.tenant:
            raise ConfigError("quickbooks: INVOICING_QUICKBOOKS_TENANT (the realm id) is required")

    def _url(self, entity: str) -> str:
        return f"{self.base_url()}/v3/company/{self.settings.tenant}/{entity}"

    def _check(self, r: httpx.Response, what: str) -> dict[str, Any]:
        if r.status_code == 400:
            raise InvoiceRejected(f"quickbooks {what}: {_fault(r)}")
        raise_for_status(r, what=f"quickbooks {what}")
        doc: dict[str, Any] = r.json()
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

    async def find_invoice(self, invoice: Mapping[str, Any], idempotency_key: str) -> InvoiceRef | None:
        entity = entity_for(invoice)
        found = await self._query(f"select * from {entity} where DocNumber = '{_q(str(invoice['number']))}'", entity)
        return InvoiceRef(str(found[0]["Id"])) if found else None

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
        check_mappable(invoice, "quickbooks")
        customer = await self._customer(invoice)
        entity = entity_for(invoice)
        doc = await self._post(entity.lower(), to_quickbooks(invoice, customer, self.settings),
                               request_id(idempotency_key))
        return InvoiceRef(str(doc[entity]["Id"]))


def _fault(r: httpx.Response) -> str:
    """``Fault.Error[].Message/Detail/code`` as one line."""
    try:
        errors = r.json()["Fault"]["Error"]
        return "; ".join(f"{e.get('Message', '')}: {e.get('Detail', '')} (code {e.get('code', '?')})" for e in errors)
    except (ValueError, KeyError, TypeError):
        return f"HTTP {r.status_code}: {r.text[:300]}"
