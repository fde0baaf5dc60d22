"""Odoo (17+/19) target: customer invoices through the JSON-2 API ``POST /json/2/<model>/<method>``.

Auth: ``Authorization: bearer <API key>`` (INVOICING_ODOO_API_KEY) and ``X-Odoo-Database``
(INVOICING_ODOO_DATABASE, falling back to INVOICING_ODOO_TENANT). Errors come back as
HTTP 4xx/5xx with ``{"name", "message", "arguments", "context", "debug"}``; we keep
``name`` and ``message`` (never ``debug``: a server traceback).
"""
from __future__ import annotations

from typing import Any, Mapping

from pydantic import Field

from invoicing.errors import InvoiceRejected
from invoicing.settings import PlatformSettings
from invoicing.exact import json_body
from invoicing.mapping import invoice_lines, order_ids
from sinks.auth import StaticBearer
from sinks.base import InvoiceRef, Sink, raise_for_status

__all__ = ["OdooSink", "OdooSettings"]


class OdooSettings(PlatformSettings):
    database: str | None = Field(None, description="Odoo database name (X-Odoo-Database).")
    create_partners: bool = Field(True, description="Create the customer as res.partner when no ref/email/VAT matches.")
    tax_map: dict[str, int] = Field(default_factory=dict, description='account.tax id per "<EN 16931 category>:<rate>", '
                                    'e.g. {"K:0": 12, "G:0": 14}; unmapped rates are looked up by percentage.')


def _odoo_message(body: Any) -> str | None:
    if isinstance(body, dict):
        return f"{body.get('name', 'error')}: {body.get('message', '')}"
    return str(body)[:500] if body else None


class OdooSink(Sink):
    """Posts one ``account.move`` per invoice.

    Delivery guarantee: exactly once per invoice number. Odoo has no idempotency key,
    so `find_invoice` searches ``account.move`` by ``ref`` = our invoice number and
    ``move_type``; a move left in draft by a crash between ``create`` and ``action_post``
    is found and posted then, never created twice.
    Idempotency key: our invoice number in ``ref`` (``payment_reference`` too).

    Two paths (a Shopify-origin invoice, as in the contract test, takes the first):

    * standalone: ``account.move.create`` (``out_invoice``/``out_refund``) with the partner
      resolved by ``res.partner`` ref → email → VAT (created if absent), currency by ISO
      code, taxes by sale tax rate, then ``action_post``;
    * order from Odoo (lineage platform ``odoo``): the ``sale.advance.payment.inv`` wizard
      (``advance_payment_method = 'delivered'``) → ``create_invoices``; the draft it made
      gets our number in ``ref``, then ``action_post``.
    """

    target = "odoo"
    settings_class = OdooSettings
    rate_limit_per_minute = None  # Odoo publishes no API rate limit

    def _auth(self) -> StaticBearer:
        key = self.settings.api_key.get_secret_value() if self.settings.api_key else ""
        return StaticBearer(key, scheme="bearer")

    def _secrets(self) -> list[str]:
        return [self.settings.api_key.get_secret_value() if self.settings.api_key else None]  # type: ignore[list-item]

    async def _call(self, model: str, method: str, **params: Any) -> Any:
        s: OdooSettings = self.settings  # type: ignore[assignment]
        headers = {"Content-Type": "application/json; charset=utf-8"}
        db = s.database or s.tenant
        if db:
            headers["X-Odoo-Database"] = db
        r = await self.client.post(f"{self.base_url()}/json/2/{model}/{method}", content=json_body(params, compact=True),
                                   headers=headers, auth=self._auth())
        raise_for_status(r, what=f"odoo {model}.{method}", message=_odoo_message, secrets=self._secrets())
        return r.json()

    @staticmethod
    def _move_type(invoice: Mapping[str, Any]) -> str:
        return "out_refund" if invoice.get("document_type") == "CREDIT_NOTE" else "out_invoice"

    def _ref(self, move_id: int) -> InvoiceRef:
        return InvoiceRef(str(move_id), url=f"{self.base_url()}/odoo/action-account.action_move_out_invoice_type/{move_id}")

    async def find_invoice(self, invoice: Mapping[str, Any], idempotency_key: str) -> InvoiceRef | None:
        found = await self._call("account.move", "search_read",
                                 domain=[["ref", "=", invoice["number"]], ["move_type", "=", self._move_type(invoice)]],
                                 fields=["id", "name", "state", "ref"], limit=2)
        live = [m for m in found if m.get("state") != "cancel"]
        if not live:
            return None
        if len(live) > 1:
            raise InvoiceRejected(f"odoo: {len(live)} moves carry ref {invoice['number']}; resolve by hand")
        if live[0]["state"] == "draft":  # created, crashed before posting: finish the job
            await self._call("account.move", "action_post", ids=[live[0]["id"]])
        return self._ref(live[0]["id"])

    async def create_invoice(self, invoice: Mapping[str, Any], idempotency_key: str) -> InvoiceRef:
        orders = order_ids(invoice, "odoo")
        move_id = await (self._from_sale_orders(invoice, orders) if orders else self._standalone(invoice))
        await self._call("account.move", "action_post", ids=[move_id])
        return self._ref(move_id)

    async def _standalone(self, invoice: Mapping[str, Any]) -> int:
        partner = await self._partner(invoice)
        currency = await self._currency(invoice["currency"])
        taxes: dict[str, int] = {}
        lines = []
        for ln in invoice_lines(invoice, self.target):
            key = f"{ln.tax_category}:{ln.tax_rate.normalize():f}"
            if key not in taxes:
                taxes[key] = self.settings.tax_map.get(key) or await self._tax(ln.tax_rate)  # type: ignore[attr-defined]
            lines.append([0, 0, {"name": ln.description, "quantity": ln.quantity, "price_unit": ln.unit_price,
                                 "tax_ids": [[6, 0, [taxes[key]]]]}])
        vals = {"move_type": self._move_type(invoice), "partner_id": partner, "ref": invoice["number"],
                "payment_reference": invoice["number"], "currency_id": currency,
                "invoice_date": invoice["issue_date"], "invoice_date_due": invoice["due_date"],
                "invoice_origin": ", ".join(invoice.get("orders") or [])[:250], "invoice_line_ids": lines}
        if invoice.get("purchase_order") or invoice.get("buyer_reference"):
            vals["narration"] = f"PO/buyer reference: {invoice.get('purchase_order') or invoice.get('buyer_reference')}"
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

    async def _partner(self, invoice: Mapping[str, Any]) -> int:
        buyer = invoice["buyer"]
        for field, value in (("ref", invoice["customer_id"]), ("email", buyer.get("email")), ("vat", buyer.get("vat_id"))):
            if value:
                found = await self._call("res.partner", "search_read", domain=[[field, "=", value]], fields=["id"], limit=1)
                if found:
                    return int(found[0]["id"])
        if not self.settings.create_partners:  # type: ignore[attr-defined]
            raise InvoiceRejected(f"odoo: no res.partner with ref {invoice['customer_id']!r}, the buyer's email or VAT")
        addr = buyer.get("address") or {}
        ids = await self._call("res.partner", "create", vals_list=[{
            "name": buyer["name"], "ref": invoice["customer_id"], "email": buyer.get("email") or False,
            "vat": buyer.get("vat_id") or False, "is_company": True, "street": addr.get("line1") or False,
            "city": addr.get("city") or False, "zip": addr.get("postal_code") or False}])
        return int(ids[0])

    async def _currency(self, code: str) -> int:
        found = await self._call("res.currency", "search_read", domain=[["name", "=", code]], fields=["id"], limit=1)
        if not found:
            raise InvoiceRejected(f"odoo: currency {code} is not active in this database")
        return int(found[0]["id"])

    async def _tax(self, rate: Any) -> int:
        found = await self._call("account.tax", "search_read",
                                 domain=[["type_tax_use", "=", "sale"], ["amount_type", "=", "percent"], ["amount", "=", rate]],
                                 fields=["id", "name"], limit=1)
        if not found:
            raise InvoiceRejected(f"odoo: no sale tax of {rate}% is configured")
        return int(found[0]["id"])
