"""SAP S/4HANA sink: billing documents from SD documents via OData V4 ``CreateFromSDDocument``."""
from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any, Mapping

import httpx

from invoicing.errors import ConfigError, InvoiceRejected, RetriableSinkError
from invoicing.settings import PlatformSettings
from invoicing.exact import json_body
from invoicing.mapping import order_ids, reject_credit_notes
from sinks.auth import OAuth2ClientCredentials
from sinks.base import InvoiceRef, Sink, raise_for_status

__all__ = ["SapSink", "SapSettings", "to_sap"]

log = logging.getLogger(__name__)
BILLING = "/sap/opu/odata4/sap/api_billingdocument/srvd_a2x/sap/billingdocument/0001/"
SALES_ORDERS = "/sap/opu/odata/sap/API_SALES_ORDER_SRV/A_SalesOrder"


class SapSettings(PlatformSettings):
    """``INVOICING_SAP_*``: BASE_URL (``https://<host>``), USERNAME + PASSWORD (communication user, Basic)
    or CLIENT_ID + CLIENT_SECRET + TOKEN_URL (OAuth 2.0 client credentials), BILLING_TYPE (default F2),
    ORDER_REF_FIELD: the sales-order field holding a foreign order's key (default PurchaseOrderByCustomer)."""

    billing_type: str = "F2"
    order_ref_field: str = "PurchaseOrderByCustomer"
    post_to_accounting: bool = True


def to_sap(invoice: Mapping[str, Any], sales_orders: list[str], settings: SapSettings) -> dict[str, Any]:
    """The ``CreateFromSDDocument`` parameters: one ``_Reference`` per sales order; SAP prices the items."""
    return {
        "_Control": {"DefaultBillingDocumentDate": invoice["issue_date"],
                     "DefaultBillingDocumentType": settings.billing_type,
                     "AutomPostingToAcctgIsDisabled": not settings.post_to_accounting},
        "_Reference": [{"SDDocument": so, "SDDocumentCategory": "C"} for so in sales_orders],
    }


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
    """Billing documents in SAP S/4HANA.

    SAP bills SD documents, not free lines: the invoice's sales orders are billed with
    ``BillingDocument/SAP__self.CreateFromSDDocument`` (one ``_Reference`` per order, category C).
    A sales order is the order's own id when it came from SAP (``sap:<SalesOrder>``); for orders
    from other platforms it is the SAP sales order whose ``PurchaseOrderByCustomer`` holds our order
    key (the usual replication of web-shop orders into SD). No sales order → `InvoiceRejected`
    ("not applicable"), parked with that message.

    Delivery guarantee: exactly once per sales order. OData has no idempotency key; `find_invoice`
    reads the sales order's document flow (``BillingDocumentItem`` with ``ReferenceSDDocument`` =
    the order) first, and SAP itself refuses to bill a completely billed order a second time.
    Idempotency key: the SAP sales order number(s) of the invoice. Our number is not stored in SAP
    (SAP numbers billing documents itself); SAP's amounts come from the order's pricing.
    Auth: Basic (communication user) or OAuth 2.0 client credentials; every modifying call carries an
    ``X-CSRF-Token`` fetched with ``GET`` + ``X-CSRF-Token: Fetch`` in the same cookie session, refetched
    once when SAP answers 403 ``X-CSRF-Token: Required``. Rate limits are contractual: none set.
    """

    target = "sap"
    settings_class = SapSettings
    settings: SapSettings
    rate_limit_per_minute = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        s = self.settings
        self.auth: httpx.Auth
        if s.client_id and s.client_secret and s.token_url:
            self.auth = OAuth2ClientCredentials(s.token_url, s.client_id, s.client_secret.get_secret_value(), client=self.client)
        elif s.username and s.password:
            self.auth = httpx.BasicAuth(s.username, s.password.get_secret_value())
        else:
            raise ConfigError("sap: set INVOICING_SAP_USERNAME and _PASSWORD, or _CLIENT_ID, _CLIENT_SECRET and _TOKEN_URL")
        self._csrf: str | None = None

    async def _sales_orders(self, invoice: Mapping[str, Any]) -> list[str]:
        found = order_ids(invoice, "sap")
        field = getattr(self.settings, "order_ref_field", "PurchaseOrderByCustomer")
        for key in invoice.get("orders") or []:
            if str(key).startswith("sap:"):
                continue
            r = await self.client.get(f"{self.base_url()}{SALES_ORDERS}", auth=self.auth, headers={"Accept": "application/json"},
                                      params={"$filter": f"{field} eq {_quote(str(key))}", "$select": "SalesOrder",
                                              "$format": "json"})
            raise_for_status(r, what=f"sap: find the sales order of {key}", message=_message)
            rows = (r.json().get("d") or {}).get("results") or []
            if not rows:
                raise InvoiceRejected(f"sap: not applicable: order {key} has no SAP sales order ({field} = {key!r}); "
                                      "SAP bills SD documents only")
            found.append(str(rows[0]["SalesOrder"]))
        if not found:
            raise InvoiceRejected(f"sap: not applicable: invoice {invoice['number']} names no orders")
        return found

    async def find_invoice(self, invoice: Mapping[str, Any], idempotency_key: str) -> InvoiceRef | None:
        for so in await self._sales_orders(invoice):
            r = await self.client.get(f"{self.base_url()}{BILLING}BillingDocumentItem", auth=self.auth, params={
                "$filter": f"ReferenceSDDocument eq {_quote(so)}", "$select": "BillingDocument,ReferenceSDDocument",
                "$top": "1"}, headers={"Accept": "application/json"})
            raise_for_status(r, what=f"sap: document flow of sales order {so}", message=_message)
            rows = r.json().get("value") or []
            if rows:
                doc = rows[0]["BillingDocument"]
                return InvoiceRef(str(doc), url=f"{self.base_url()}{BILLING}BillingDocument('{doc}')")
        return None

    async def _fetch_csrf(self) -> str:
        r = await self.client.get(f"{self.base_url()}{BILLING}", auth=self.auth,
                                  headers={"X-CSRF-Token": "Fetch", "Accept": "application/json"})
        raise_for_status(r, what="sap: fetch X-CSRF-Token", message=_message)
        token: str | None = r.headers.get("x-csrf-token")
        if not token or token.lower() == "required":
            raise RetriableSinkError("sap: the service answered without an X-CSRF-Token")
        return token

    async def create_invoice(self, invoice: Mapping[str, Any], idempotency_key: str) -> InvoiceRef:
        reject_credit_notes(invoice, self.target)
        orders = await self._sales_orders(invoice)
        body = json_body(to_sap(invoice, orders, self.settings))
        what = f"sap: bill sales order(s) {', '.join(orders)} for invoice {invoice['number']}"
        for attempt in (1, 2):
            if self._csrf is None:
                self._csrf = await self._fetch_csrf()
            r = await self.client.post(f"{self.base_url()}{BILLING}BillingDocument/SAP__self.CreateFromSDDocument",
                                       content=body, auth=self.auth, headers={
                                           "X-CSRF-Token": self._csrf, "Content-Type": "application/json",
                                           "Accept": "application/json"})
            if r.status_code == 403 and r.headers.get("x-csrf-token", "").lower() == "required" and attempt == 1:
                self._csrf = None  # session or token expired: fetch a new one, once
                continue
            break
        raise_for_status(r, what=what, message=_message)
        doc = r.json()
        rows = doc.get("value") if isinstance(doc.get("value"), list) else [doc]
        if not rows or "BillingDocument" not in rows[0]:
            raise RetriableSinkError(f"{what}: answer names no BillingDocument")
        first = rows[0]
        net = first.get("TotalNetAmount")
        if net is not None and Decimal(str(net)) != invoice["tax_exclusive_total"]:
            log.warning("%s: SAP priced %s net, our invoice says %s", what, net, invoice["tax_exclusive_total"])
        return InvoiceRef(str(first["BillingDocument"]), url=f"{self.base_url()}{BILLING}BillingDocument('{first['BillingDocument']}')")
