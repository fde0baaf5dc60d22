"""Sage Intacct target: AR invoices through the REST API (``https://api.intacct.com/ia/api/v1``).

``POST /objects/accounts-receivable/invoice`` creates the invoice; ``POST /services/core/query``
finds invoices and customers. OAuth 2.0: client credentials (``username`` = the Web Services
user, ``user@company``) or a refresh token; the token is shared per (token URL, client)
and refreshed before expiry and once on 401. Errors carry
``{"ia::error": {"code", "message", "supportId", "details"}, "ia::meta": {...}}`` (also
seen nested under ``ia::result``); code and message are kept.
"""
from __future__ import annotations

from typing import Any, Mapping

import httpx
from pydantic import Field

from invoicing.errors import ConfigError, InvoiceRejected
from invoicing.settings import PlatformSettings
from invoicing.exact import decimal_text
from invoicing.mapping import invoice_lines, reject_credit_notes
from sinks.auth import OAuth2ClientCredentials, OAuth2RefreshToken
from sinks.base import InvoiceRef, Sink, raise_for_status

__all__ = ["SageIntacctSink", "SageIntacctSettings"]


class SageIntacctSettings(PlatformSettings):
    entity: str | None = Field(None, description="Entity id for multi-entity companies (X-IA-API-Param-Entity).")
    revenue_account: str = Field("4000", description="GL account id for invoice lines.")
    tax_account: str = Field("2200", description="GL account id for the VAT/sales-tax lines (one per tax group).")
    create_customers: bool = Field(True, description="Create the customer (id = our customer id) when it is missing.")


class _ClientCredentials(OAuth2ClientCredentials):
    """Intacct's client-credentials grant also names the Web Services user."""

    def __init__(self, *args: Any, username: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.username = username

    def _grant(self) -> dict[str, str]:
        grant = super()._grant()
        if self.username:
            grant["username"] = self.username
        return grant


def _intacct_message(body: Any) -> str | None:
    if not isinstance(body, dict):
        return str(body)[:500] if body else None
    err = body.get("ia::error")
    if err is None and isinstance(body.get("ia::result"), dict):
        err = body["ia::result"].get("ia::error")
    if not isinstance(err, dict):
        return body.get("error_description") or body.get("error")
    details = "; ".join(str(d.get("message", d)) for d in err.get("details") or [] if isinstance(d, dict))
    return f"{err.get('code', 'error')}: {err.get('message', '')}" + (f" ({details})" if details else "")


class SageIntacctSink(Sink):
    """Creates one AR invoice per invoice.

    Delivery guarantee: exactly once per invoice number. Intacct REST has no idempotency
    key for creates [U], so `find_invoice` queries ``accounts-receivable/invoice`` where
    ``invoiceNumber`` = our number before every create; a crash after Intacct accepted is
    found on redelivery. Idempotency key: our invoice number in ``invoiceNumber``.

    Mapping: one line per invoice line on ``revenue_account`` (``txnAmount`` = our net,
    exact), one line per tax group on ``tax_account``, so Intacct's total equals ours;
    ``currency.txnCurrency``; ``referenceNumber`` = the buyer's PO (or our number).
    Orders that came from Intacct Order Entry are invoiced the same way (AR invoice);
    converting the Sales Order (``document::Sales Invoice`` with ``sourceDocument``) is not done.
    Credit notes (AR adjustments) are rejected.
    """

    target = "sage-intacct"
    settings_class = SageIntacctSettings
    rate_limit_per_minute = None  # tiers bound monthly volume and concurrency, not calls per minute

    _auth_obj: httpx.Auth | None = None

    def _auth(self) -> httpx.Auth:
        if self._auth_obj is None:
            s = self.settings
            if not (s.client_id and s.client_secret):
                raise ConfigError("sage-intacct: INVOICING_SAGE_INTACCT_CLIENT_ID and _CLIENT_SECRET are required")
            token_url = s.token_url or f"{self.base_url()}/oauth2/token"
            secret = s.client_secret.get_secret_value()
            if s.refresh_token:
                self._auth_obj = OAuth2RefreshToken(token_url, s.client_id, secret, s.refresh_token.get_secret_value(),
                                                    client=self.client)
            else:
                self._auth_obj = _ClientCredentials(token_url, s.client_id, secret, client=self.client, username=s.username)
        return self._auth_obj

    def _secrets(self) -> list[str | None]:
        s = self.settings
        return [x.get_secret_value() if x else None for x in (s.client_secret, s.refresh_token, s.password)]

    async def _request(self, method: str, path: str, what: str, body: Any = None) -> Any:
        s: SageIntacctSettings = self.settings  # type: ignore[assignment]
        headers = {"Accept": "application/json"}
        if s.entity:
            headers["X-IA-API-Param-Entity"] = s.entity
        r = await self.client.request(method, f"{self.base_url()}{path}", json=body, headers=headers, auth=self._auth())
        raise_for_status(r, what=f"sage-intacct {what}", message=_intacct_message, secrets=self._secrets())
        return r.json()

    async def _query(self, obj: str, fields: list[str], eq: Mapping[str, str]) -> list[dict[str, Any]]:
        doc = await self._request("POST", "/services/core/query", f"query {obj}", {
            "object": obj, "fields": fields, "filters": [{"$eq": {k: v}} for k, v in eq.items()], "start": 1, "size": 2})
        rows = doc.get("ia::result")
        if not isinstance(rows, list):  # an ia::error in a 200 must not read as "not found"
            raise InvoiceRejected(f"sage-intacct query {obj}: unexpected answer: {_intacct_message(doc)}")
        return rows

    def _ref(self, row: Mapping[str, Any]) -> InvoiceRef:
        key = str(row.get("key") or row.get("id"))
        return InvoiceRef(key, url=f"{self.base_url()}/objects/accounts-receivable/invoice/{key}")

    async def find_invoice(self, invoice: Mapping[str, Any], idempotency_key: str) -> InvoiceRef | None:
        rows = await self._query("accounts-receivable/invoice", ["key", "id", "invoiceNumber", "state"],
                                 {"invoiceNumber": invoice["number"]})
        if len(rows) > 1:
            raise InvoiceRejected(f"sage-intacct: {len(rows)} AR invoices numbered {invoice['number']}; resolve by hand")
        return self._ref(rows[0]) if rows else None

    async def create_invoice(self, invoice: Mapping[str, Any], idempotency_key: str) -> InvoiceRef:
        reject_credit_notes(invoice, self.target)
        customer = await self._customer(invoice)
        s: SageIntacctSettings = self.settings  # type: ignore[assignment]
        lines = [{"glAccount": {"id": s.revenue_account}, "txnAmount": decimal_text(ln.net),
                  "memo": f"{ln.description} ({ln.sku or '-'}): {decimal_text(ln.quantity)} x {decimal_text(ln.unit_price)}"[:1000],
                  "dimensions": {"customer": {"id": customer}}} for ln in invoice_lines(invoice, self.target)]
        for tax in invoice["tax_breakdown"]:
            if tax["tax_amount"]:
                lines.append({"glAccount": {"id": s.tax_account}, "txnAmount": decimal_text(tax["tax_amount"]),
                              "memo": f"VAT {tax['category']} {decimal_text(tax['rate'])}% on {decimal_text(tax['taxable_amount'])}",
                              "dimensions": {"customer": {"id": customer}}})
        body = {"customer": {"id": customer}, "invoiceNumber": invoice["number"],
                "referenceNumber": invoice.get("purchase_order") or invoice.get("buyer_reference") or invoice["number"],
                "description": f"Invoice {invoice['number']} for {', '.join(invoice.get('orders') or [])}"[:1000],
                "invoiceDate": invoice["issue_date"].isoformat(), "dueDate": invoice["due_date"].isoformat(),
                "currency": {"txnCurrency": invoice["currency"]}, "lines": lines}
        doc = await self._request("POST", "/objects/accounts-receivable/invoice", "create invoice", body)
        return self._ref(doc["ia::result"])

    async def _customer(self, invoice: Mapping[str, Any]) -> str:
        cid = str(invoice["customer_id"])
        if await self._query("accounts-receivable/customer", ["key", "id"], {"id": cid}):
            return cid
        if not self.settings.create_customers:  # type: ignore[attr-defined]
            raise InvoiceRejected(f"sage-intacct: customer {cid} does not exist")
        buyer = invoice["buyer"]
        addr = buyer.get("address") or {}
        await self._request("POST", "/objects/accounts-receivable/customer", "create customer", {
            "id": cid, "name": buyer["name"], "status": "active",
            "contacts": {"default": {"email1": buyer.get("email") or "", "companyName": buyer["name"],
                                     "mailingAddress": {"addressLine1": addr.get("line1", ""), "city": addr.get("city", ""),
                                                        "postCode": addr.get("postal_code", ""), "country": addr.get("country", "")}}}})
        return cid
