"""Zoho Books sink: ``POST /books/v3/invoices`` with our own invoice number."""
from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any, Mapping

import httpx

from invoicing.errors import ConfigError, InvoiceRejected
from invoicing.exact import json_body
from invoicing.mapping import MappedSettings, map_id, rate_key, reject_credit_notes
from sinks.auth import OAuth2RefreshToken
from sinks.base import InvoiceRef, Sink, raise_for_status

__all__ = ["ZohoBooksSink", "ZohoBooksSettings", "to_zoho"]

log = logging.getLogger(__name__)


class ZohoBooksSettings(MappedSettings):
    """``INVOICING_ZOHO_BOOKS_*``: TENANT (organization_id), CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN,
    DC (data centre domain suffix: com, eu, in, com.au, jp, ca, sa), BASE_URL (default
    ``https://www.zohoapis.<dc>``), TOKEN_URL (default ``https://accounts.zoho.<dc>/oauth/v2/token``),
    ID_MAP (``customer:…``, ``tax:S:19`` → tax_id, optional ``currency:EUR`` → currency_id)."""

    dc: str = "com"


def to_zoho(invoice: Mapping[str, Any], settings: MappedSettings) -> dict[str, Any]:
    """The create-invoice body: our number, customer, dates and lines with exact rate/quantity/tax_id."""
    t = "zoho-books"
    lines = []
    for n, ln in enumerate(invoice["lines"], 1):
        tax_id = map_id(settings, t, "tax", rate_key(ln["tax_category"], ln["tax_rate"]), required=ln["tax_rate"] != 0)
        line: dict[str, Any] = {"name": (ln.get("sku") or ln["description"])[:100], "description": ln["description"],
                                "rate": ln["unit_price"], "quantity": ln["quantity"], "item_order": n}
        if tax_id:
            line["tax_id"] = tax_id
        if ln["allowance"]:
            line["discount"] = ln["allowance"]
        lines.append(line)
    body: dict[str, Any] = {
        "customer_id": map_id(settings, t, "customer", invoice["customer_id"]),
        "invoice_number": invoice["number"],
        "reference_number": invoice.get("purchase_order") or invoice.get("buyer_reference") or invoice["invoice_id"],
        "date": invoice["issue_date"], "due_date": invoice["due_date"],
        "is_inclusive_tax": False,
        "line_items": lines,
        "notes": "\n".join(invoice.get("notes") or []) or None,
        "terms": invoice.get("payment_terms"),
    }
    currency_id = map_id(settings, t, "currency", invoice["currency"], required=False)
    if currency_id:
        body["currency_id"] = currency_id
    if any(ln["allowance"] for ln in invoice["lines"]):
        body["discount_type"] = "item_level"
    return {k: v for k, v in body.items() if v is not None}


def _check(r: httpx.Response, what: str) -> dict[str, Any]:
    """Zoho answers ``{"code": 0, "message": …}``; any other code is an error, whatever the HTTP status."""
    try:
        doc = r.json()
    except ValueError:
        doc = None
    if not isinstance(doc, dict) or "code" not in doc:
        raise_for_status(r, what=what)
        raise InvoiceRejected(f"{what}: HTTP {r.status_code}: not a Zoho Books response")
    if r.status_code >= 400 or doc.get("code") != 0:
        message = f"Zoho code {doc.get('code')}: {doc.get('message')}"
        patched = httpx.Response(r.status_code if r.status_code >= 400 else 400, headers=r.headers,
                                 text=message, request=r.request)
        raise_for_status(patched, what=what)
    return doc


class ZohoBooksSink(Sink):
    """Invoices into Zoho Books.

    Delivery guarantee: exactly once per invoice number. Zoho Books has no idempotency key, so
    the sink looks up ``GET /books/v3/invoices?invoice_number=<our number>`` before creating, and
    creates with ``invoice_number = <our number>`` and ``ignore_auto_number_generation=true``;
    Zoho refuses a second invoice with the same number, and a create that fails that way is
    resolved by the look-up. Idempotency key: our invoice number (``invoice_id`` kept in
    ``reference_number`` when there is no purchase order).
    Auth: ``Authorization: Zoho-oauthtoken <token>``, refreshed at ``accounts.zoho.<dc>``.
    Rate limit: 100 requests/minute per organization (Zoho's published limit).
    """

    target = "zoho-books"
    settings_class = ZohoBooksSettings
    settings: ZohoBooksSettings
    rate_limit_per_minute = 100

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        s = self.settings
        dc = getattr(s, "dc", "com")
        if not (s.client_id and s.client_secret and s.refresh_token and s.tenant):
            raise ConfigError("zoho-books: INVOICING_ZOHO_BOOKS_CLIENT_ID, _CLIENT_SECRET, _REFRESH_TOKEN and "
                              "_TENANT (organization_id) are required")
        self.base = (s.base_url or f"https://www.zohoapis.{dc}").rstrip("/")
        self.auth = OAuth2RefreshToken(s.token_url or f"https://accounts.zoho.{dc}/oauth/v2/token", s.client_id,
                                       s.client_secret.get_secret_value(), s.refresh_token.get_secret_value(),
                                       client=self.client, scheme="Zoho-oauthtoken")

    async def find_invoice(self, invoice: Mapping[str, Any], idempotency_key: str) -> InvoiceRef | None:
        r = await self.client.get(f"{self.base}/books/v3/invoices", auth=self.auth,
                                  params={"organization_id": self.settings.tenant, "invoice_number": invoice["number"]})
        doc = _check(r, f"zoho-books: look up invoice {invoice['number']}")
        for found in doc.get("invoices") or []:
            if found.get("invoice_number") == invoice["number"]:
                return InvoiceRef(str(found["invoice_id"]))
        return None

    async def create_invoice(self, invoice: Mapping[str, Any], idempotency_key: str) -> InvoiceRef:
        reject_credit_notes(invoice, self.target)
        body = to_zoho(invoice, self.settings)
        what = f"zoho-books: create invoice {invoice['number']}"
        r = await self.client.post(f"{self.base}/books/v3/invoices", content=json_body(body), auth=self.auth,
                                   params={"organization_id": self.settings.tenant,
                                           "ignore_auto_number_generation": "true"},
                                   headers={"Content-Type": "application/json"})
        try:
            doc = _check(r, what)
        except InvoiceRejected:
            found = await self.find_invoice(invoice, idempotency_key)  # "number already exists": ours, from a crash
            if found is not None:
                return found
            raise
        created = doc.get("invoice") or {}
        if created.get("total") is not None and Decimal(str(created["total"])) != invoice["total"]:
            log.warning("%s: Zoho computed total %s, ours is %s (check the tax mapping)", what,
                        created["total"], invoice["total"])
        return InvoiceRef(str(created["invoice_id"]))
