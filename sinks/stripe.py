"""Stripe Invoicing: customer → draft invoice → lines with tax → finalize → send; credit notes on the invoice.

Delivery guarantee: exactly once per invoice and per credit note. Every POST carries an
``Idempotency-Key`` from our ``invoice_id`` and the step (``<id>:invoice``, ``<id>:lines``,
``<id>:finalize``, ``<id>:send``, ``<id>:credit_note``), so a retried step replays Stripe's first answer
(keys live ≥24 h). The invoice carries ``metadata[invoice_id]`` and our ``number``; `find_invoice`
searches ``metadata['invoice_id']:'…'``. A draft or unsent invoice found there is resumed: its lines
went in with one ``add_lines`` call (all there or none), ``metadata[sent]=true`` marks the last step.
A credit note is found through its invoice (``GET /v1/credit_notes?invoice=…``, ``metadata[invoice_id]``).

Tax is Stripe's own: one exclusive tax rate per (VAT/sales tax, category, rate), found by
``metadata[invoicing_tax]`` or created once (``POST /v1/tax_rates``, key ``tax_rate:<key>``), on each
line (``tax_rates[]``). Stripe computes exclusive tax per line, rounded to the minor unit
(support.stripe.com "rounding rules": 0.0645 → 0.06, 0.7265 → 0.73 per line item) [S]; we round VAT
per (category, rate) group (EN 16931). Where per-line rounding would not give our group tax (or a
line sits on a tie), the lines carry Stripe's manual ``tax_amounts`` instead (our tax split over the
lines, ``tax_rate_data`` for the rate; Stripe forbids mixing them with ``tax_rates`` on one invoice).
A credit note's lines are ``custom_line_item`` with our tax rates; a group whose per-line rounding
would differ goes as one line. Stripe's total is checked before finalizing (a mismatching draft is
deleted) and after a credit note is created (a mismatching one is voided): our figures to the cent,
or a refusal. On a paid invoice a credit note is recorded ``out_of_band_amount`` (settled outside
Stripe): no refund and no customer-balance credit is made for us.
Auth: secret key as Bearer. Rate limit: 25 req/s per endpoint (sandbox) → 1500/min. Stripe Search
is eventually consistent (≈1 min); inside that window the idempotency keys prevent a duplicate.
Requests are checked against stripe-python's ``stripe.params`` models (tests/sinks/test_stripe_spec.py).
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any, Mapping

import httpx

from domain.errors import InvoiceRejected
from domain.exact import decimal_text, line_taxes, to_minor
from sinks.mapping import check_mappable, reject_document_charges
from domain.money import ZERO, amount_places, round_amount
from domain.settings import PlatformSettings, Settings
from sinks.credentials import Bearer
from sinks.base import InvoiceRef, Sink, TaxKey, original_of, raise_for_status

__all__ = ["StripeSink", "StripeSettings", "invoice_params", "line_params", "exact_groups", "tax_key"]

LABELS = {"S": "VAT", "AA": "VAT (reduced)", "Z": "VAT (zero rated)", "E": "VAT exempt", "AE": "VAT reverse charge",
          "K": "VAT exempt (intra-Community supply)", "G": "VAT exempt (export)", "O": "Not subject to VAT"}


class StripeSettings(PlatformSettings):
    base_url: str | None = "https://api.stripe.com"
    api_version: str = "2026-10-28.endive"


def _q(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


def _kind(invoice: Mapping[str, Any]) -> str:
    return "sales_tax" if ((invoice["seller"].get("address") or {}).get("country")) == "US" else "vat"


def tax_key(kind: str, category: str, rate: Decimal) -> str:
    """``vat:S:19``: our key of a Stripe tax rate (its ``metadata[invoicing_tax]``)."""
    return f"{kind}:{category}:{decimal_text(Decimal(rate), min_places=0)}"


def _rate_fields(kind: str, category: str, rate: Decimal) -> dict[str, str]:
    label = ("Sales tax" if category == "S" else "Sales tax exempt") if kind == "sales_tax" else LABELS.get(category, "VAT")
    return {"display_name": label, "inclusive": "false", "percentage": decimal_text(Decimal(rate), min_places=0),
            "tax_type": kind, "description": f"EN 16931 category {category} at {decimal_text(Decimal(rate), min_places=0)} %"}


def exact_groups(invoice: Mapping[str, Any]) -> set[TaxKey]:
    """The (category, rate) groups for which Stripe's per-line rounding gives our group tax exactly."""
    cur, sums, ties = str(invoice["currency"]), dict[TaxKey, Decimal](), set[TaxKey]()
    for ln in invoice["lines"]:
        key = (str(ln["tax_category"]), Decimal(ln["tax_rate"]))
        exact = Decimal(ln["net_amount"]) * key[1] / 100
        rounded = round_amount(exact, cur)
        if abs(exact - rounded) * 2 == amount_places(cur):
            ties.add(key)
        sums[key] = sums.get(key, ZERO) + rounded
    return {(str(s["category"]), Decimal(s["rate"])) for s in invoice["tax_breakdown"]
            if sums.get((str(s["category"]), Decimal(s["rate"])), ZERO) == Decimal(s["tax_amount"])} - ties


def invoice_params(invoice: Mapping[str, Any], customer: str) -> dict[str, str]:
    days = (invoice["due_date"] - invoice["issue_date"]).days
    params = {"customer": customer, "currency": str(invoice["currency"]).lower(), "collection_method": "send_invoice",
              "days_until_due": str(max(days, 0)), "auto_advance": "false", "pending_invoice_items_behavior": "exclude",
              "number": str(invoice["number"]), "metadata[invoice_id]": str(invoice["invoice_id"]),
              "metadata[invoice_number]": str(invoice["number"])}
    if invoice.get("purchase_order") or invoice.get("buyer_reference"):
        params["custom_fields[0][name]"] = "Reference"
        params["custom_fields[0][value]"] = str(invoice.get("purchase_order") or invoice.get("buyer_reference"))[:140]
    return params


def _describe(line: Mapping[str, Any]) -> str:
    q, u = Decimal(line["quantity"]).normalize(), Decimal(line["unit_price"]).normalize()
    less = f", less {Decimal(line['allowance']).normalize():f}" if Decimal(line.get("allowance") or 0) else ""
    return f"{line['description']} ({q:f} × {u:f}{less})"[:500]


def line_params(invoice: Mapping[str, Any], rates: Mapping[TaxKey, str] | None) -> dict[str, str]:
    """``lines[i][…]`` for ``POST /v1/invoices/{id}/add_lines``: each line with its tax rate, or (*rates*
    ``None``) with a manual ``tax_amounts`` entry carrying its share of our group tax."""
    cur, kind = str(invoice["currency"]), _kind(invoice)
    shares = line_taxes(invoice)
    out: dict[str, str] = {}
    for i, ln in enumerate(invoice["lines"]):
        p, key = f"lines[{i}]", (str(ln["tax_category"]), Decimal(ln["tax_rate"]))
        out.update({f"{p}[amount]": str(to_minor(ln["net_amount"], cur)), f"{p}[description]": _describe(ln),
                    f"{p}[metadata][line_id]": str(ln["line_id"])})
        if rates is not None:
            out[f"{p}[tax_rates][0]"] = rates[key]
            continue
        t = f"{p}[tax_amounts][0]"
        out.update({f"{t}[amount]": str(to_minor(shares[i], cur)), f"{t}[taxable_amount]": str(to_minor(ln["net_amount"], cur))})
        out.update({f"{t}[tax_rate_data][{k}]": v for k, v in _rate_fields(kind, *key).items()})
    return out


def credit_note_lines(note: Mapping[str, Any], rates: Mapping[TaxKey, str]) -> dict[str, str]:
    """``lines[i][…]`` (``custom_line_item``) for ``POST /v1/credit_notes``; a group whose per-line rounding
    would differ from our tax goes as one line with the group's taxable amount."""
    cur, exact, out = str(note["currency"]), exact_groups(note), dict[str, str]()
    rows: list[tuple[str, Decimal, TaxKey]] = [(_describe(ln), Decimal(ln["net_amount"]), (str(ln["tax_category"]), Decimal(ln["tax_rate"])))
                                               for ln in note["lines"] if (str(ln["tax_category"]), Decimal(ln["tax_rate"])) in exact]
    rows += [(f"{note['number']}: lines at {s['category']} {decimal_text(Decimal(s['rate']), min_places=0)} %",
              Decimal(s["taxable_amount"]), (str(s["category"]), Decimal(s["rate"])))
             for s in note["tax_breakdown"] if (str(s["category"]), Decimal(s["rate"])) not in exact]
    for i, (text, amount, key) in enumerate(rows):
        out.update({f"lines[{i}][type]": "custom_line_item", f"lines[{i}][description]": text, f"lines[{i}][quantity]": "1",
                    f"lines[{i}][unit_amount]": str(to_minor(amount, cur)), f"lines[{i}][tax_rates][0]": rates[key]})
    return out


class StripeSink(Sink):
    target = "stripe"
    settings_class = StripeSettings
    settings: StripeSettings
    rate_limit_per_minute = 1500.0

    auth_spec = Bearer("api_key", "the secret key")

    def __init__(self, settings: StripeSettings, client: httpx.AsyncClient, pipeline: Settings) -> None:
        super().__init__(settings, client, pipeline)
        self._rates: dict[str, str] = {}
        self._listed = False

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

    async def _tax_rates(self, doc: Mapping[str, Any]) -> dict[TaxKey, str]:
        """Our tax rate for each (category, rate) of *doc*: listed once per sink, else created once."""
        kind = _kind(doc)
        wanted = {(str(ln["tax_category"]), Decimal(ln["tax_rate"])) for ln in doc["lines"]}
        if any(tax_key(kind, *w) not in self._rates for w in wanted) and not self._listed:
            after: str | None = None
            while True:
                page = await self._call("GET", "/v1/tax_rates", "list tax rates", params={
                    "active": "true", "inclusive": "false", "limit": "100", **({"starting_after": after} if after else {})})
                for rate in page.get("data") or []:
                    if (rate.get("metadata") or {}).get("invoicing_tax"):
                        self._rates.setdefault(str(rate["metadata"]["invoicing_tax"]), str(rate["id"]))
                if not page.get("has_more") or not page.get("data"):
                    break
                after = str(page["data"][-1]["id"])
            self._listed = True
        for w in sorted(wanted):
            k = tax_key(kind, *w)
            if k not in self._rates:
                created = await self._call("POST", "/v1/tax_rates", "create tax rate", key=f"tax_rate:{k}",
                                           data={**_rate_fields(kind, *w), "metadata[invoicing_tax]": k})
                self._rates[k] = str(created["id"])
        return {w: self._rates[tax_key(kind, *w)] for w in wanted}

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
        cur, key = str(invoice["currency"]), idempotency_key
        manual = exact_groups(invoice) != {(str(s["category"]), Decimal(s["rate"])) for s in invoice["tax_breakdown"]}
        line_params(invoice, None)  # refuses amounts finer than minor units before anything is sent
        doc = await self._search(invoice)
        resumed = doc is not None
        if doc is None:
            customer = await self._customer(invoice, key)
            doc = await self._call("POST", "/v1/invoices", "create invoice", data=invoice_params(invoice, customer),
                                   key=f"{key}:invoice")
        inv_id = str(doc["id"])
        if doc.get("status") == "draft":
            present = resumed and bool((await self._call("GET", f"/v1/invoices/{inv_id}/lines", "list lines",
                                                         params={"limit": "100"})).get("data"))
            if not present:
                rates = None if manual else await self._tax_rates(invoice)
                doc = await self._call("POST", f"/v1/invoices/{inv_id}/add_lines", "add lines",
                                       data=line_params(invoice, rates), key=f"{key}:lines")
            if int(doc.get("total") or 0) != to_minor(invoice["total"], cur):
                await self._call("DELETE", f"/v1/invoices/{inv_id}", "delete mismatching draft")
                raise InvoiceRejected(f"stripe: draft {inv_id} totals {doc.get('total')} minor units, ours is "
                                      f"{invoice['total']} {cur}; draft deleted")
            doc = await self._call("POST", f"/v1/invoices/{inv_id}/finalize", "finalize",
                                   data={"auto_advance": "false"}, key=f"{key}:finalize")
        if (doc.get("metadata") or {}).get("sent") != "true":
            doc = await self._call("POST", f"/v1/invoices/{inv_id}/send", "send", key=f"{key}:send")
            doc = await self._call("POST", f"/v1/invoices/{inv_id}", "mark sent", data={"metadata[sent]": "true"},
                                   key=f"{key}:sent")
        return InvoiceRef(inv_id, doc.get("hosted_invoice_url"))

    async def find_credit_note(self, note: Mapping[str, Any], idempotency_key: str) -> InvoiceRef | None:
        invoice = await self._search(original_of(note))
        if invoice is None:
            return None
        listed = await self._call("GET", "/v1/credit_notes", "list credit notes", params={"invoice": str(invoice["id"]), "limit": "100"})
        for cn in listed.get("data") or []:
            if (cn.get("metadata") or {}).get("invoice_id") == note["invoice_id"] and cn.get("status") != "void":
                return InvoiceRef(str(cn["id"]), cn.get("pdf"))
        return None

    async def create_credit_note(self, note: Mapping[str, Any], idempotency_key: str, original: InvoiceRef) -> InvoiceRef:
        reject_document_charges(note, "stripe")
        cur = str(note["currency"])
        credit_note_lines(note, dict.fromkeys([(str(x["tax_category"]), Decimal(x["tax_rate"])) for x in note["lines"]] +
                                              [(str(x["category"]), Decimal(x["rate"])) for x in note["tax_breakdown"]], ""))
        invoice = await self._call("GET", f"/v1/invoices/{original.external_id}", "get invoice")
        if str(invoice.get("currency")) != cur.lower():
            raise InvoiceRejected(f"stripe: credit note {note['number']} is in {cur}, invoice {original.external_id} in {invoice.get('currency')}")
        lines = credit_note_lines(note, await self._tax_rates(note))
        data = {"invoice": original.external_id, **lines, "metadata[invoice_id]": str(note["invoice_id"]),
                "metadata[invoice_number]": str(note["number"]), "metadata[preceding_invoice]": str(note.get("preceding_invoice") or ""),
                "memo": f"{note['number']}: {'; '.join(note.get('notes') or []) or 'credit note'}"[:500]}
        if invoice.get("status") == "paid":
            data["out_of_band_amount"] = str(to_minor(note["total"], cur))
        cn = await self._call("POST", "/v1/credit_notes", "create credit note", data=data, key=f"{idempotency_key}:credit_note")
        if int(cn.get("total") or 0) != to_minor(note["total"], cur):
            await self._call("POST", f"/v1/credit_notes/{cn['id']}/void", "void mismatching credit note",
                             key=f"{idempotency_key}:void")
            raise InvoiceRejected(f"stripe: credit note {cn['id']} totals {cn.get('total')} minor units, ours is {note['total']} {cur}; voided")
        return InvoiceRef(str(cn["id"]), cn.get("pdf"))


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
