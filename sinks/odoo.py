"""Odoo (17+/19) target: customer invoices and credit notes through the JSON-2 API ``POST /json/2/<model>/<method>``.

Auth: ``Authorization: bearer <API key>`` (INVOICING_ODOO_API_KEY) and ``X-Odoo-Database``
(INVOICING_ODOO_DATABASE, falling back to INVOICING_ODOO_TENANT). Errors come back as
HTTP 4xx/5xx with ``{"name", "message", "arguments", "context", "debug"}``; we keep
``name`` and ``message`` (never ``debug``: a server traceback).

Tax: each line carries the ``account.tax`` mapped from its (category, rate) in
INVOICING_ODOO_TAX_MAP (``{"S:19": 10, "K:0": 12, …}``); there is no look-up by percentage
(two 0 % taxes, intra-EU and export, are different taxes). Odoo computes the tax itself; the
draft's ``amount_untaxed``/``amount_tax``/``amount_total`` are compared with ours before
``action_post`` and a draft that differs is deleted and refused (e.g. a company rounding tax
per line, Odoo's default, where our invoices round per tax: set *Accounting › Settings › Rounding
Method* to *Round Globally*, ``res.company.tax_calculation_rounding_method = 'round_globally'``).
Field names are those of odoo/odoo ``account.move``/``account.move.line`` (checked in
tests/sinks/test_odoo_spec.py against tests/fakes/specs/odoo_models_fields.json).
"""
from __future__ import annotations

import json
from decimal import Decimal
from typing import Any, Collection, Mapping

from pydantic import Field

from domain.errors import InvoiceRejected
from domain.exact import decimal_text, json_body
from sinks.mapping import invoice_lines, order_ids, rate_key
from domain.settings import PlatformSettings
from sinks.credentials import Bearer, Need
from sinks.base import InvoiceRef, Sink, TaxKey, raise_for_status

__all__ = ["OdooSink", "OdooSettings"]


class OdooSettings(PlatformSettings):
    database: str | None = Field(None, description="Odoo database name (X-Odoo-Database).")
    create_partners: bool = Field(True, description="Create the customer as res.partner when no ref/email/VAT matches.")
    tax_map: dict[str, int] = Field(default_factory=dict, description='account.tax id (a sale tax, price excluded) per '
                                    '"<EN 16931 category>:<rate>", e.g. {"S:19": 10, "K:0": 12, "G:0": 14}.')


def _odoo_message(body: Any) -> str | None:
    if isinstance(body, dict):
        return f"{body.get('name', 'error')}: {body.get('message', '')}"
    return str(body)[:500] if body else None


class OdooSink(Sink):
    """Posts one ``account.move`` per invoice (``out_invoice``) and per credit note (``out_refund``).

    Delivery guarantee: exactly once per document number. Odoo has no idempotency key, so
    `find_invoice`/`find_credit_note` search ``account.move`` by ``ref`` = our number and
    ``move_type``; a move left in draft by a crash between ``create`` and ``action_post`` is
    found, checked and posted then, never created twice.
    Idempotency key: our invoice or credit note number in ``ref`` (``payment_reference`` too).

    A credit note is an ``out_refund`` with ``reversed_entry_id`` = Odoo's id of the invoice
    (``original.external_id``), as Odoo's own reversal wizard links them.

    Two invoice paths (a Shopify-origin invoice, as in the contract test, takes the first):

    * standalone: ``account.move.create`` with the partner resolved by ``res.partner`` ref →
      email → VAT (created if absent), currency by ISO code, taxes from the tax map, then
      ``action_post``;
    * order from Odoo (lineage platform ``odoo``): the ``sale.advance.payment.inv`` wizard
      (``advance_payment_method = 'delivered'``) → ``create_invoices``; the draft it made
      gets our number in ``ref`` and is posted only if its amounts are ours.
    """

    target = "odoo"
    settings_class = OdooSettings
    settings: OdooSettings
    rate_limit_per_minute = None  # Odoo publishes no API rate limit
    auth_spec = Bearer("api_key", "a user's API key", scheme="bearer")
    requires = (Need("base_url"),)

    def tax_mapping_gaps(self, taxes: Collection[TaxKey]) -> list[str]:
        return [f'INVOICING_ODOO_TAX_MAP has no entry "{rate_key(c, r)}" (the account.tax id of that sale tax)'
                for c, r in sorted(taxes) if rate_key(c, r) not in self.settings.tax_map]

    async def _call(self, model: str, method: str, **params: Any) -> Any:
        headers = {"Content-Type": "application/json; charset=utf-8"}
        db = self.settings.database or self.settings.tenant
        if db:
            headers["X-Odoo-Database"] = db
        r = await self.client.post(f"{self.base_url()}/json/2/{model}/{method}", content=json_body(params, compact=True),
                                   headers=headers, auth=self.auth)
        raise_for_status(r, what=f"odoo {model}.{method}", message=_odoo_message, secrets=self._secrets())
        return json.loads(r.content, parse_float=Decimal)

    def _ref(self, move_id: int, move_type: str) -> InvoiceRef:
        action = "action_move_out_refund_type" if move_type == "out_refund" else "action_move_out_invoice_type"
        return InvoiceRef(str(move_id), url=f"{self.base_url()}/odoo/action-account.{action}/{move_id}")

    async def _find(self, doc: Mapping[str, Any], move_type: str) -> InvoiceRef | None:
        found = await self._call("account.move", "search_read",
                                 domain=[["ref", "=", doc["number"]], ["move_type", "=", move_type]],
                                 fields=["id", "name", "state", "ref"], limit=2)
        live = [m for m in found if m.get("state") != "cancel"]
        if not live:
            return None
        if len(live) > 1:
            raise InvoiceRejected(f"odoo: {len(live)} moves carry ref {doc['number']}; resolve by hand")
        if live[0]["state"] == "draft":  # created, crashed before posting: check and finish the job
            await self._post_checked(int(live[0]["id"]), doc)
        return self._ref(int(live[0]["id"]), move_type)

    async def find_invoice(self, invoice: Mapping[str, Any], idempotency_key: str) -> InvoiceRef | None:
        return await self._find(invoice, "out_invoice")

    async def find_credit_note(self, note: Mapping[str, Any], idempotency_key: str) -> InvoiceRef | None:
        return await self._find(note, "out_refund")

    async def create_invoice(self, invoice: Mapping[str, Any], idempotency_key: str) -> InvoiceRef:
        orders = order_ids(invoice, "odoo")
        move_id = await (self._from_sale_orders(invoice, orders) if orders else self._standalone(invoice, "out_invoice"))
        await self._post_checked(move_id, invoice)
        return self._ref(move_id, "out_invoice")

    async def create_credit_note(self, note: Mapping[str, Any], idempotency_key: str, original: InvoiceRef) -> InvoiceRef:
        move_id = await self._standalone(note, "out_refund", reversed_entry_id=int(original.external_id))
        await self._post_checked(move_id, note)
        return self._ref(move_id, "out_refund")

    async def _post_checked(self, move_id: int, doc: Mapping[str, Any]) -> None:
        """``action_post`` the draft if Odoo's amounts are ours; otherwise delete it and refuse."""
        (move,) = await self._call("account.move", "search_read", domain=[["id", "=", move_id]],
                                   fields=["amount_untaxed", "amount_tax", "amount_total"], limit=1)
        odoo = (Decimal(str(move["amount_untaxed"])), Decimal(str(move["amount_tax"])), Decimal(str(move["amount_total"])))
        ours = (doc["tax_exclusive_total"], doc["tax_total"], doc["total"])
        if odoo != ours:
            await self._call("account.move", "unlink", ids=[move_id])
            o, w = [decimal_text(v) for v in odoo], [decimal_text(v) for v in ours]
            raise InvoiceRejected(f"odoo: {doc['number']}: Odoo computes net {o[0]}, tax {o[1]}, total {o[2]}; we "
                                  f"issued {w[0]}, {w[1]}, {w[2]}; draft deleted, nothing posted (check the tax map "
                                  "and the company's tax rounding method: our invoices round tax per tax group, "
                                  "'Round Globally')")
        await self._call("account.move", "action_post", ids=[move_id])

    async def _standalone(self, doc: Mapping[str, Any], move_type: str, **extra: Any) -> int:
        partner = await self._partner(doc)
        currency = await self._currency(doc["currency"])
        lines = []
        for ln in invoice_lines(doc, self.target):
            key = rate_key(ln.tax_category, ln.tax_rate)
            if key not in self.settings.tax_map:
                raise InvoiceRejected(f'odoo: INVOICING_ODOO_TAX_MAP has no entry "{key}"')
            lines.append([0, 0, {"name": ln.description, "quantity": ln.quantity, "price_unit": ln.unit_price,
                                 "tax_ids": [[6, 0, [self.settings.tax_map[key]]]]}])
        vals = {"move_type": move_type, "partner_id": partner, "ref": doc["number"], "payment_reference": doc["number"],
                "currency_id": currency, "invoice_date": doc["issue_date"], "invoice_date_due": doc["due_date"],
                "invoice_origin": ", ".join(doc.get("orders") or [])[:250], "invoice_line_ids": lines, **extra}
        if doc.get("purchase_order") or doc.get("buyer_reference"):
            vals["narration"] = f"PO/buyer reference: {doc.get('purchase_order') or doc.get('buyer_reference')}"
        ids = await self._call("account.move", "create", vals_list=[vals])
        return int(ids[0])

    async def _from_sale_orders(self, invoice: Mapping[str, Any], orders: list[str]) -> int:
        so_ids = [int(o) for o in orders]
        wizard = await self._call("sale.advance.payment.inv", "create",
                                  vals_list=[{"advance_payment_method": "delivered", "sale_order_ids": [[6, 0, so_ids]]}])
        await self._call("sale.advance.payment.inv", "create_invoices", ids=[int(wizard[0])])
        sos = await self._call("sale.order", "read", ids=so_ids, fields=["invoice_ids"])
        candidates = sorted({i for so in sos for i in so.get("invoice_ids", [])})
        drafts = await self._call("account.move", "search_read",
                                  domain=[["id", "in", candidates], ["state", "=", "draft"], ["ref", "in", [False, ""]]],
                                  fields=["id"], limit=1, order="id desc")
        if not drafts:
            raise InvoiceRejected(f"odoo: the wizard made no draft invoice for sale orders {so_ids}")
        move_id = int(drafts[0]["id"])
        await self._call("account.move", "write", ids=[move_id],
                         vals={"ref": invoice["number"], "payment_reference": invoice["number"],
                               "invoice_date": invoice["issue_date"], "invoice_date_due": invoice["due_date"]})
        return move_id

    async def _partner(self, doc: Mapping[str, Any]) -> int:
        buyer = doc["buyer"]
        for field, value in (("ref", doc["customer_id"]), ("email", buyer.get("email")), ("vat", buyer.get("vat_id"))):
            if value:
                found = await self._call("res.partner", "search_read", domain=[[field, "=", value]], fields=["id"], limit=1)
                if found:
                    return int(found[0]["id"])
        if not self.settings.create_partners:
            raise InvoiceRejected(f"odoo: no res.partner with ref {doc['customer_id']!r}, the buyer's email or VAT")
        addr = buyer.get("address") or {}
        ids = await self._call("res.partner", "create", vals_list=[{
            "name": buyer["name"], "ref": doc["customer_id"], "email": buyer.get("email") or False,
            "vat": buyer.get("vat_id") or False, "street": addr.get("line1") or False,
            "city": addr.get("city") or False, "zip": addr.get("postal_code") or False}])
        return int(ids[0])

    async def _currency(self, code: str) -> int:
        found = await self._call("res.currency", "search_read", domain=[["name", "=", code]], fields=["id"], limit=1)
        if not found:
            raise InvoiceRejected(f"odoo: currency {code} is not active in this database")
        return int(found[0]["id"])
