"""Salesforce sink: Revenue Cloud Billing ``…/commerce/invoicing/invoices/collection/actions/generate``."""
from __future__ import annotations

import re
from typing import Any, Mapping

import httpx

from invoicing.errors import InvoiceRejected, RetriableSinkError
from invoicing.exact import json_body
from invoicing.mapping import MappedSettings, map_id, order_ids, reject_credit_notes
from sinks.auth import client_credentials_auth
from sinks.base import InvoiceRef, Sink, raise_for_status

__all__ = ["SalesforceSink", "SalesforceSettings", "to_generate"]

_V = "/services/data/v63.0"
_SOQL_SAFE = re.compile(r"^[A-Za-z0-9_.:/#\- ]+$")


class SalesforceSettings(MappedSettings):
    """``INVOICING_SALESFORCE_*``: BASE_URL (``https://<my-domain>.my.salesforce.com``), CLIENT_ID, CLIENT_SECRET
    (client-credentials flow of a connected/external client app), TOKEN_URL (default ``<BASE_URL>/services/oauth2/token``),
    NUMBER_FIELD (custom text field on Invoice holding our number, unique; default External_Invoice_Number__c),
    ACTION (Draft or Posted), ID_MAP (``customer:…`` → Account id, used when the order is not a Salesforce Order)."""

    number_field: str = "External_Invoice_Number__c"
    action: str = "Posted"


def to_generate(invoice: Mapping[str, Any], settings: SalesforceSettings) -> tuple[dict[str, Any], str]:
    """The generate request and the record it bills (the Order, or the Account for foreign orders)."""
    orders = order_ids(invoice, "salesforce")
    if len(orders) > 1:
        raise InvoiceRejected(f"salesforce: invoice {invoice['number']} bills {len(orders)} Orders; generate takes one")
    body: dict[str, Any] = {"action": settings.action, "invoiceDate": invoice["issue_date"],
                            "targetDate": invoice["issue_date"], "correlationId": invoice["invoice_id"]}
    if orders:
        body["billingTransactionId"] = ref = orders[0]
    else:
        body["accountId"] = ref = str(map_id(settings, "salesforce", "customer", invoice["customer_id"]))
    return body, ref


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
    """Invoices in Salesforce Revenue Cloud Billing.

    Salesforce generates invoices from billing schedules: for an invoice whose order is a Salesforce
    Order (``salesforce:<OrderId>``) the sink calls generate with ``billingTransactionId`` = that Order;
    otherwise with ``accountId`` = the mapped Account (which bills *all* that Account's due schedules:
    use it only where the tenant mirrors our orders into Salesforce). ``correlationId`` = our invoice id
    (echoed on ``InvoiceProcessedEvent``). Amounts come from Salesforce's schedules, not from us.

    Our number is kept in a custom Invoice field (``NUMBER_FIELD``, default ``External_Invoice_Number__c``,
    text, unique): after generating, the sink claims the new Invoice (``ReferenceEntityId`` = the Order or
    Account, ``InvoiceDate`` = our issue date, number field empty) and stamps our number on it.

    Delivery guarantee: exactly once per invoice number. Generate has no idempotency key, so
    `find_invoice` runs SOQL ``WHERE <NUMBER_FIELD> = '<our number>'`` first, then claims an unstamped
    invoice generated for the same record and date (a crash between generate and stamping). Re-generating
    an already invoiced Order bills nothing. Idempotency key: our invoice number.
    Auth: OAuth 2.0 client credentials. Errors ``[{"errorCode","message"}]``; 403 ``REQUEST_LIMIT_EXCEEDED``
    (the org's rolling 24 h API allocation) is retriable. Rate limit: per-org daily allocation, not per minute.
    """

    target = "salesforce"
    settings_class = SalesforceSettings
    settings: SalesforceSettings
    rate_limit_per_minute = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        s = self.settings
        self.auth = client_credentials_auth("salesforce", s, self.client,
                                            token_url=s.token_url or f"{self.base_url()}/services/oauth2/token")


    async def _query(self, soql: str, what: str) -> list[dict[str, Any]]:
        r = await self.client.get(f"{self.base_url()}{_V}/query", params={"q": soql}, auth=self.auth)
        raise_for_status(r, what=what, message=_message, retriable=_request_limit)
        return list(r.json().get("records") or [])

    async def _claim(self, invoice: Mapping[str, Any], ref: str) -> InvoiceRef | None:
        field = self.settings.number_field
        rows = await self._query(
            f"SELECT Id FROM Invoice WHERE ReferenceEntityId = {_lit(ref)} AND InvoiceDate = {invoice['issue_date'].isoformat()} "
            f"AND {field} = null AND Status != 'Canceled' ORDER BY CreatedDate LIMIT 1",
            f"salesforce: unstamped invoice of {ref}")
        if not rows:
            return None
        inv_id = rows[0]["Id"]
        r = await self.client.patch(f"{self.base_url()}{_V}/sobjects/Invoice/{inv_id}", auth=self.auth,
                                    content=json_body({field: invoice["number"]}), headers={"Content-Type": "application/json"})
        raise_for_status(r, what=f"salesforce: stamp {invoice['number']} on Invoice {inv_id}", message=_message,
                         retriable=_request_limit)
        return InvoiceRef(inv_id, url=f"{self.base_url()}/{inv_id}")

    async def find_invoice(self, invoice: Mapping[str, Any], idempotency_key: str) -> InvoiceRef | None:
        field = self.settings.number_field
        rows = await self._query(f"SELECT Id, DocumentNumber FROM Invoice WHERE {field} = {_lit(invoice['number'])} LIMIT 1",
                                 f"salesforce: look up invoice {invoice['number']}")
        if rows:
            return InvoiceRef(rows[0]["Id"], url=f"{self.base_url()}/{rows[0]['Id']}")
        _, ref = to_generate(invoice, self.settings)
        return await self._claim(invoice, ref)

    async def create_invoice(self, invoice: Mapping[str, Any], idempotency_key: str) -> InvoiceRef:
        reject_credit_notes(invoice, self.target)
        body, ref = to_generate(invoice, self.settings)
        what = f"salesforce: generate invoice {invoice['number']} for {ref}"
        r = await self.client.post(f"{self.base_url()}{_V}/commerce/invoicing/invoices/collection/actions/generate",
                                   content=json_body(body), headers={"Content-Type": "application/json"}, auth=self.auth)
        raise_for_status(r, what=what, message=_message, retriable=_request_limit)
        doc = r.json()
        if isinstance(doc, dict) and doc.get("success") is False:
            raise InvoiceRejected(f"{what}: {_message(doc) or 'success: false'}")
        claimed = await self._claim(invoice, ref)
        if claimed is None:  # generation is asynchronous: the next attempt's look-up claims it
            raise RetriableSinkError(f"{what}: accepted (request {doc.get('requestIdentifier')}), invoice not visible yet")
        return claimed
