"""Epicor Kinetic (ERP 10+) target: an Epicor Function creates the AR invoice; OData finds it.

REST v2 needs ``X-API-Key`` (INVOICING_EPICOR_API_KEY) plus Basic (USERNAME/PASSWORD) or a
Bearer token (CLIENT_ID/CLIENT_SECRET/TOKEN_URL: client credentials against the IdP).
Errors: ``{"HttpStatus", "ReasonPhrase", "ErrorMessage", "ErrorType", "CorrelationId"}``.

The function's input contract (ours, [U] on Epicor's side: the BO method sequence lives in
the function, ``Erp.BO.ARInvoiceSvc`` inside an invoice group ``InvcGrp``)::

    POST /api/v2/efx/{Company}/{Library}/{Function}
    {"LegalNumber": "<our number>", "CustID": "<customer id>", "InvoiceDate": "YYYY-MM-DD",
     "DueDate": "YYYY-MM-DD", "CurrencyCode": "EUR", "PONum": "...", "GroupID": "<prefix><yyMMdd>",
     "TermsCode": "NET30", "DocInvoiceAmt": 123.45, "DocTaxAmt": 19.00,
     "Lines": [{"InvoiceLine": 1, "PartNum": "...", "LineDesc": "...", "SellingShipQty": 2,
                "DocUnitPrice": 10.00, "DocExtPrice": 20.00, "TaxCatID": "S", "TaxPercent": 19.00}]}
    → 200 {"InvoiceNum": 1234, "GroupID": "...", "LegalNumber": "<our number>"}

The function must set ``InvcHead.LegalNumber`` to our number and refuse (BLException) a
number that already exists, so two racing creates cannot both succeed.
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

__all__ = ["EpicorSink", "EpicorSettings"]


class EpicorSettings(PlatformSettings):
    library: str = Field("InvoicingPipeline", description="Epicor Function library id.")
    function: str = Field("CreateARInvoice", description="Epicor Function id (contract in sinks/epicor.py).")
    group_prefix: str = Field("IP", description="Invoice group id prefix; the group is <prefix><yyMMdd>.")
    scope: str | None = None


def _epicor_message(body: Any) -> str | None:
    if isinstance(body, dict):
        if "ErrorMessage" in body:
            return f"{body.get('ErrorType', 'error')}: {body['ErrorMessage']}"
        err = body.get("error")  # plain OData error shape
        if isinstance(err, dict):
            return f"{err.get('code', 'error')}: {err.get('message', '')}"
    return str(body)[:500] if body else None


class EpicorSink(Sink):
    """Creates one AR invoice per invoice through an Epicor Function.

    Delivery guarantee: exactly once per invoice number. Epicor has no idempotency key, so
    `find_invoice` queries ``Erp.BO.ARInvoiceSvc/ARInvoices`` for ``LegalNumber`` = our
    number before every create; the function also refuses a number that exists.
    Idempotency key: our invoice number as ``LegalNumber``. Credit notes are rejected.
    """

    target = "epicor"
    settings_class = EpicorSettings
    rate_limit_per_minute = None  # on-premise/cloud instance limits are not published [U]

    _auth_obj: httpx.Auth | None = None

    def _company(self) -> str:
        if not self.settings.tenant:
            raise ConfigError("epicor: INVOICING_EPICOR_TENANT (the Epicor company id) is not set")
        return self.settings.tenant

    def _auth(self) -> httpx.Auth:
        if self._auth_obj is None:
            s: EpicorSettings = self.settings  # type: ignore[assignment]
            if s.client_id and s.client_secret and s.token_url:
                self._auth_obj = OAuth2ClientCredentials(s.token_url, s.client_id, s.client_secret.get_secret_value(),
                                                         scope=s.scope, client=self.client)
            elif s.username and s.password:
                self._auth_obj = httpx.BasicAuth(s.username, s.password.get_secret_value())
            else:
                raise ConfigError("epicor: set USERNAME/PASSWORD or CLIENT_ID/CLIENT_SECRET/TOKEN_URL")
        return self._auth_obj

    def _headers(self) -> dict[str, str]:
        if not self.settings.api_key:
            raise ConfigError("epicor: INVOICING_EPICOR_API_KEY is required by REST v2")
        return {"X-API-Key": self.settings.api_key.get_secret_value(), "Accept": "application/json"}

    def _secrets(self) -> list[str | None]:
        s = self.settings
        return [x.get_secret_value() if x else None for x in (s.api_key, s.password, s.client_secret)]

    def _ref(self, row: Mapping[str, Any]) -> InvoiceRef:
        num = str(row["InvoiceNum"])
        return InvoiceRef(num, url=f"{self.base_url()}/api/v2/odata/{self._company()}/Erp.BO.ARInvoiceSvc/ARInvoices"
                                   f"('{self._company()}',{num})")

    async def find_invoice(self, invoice: Mapping[str, Any], idempotency_key: str) -> InvoiceRef | None:
        number = str(invoice["number"]).replace("'", "''")
        r = await self.client.get(f"{self.base_url()}/api/v2/odata/{self._company()}/Erp.BO.ARInvoiceSvc/ARInvoices",
                                  params={"$filter": f"LegalNumber eq '{number}'", "$select": "InvoiceNum,LegalNumber,GroupID",
                                          "$top": "2"}, headers=self._headers(), auth=self._auth())
        raise_for_status(r, what="epicor find ARInvoices", message=_epicor_message, secrets=self._secrets())
        rows = r.json().get("value", [])
        if len(rows) > 1:
            raise InvoiceRejected(f"epicor: {len(rows)} AR invoices with LegalNumber {invoice['number']}; resolve by hand")
        return self._ref(rows[0]) if rows else None

    async def create_invoice(self, invoice: Mapping[str, Any], idempotency_key: str) -> InvoiceRef:
        reject_credit_notes(invoice, self.target)
        s: EpicorSettings = self.settings  # type: ignore[assignment]
        body = {
            "LegalNumber": invoice["number"], "CustID": invoice["customer_id"],
            "InvoiceDate": invoice["issue_date"], "DueDate": invoice["due_date"], "CurrencyCode": invoice["currency"],
            "PONum": invoice.get("purchase_order") or invoice.get("buyer_reference") or "",
            "GroupID": f"{s.group_prefix}{invoice['issue_date']:%y%m%d}"[:8], "TermsCode": invoice["payment_terms_code"],
            "DocInvoiceAmt": invoice["total"], "DocTaxAmt": invoice["tax_total"],
            "Lines": [{"InvoiceLine": ln.number, "PartNum": ln.sku or "", "LineDesc": ln.description,
                       "SellingShipQty": ln.quantity, "DocUnitPrice": ln.unit_price, "DocExtPrice": ln.net,
                       "TaxCatID": ln.tax_category, "TaxPercent": ln.tax_rate} for ln in invoice_lines(invoice, self.target)],
        }
        r = await self.client.post(f"{self.base_url()}/api/v2/efx/{self._company()}/{s.library}/{s.function}",
                                   content=json_body(body, compact=True), auth=self._auth(),
                                   headers={**self._headers(), "Content-Type": "application/json"})
        raise_for_status(r, what=f"epicor efx {s.library}/{s.function}", message=_epicor_message, secrets=self._secrets())
        return self._ref(r.json())
