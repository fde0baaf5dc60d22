"""PayPal Invoicing v2: ``POST /v2/invoicing/invoices`` (draft), then ``POST …/{id}/send``.

Delivery guarantee: exactly once per invoice number. The Invoicing v2 spec
declares no request-idempotency header, so the guard is our number:
``detail.invoice_number`` (≤25 chars) is unique per merchant, `find_invoice`
searches it (``POST /v2/invoicing/search-invoices {"invoice_number": …}``) before
any create, and a create answered ``DUPLICATE_INVOICE_NUMBER`` (a retry after a
lost response) is resolved by the same search. A draft found there (crash
between create and send) is sent, not recreated. Before sending, the draft's
totals are compared with ours; a mismatch deletes the draft and parks the invoice.
Idempotency key: our invoice number; ``detail.memo`` carries our ``invoice_id``.
Auth: OAuth 2.0 client credentials (HTTP Basic) at ``/v1/oauth2/token``.
Rate limit: not published [U]; 300/min is assumed.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any, Mapping

import httpx

from invoicing.errors import InvoiceRejected
from invoicing.exact import money_str
from invoicing.mapping import check_mappable
from invoicing.settings import PlatformSettings
from sinks.auth import client_credentials_auth
from sinks.base import InvoiceRef, Sink, raise_for_status

__all__ = ["PayPalSink", "PayPalSettings", "to_paypal"]

NUMBER_MAX = 25
SCOPE_NOTE = "https://uri.paypal.com/services/invoicing"


class PayPalSettings(PlatformSettings):
    base_url: str | None = "https://api-m.paypal.com"
    token_url: str | None = None  # default: <base_url>/v1/oauth2/token
    invoicer_email: str | None = None
    tax_name: str = "VAT"


def _money(amount: Decimal, currency: str) -> dict[str, str]:
    return {"currency_code": currency, "value": money_str(amount, currency)}


def _item(line: Mapping[str, Any], currency: str, tax_name: str) -> dict[str, Any]:
    qty, unit = Decimal(line["quantity"]), Decimal(line["unit_price"])
    allowance = Decimal(line.get("allowance") or 0)
    item: dict[str, Any] = {"name": str(line["description"])[:200], "quantity": f"{qty.normalize():f}",
                            "unit_amount": None, "tax": {"name": tax_name, "percent": f"{Decimal(line['tax_rate']).normalize():f}"},
                            "unit_of_measure": "QUANTITY"}
    if unit == unit.quantize(Decimal("0.01")) and qty == qty.quantize(Decimal("0.00001")):
        item["unit_amount"] = _money(unit, currency)
        if allowance:
            item["discount"] = {"amount": _money(allowance, currency)}
    else:  # PayPal takes 2-decimal unit prices: bill the line's exact net amount once
        item.update(quantity="1", unit_amount=_money(Decimal(line["net_amount"]), currency),
                    description=f"{qty.normalize():f} x {unit.normalize():f}")
    if line.get("sku"):
        item["description"] = f"{item.get('description', '')} SKU {line['sku']}".strip()[:1000]
    return item


def to_paypal(invoice: Mapping[str, Any], settings: PayPalSettings) -> dict[str, Any]:
    """Our invoice as a PayPal draft ``invoice`` (amounts as exact strings)."""
    check_mappable(invoice, "paypal")
    number, cur = str(invoice["number"]), str(invoice["currency"])
    if len(number) > NUMBER_MAX:
        raise InvoiceRejected(f"paypal: invoice_number {number!r} is longer than {NUMBER_MAX} characters")
    buyer, seller = invoice["buyer"], invoice["seller"]
    detail: dict[str, Any] = {"invoice_number": number, "currency_code": cur,
                              "invoice_date": invoice["issue_date"].isoformat(),
                              "payment_term": {"due_date": invoice["due_date"].isoformat()},
                              "memo": f"invoice_id {invoice['invoice_id']}",
                              "note": str(invoice.get("payment_terms") or "")[:4000]}
    if invoice.get("purchase_order") or invoice.get("buyer_reference"):
        detail["reference"] = str(invoice.get("purchase_order") or invoice.get("buyer_reference"))[:120]
    billing: dict[str, Any] = {"business_name": str(buyer["name"])[:300]}
    if buyer.get("email"):
        billing["email_address"] = buyer["email"]
    addr = buyer.get("address") or {}
    if addr.get("country"):
        billing["address"] = {k: str(v) for k, v in (("address_line_1", addr.get("line1")), ("address_line_2", addr.get("line2")),
                                                      ("admin_area_2", addr.get("city")), ("admin_area_1", addr.get("region")),
                                                      ("postal_code", addr.get("postal_code")), ("country_code", addr["country"])) if v}
    invoicer: dict[str, Any] = {"business_name": str(seller["name"])[:300]}
    if settings.invoicer_email or seller.get("email"):
        invoicer["email_address"] = settings.invoicer_email or seller["email"]
    if seller.get("vat_id"):
        invoicer["tax_id"] = str(seller["vat_id"])[:100]
    return {"detail": detail, "invoicer": invoicer, "primary_recipients": [{"billing_info": billing}],
            "items": [_item(line, cur, settings.tax_name) for line in invoice["lines"]]}


class PayPalSink(Sink):
    target = "paypal"
    settings_class = PayPalSettings
    settings: PayPalSettings
    rate_limit_per_minute = 300.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        s = self.settings
        self.auth = client_credentials_auth("paypal", s, self.client, token_url=s.token_url or f"{self.base_url()}/v1/oauth2/token",
                                            basic_client_auth=True)

    async def _call(self, method: str, path: str, what: str, body: Any = None) -> httpx.Response:
        r = await self.client.request(method, f"{self.base_url()}{path}", json=body, auth=self.auth,
                                      headers={"Prefer": "return=representation", "Accept": "application/json"})
        if r.status_code in (400, 404, 409, 422):
            raise InvoiceRejected(f"paypal {what}: HTTP {r.status_code}: {_paypal_message(r)}")
        raise_for_status(r, what=f"paypal {what}")
        return r

    async def _search(self, invoice: Mapping[str, Any]) -> dict[str, Any] | None:
        r = await self._call("POST", "/v2/invoicing/search-invoices?page=1&page_size=10&total_required=false", "search",
                             {"invoice_number": str(invoice["number"])})
        for doc in r.json().get("items") or []:
            if (doc.get("detail") or {}).get("invoice_number") == invoice["number"] and doc.get("status") != "CANCELLED":
                return dict(doc)
        return None

    async def find_invoice(self, invoice: Mapping[str, Any], idempotency_key: str) -> InvoiceRef | None:
        doc = await self._search(invoice)
        if doc is None:
            return None
        if doc.get("status") == "DRAFT":  # created, never sent: finish the job
            await self._check_and_send(invoice, doc)
        return InvoiceRef(str(doc["id"]), _view_url(doc))

    async def create_invoice(self, invoice: Mapping[str, Any], idempotency_key: str) -> InvoiceRef:
        body = to_paypal(invoice, self.settings)
        try:
            doc = (await self._call("POST", "/v2/invoicing/invoices", "create", body)).json()
        except InvoiceRejected as exc:
            if "DUPLICATE_INVOICE_NUMBER" not in str(exc):
                raise
            found = await self._search(invoice)
            if found is None or f"invoice_id {invoice['invoice_id']}" not in str((found.get("detail") or {}).get("memo")):
                raise
            doc = found
        if doc.get("status", "DRAFT") == "DRAFT":
            await self._check_and_send(invoice, doc)
        return InvoiceRef(str(doc["id"]), _view_url(doc))

    async def _check_and_send(self, invoice: Mapping[str, Any], doc: Mapping[str, Any]) -> None:
        total = (doc.get("amount") or {}).get("value")
        if total is not None and Decimal(total) != Decimal(invoice["total"]):
            await self._call("DELETE", f"/v2/invoicing/invoices/{doc['id']}", "delete mismatched draft")
            raise InvoiceRejected(f"paypal computed total {total} for {invoice['number']}, ours is {invoice['total']}; "
                                  "draft deleted (per-line tax rounding differs)")
        await self._call("POST", f"/v2/invoicing/invoices/{doc['id']}/send", "send",
                         {"send_to_invoicer": False, "send_to_recipient": True})


def _view_url(doc: Mapping[str, Any]) -> str | None:
    url = (doc.get("detail") or {}).get("metadata", {}).get("recipient_view_url")
    return str(url) if url else None


def _paypal_message(r: httpx.Response) -> str:
    """``name: message [issue: description; …]`` from PayPal's error body."""
    try:
        doc = r.json()
    except ValueError:
        return r.text[:300]
    details = "; ".join(f"{d.get('issue')}: {d.get('description', '')} ({d.get('field', '')})" for d in doc.get("details") or [])
    return f"{doc.get('name', '')}: {doc.get('message', '')}" + (f" [{details}]" if details else "")
