"""Xero Accounting API: ``PUT /api.xro/2.0/Invoices`` with ``{"Invoices": [...]}``.

Delivery guarantee: exactly once per invoice number. Every create carries
``Idempotency-Key: <invoice_id>`` (Xero replays the first response for the same
key, ≤128 chars), and `find_invoice` looks the invoice up by our number
(``GET /Invoices?InvoiceNumbers=…``) before any create, so a crash after Xero
accepted but before our receipt is found on redelivery.
Idempotency key: our ``invoice_id``; look-up key: our invoice number (``InvoiceNumber``).
Auth: OAuth 2.0 refresh token (rotated tokens kept), header ``xero-tenant-id``.
Rate limit: 60 calls/min per tenant (developer.xero.com/faq/limits).
"""
from __future__ import annotations

import json
from decimal import Decimal
from typing import Any, Mapping

import httpx
from pydantic import Field

from invoicing.errors import ConfigError, InvoiceRejected
from invoicing.exact import dumps_exact, line_taxes
from invoicing.mapping import check_mappable
from invoicing.settings import PlatformSettings
from sinks.auth import refresh_token_auth
from sinks.base import InvoiceRef, Sink, raise_for_status

__all__ = ["XeroSink", "XeroSettings", "to_xero"]


class XeroSettings(PlatformSettings):
    base_url: str | None = "https://api.xero.com/api.xro/2.0"
    token_url: str | None = "https://identity.xero.com/connect/token"
    sales_account_code: str = Field("200", description="Revenue account for every line.")
    tax_types: dict[str, str] = Field(default_factory=dict,
                                      description='Xero TaxType per "<category>/<rate>", e.g. {"S/19": "OUTPUT2"}.')
    standard_tax_type: str = "OUTPUT"
    exempt_tax_type: str = "EXEMPTOUTPUT"


def _tax_type(settings: XeroSettings, category: str, rate: Decimal) -> str:
    key = f"{category}/{rate.normalize():f}"
    if key in settings.tax_types:
        return settings.tax_types[key]
    return settings.standard_tax_type if category == "S" else settings.exempt_tax_type


def to_xero(invoice: Mapping[str, Any], settings: XeroSettings) -> dict[str, Any]:
    """Our invoice as one Xero ``Invoice`` (LineAmountTypes Exclusive, amounts exact)."""
    check_mappable(invoice, "xero")
    buyer = invoice["buyer"]
    taxes = line_taxes(invoice)
    items = []
    for line, tax in zip(invoice["lines"], taxes):
        item: dict[str, Any] = {
            "Description": line["description"],
            "Quantity": Decimal(line["quantity"]),
            "UnitAmount": Decimal(line["unit_price"]),
            "AccountCode": settings.sales_account_code,
            "TaxType": _tax_type(settings, line["tax_category"], Decimal(line["tax_rate"])),
            "TaxAmount": tax,
            "LineAmount": Decimal(line["net_amount"]),
        }
        if Decimal(line.get("allowance") or 0):
            item["DiscountAmount"] = Decimal(line["allowance"])
        items.append(item)
    contact: dict[str, Any] = {"Name": buyer["name"], "ContactNumber": str(invoice["customer_id"])[:50]}
    if buyer.get("email"):
        contact["EmailAddress"] = buyer["email"]
    doc: dict[str, Any] = {
        "Type": "ACCREC",
        "Contact": contact,
        "InvoiceNumber": invoice["number"],
        "Date": invoice["issue_date"].isoformat(),
        "DueDate": invoice["due_date"].isoformat(),
        "CurrencyCode": invoice["currency"],
        "LineAmountTypes": "Exclusive",
        "Status": "AUTHORISED",
        "LineItems": items,
    }
    reference = invoice.get("purchase_order") or invoice.get("buyer_reference")
    if reference:
        doc["Reference"] = reference
    return doc


def _validation_messages(response: httpx.Response) -> str:
    try:
        doc = response.json()
    except ValueError:
        return response.text[:300]
    messages = [e.get("Message", "") for el in doc.get("Elements") or [] for e in el.get("ValidationErrors") or []]
    return "; ".join(m for m in messages if m) or str(doc.get("Message") or doc.get("Detail") or "")[:300]


class XeroSink(Sink):
    target = "xero"
    settings_class = XeroSettings
    settings: XeroSettings
    rate_limit_per_minute = 60.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        s = self.settings
        self.auth = refresh_token_auth("xero", s, self.client)
        if not s.tenant:
            raise ConfigError("xero: INVOICING_XERO_TENANT (the xero-tenant-id) is required")

    def _headers(self) -> dict[str, str]:
        return {"xero-tenant-id": str(self.settings.tenant), "Accept": "application/json"}

    def _check(self, response: httpx.Response, what: str) -> None:
        if response.status_code == 400:
            raise InvoiceRejected(f"xero {what}: {_validation_messages(response)}")
        raise_for_status(response, what=f"xero {what}")

    async def find_invoice(self, invoice: Mapping[str, Any], idempotency_key: str) -> InvoiceRef | None:
        r = await self.client.get(f"{self.base_url()}/Invoices", params={"InvoiceNumbers": invoice["number"]},
                                  headers=self._headers(), auth=self.auth)
        self._check(r, "find")
        for doc in r.json().get("Invoices") or []:
            if doc.get("InvoiceNumber") == invoice["number"] and doc.get("Type") == "ACCREC":
                return InvoiceRef(str(doc["InvoiceID"]))
        return None

    async def create_invoice(self, invoice: Mapping[str, Any], idempotency_key: str) -> InvoiceRef:
        body = dumps_exact({"Invoices": [to_xero(invoice, self.settings)]})
        r = await self.client.put(f"{self.base_url()}/Invoices", params={"unitdp": "4"}, content=body.encode(),
                                  headers={**self._headers(), "Content-Type": "application/json",
                                           "Idempotency-Key": idempotency_key[:128]}, auth=self.auth)
        self._check(r, "create")
        doc = r.json()["Invoices"][0]
        if doc.get("HasErrors") or doc.get("ValidationErrors"):
            raise InvoiceRejected("xero create: " + "; ".join(e.get("Message", "") for e in doc.get("ValidationErrors") or []))
        return InvoiceRef(str(doc["InvoiceID"]))
