"""Epicor Kinetic (ERP 10+) target: Epicor Functions create AR invoices and credit memos; OData finds them.

REST v2 needs ``X-API-Key`` (INVOICING_EPICOR_API_KEY) plus Basic (USERNAME/PASSWORD) or a
Bearer token (CLIENT_ID/CLIENT_SECRET/TOKEN_URL: client credentials against the IdP).
Errors: ``{"HttpStatus", "ReasonPhrase", "ErrorMessage", "ErrorType", "CorrelationId"}``.

The functions' input contract (ours, [U] on Epicor's side: the BO method sequence lives in the
functions, ``Erp.BO.ARInvoiceSvc`` inside an invoice group ``InvcGrp``; JSON Schema in
tests/fakes/specs/epicor_function_contract.json)::

    POST /api/v2/efx/{Company}/{Library}/{Function}       Function = CreateARInvoice | CreateARCreditMemo
    {"LegalNumber": "<our number>", "CustID": "<customer id>", "InvoiceDate": "YYYY-MM-DD",
     "DueDate": "YYYY-MM-DD", "CurrencyCode": "EUR", "PONum": "...", "GroupID": "<prefix><yyMMdd>",
     "TermsCode": "NET30", "DocInvoiceAmt": 123.45, "DocTaxAmt": 19.00,
     "Lines": [{"InvoiceLine": 1, "PartNum": "...", "LineDesc": "...", "SellingShipQty": 2,
                "DocUnitPrice": 10.00, "DocExtPrice": 20.00,
                "TaxLines": [{"TaxCode": "VAT", "RateCode": "STD", "Percent": 19.00,
                              "DocTaxableAmt": 20.00, "DocTaxAmt": 3.80}]}]}
    credit memo only: "ApplyToInvoiceNum": <InvcHead.InvoiceNum of the invoice it credits>
    → 200 {"InvoiceNum": 1234, "GroupID": "...", "LegalNumber": "<our number>"}

Both functions set ``InvcHead.LegalNumber`` to our number and refuse (BLException) a number
that exists, so two racing creates cannot both succeed. ``TaxLines`` become manual sales-tax rows
(``InvcTax``, Epicor's own tax and rate codes from INVOICING_EPICOR_TAX_RATES, ``Manual`` set so
Epicor keeps our amounts); per tax code and rate the amounts add up to the rate applied once to
the group (EN 16931), which the function checks. Amounts are positive; ``CreateARCreditMemo``
creates the invoice with ``CreditMemo`` = true and ``InvoiceRef`` = ``ApplyToInvoiceNum``.
"""
from __future__ import annotations

from typing import Any, Collection, Mapping

from pydantic import Field

from domain.errors import InvoiceRejected
from domain.exact import json_body, line_taxes
from sinks.mapping import invoice_lines, rate_key
from domain.settings import PlatformSettings
from sinks.credentials import AnyOf, Basic, ClientCredentials, Need
from sinks.base import InvoiceRef, Sink, TaxKey, raise_for_status

__all__ = ["EpicorSink", "EpicorSettings"]


class EpicorSettings(PlatformSettings):
    library: str = Field("InvoicingPipeline", description="Epicor Function library id.")
    function: str = Field("CreateARInvoice", description="Epicor Function creating invoices (contract in sinks/epicor.py).")
    credit_function: str = Field("CreateARCreditMemo", description="Epicor Function creating credit memos.")
    group_prefix: str = Field("IP", description="Invoice group id prefix; the group is <prefix><yyMMdd>.")
    tax_rates: dict[str, str] = Field(default_factory=dict, description='Epicor "<TaxCode>/<RateCode>" per '
                                      '"<EN 16931 category>:<rate>", e.g. {"S:19": "VAT/STD", "K:0": "VAT/ICS"}.')
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
    """Creates one AR invoice or credit memo per document through an Epicor Function.

    Delivery guarantee: exactly once per document number. Epicor has no idempotency key, so
    `find_invoice`/`find_credit_note` query ``Erp.BO.ARInvoiceSvc/ARInvoices`` for
    ``LegalNumber`` = our number (and ``CreditMemo``) before every create; the functions also
    refuse a number that exists. Idempotency key: our number as ``LegalNumber``. A credit memo
    names the invoice it credits by Epicor's ``InvoiceNum`` (``original.external_id``).
    """

    target = "epicor"
    settings_class = EpicorSettings
    settings: EpicorSettings
    rate_limit_per_minute = None  # on-premise/cloud instance limits are not published [U]
    auth_spec = AnyOf(ClientCredentials(scope=lambda s: s.scope), Basic())
    requires = (Need("base_url"), Need("tenant", "the Epicor company id"), Need("api_key", "required by REST v2"))

    def tax_mapping_gaps(self, taxes: Collection[TaxKey]) -> list[str]:
        return [f'INVOICING_EPICOR_TAX_RATES has no entry "{rate_key(c, r)}" (Epicor\'s "<TaxCode>/<RateCode>")'
                for c, r in sorted(taxes) if "/" not in self.settings.tax_rates.get(rate_key(c, r), "")]

    def _company(self) -> str:
        return str(self.settings.tenant)

    def _headers(self) -> dict[str, str]:
        assert self.settings.api_key is not None, "required at construction"
        return {"X-API-Key": self.settings.api_key.get_secret_value(), "Accept": "application/json"}

    def _ref(self, row: Mapping[str, Any]) -> InvoiceRef:
        num = str(row["InvoiceNum"])
        return InvoiceRef(num, url=f"{self.base_url()}/api/v2/odata/{self._company()}/Erp.BO.ARInvoiceSvc/ARInvoices"
                                   f"('{self._company()}',{num})")

    async def _find(self, doc: Mapping[str, Any], credit_memo: bool) -> InvoiceRef | None:
        number = str(doc["number"]).replace("'", "''")
        r = await self.client.get(f"{self.base_url()}/api/v2/odata/{self._company()}/Erp.BO.ARInvoiceSvc/ARInvoices",
                                  params={"$filter": f"LegalNumber eq '{number}' and CreditMemo eq {str(credit_memo).lower()}",
                                          "$select": "InvoiceNum,LegalNumber,GroupID,CreditMemo", "$top": "2"},
                                  headers=self._headers(), auth=self.auth)
        raise_for_status(r, what="epicor find ARInvoices", message=_epicor_message, secrets=self._secrets())
        rows = r.json().get("value", [])
        if len(rows) > 1:
            raise InvoiceRejected(f"epicor: {len(rows)} AR invoices with LegalNumber {doc['number']}; resolve by hand")
        return self._ref(rows[0]) if rows else None

    async def find_invoice(self, invoice: Mapping[str, Any], idempotency_key: str) -> InvoiceRef | None:
        return await self._find(invoice, False)

    async def find_credit_note(self, note: Mapping[str, Any], idempotency_key: str) -> InvoiceRef | None:
        return await self._find(note, True)

    async def create_invoice(self, invoice: Mapping[str, Any], idempotency_key: str) -> InvoiceRef:
        return await self._call(self.settings.function, self._body(invoice))

    async def create_credit_note(self, note: Mapping[str, Any], idempotency_key: str, original: InvoiceRef) -> InvoiceRef:
        return await self._call(self.settings.credit_function, {**self._body(note), "ApplyToInvoiceNum": int(original.external_id)})

    async def _call(self, function: str, body: dict[str, Any]) -> InvoiceRef:
        s = self.settings
        r = await self.client.post(f"{self.base_url()}/api/v2/efx/{self._company()}/{s.library}/{function}",
                                   content=json_body(body, compact=True), auth=self.auth,
                                   headers={**self._headers(), "Content-Type": "application/json"})
        raise_for_status(r, what=f"epicor efx {s.library}/{function}", message=_epicor_message, secrets=self._secrets())
        return self._ref(r.json())

    def _body(self, doc: Mapping[str, Any]) -> dict[str, Any]:
        lines = invoice_lines(doc, self.target)
        taxes = line_taxes({"lines": [{"net_amount": ln.net, "tax_category": ln.tax_category, "tax_rate": ln.tax_rate}
                                      for ln in lines], "tax_breakdown": doc["tax_breakdown"], "currency": doc["currency"]})
        out = []
        for ln, tax in zip(lines, taxes):
            code = self.settings.tax_rates.get(rate_key(ln.tax_category, ln.tax_rate), "")
            if "/" not in code:
                raise InvoiceRejected(f'epicor: INVOICING_EPICOR_TAX_RATES has no entry '
                                      f'"{rate_key(ln.tax_category, ln.tax_rate)}"; {doc["number"]} not sent')
            tax_code, rate_code = code.split("/", 1)
            out.append({"InvoiceLine": ln.number, "PartNum": ln.sku or "", "LineDesc": ln.description,
                        "SellingShipQty": ln.quantity, "DocUnitPrice": ln.unit_price, "DocExtPrice": ln.net,
                        "TaxLines": [{"TaxCode": tax_code, "RateCode": rate_code, "Percent": ln.tax_rate,
                                      "DocTaxableAmt": ln.net, "DocTaxAmt": tax}]})
        return {"LegalNumber": doc["number"], "CustID": doc["customer_id"], "InvoiceDate": doc["issue_date"],
                "DueDate": doc["due_date"], "CurrencyCode": doc["currency"],
                "PONum": doc.get("purchase_order") or doc.get("buyer_reference") or "",
                "GroupID": f"{self.settings.group_prefix}{doc['issue_date']:%y%m%d}"[:8],
                "TermsCode": doc["payment_terms_code"], "DocInvoiceAmt": doc["total"], "DocTaxAmt": doc["tax_total"],
                "Lines": out}
