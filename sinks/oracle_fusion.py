"""Oracle Fusion Cloud ERP target: Receivables invoices through the Financials REST API.

``POST /fscmRestApi/resources/11.13.18.05/receivablesInvoices`` with
``Content-Type: application/vnd.oracle.adf.resourceitem+json``; look-up with
``GET …/receivablesInvoices?q=TransactionNumber='…' and TransactionSource='…'``.
Auth: HTTP Basic (INVOICING_ORACLE_FUSION_USERNAME/_PASSWORD), or OAuth 2.0 client
credentials against IDCS/IAM when CLIENT_ID, CLIENT_SECRET and TOKEN_URL are set (SCOPE
setting for the resource scope). Errors are plain text, or with REST-Framework-Version 4
``{"title", "status", "o:errorDetails": [{"detail", "o:errorCode", "o:errorPath"}]}``.
"""
from __future__ import annotations

from typing import Any, Mapping

import httpx
from pydantic import Field

from invoicing.errors import ConfigError, InvoiceRejected
from invoicing.settings import PlatformSettings
from invoicing.exact import json_body
from invoicing.mapping import invoice_lines, reject_credit_notes
from sinks.auth import OAuth2ClientCredentials
from sinks.base import InvoiceRef, Sink, raise_for_status

__all__ = ["OracleFusionSink", "OracleFusionSettings"]

_RESOURCE = "/fscmRestApi/resources/11.13.18.05/receivablesInvoices"
_ITEM = "application/vnd.oracle.adf.resourceitem+json"


class OracleFusionSettings(PlatformSettings):
    business_unit: str = Field("Vision Operations", description="Receivables business unit name.")
    transaction_source: str = Field("Invoicing Pipeline", description="Manual transaction source; set it to disallow "
                                    "duplicate transaction numbers (AllowDuplicateTrxNumFlag = N).")
    transaction_type: str = Field("Invoice")
    payment_terms: dict[str, str] = Field(default_factory=lambda: {"NET30": "30 Net", "NET14": "14 Net", "NET60": "60 Net"},
                                          description="Our payment_terms_code → Oracle payment terms name.")
    tax_classification: dict[str, str] = Field(default_factory=dict, description='"<category>:<rate>" → '
                                               "TaxClassificationCode, e.g. {\"S:19\": \"VAT19\"}; unmapped: Oracle's tax rules.")
    scope: str | None = Field(None, description="OAuth scope, e.g. urn:opc:resource:fa:instanceid=…urn:opc:resource:consumer::all")


def _oracle_message(body: Any) -> str | None:
    if isinstance(body, dict):
        details = "; ".join(f"{d.get('o:errorCode', '')} {d.get('detail', '')}".strip()
                            for d in body.get("o:errorDetails") or [] if isinstance(d, dict))
        return f"{body.get('title', 'error')}" + (f": {details}" if details else f": {body.get('detail', '')}")
    return str(body).strip()[:500] or None


class OracleFusionSink(Sink):
    """Creates one Receivables transaction per invoice.

    Delivery guarantee: exactly once per invoice number within the transaction source.
    Oracle's REST API takes no idempotency key, so `find_invoice` queries
    ``TransactionNumber`` = our number (and our transaction source) before every create;
    the source should disallow duplicate numbers, so a racing second create is refused
    by Oracle too. Idempotency key: our invoice number as ``TransactionNumber``.

    Do not point this at invoices whose orders Oracle Order Management already feeds to
    AutoInvoice: that would bill twice. Credit notes (``receivablesCreditMemos``) are rejected.
    """

    target = "oracle-fusion"
    settings_class = OracleFusionSettings
    rate_limit_per_minute = None  # Oracle publishes no per-tenant REST rate [U]

    _auth_obj: httpx.Auth | None = None

    def _auth(self) -> httpx.Auth:
        if self._auth_obj is None:
            s: OracleFusionSettings = self.settings  # type: ignore[assignment]
            if s.client_id and s.client_secret and s.token_url:
                self._auth_obj = OAuth2ClientCredentials(s.token_url, s.client_id, s.client_secret.get_secret_value(),
                                                         scope=s.scope, client=self.client, basic_client_auth=True)
            elif s.username and s.password:
                self._auth_obj = httpx.BasicAuth(s.username, s.password.get_secret_value())
            else:
                raise ConfigError("oracle-fusion: set USERNAME/PASSWORD or CLIENT_ID/CLIENT_SECRET/TOKEN_URL")
        return self._auth_obj

    def _secrets(self) -> list[str | None]:
        s = self.settings
        return [x.get_secret_value() if x else None for x in (s.password, s.client_secret)]

    def _ref(self, item: Mapping[str, Any]) -> InvoiceRef:
        tid = str(item["CustomerTransactionId"])
        return InvoiceRef(tid, url=f"{self.base_url()}{_RESOURCE}/{tid}")

    async def find_invoice(self, invoice: Mapping[str, Any], idempotency_key: str) -> InvoiceRef | None:
        s: OracleFusionSettings = self.settings  # type: ignore[assignment]
        q = f"TransactionNumber='{_quote(invoice['number'])}' and TransactionSource='{_quote(s.transaction_source)}'"
        r = await self.client.get(f"{self.base_url()}{_RESOURCE}", auth=self._auth(),
                                  params={"q": q, "fields": "CustomerTransactionId,TransactionNumber", "onlyData": "true"},
                                  headers={"REST-Framework-Version": "4", "Accept": "application/json"})
        raise_for_status(r, what="oracle-fusion find receivablesInvoices", message=_oracle_message, secrets=self._secrets())
        items = r.json().get("items", [])
        if len(items) > 1:
            raise InvoiceRejected(f"oracle-fusion: {len(items)} transactions numbered {invoice['number']}; resolve by hand")
        return self._ref(items[0]) if items else None

    async def create_invoice(self, invoice: Mapping[str, Any], idempotency_key: str) -> InvoiceRef:
        reject_credit_notes(invoice, self.target)
        s: OracleFusionSettings = self.settings  # type: ignore[assignment]
        lines = []
        for ln in invoice_lines(invoice, self.target):
            line: dict[str, Any] = {"LineNumber": ln.number, "Description": ln.description[:240],
                                    "Quantity": ln.quantity, "UnitSellingPrice": ln.unit_price}
            if ln.sku:
                line["ItemNumber"] = ln.sku
            code = s.tax_classification.get(f"{ln.tax_category}:{ln.tax_rate.normalize():f}")
            if code:
                line["TaxClassificationCode"] = code
            lines.append(line)
        body = {
            "BusinessUnit": s.business_unit, "TransactionSource": s.transaction_source,
            "TransactionType": s.transaction_type, "TransactionNumber": invoice["number"],
            "TransactionDate": invoice["issue_date"], "AccountingDate": invoice["issue_date"],
            "BillToCustomerNumber": invoice["customer_id"], "InvoiceCurrencyCode": invoice["currency"],
            "PaymentTerms": s.payment_terms.get(invoice["payment_terms_code"], invoice["payment_terms"]),
            "DueDate": invoice["due_date"], "PurchaseOrder": invoice.get("purchase_order") or invoice.get("buyer_reference"),
            "Comments": f"Invoice {invoice['number']} for {', '.join(invoice.get('orders') or [])}"[:240],
            "receivablesInvoiceLines": lines,
        }
        body = {k: v for k, v in body.items() if v is not None}
        r = await self.client.post(f"{self.base_url()}{_RESOURCE}", content=json_body(body, compact=True), auth=self._auth(),
                                   headers={"Content-Type": _ITEM, "REST-Framework-Version": "4", "Accept": "application/json"})
        raise_for_status(r, what="oracle-fusion create receivablesInvoices", message=_oracle_message, secrets=self._secrets())
        return self._ref(r.json())


def _quote(value: str) -> str:
    return str(value).replace("'", "''")
