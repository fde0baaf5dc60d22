"""PayPal Invoicing v2: ``POST /v2/invoicing/invoices`` (draft), then ``POST …/{id}/send``.

Delivery guarantee: exactly once per invoice number. The Invoicing v2 spec
declares no request-idempotency header, so the guard is our number:
``detail.invoice_number`` (≤127 characters: ``invoice_detail.invoice_number`` maxLength in
paypal/paypal-rest-api-specifications ``openapi/invoicing_v2.json``; the same file's error list
still says 25) is unique per merchant, `find_invoice` searches it
(``POST /v2/invoicing/search-invoices {"invoice_number": …}``; ``search_data.invoice_number`` is
capped at 25, so a longer number is searched by ``memo``, which carries our ``invoice_id``) before
any create, and a create answered ``DUPLICATE_INVOICE_NUMBER`` (a retry after a lost response) is
resolved by the same search. A draft found there (crash between create and send) is sent, not
recreated. Idempotency key: our invoice number; ``detail.memo`` carries our ``invoice_id``.

Tax is PayPal's own: each item carries ``tax {name, percent}`` and PayPal computes the tax per
item on its amount after discount, rounded half-up to the cent (the spec's ``invoice_draft``
example: 10.00 × 7.25 % → 0.73 on shipping, 3.27 and 0.34 on the items, tax_total 4.34);
``tax.amount`` is read-only. We round VAT per (category, rate) group (EN 16931): when PayPal's
per-item rounding would give another tax (three lines of 0.13 at 19 %: 0.06, not 0.07), the invoice
is refused before anything is created (PayPal cannot take our figure), and before sending, the
draft's totals are compared with ours (a mismatch deletes the draft and parks the invoice).

Credit notes: none (`no_credit_notes`): Invoicing v2 has no credit-note resource; an invoice can
be cancelled or have a refund recorded against it (``POST /v2/invoicing/invoices/{id}/refunds``,
a money movement, not a document).
Auth: OAuth 2.0 client credentials (HTTP Basic) at ``/v1/oauth2/token``.
Rate limit: not published [U]; 300/min is assumed. Requests are validated against the trimmed
spec in tests/fakes/specs/paypal_invoicing_v2.trimmed.json (tests/sinks/test_paypal_spec.py).
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any, Mapping

import httpx

from domain.errors import InvoiceRejected
from domain.exact import money_str
from sinks.mapping import check_mappable
from domain.money import ZERO, round_amount
from domain.settings import PlatformSettings
from sinks.credentials import ClientCredentials, under_base_url
from sinks.base import InvoiceRef, Sink, raise_for_status

__all__ = ["PayPalSink", "PayPalSettings", "to_paypal"]

NUMBER_MAX = 127  # invoice_detail.invoice_number maxLength
SEARCH_NUMBER_MAX = 25  # search_data.invoice_number maxLength
SCOPE_NOTE = "https://uri.paypal.com/services/invoicing"
NO_CREDIT_NOTES = ("PayPal Invoicing v2 has no credit-note resource: an invoice can only be cancelled or have a refund "
                   "recorded against it (POST /v2/invoicing/invoices/{invoice_id}/refunds, a money movement); see "
                   "https://developer.paypal.com/docs/api/invoicing/v2/ and paypal/paypal-rest-api-specifications "
                   "openapi/invoicing_v2.json")


class PayPalSettings(PlatformSettings):
    base_url: str | None = "https://api-m.paypal.com"
    token_url: str | None = None  # default: <base_url>/v1/oauth2/token
    invoicer_email: str | None = None
    tax_name: str = "VAT"


def _money(amount: Decimal, currency: str) -> dict[str, str]:
    return {"currency_code": currency, "value": money_str(amount, currency)}


def per_item_tax_gaps(invoice: Mapping[str, Any]) -> list[str]:
    """Each (category, rate) whose tax PayPal, rounding per item half-up, would book differently from ours."""
    cur, sums = str(invoice["currency"]), dict[tuple[str, Decimal], Decimal]()
    for ln in invoice["lines"]:
        key = (str(ln["tax_category"]), Decimal(ln["tax_rate"]))
        sums[key] = sums.get(key, ZERO) + round_amount(Decimal(ln["net_amount"]) * key[1] / 100, cur)
    return [f"{s['category']} {Decimal(s['rate']).normalize():f} %: {sums.get((str(s['category']), Decimal(s['rate'])), ZERO)} "
            f"per item, {round_amount(Decimal(s['tax_amount']), cur)} on the group" for s in invoice["tax_breakdown"]
            if sums.get((str(s["category"]), Decimal(s["rate"])), ZERO) != Decimal(s["tax_amount"])]


def _tax_name(invoice: Mapping[str, Any], line: Mapping[str, Any], settings: PayPalSettings) -> str:
    us = (invoice["seller"].get("address") or {}).get("country") == "US"
    name = "Sales Tax" if us else settings.tax_name
    return name if line["tax_category"] == "S" else f"{name} ({line['tax_category']})"


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
    gaps = per_item_tax_gaps(invoice)
    if gaps:
        raise InvoiceRejected(f"paypal computes tax per item (tax.amount is read-only) and would book {'; '.join(gaps)} "
                              f"for {number}: PayPal cannot take our tax; book it by hand")
    buyer, seller = invoice["buyer"], invoice["seller"]
    detail: dict[str, Any] = {"invoice_number": number, "currency_code": cur,
                              "invoice_date": invoice["issue_date"].isoformat(),
                              "payment_term": {"due_date": invoice["due_date"].isoformat()},
                              "memo": _memo(invoice),
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
            "items": [_item(line, cur, _tax_name(invoice, line, settings)) for line in invoice["lines"]]}


class PayPalSink(Sink):
    target = "paypal"
    rounds_tax_per_line = True
    no_credit_notes = NO_CREDIT_NOTES
    settings_class = PayPalSettings
    settings: PayPalSettings
    rate_limit_per_minute = 300.0

    auth_spec = ClientCredentials(token_url=under_base_url("/v1/oauth2/token"), token_url_from="base_url",
                                  basic_client_auth=True)

    async def _call(self, method: str, path: str, what: str, body: Any = None) -> httpx.Response:
        r = await self.client.request(method, f"{self.base_url()}{path}", json=body, auth=self.auth,
                                      headers={"Prefer": "return=representation", "Accept": "application/json"})
        if r.status_code in (400, 404, 409, 422):
            raise InvoiceRejected(f"paypal {what}: HTTP {r.status_code}: {_paypal_message(r)}")
        raise_for_status(r, what=f"paypal {what}")
        return r

    async def _search(self, invoice: Mapping[str, Any]) -> dict[str, Any] | None:
        number = str(invoice["number"])
        query = {"invoice_number": number} if len(number) <= SEARCH_NUMBER_MAX else {"memo": _memo(invoice)}
        r = await self._call("POST", "/v2/invoicing/search-invoices?page=1&page_size=10&total_required=false", "search", query)
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
            if found is None or _memo(invoice) not in str((found.get("detail") or {}).get("memo")):
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


def _memo(invoice: Mapping[str, Any]) -> str:
    return f"invoice_id {invoice['invoice_id']}"


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
