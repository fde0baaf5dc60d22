"""Magento / Adobe Commerce target: invoices of Magento's own orders, credit memos against Magento's invoice.

Magento invoices orders, never free-standing documents, and its REST API has no route that creates
an order from outside: ``PUT /V1/orders/create``, which an earlier version used to mirror other
platforms' orders, is in no copy of ``app/code/Magento/Sales/etc/webapi.xml`` that could be read
(magento/magento2 @e59cdf4; trimmed in tests/fakes/specs/magento_webapi.xml). So an invoice whose
orders did not come from Magento (lineage ``magento:<entity_id>``) is refused (`InvoiceRejected`,
naming its orders): only Magento's own orders are invoiced here. Routes used, all in that file:
``GET /V1/orders/:id``, ``POST /V1/order/:orderId/invoice`` (InvoiceOrderInterface),
``GET /V1/invoices``, ``POST /V1/invoice/:invoiceId/refund`` (RefundInvoiceInterface: the credit
memo is linked to Magento's invoice, refunded offline), ``GET /V1/creditmemos``.

Tax: Magento takes no tax amount; it books the tax it computed on the order (each item's
``tax_amount`` and the order's ``shipping_tax_amount``, pro rata to the quantity invoiced or
refunded; shipping goes with the order's first invoice). Before invoicing or refunding, the sink
computes what Magento will book and refuses unless it is our total and tax to the cent. Every line
of ours must be an item of the order (by SKU) or shipping (a line without SKU).
Auth: admin bearer token (INVOICING_MAGENTO_ACCESS_TOKEN, or _API_KEY). Errors:
``{"message": "… %1 …", "parameters": [...]}``, rendered with their parameters.
"""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Mapping

from pydantic import Field

from domain.errors import InvoiceRejected
from domain.exact import json_body
from sinks.mapping import order_ids, reject_document_charges
from domain.money import ZERO, amount_places, round_amount
from domain.settings import PlatformSettings
from sinks.credentials import AnyOf, Bearer, Need
from sinks.base import InvoiceRef, Sink, original_of, raise_for_status

__all__ = ["MagentoSink", "MagentoSettings", "booked_by_magento"]

NOT_ALLOWED = "The order does not allow an invoice to be created."


class MagentoSettings(PlatformSettings):
    store_code: str = Field("default", description="Store view code in /rest/<store>/V1.")
    capture: bool = Field(False, description="Capture online payments when invoicing Magento orders.")
    notify: bool = Field(False, description="E-mail the customer Magento's invoice and credit memo.")


def _magento_message(body: Any) -> str | None:
    if not isinstance(body, dict):
        return str(body)[:500] if body else None
    msg, params = str(body.get("message", "")), body.get("parameters") or []
    items = params.items() if isinstance(params, dict) else ((str(i), v) for i, v in enumerate(params, 1))
    for k, v in sorted(items, key=lambda kv: -len(kv[0])):
        msg = msg.replace(f"%{k}", str(v))
    return msg


def _search(field: str, value: Any) -> dict[str, str]:
    p = "searchCriteria[filter_groups][0][filters][0]"
    return {f"{p}[field]": field, f"{p}[value]": str(value), f"{p}[condition_type]": "eq"}


def booked_by_magento(order: Mapping[str, Any], items: list[tuple[Mapping[str, Any], Decimal]],
                      shipping: Decimal, shipping_base: Decimal) -> tuple[Decimal, Decimal]:
    """(total, tax) Magento books for *items* ((order item, qty)) and *shipping* of the order's
    *shipping_base*: price × qty less the item's discount and plus its tax, pro rata, each rounded."""
    cent = amount_places(str(order.get("order_currency_code") or "USD"))
    total = tax = ZERO
    for it, qty in items:
        share = qty / Decimal(str(it["qty_ordered"]))
        line_tax = (Decimal(str(it.get("tax_amount") or 0)) * share).quantize(cent, ROUND_HALF_UP)
        net = (Decimal(str(it["price"])) * qty).quantize(cent, ROUND_HALF_UP) \
            - (Decimal(str(it.get("discount_amount") or 0)) * share).quantize(cent, ROUND_HALF_UP)
        total, tax = total + net + line_tax, tax + line_tax
    if shipping:
        ship_tax = (Decimal(str(order.get("shipping_tax_amount") or 0)) * shipping / shipping_base).quantize(cent, ROUND_HALF_UP)
        total, tax = total + shipping + ship_tax, tax + ship_tax
    return total, tax


class MagentoSink(Sink):
    """One Magento invoice per invoice, one credit memo per credit note, each with our number in its comment.

    Delivery guarantee: exactly once per invoice and credit note number. Magento has no idempotency
    key; `find_invoice` lists ``/V1/invoices`` of the order and `find_credit_note` lists
    ``/V1/creditmemos`` of the order, each matching our number in the comments. Magento itself
    refuses to invoice a fully invoiced order ("The order does not allow an invoice to be
    created."): that answer is looked up and treated as already present when the invoice there is ours.
    Idempotency key: our invoice / credit note number (in the document's comment).
    """

    target = "magento"
    rounds_tax_per_line = True
    settings_class = MagentoSettings
    settings: MagentoSettings
    rate_limit_per_minute = None  # Magento has no default REST rate limit
    auth_spec = AnyOf(Bearer("access_token", "an admin or integration token"), Bearer("api_key"))
    requires = (Need("base_url"),)

    def _v1(self) -> str:
        return f"{self.base_url()}/rest/{self.settings.store_code}/V1"

    async def _call(self, method: str, path: str, what: str, body: Any = None, params: Any = None) -> Any:
        r = await self.client.request(method, f"{self._v1()}{path}", params=params, auth=self.auth,
                                      content=json_body(body, compact=True) if body is not None else None,
                                      headers={"Content-Type": "application/json", "Accept": "application/json"})
        raise_for_status(r, what=f"magento {what}", message=_magento_message, secrets=self._secrets())
        return r.json()

    @staticmethod
    def _order_id(doc: Mapping[str, Any]) -> str:
        own = order_ids(doc, "magento")
        if not own:
            raise InvoiceRejected(f"magento: {doc['number']} bills no Magento order ({', '.join(doc.get('orders') or [])}); "
                                  "Magento invoices only its own orders and its REST API cannot create one from outside")
        if len(own) > 1:
            raise InvoiceRejected(f"magento: {doc['number']} bills {len(own)} Magento orders; one invoice per order")
        return own[0]

    async def _ours(self, path: str, order_id: str, number: str) -> dict[str, Any] | None:
        found = await self._call("GET", path, f"search {path[1:]}", params=_search("order_id", order_id))
        for doc in found.get("items") or []:
            if any(number in str(c.get("comment", "")) for c in doc.get("comments") or []):
                return dict(doc)
        return None

    async def _plan(self, doc: Mapping[str, Any], order_id: str, first_invoice: bool) -> tuple[list[dict[str, Any]], Decimal]:
        """The order items (``{order_item_id, qty}``) and shipping of *doc*, after checking that Magento will
        book our total and tax.

        Raises:
            InvoiceRejected: a line that is not an item of the order, or other figures at Magento.
        """
        reject_document_charges(doc, self.target)
        order = await self._call("GET", f"/orders/{order_id}", "get order")
        by_sku = {it.get("sku"): it for it in order.get("items") or [] if not it.get("parent_item_id")}
        picked, shipping = [], ZERO
        for ln in doc["lines"]:
            if not ln.get("sku"):
                shipping += Decimal(ln["net_amount"])
            elif ln["sku"] in by_sku:
                picked.append((by_sku[ln["sku"]], Decimal(ln["quantity"])))
            else:
                raise InvoiceRejected(f"magento: line {ln['line_id']} ({ln['sku']}) of {doc['number']} is no item of order {order_id}")
        base = Decimal(str(order.get("shipping_amount") or 0))
        if doc["document_type"] == "INVOICE" and shipping != (base if first_invoice else ZERO):
            raise InvoiceRejected(f"magento: {doc['number']} bills shipping {shipping}; Magento invoices the order's "
                                  f"{base if first_invoice else ZERO} with this invoice")
        total, tax = booked_by_magento(order, picked, shipping, base or Decimal(1))
        ours = round_amount(Decimal(doc["total"]), str(doc["currency"])), round_amount(Decimal(doc["tax_total"]), str(doc["currency"]))
        if (total, tax) != ours:
            raise InvoiceRejected(f"magento would book {total} with tax {tax} for {doc['number']} (from order {order_id}'s "
                                  f"own tax); ours is {ours[0]} with tax {ours[1]}: book it by hand")
        return [{"order_item_id": it["item_id"], "qty": qty} for it, qty in picked], shipping

    async def find_invoice(self, invoice: Mapping[str, Any], idempotency_key: str) -> InvoiceRef | None:
        order_id = order_ids(invoice, "magento")
        if len(order_id) != 1:
            return None
        found = await self._ours("/invoices", order_id[0], str(invoice["number"]))
        return InvoiceRef(str(found["entity_id"])) if found else None

    async def create_invoice(self, invoice: Mapping[str, Any], idempotency_key: str) -> InvoiceRef:
        order_id = self._order_id(invoice)
        first = not (await self._call("GET", "/invoices", "search invoices", params=_search("order_id", order_id))).get("items")
        items, _ = await self._plan(invoice, order_id, first)
        body = {"capture": self.settings.capture, "notify": self.settings.notify, "appendComment": True, "items": items,
                "comment": {"comment": f"Invoice {invoice['number']} (invoicing pipeline {idempotency_key})", "is_visible_on_front": 0}}
        try:
            new_id = await self._call("POST", f"/order/{order_id}/invoice", "invoice order", body)
        except InvoiceRejected as exc:
            if NOT_ALLOWED not in str(exc):
                raise
            ours = await self._ours("/invoices", order_id, str(invoice["number"]))  # the lost answer of an earlier try?
            if ours is None:
                raise
            return InvoiceRef(str(ours["entity_id"]))
        return InvoiceRef(str(new_id))

    async def find_credit_note(self, note: Mapping[str, Any], idempotency_key: str) -> InvoiceRef | None:
        order_id = order_ids(note, "magento")
        if len(order_id) != 1:
            return None
        found = await self._ours("/creditmemos", order_id[0], str(note["number"]))
        return InvoiceRef(str(found["entity_id"])) if found else None

    async def create_credit_note(self, note: Mapping[str, Any], idempotency_key: str, original: InvoiceRef) -> InvoiceRef:
        order_id = self._order_id(note)
        items, shipping = await self._plan(note, order_id, False)
        body = {"items": items, "isOnline": False, "notify": self.settings.notify, "appendComment": True,
                "comment": {"comment": f"Credit note {note['number']} for {original_of(note)['number']} "
                                       f"(invoicing pipeline {idempotency_key})", "is_visible_on_front": 0},
                "arguments": {"shipping_amount": shipping}}
        new_id = await self._call("POST", f"/invoice/{original.external_id}/refund", "refund invoice", body)
        return InvoiceRef(str(new_id))
