"""Oracle Fusion Cloud ERP target: Receivables invoices and credit memos through the Financials REST API.

``POST /fscmRestApi/resources/11.13.18.05/receivablesInvoices`` / ``…/receivablesCreditMemos`` with
``Content-Type: application/vnd.oracle.adf.resourceitem+json``; look-up with
``GET …?q=TransactionNumber='…' and TransactionSource='…'``.
Auth: HTTP Basic (INVOICING_ORACLE_FUSION_USERNAME/_PASSWORD), or OAuth 2.0 client
credentials against IDCS/IAM when CLIENT_ID, CLIENT_SECRET and TOKEN_URL are set (SCOPE
setting for the resource scope). Errors are plain text, or with REST-Framework-Version 4
``{"title", "status", "o:errorDetails": [{"detail", "o:errorCode", "o:errorPath"}]}``.

Tax: manual tax lines (``receivablesInvoiceLineTaxLines`` / ``receivablesCreditMemoLineTaxLines``
{TaxRegimeCode, TaxRateCode, TaxAmount}, as in the REST guide's "Create an Invoice with Manual Tax
Lines"): Oracle's regime and rate codes from INVOICING_ORACLE_FUSION_TAX_RATES
(``{"S:19": "DE VAT/DE VAT STANDARD"}``), each line's share of the group's tax, so Oracle's tax is ours.
Oracle publishes no machine-readable spec reachable here; requests are checked against the field
lists of the REST guide (tests/fakes/specs/oracle_fusion_receivables.json).
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any, Collection, Mapping
from xml.sax.saxutils import escape

from pydantic import Field

from domain.errors import InvoiceRejected
from domain.exact import decimal_text, json_body, line_taxes
from sinks.mapping import invoice_lines, rate_key
from domain.settings import PlatformSettings
from sinks.credentials import AnyOf, Basic, ClientCredentials, Need
from sinks.base import InvoiceRef, Sink, TaxKey, original_of, raise_for_status

__all__ = ["OracleFusionSink", "OracleFusionSettings"]

_API = "/fscmRestApi/resources/11.13.18.05"
_ITEM = "application/vnd.oracle.adf.resourceitem+json"
_CM_NS = "http://xmlns.oracle.com/apps/financials/receivables/transactions/creditMemos/creditMemoService/"


class OracleFusionSettings(PlatformSettings):
    business_unit: str = Field("Vision Operations", description="Receivables business unit name.")
    transaction_source: str = Field("Invoicing Pipeline", description="Manual transaction source; set it to disallow "
                                    "duplicate transaction numbers (AllowDuplicateTrxNumFlag = N).")
    transaction_type: str = Field("Invoice")
    credit_memo_type: str = Field("Credit Memo", description="Transaction type of the on-account credit memos.")
    payment_terms: dict[str, str] = Field(default_factory=lambda: {"NET30": "30 Net", "NET14": "14 Net", "NET60": "60 Net"},
                                          description="Our payment_terms_code → Oracle payment terms name.")
    tax_rates: dict[str, str] = Field(default_factory=dict, description='"<category>:<rate>" → "<TaxRegimeCode>/'
                                      '<TaxRateCode>", e.g. {"S:19": "DE VAT/DE VAT STANDARD", "K:0": "DE VAT/DE VAT ICS"}.')
    scope: str | None = Field(None, description="OAuth scope, e.g. urn:opc:resource:fa:instanceid=…urn:opc:resource:consumer::all")


def _oracle_message(body: Any) -> str | None:
    if isinstance(body, dict):
        details = "; ".join(f"{d.get('o:errorCode', '')} {d.get('detail', '')}".strip()
                            for d in body.get("o:errorDetails") or [] if isinstance(d, dict))
        return f"{body.get('title', 'error')}" + (f": {details}" if details else f": {body.get('detail', '')}")
    return str(body).strip()[:500] or None


class OracleFusionSink(Sink):
    """Creates one Receivables invoice per invoice and one credit memo, applied to it, per credit note.

    Delivery guarantee: exactly once per document number within the transaction source.
    Oracle's REST API takes no idempotency key, so `find_invoice`/`find_credit_note` query
    ``TransactionNumber`` = our number (and our transaction source) before every create; the
    source should disallow duplicate numbers, so a racing second create is refused by Oracle too.
    Idempotency key: our number as ``TransactionNumber``.

    REST creates on-account credit memos only [C]; the credit memo is then applied to Oracle's
    invoice (``original.external_id``, its ``CustomerTransactionId``) through the Receivables
    credit memo service's ``applyOnAccountCreditMemo`` (SOAP ``/fscmService/CreditMemoService``;
    attributes CreditMemoTrxId, AppliedPaymentScheduleId, AmountApplied, ApplyDate, GlDate of the
    ApplyOnAccountCreditMemo SDO [C]; envelope element names [S]). The invoice's payment schedule is
    its first installment (``receivablesInvoiceInstallments`` ``InstallmentId`` [S]). A credit memo
    found with a balance left (applied never happened: a crash) is applied on redelivery.

    Do not point this at invoices whose orders Oracle Order Management already feeds to
    AutoInvoice: that would bill twice.
    """

    target = "oracle-fusion"
    settings_class = OracleFusionSettings
    settings: OracleFusionSettings
    rate_limit_per_minute = None  # Oracle publishes no per-tenant REST rate [U]
    auth_spec = AnyOf(ClientCredentials(scope=lambda s: s.scope, basic_client_auth=True), Basic())
    requires = (Need("base_url"),)

    def tax_mapping_gaps(self, taxes: Collection[TaxKey]) -> list[str]:
        return [f'INVOICING_ORACLE_FUSION_TAX_RATES has no entry "{rate_key(c, r)}" ("<TaxRegimeCode>/<TaxRateCode>")'
                for c, r in sorted(taxes) if "/" not in self.settings.tax_rates.get(rate_key(c, r), "")]

    async def _get(self, path: str, what: str, **params: str) -> list[dict[str, Any]]:
        r = await self.client.get(f"{self.base_url()}{_API}/{path}", auth=self.auth, params={**params, "onlyData": "true"},
                                  headers={"REST-Framework-Version": "4", "Accept": "application/json"})
        raise_for_status(r, what=f"oracle-fusion {what}", message=_oracle_message, secrets=self._secrets())
        return list(r.json().get("items", []))

    async def _find_row(self, resource: str, number: str, fields: str) -> dict[str, Any] | None:
        q = f"TransactionNumber='{_quote(number)}' and TransactionSource='{_quote(self.settings.transaction_source)}'"
        items = await self._get(resource, f"find {resource}", q=q, fields=fields)
        if len(items) > 1:
            raise InvoiceRejected(f"oracle-fusion: {len(items)} transactions numbered {number}; resolve by hand")
        return items[0] if items else None

    def _ref(self, resource: str, item: Mapping[str, Any]) -> InvoiceRef:
        tid = str(item["CustomerTransactionId"])
        return InvoiceRef(tid, url=f"{self.base_url()}{_API}/{resource}/{tid}")

    async def find_invoice(self, invoice: Mapping[str, Any], idempotency_key: str) -> InvoiceRef | None:
        row = await self._find_row("receivablesInvoices", invoice["number"], "CustomerTransactionId,TransactionNumber")
        return self._ref("receivablesInvoices", row) if row else None

    async def find_credit_note(self, note: Mapping[str, Any], idempotency_key: str) -> InvoiceRef | None:
        row = await self._find_row("receivablesCreditMemos", note["number"],
                                   "CustomerTransactionId,TransactionNumber,TransactionBalanceDue")
        if row is None:
            return None
        if Decimal(str(row.get("TransactionBalanceDue") or 0)) != 0:  # created, never applied: apply it now
            original = await self.find_invoice(original_of(note), str(note.get("preceding_invoice_id")))
            if original is None:
                raise InvoiceRejected(f"oracle-fusion: credit memo {note['number']} exists unapplied and invoice "
                                      f"{note.get('preceding_invoice')} is not at Oracle")
            await self._apply(row["CustomerTransactionId"], note, original)
        return self._ref("receivablesCreditMemos", row)

    def _lines(self, doc: Mapping[str, Any], credit: bool) -> list[dict[str, Any]]:
        lines = invoice_lines(doc, self.target)
        shares = line_taxes({"lines": [{"net_amount": ln.net, "tax_category": ln.tax_category, "tax_rate": ln.tax_rate}
                                       for ln in lines], "tax_breakdown": doc["tax_breakdown"], "currency": doc["currency"]})
        sign = Decimal(-1) if credit else Decimal(1)
        out = []
        for ln, tax in zip(lines, shares):
            code = self.settings.tax_rates.get(rate_key(ln.tax_category, ln.tax_rate), "")
            if "/" not in code:
                raise InvoiceRejected(f'oracle-fusion: INVOICING_ORACLE_FUSION_TAX_RATES has no entry '
                                      f'"{rate_key(ln.tax_category, ln.tax_rate)}"; {doc["number"]} not sent')
            regime, rate_code = code.split("/", 1)
            taxes = [{"TaxRegimeCode": regime, "TaxRateCode": rate_code, "TaxAmount": sign * tax}]
            line: dict[str, Any] = {"LineNumber": ln.number, "UnitSellingPrice": sign * ln.unit_price}
            if credit:
                line.update(LineDescription=ln.description[:240], LineQuantityCredit=ln.quantity,
                            receivablesCreditMemoLineTaxLines=taxes)
            else:
                line.update(Description=ln.description[:240], Quantity=ln.quantity, receivablesInvoiceLineTaxLines=taxes)
            if ln.sku:
                line["ItemNumber"] = ln.sku
            out.append(line)
        return out

    async def _post(self, resource: str, body: dict[str, Any]) -> dict[str, Any]:
        r = await self.client.post(f"{self.base_url()}{_API}/{resource}", content=json_body(body, compact=True), auth=self.auth,
                                   headers={"Content-Type": _ITEM, "REST-Framework-Version": "4", "Accept": "application/json"})
        raise_for_status(r, what=f"oracle-fusion create {resource}", message=_oracle_message, secrets=self._secrets())
        doc: dict[str, Any] = r.json()
        return doc

    def _header(self, doc: Mapping[str, Any], kind: str) -> dict[str, Any]:
        s = self.settings
        return {"BusinessUnit": s.business_unit, "TransactionSource": s.transaction_source, "TransactionType": kind,
                "TransactionNumber": doc["number"], "TransactionDate": doc["issue_date"], "AccountingDate": doc["issue_date"],
                "BillToCustomerNumber": doc["customer_id"]}

    async def create_invoice(self, invoice: Mapping[str, Any], idempotency_key: str) -> InvoiceRef:
        s = self.settings
        body = {**self._header(invoice, s.transaction_type), "InvoiceCurrencyCode": invoice["currency"],
                "PaymentTerms": s.payment_terms.get(invoice["payment_terms_code"], invoice["payment_terms"]),
                "DueDate": invoice["due_date"], "PurchaseOrder": invoice.get("purchase_order") or invoice.get("buyer_reference"),
                "Comments": f"Invoice {invoice['number']} for {', '.join(invoice.get('orders') or [])}"[:240],
                "receivablesInvoiceLines": self._lines(invoice, credit=False)}
        return self._ref("receivablesInvoices", await self._post("receivablesInvoices",
                                                                 {k: v for k, v in body.items() if v is not None}))

    async def create_credit_note(self, note: Mapping[str, Any], idempotency_key: str, original: InvoiceRef) -> InvoiceRef:
        body = {**self._header(note, self.settings.credit_memo_type), "CreditMemoCurrency": note["currency"],
                "CreditMemoComments": f"Credit note {note['number']} for invoice {note.get('preceding_invoice')} "
                                      f"(Oracle transaction {original.external_id})"[:240],
                "receivablesCreditMemoLines": self._lines(note, credit=True)}
        item = await self._post("receivablesCreditMemos", body)
        await self._apply(item["CustomerTransactionId"], note, original)
        return self._ref("receivablesCreditMemos", item)

    async def _apply(self, memo_id: Any, note: Mapping[str, Any], original: InvoiceRef) -> None:
        """Apply the on-account credit memo to the invoice's first payment schedule (SOAP CreditMemoService)."""
        schedules = await self._get(f"receivablesInvoices/{original.external_id}/child/receivablesInvoiceInstallments",
                                    "invoice installments", fields="InstallmentId,InstallmentNumber")
        if not schedules:
            raise InvoiceRejected(f"oracle-fusion: invoice {original.external_id} has no installment to apply to")
        values = {"CreditMemoTrxId": memo_id, "AppliedPaymentScheduleId": schedules[0]["InstallmentId"],
                  "AmountApplied": decimal_text(note["total"]), "ApplyDate": note["issue_date"].isoformat(),
                  "GlDate": note["issue_date"].isoformat(), "BusinessUnit": self.settings.business_unit}
        fields = "".join(f"<cre:{k}>{escape(str(v))}</cre:{k}>" for k, v in values.items())
        envelope = ('<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
                    f'xmlns:typ="{_CM_NS}types/" xmlns:cre="{_CM_NS}"><soapenv:Body><typ:applyOnAccountCreditMemo>'
                    f'<typ:applyOnAccountCreditMemo>{fields}</typ:applyOnAccountCreditMemo></typ:applyOnAccountCreditMemo>'
                    '</soapenv:Body></soapenv:Envelope>')
        r = await self.client.post(f"{self.base_url()}/fscmService/CreditMemoService", content=envelope.encode(),
                                   auth=self.auth, headers={"Content-Type": "text/xml; charset=utf-8",
                                                               "SOAPAction": "applyOnAccountCreditMemo"})
        raise_for_status(r, what="oracle-fusion applyOnAccountCreditMemo", message=_soap_fault, secrets=self._secrets())


def _soap_fault(body: Any) -> str | None:
    text = str(body)
    start = text.find("<faultstring>")
    return text[start + 13:text.find("</faultstring>")] if start >= 0 else text[:500]


def _quote(value: str) -> str:
    return str(value).replace("'", "''")
