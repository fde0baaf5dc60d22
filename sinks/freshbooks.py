"""FreshBooks sink: ``POST /accounting/account/{account_id}/invoices/invoices`` with our number."""
from __future__ import annotations

from typing import Any, Mapping

from invoicing.errors import ConfigError, InvoiceRejected
from invoicing.exact import decimal_text, json_body
from invoicing.mapping import MappedSettings, map_id, rate_key, reject_credit_notes
from sinks.auth import OAuth2RefreshToken
from sinks.base import InvoiceRef, Sink, raise_for_status

__all__ = ["FreshBooksSink", "FreshBooksSettings", "to_freshbooks"]


class FreshBooksSettings(MappedSettings):
    """``INVOICING_FRESHBOOKS_*``: TENANT (account_id), CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN,
    BASE_URL (default ``https://api.freshbooks.com``), TOKEN_URL (default ``<BASE_URL>/auth/oauth/token``),
    ID_MAP (``customer:…`` → customerid; optional ``tax:S:19`` → the tax's name in FreshBooks, default "VAT")."""


def to_freshbooks(invoice: Mapping[str, Any], settings: MappedSettings) -> dict[str, Any]:
    """``{"invoice": {…}}``: unit costs as exact decimal strings, tax as name + percent per line."""
    t = "freshbooks"
    cur = invoice["currency"]
    lines = []
    for ln in invoice["lines"]:
        line: dict[str, Any] = {"type": 0, "name": (ln.get("sku") or ln["description"])[:255],
                                "description": ln["description"], "qty": decimal_text(ln["quantity"], min_places=0),
                                "unit_cost": {"amount": decimal_text(ln["unit_price"]), "code": cur}}
        if ln["allowance"]:
            # FreshBooks lines have no allowance: fold it into the unit cost only when that stays exact
            net = ln["net_amount"] / ln["quantity"]
            if net * ln["quantity"] != ln["net_amount"] or net != net.quantize(ln["unit_price"]):
                raise InvoiceRejected(f"freshbooks: line {ln['line_id']} has an allowance that no exact unit cost expresses")
            line["unit_cost"]["amount"] = decimal_text(net)
        if ln["tax_rate"]:
            line["taxName1"] = map_id(settings, t, "tax", rate_key(ln["tax_category"], ln["tax_rate"]), required=False) or "VAT"
            line["taxAmount1"] = decimal_text(ln["tax_rate"], min_places=0)
        lines.append(line)
    customer = map_id(settings, t, "customer", invoice["customer_id"]) or ""
    body: dict[str, Any] = {
        "customerid": int(customer) if customer.isdigit() else customer,
        "invoice_number": invoice["number"],
        "create_date": invoice["issue_date"],
        "due_offset_days": (invoice["due_date"] - invoice["issue_date"]).days,
        "currency_code": cur,
        "po_number": invoice.get("purchase_order") or invoice.get("buyer_reference"),
        "terms": invoice.get("payment_terms"),
        "notes": "\n".join(invoice.get("notes") or []) or None,
        "lines": lines,
    }
    return {"invoice": {k: v for k, v in body.items() if v is not None}}


def _message(doc: Any) -> str | None:
    errors = (doc.get("response") or {}).get("errors") or []
    return "; ".join(f"{e.get('message')} (errno {e.get('errno')}, field {e.get('field')})" for e in errors) or None


class FreshBooksSink(Sink):
    """Invoices into FreshBooks.

    Delivery guarantee: exactly once per invoice number. FreshBooks documents no idempotency key,
    so the sink looks up ``GET …/invoices/invoices?search[invoice_number]=<our number>`` before
    creating (the delivery loop calls `find_invoice` first on every attempt, also after a crash),
    and creates with ``invoice_number = <our number>``. Idempotency key: our invoice number.
    Residual risk: two workers delivering the same invoice at the same instant (the pipeline keys
    deliveries by invoice id on one partition, so this needs a rebalance in the same second).
    Auth: OAuth 2.0 bearer, refresh-token grant, rotated refresh tokens kept. Rate limit: not published.
    """

    target = "freshbooks"
    settings_class = FreshBooksSettings
    settings: FreshBooksSettings
    rate_limit_per_minute = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        s = self.settings
        if not (s.client_id and s.client_secret and s.refresh_token and s.tenant):
            raise ConfigError("freshbooks: INVOICING_FRESHBOOKS_CLIENT_ID, _CLIENT_SECRET, _REFRESH_TOKEN and "
                              "_TENANT (account_id) are required")
        self.base = (s.base_url or "https://api.freshbooks.com").rstrip("/")
        self.auth = OAuth2RefreshToken(s.token_url or f"{self.base}/auth/oauth/token", s.client_id,
                                       s.client_secret.get_secret_value(), s.refresh_token.get_secret_value(),
                                       client=self.client)

    @property
    def _invoices(self) -> str:
        return f"{self.base}/accounting/account/{self.settings.tenant}/invoices/invoices"

    async def find_invoice(self, invoice: Mapping[str, Any], idempotency_key: str) -> InvoiceRef | None:
        r = await self.client.get(self._invoices, params={"search[invoice_number]": invoice["number"]}, auth=self.auth)
        raise_for_status(r, what=f"freshbooks: look up invoice {invoice['number']}", message=_message)
        for found in ((r.json().get("response") or {}).get("result") or {}).get("invoices") or []:
            if found.get("invoice_number") == invoice["number"]:
                return InvoiceRef(str(found.get("invoiceid") or found["id"]))
        return None

    async def create_invoice(self, invoice: Mapping[str, Any], idempotency_key: str) -> InvoiceRef:
        reject_credit_notes(invoice, self.target)
        r = await self.client.post(self._invoices, content=json_body(to_freshbooks(invoice, self.settings)),
                                   headers={"Content-Type": "application/json"}, auth=self.auth)
        raise_for_status(r, what=f"freshbooks: create invoice {invoice['number']}", message=_message)
        created = r.json()["response"]["result"]["invoice"]
        return InvoiceRef(str(created.get("invoiceid") or created["id"]))
