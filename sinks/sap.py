"""SAP S/4HANA sink: billing documents (invoice F2, credit memo G2) from SD documents via OData V4 ``CreateFromSDDocument``.

Shapes [S] (platforms.md §2, public samples; the EDMX on api.sap.com needs a login): trimmed as
JSON Schema in tests/fakes/specs/sap_s4_sd.json and checked in tests/sinks/test_sap_spec.py.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any, Collection, Mapping

import httpx
from pydantic import Field

from domain.errors import InvoiceRejected, RetriableSinkError
from domain.exact import decimal_text, json_body
from domain.settings import Settings
from sinks.mapping import MappedSettings, invoice_lines, map_id, order_ids, rate_key
from sinks.credentials import AnyOf, Basic, ClientCredentials, Need
from sinks.base import InvoiceRef, Sink, TaxKey, raise_for_status

__all__ = ["SapSink", "SapSettings"]

BILLING = "/sap/opu/odata4/sap/api_billingdocument/srvd_a2x/sap/billingdocument/0001/"
SALES_ORDERS = "/sap/opu/odata/sap/API_SALES_ORDER_SRV/A_SalesOrder"
CREDIT_MEMO_REQUESTS = "/sap/opu/odata/sap/API_CREDIT_MEMO_REQUEST_SRV/A_CreditMemoRequest"


class SapSettings(MappedSettings):
    """``INVOICING_SAP_*``: BASE_URL (``https://<host>``), USERNAME + PASSWORD (communication user, Basic)
    or CLIENT_ID + CLIENT_SECRET + TOKEN_URL (OAuth 2.0 client credentials); ID_MAP ``customer:…`` → sold-to
    party, ``item:<sku>`` (or ``item:*``) → material; TAX_CLASSES ``"S:19"`` → the product tax classification
    whose output tax condition is that rate."""

    billing_type: str = "F2"
    credit_memo_billing_type: str = "G2"
    order_ref_field: str = "PurchaseOrderByCustomer"
    post_to_accounting: bool = True
    sales_order_type: str = "OR"
    credit_memo_request_type: str = "CR"
    order_reason: str | None = Field(None, description="SDDocumentReason of credit memo requests (required by SAP).")
    sales_organization: str | None = None
    distribution_channel: str | None = None
    division: str | None = None
    tax_classes: dict[str, str] = Field(default_factory=dict, description='"<category>:<rate>" → ProductTaxClassification1')


def _message(doc: Any) -> str | None:
    err = doc.get("error") or {}
    msg = err.get("message")
    if isinstance(msg, dict):  # OData V2: {"lang", "value"}
        msg = msg.get("value")
    details = "; ".join(str(d.get("message")) for d in err.get("details") or [] if d.get("message"))
    return f"{err.get('code')}: {msg}" + (f" ({details})" if details else "") if err else None


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class SapSink(Sink):
    """Billing documents in SAP S/4HANA, for invoices and credit notes.

    SAP bills SD documents, not free lines. An invoice's sales orders are billed with
    ``CreateFromSDDocument`` (``_Reference`` category C): the order's own id when it came from SAP
    (``sap:<SalesOrder>``), else the SD sales order whose ``PurchaseOrderByCustomer`` holds our order key
    (the tenant's replication of web-shop orders). Without one, the sink creates the sales order from our
    lines (``API_SALES_ORDER_SRV``, manual ``PPR0`` prices, ``ProductTaxClassification1`` from TAX_CLASSES,
    ``PurchaseOrderByCustomer`` = our invoice number [S]) and bills that. A credit note is a credit memo
    request (``API_CREDIT_MEMO_REQUEST_SRV``, ``ReferenceSDDocument`` = SAP's billing document of the invoice,
    ``original.external_id``, ``PurchaseOrderByCustomer`` = our credit note number [S]) billed as G2.

    SAP prices and taxes what it bills. Billing runs with ``AutomPostingToAcctgIsDisabled``; the billing
    document's ``TotalNetAmount``/``TotalTaxAmount`` are compared with ours and only then released with
    ``PostToAccounting`` (setting POST_TO_ACCOUNTING). A document SAP priced differently (e.g. tax rounded
    per item where ours rounds per tax code) stays unposted and the delivery is refused, naming it.

    Delivery guarantee: exactly once per SD document. OData has no idempotency key; `find_invoice` /
    `find_credit_note` read the document flow (``BillingDocumentItem`` with ``ReferenceSDDocument``) of
    the sales orders / the credit memo request found by our number first, bill an SD document created
    before a crash, and SAP itself refuses to bill a completely billed document twice.
    Idempotency key: our invoice / credit note number in ``PurchaseOrderByCustomer`` (or the SAP sales
    order numbers of native and replicated orders).
    Auth: Basic (communication user) or OAuth 2.0 client credentials; every modifying call carries an
    ``X-CSRF-Token`` fetched with ``GET`` + ``X-CSRF-Token: Fetch`` in the same cookie session, refetched
    once when SAP answers 403 ``X-CSRF-Token: Required``. Rate limits are contractual: none set.
    """

    target = "sap"
    settings_class = SapSettings
    settings: SapSettings
    rate_limit_per_minute = None

    auth_spec = AnyOf(ClientCredentials(), Basic())
    requires = (Need("base_url"),)

    def __init__(self, settings: SapSettings, client: httpx.AsyncClient, pipeline: Settings) -> None:
        super().__init__(settings, client, pipeline)
        self._csrf: str | None = None

    def tax_mapping_gaps(self, taxes: Collection[TaxKey]) -> list[str]:
        return [f'INVOICING_SAP_TAX_CLASSES has no entry "{rate_key(c, r)}" (the product tax classification of that rate)'
                for c, r in sorted(taxes) if rate_key(c, r) not in self.settings.tax_classes]

    async def _get(self, path: str, what: str, **params: str) -> Any:
        r = await self.client.get(f"{self.base_url()}{path}", auth=self.auth, params=params, headers={"Accept": "application/json"})
        raise_for_status(r, what=f"sap: {what}", message=_message)
        return r.json()

    async def _by_number(self, path: str, key: str, value: str) -> list[str]:
        doc = await self._get(path, f"find {path.rsplit('/', 1)[1]} {value}", **{
            "$filter": f"{self.settings.order_ref_field} eq {_quote(value)}", "$select": key, "$format": "json"})
        return [str(row[key]) for row in (doc.get("d") or {}).get("results") or []]

    async def _post(self, path: str, body: Any, what: str) -> Any:
        for attempt in (1, 2):
            if self._csrf is None:
                r = await self.client.get(f"{self.base_url()}{BILLING}", auth=self.auth,
                                          headers={"X-CSRF-Token": "Fetch", "Accept": "application/json"})
                raise_for_status(r, what="sap: fetch X-CSRF-Token", message=_message)
                self._csrf = r.headers.get("x-csrf-token")
                if not self._csrf or self._csrf.lower() == "required":
                    self._csrf = None
                    raise RetriableSinkError("sap: the service answered without an X-CSRF-Token")
            r = await self.client.post(f"{self.base_url()}{path}", content=json_body(body), auth=self.auth, headers={
                "X-CSRF-Token": self._csrf, "Content-Type": "application/json", "Accept": "application/json"})
            if r.status_code == 403 and r.headers.get("x-csrf-token", "").lower() == "required" and attempt == 1:
                self._csrf = None  # session or token expired: fetch a new one, once
                continue
            break
        raise_for_status(r, what=f"sap: {what}", message=_message)
        return r.json()

    async def _billed(self, sd_doc: str, doc: Mapping[str, Any]) -> InvoiceRef | None:
        found = await self._get(f"{BILLING}BillingDocumentItem", f"document flow of {sd_doc}", **{
            "$filter": f"ReferenceSDDocument eq {_quote(sd_doc)}", "$select": "BillingDocument,ReferenceSDDocument", "$top": "1"})
        rows = found.get("value") or []
        return await self._release(str(rows[0]["BillingDocument"]), doc) if rows else None

    async def _release(self, number: str, doc: Mapping[str, Any]) -> InvoiceRef:
        """SAP's billing document, released to accounting if its amounts are ours; refused otherwise."""
        bd = await self._get(f"{BILLING}BillingDocument('{number}')", f"read billing document {number}")
        sap = (Decimal(str(bd["TotalNetAmount"])), Decimal(str(bd["TotalTaxAmount"])))
        if sap != (doc["tax_exclusive_total"], doc["tax_total"]) or bd.get("TransactionCurrency") != doc["currency"]:
            raise InvoiceRejected(f"sap: billing document {number} for {doc['number']}: SAP priced net {decimal_text(sap[0])}, tax "
                                  f"{decimal_text(sap[1])} {bd.get('TransactionCurrency')}; we issued {decimal_text(doc['tax_exclusive_total'])}, "
                                  f"{decimal_text(doc['tax_total'])} {doc['currency']}; not released to accounting (cancel it in SAP; "
                                  "check prices, tax classes and tax rounding per document)")
        if bd.get("AccountingTransferStatus") != "C" and self.settings.post_to_accounting:
            await self._post(f"{BILLING}BillingDocument('{number}')/SAP__self.PostToAccounting", {}, f"post {number} to accounting")
        return InvoiceRef(number, url=f"{self.base_url()}{BILLING}BillingDocument('{number}')")

    async def _bill(self, refs: list[str], category: str, billing_type: str, doc: Mapping[str, Any]) -> InvoiceRef:
        body = {"_Control": {"DefaultBillingDocumentDate": doc["issue_date"], "DefaultBillingDocumentType": billing_type,
                             "AutomPostingToAcctgIsDisabled": True},
                "_Reference": [{"SDDocument": r, "SDDocumentCategory": category} for r in refs]}
        answer = await self._post(f"{BILLING}BillingDocument/SAP__self.CreateFromSDDocument", body,
                                  f"bill {', '.join(refs)} for {doc['number']}")
        rows = answer.get("value") if isinstance(answer.get("value"), list) else [answer]
        if not rows or "BillingDocument" not in rows[0]:
            raise RetriableSinkError(f"sap: billing {', '.join(refs)}: the answer names no BillingDocument")
        return await self._release(str(rows[0]["BillingDocument"]), doc)

    async def _sales_orders(self, invoice: Mapping[str, Any]) -> list[str]:
        """Native and replicated sales orders of the invoice's orders; [] when none is in SAP."""
        found, missing = order_ids(invoice, "sap"), []
        for key in invoice.get("orders") or []:
            if str(key).startswith("sap:"):
                continue
            rows = await self._by_number(SALES_ORDERS, "SalesOrder", str(key))
            if rows:
                found.append(rows[0])
            else:
                missing.append(str(key))
        if found and missing:
            raise InvoiceRejected(f"sap: orders {', '.join(missing)} of {invoice['number']} have no SAP sales order while "
                                  "others do; bill them together in SAP")
        return found

    async def find_invoice(self, invoice: Mapping[str, Any], idempotency_key: str) -> InvoiceRef | None:
        own = await self._by_number(SALES_ORDERS, "SalesOrder", invoice["number"])
        for so in own or await self._sales_orders(invoice):
            ref = await self._billed(so, invoice)
            if ref is not None:
                return ref
        return await self._bill(own[:1], "C", self.settings.billing_type, invoice) if own else None  # made, crashed before billing

    async def create_invoice(self, invoice: Mapping[str, Any], idempotency_key: str) -> InvoiceRef:
        orders = await self._sales_orders(invoice)
        if not orders:
            made = await self._post(SALES_ORDERS, {**self._header(invoice, self.settings.sales_order_type, "SalesOrderType"),
                                                   "to_Item": self._items(invoice, "SalesOrderItemText")},
                                    f"create the sales order of {invoice['number']}")
            orders = [str(made["d"]["SalesOrder"])]
        return await self._bill(orders, "C", self.settings.billing_type, invoice)

    async def find_credit_note(self, note: Mapping[str, Any], idempotency_key: str) -> InvoiceRef | None:
        requests = await self._by_number(CREDIT_MEMO_REQUESTS, "CreditMemoRequest", note["number"])
        if not requests:
            return None
        ref = await self._billed(requests[0], note)
        return ref or await self._bill(requests[:1], "K", self.settings.credit_memo_billing_type, note)

    async def create_credit_note(self, note: Mapping[str, Any], idempotency_key: str, original: InvoiceRef) -> InvoiceRef:
        if not self.settings.order_reason:
            raise InvoiceRejected("sap: INVOICING_SAP_ORDER_REASON (SDDocumentReason of credit memo requests) is not set")
        body = {**self._header(note, self.settings.credit_memo_request_type, "CreditMemoRequestType"),
                "SDDocumentReason": self.settings.order_reason, "ReferenceSDDocument": original.external_id,
                "ReferenceSDDocumentCategory": "M", "to_Item": self._items(note, "CreditMemoRequestItemText")}
        made = await self._post(CREDIT_MEMO_REQUESTS, body, f"create the credit memo request of {note['number']}")
        return await self._bill([str(made["d"]["CreditMemoRequest"])], "K", self.settings.credit_memo_billing_type, note)

    def _header(self, doc: Mapping[str, Any], doc_type: str, type_field: str) -> dict[str, Any]:
        s = self.settings
        if not (s.sales_organization and s.distribution_channel and s.division):
            raise InvoiceRejected("sap: set INVOICING_SAP_SALES_ORGANIZATION, _DISTRIBUTION_CHANNEL and _DIVISION "
                                  "to create SD documents")
        return {type_field: doc_type, "SalesOrganization": s.sales_organization, "DistributionChannel": s.distribution_channel,
                "OrganizationDivision": s.division, "SoldToParty": map_id(s, self.target, "customer", doc["customer_id"]),
                "PurchaseOrderByCustomer": doc["number"], "TransactionCurrency": doc["currency"]}

    def _items(self, doc: Mapping[str, Any], text_field: str) -> list[dict[str, Any]]:
        items = []
        for ln in invoice_lines(doc, self.target):
            key = rate_key(ln.tax_category, ln.tax_rate)
            if key not in self.settings.tax_classes:
                raise InvoiceRejected(f'sap: INVOICING_SAP_TAX_CLASSES has no entry "{key}"; {doc["number"]} not sent')
            if ln.unit_price < 0:
                raise InvoiceRejected(f"sap: {doc['number']} line {ln.number} is an allowance; SAP needs a discount condition "
                                      "for it, which this sink does not map")
            items.append({"Material": map_id(self.settings, self.target, "item", ln.sku or "*"),
                          text_field: ln.description[:40], "RequestedQuantity": decimal_text(ln.quantity, min_places=0),
                          "ProductTaxClassification1": self.settings.tax_classes[key],
                          "to_PricingElement": [{"ConditionType": "PPR0", "ConditionRateValue": decimal_text(ln.unit_price),
                                                 "ConditionCurrency": doc["currency"]}]})
        return items
