"""Stripe Invoicing: customer → draft invoice → invoice items → finalize → send (form-encoded, ``/v1``).

Delivery guarantee: exactly once per invoice. Every POST carries an
``Idempotency-Key`` derived from our ``invoice_id`` and the step
(``<id>:invoice``, ``<id>:item:<line>``, ``<id>:finalize``, ``<id>:send``), so a retried
step replays Stripe's first answer (keys live ≥24 h). The invoice carries
``metadata[invoice_id]`` and our number (``number`` and ``metadata[invoice_number]``);
`find_invoice` searches ``metadata['invoice_id']:'…'``. A draft or an unsent invoice
found there is resumed, not duplicated: items already on it (``metadata[line_id]``)
are skipped, and ``metadata[sent]=true`` marks the last step done.
Amounts are integer minor units of our Decimal totals; tax is carried as one
item per tax subtotal so Stripe's total equals ours to the cent.
Auth: secret key as Bearer. Rate limit: 25 req/s per endpoint (sandbox) → 1500/min.
Note: Stripe Search is eventually consistent (≈1 min); inside that window the
idempotency keys are what prevents a duplicate.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any, Mapping

import httpx

from invoicing.errors import ConfigError, InvoiceRejected
from invoicing.exact import to_minor
from invoicing.mapping import check_mappable
from invoicing.settings import PlatformSettings
from sinks.auth import StaticBearer
from sinks.base import InvoiceRef, Sink, raise_for_status

__all__ = ["StripeSink", "StripeSettings", "invoice_params", "item_params"]


class StripeSettings(PlatformSettings):
    base_url: str | None = "https://api.stripe.com"
    api_version: str = "2026-10-28.endive"


def _q(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


def invoice_params(invoice: Mapping[str, Any], customer: str) -> dict[str, str]:
    days = (invoice["due_date"] - invoice["issue_date"]).days
    params = {
        "customer": customer,
        "currency": str(invoice["currency"]).lower(),
        "collection_method": "send_invoice",
        "days_until_due": str(max(days, 0)),
        "auto_advance": "false",
        "pending_invoice_items_behavior": "exclude",
        "number": str(invoice["number"]),
        "metadata[invoice_id]": str(invoice["invoice_id"]),
        "metadata[invoice_number]": str(invoice["number"]),
    }
    if invoice.get("purchase_order") or invoice.get("buyer_reference"):
        params["custom_fields[0][name]"] = "Reference"
        params["custom_fields[0][value]"] = str(invoice.get("purchase_order") or invoice.get("buyer_reference"))[:140]
    return params


def item_params(invoice: Mapping[str, Any]) -> list[tuple[str, dict[str, str]]]:
    """(line id, params) per invoice item: one per line, then one per tax subtotal."""
    cur = str(invoice["currency"])
    out = []
    for line in invoice["lines"]:
        q, u = Decimal(line["quantity"]).normalize(), Decimal(line["unit_price"]).normalize()
        out.append((str(line["line_id"]), {
            "amount": str(to_minor(line["net_amount"], cur)),
            "description": f"{line['description']} ({q:f} × {u:f})"[:500],
            "metadata[line_id]": str(line["line_id"]), "metadata[kind]": "line"}))
    for sub in invoice["tax_breakdown"]:
        line_id = f"tax-{sub['category']}-{Decimal(sub['rate']).normalize():f}"
        out.append((line_id, {
            "amount": str(to_minor(sub["tax_amount"], cur)),
            "description": f"VAT {Decimal(sub['rate']).normalize():f}% on {Decimal(sub['taxable_amount']):f}",
            "metadata[line_id]": line_id, "metadata[kind]": "tax"}))
    return out


class StripeSink(Sink):
    target = "stripe"
    settings_class = StripeSettings
    settings: StripeSettings
    rate_limit_per_minute = 1500.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.settings.api_key:
            raise ConfigError("stripe: INVOICING_STRIPE_API_KEY (the secret key) is required")
        self.auth = StaticBearer(self.settings.api_key.get_secret_value())

    async def _call(self, method: str, path: str, what: str, *, data: dict[str, str] | None = None,
                    params: dict[str, str] | None = None, key: str | None = None) -> dict[str, Any]:
        headers = {"Stripe-Version": self.settings.api_version}
        if key:
            headers["Idempotency-Key"] = key[:255]
        r = await self.client.request(method, f"{self.base_url()}{path}", data=data, params=params,
                                      headers=headers, auth=self.auth)
        if r.status_code in (400, 402, 404, 409, 422) and _stripe_message(r):
            raise InvoiceRejected(f"stripe {what}: HTTP {r.status_code}: {_stripe_message(r)}")
        raise_for_status(r, what=f"stripe {what}")
        return dict(r.json())

    async def _search(self, invoice: Mapping[str, Any]) -> dict[str, Any] | None:
        doc = await self._call("GET", "/v1/invoices/search", "search",
                               params={"query": f"metadata['invoice_id']:'{_q(str(invoice['invoice_id']))}'"})
        found = [d for d in doc.get("data") or [] if d.get("status") != "void"]
        return found[0] if found else None

    async def find_invoice(self, invoice: Mapping[str, Any], idempotency_key: str) -> InvoiceRef | None:
        found = await self._search(invoice)
        if found is None or (found.get("metadata") or {}).get("sent") != "true":
            return None  # absent, or a draft/unsent invoice that create_invoice resumes
        return InvoiceRef(str(found["id"]), found.get("hosted_invoice_url"))

    async def _customer(self, invoice: Mapping[str, Any], key: str) -> str:
        buyer = invoice["buyer"]
        doc = await self._call("GET", "/v1/customers/search", "customer search",
                               params={"query": f"metadata['customer_id']:'{_q(str(invoice['customer_id']))}'"})
        if doc.get("data"):
            return str(doc["data"][0]["id"])
        data = {"name": str(buyer["name"]), "metadata[customer_id]": str(invoice["customer_id"])}
        if buyer.get("email"):
            data["email"] = str(buyer["email"])
        address = buyer.get("address") or {}
        for ours, theirs in (("line1", "line1"), ("line2", "line2"), ("city", "city"), ("postal_code", "postal_code"),
                             ("region", "state"), ("country", "country")):
            if address.get(ours):
                data[f"address[{theirs}]"] = str(address[ours])
        created = await self._call("POST", "/v1/customers", "create customer", data=data, key=f"{key}:customer")
        return str(created["id"])

    async def create_invoice(self, invoice: Mapping[str, Any], idempotency_key: str) -> InvoiceRef:
        check_mappable(invoice, "stripe")
        items = item_params(invoice)  # refuses amounts finer than minor units before anything is sent
        key = idempotency_key
        doc = await self._search(invoice)
        resumed = doc is not None
        if doc is None:
            customer = await self._customer(invoice, key)
            doc = await self._call("POST", "/v1/invoices", "create invoice", data=invoice_params(invoice, customer),
                                   key=f"{key}:invoice")
        inv_id = str(doc["id"])
        if doc.get("status") == "draft":
            present: set[str] = set()
            if resumed:
                listed = await self._call("GET", "/v1/invoiceitems", "list items", params={"invoice": inv_id, "limit": "100"})
                present = {str((i.get("metadata") or {}).get("line_id")) for i in listed.get("data") or []}
            for line_id, params in items:
                if line_id not in present:
                    await self._call("POST", "/v1/invoiceitems", "add item", key=f"{key}:item:{line_id}",
                                     data={**params, "invoice": inv_id, "customer": str(doc["customer"]),
                                           "currency": str(invoice["currency"]).lower()})
            doc = await self._call("POST", f"/v1/invoices/{inv_id}/finalize", "finalize",
                                   data={"auto_advance": "false"}, key=f"{key}:finalize")
        if doc.get("total") is not None and int(doc["total"]) != to_minor(invoice["total"], str(invoice["currency"])):
            raise InvoiceRejected(f"stripe: invoice {inv_id} total {doc['total']} differs from ours ({invoice['total']})")
        if (doc.get("metadata") or {}).get("sent") != "true":
            doc = await self._call("POST", f"/v1/invoices/{inv_id}/send", "send", key=f"{key}:send")
            doc = await self._call("POST", f"/v1/invoices/{inv_id}", "mark sent", data={"metadata[sent]": "true"},
                                   key=f"{key}:sent")
        return InvoiceRef(inv_id, doc.get("hosted_invoice_url"))


def _stripe_message(r: httpx.Response) -> str:
    try:
        err = r.json()["error"]
    except (ValueError, KeyError, TypeError):
        return ""
    parts = [str(err.get("message") or "")]
    if err.get("param"):
        parts.append(f"param={err['param']}")
    if err.get("code"):
        parts.append(f"code={err['code']}")
    return " ".join(p for p in parts if p)
