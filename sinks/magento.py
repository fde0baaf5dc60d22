"""Magento / Adobe Commerce target: ``POST /rest/<store>/V1/order/{orderId}/invoice`` (salesInvoiceOrderV1).

Magento invoices orders, never free-standing documents. Orders that came from Magento
(lineage platform ``magento``, order key ``magento:<entity_id>``) are invoiced directly. Any
other invoice (e.g. the contract test's Shopify order) is first mirrored as a Magento order
with ``PUT /V1/orders/create`` (``ext_order_id`` = our number, offline payment method), then
invoiced: the realistic way to keep a Magento-run business's sales books complete; set
``INVOICING_MAGENTO_MIRROR_ORDERS=false`` to reject such invoices instead.
Auth: admin bearer token (INVOICING_MAGENTO_ACCESS_TOKEN, or _API_KEY). Errors:
``{"message": "… %1 …", "parameters": [...]}``, rendered with their parameters.
"""
from __future__ import annotations

from typing import Any, Mapping

from pydantic import Field

from invoicing.errors import ConfigError, InvoiceRejected
from invoicing.settings import PlatformSettings
from invoicing.exact import json_body
from invoicing.mapping import invoice_lines, order_ids, reject_credit_notes
from sinks.auth import StaticBearer
from sinks.base import InvoiceRef, Sink, raise_for_status

__all__ = ["MagentoSink", "MagentoSettings"]

NOT_ALLOWED = "The order does not allow an invoice to be created."


class MagentoSettings(PlatformSettings):
    store_code: str = Field("default", description="Store view code in /rest/<store>/V1.")
    capture: bool = Field(False, description="Capture online payments when invoicing Magento orders.")
    notify: bool = Field(False, description="E-mail the customer Magento's invoice.")
    mirror_orders: bool = Field(True, description="Mirror non-Magento orders into Magento before invoicing them.")
    payment_method: str = Field("checkmo", description="Offline payment method for mirrored orders.")


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


class MagentoSink(Sink):
    """Creates one Magento invoice per invoice, its comment carrying our number.

    Delivery guarantee: exactly once per invoice number. Magento has no idempotency key;
    `find_invoice` resolves the order (lineage, or the mirror order by ``ext_order_id``) and
    lists ``/V1/invoices`` by ``order_id``, matching our number in the comments. Magento
    itself refuses to invoice a fully invoiced order ("The order does not allow an invoice
    to be created."): that answer is looked up and treated as already present.
    Idempotency key: our invoice number (mirror ``ext_order_id`` and invoice comment).
    """

    target = "magento"
    settings_class = MagentoSettings
    rate_limit_per_minute = None  # Magento has no default REST rate limit

    def _v1(self) -> str:
        return f"{self.base_url()}/rest/{self.settings.store_code}/V1"  # type: ignore[attr-defined]

    def _token(self) -> str:
        s = self.settings
        tok = s.access_token or s.api_key
        if not tok:
            raise ConfigError("magento: INVOICING_MAGENTO_ACCESS_TOKEN (admin token) is not set")
        return tok.get_secret_value()

    async def _call(self, method: str, path: str, what: str, body: Any = None, params: Any = None) -> Any:
        r = await self.client.request(method, f"{self._v1()}{path}", params=params, auth=StaticBearer(self._token()),
                                      content=json_body(body, compact=True) if body is not None else None,
                                      headers={"Content-Type": "application/json", "Accept": "application/json"})
        raise_for_status(r, what=f"magento {what}", message=_magento_message, secrets=[self._token()])
        return r.json()

    async def _order_id(self, invoice: Mapping[str, Any]) -> str | None:
        own = order_ids(invoice, "magento")
        if len(own) > 1:
            raise InvoiceRejected(f"magento: invoice {invoice['number']} bills {len(own)} Magento orders; one invoice per order")
        if own:
            return own[0]
        found = await self._call("GET", "/orders", "search orders", params=_search("ext_order_id", invoice["number"]))
        items = found.get("items") or []
        return str(items[0]["entity_id"]) if items else None

    async def _invoices_of(self, order_id: str) -> list[dict[str, Any]]:
        found = await self._call("GET", "/invoices", "search invoices", params=_search("order_id", order_id))
        return list(found.get("items") or [])

    async def find_invoice(self, invoice: Mapping[str, Any], idempotency_key: str) -> InvoiceRef | None:
        order_id = await self._order_id(invoice)
        if order_id is None:
            return None
        for inv in await self._invoices_of(order_id):
            if any(invoice["number"] in str(c.get("comment", "")) for c in inv.get("comments") or []):
                return InvoiceRef(str(inv["entity_id"]))
        return None

    async def create_invoice(self, invoice: Mapping[str, Any], idempotency_key: str) -> InvoiceRef:
        reject_credit_notes(invoice, self.target)
        s: MagentoSettings = self.settings  # type: ignore[assignment]
        order_id = await self._order_id(invoice)
        if order_id is None:
            if not s.mirror_orders:
                raise InvoiceRejected(f"magento: invoice {invoice['number']} bills no Magento order "
                                      f"({', '.join(invoice.get('orders') or [])}); Magento only invoices its own orders")
            order = await self._call("PUT", "/orders/create", "mirror order", {"entity": self._mirror(invoice)})
            order_id = str(order["entity_id"])
        else:
            order = await self._call("GET", f"/orders/{order_id}", "get order")
        by_sku = {it.get("sku"): it for it in order.get("items") or [] if not it.get("parent_item_id")}
        items = []
        for ln in invoice_lines(invoice, self.target):
            it = by_sku.get(ln.sku or f"LINE-{ln.number}")
            if it is not None:
                items.append({"order_item_id": it["item_id"], "qty": ln.quantity})
        if not items:
            raise InvoiceRejected(f"magento: no line of {invoice['number']} matches an item of order {order_id}")
        body = {"capture": s.capture, "notify": s.notify, "appendComment": True, "items": items,
                "comment": {"comment": f"Invoice {invoice['number']} (invoicing pipeline {idempotency_key})",
                            "is_visible_on_front": 0}}
        try:
            new_id = await self._call("POST", f"/order/{order_id}/invoice", "invoice order", body)
        except InvoiceRejected as exc:
            if NOT_ALLOWED not in str(exc):
                raise
            existing = await self._invoices_of(order_id)  # fully invoiced already: ours or someone's
            if not existing:
                raise
            return InvoiceRef(str(existing[0]["entity_id"]))
        return InvoiceRef(str(new_id))

    def _mirror(self, invoice: Mapping[str, Any]) -> dict[str, Any]:
        buyer, cur = invoice["buyer"], invoice["currency"]
        addr = buyer.get("address") or {}
        first, _, last = buyer["name"].partition(" ")
        items = [{"sku": ln.sku or f"LINE-{ln.number}", "name": ln.description, "product_type": "simple",
                  "qty_ordered": ln.quantity, "price": ln.unit_price, "base_price": ln.unit_price,
                  "row_total": ln.net, "base_row_total": ln.net, "tax_percent": ln.tax_rate}
                 for ln in invoice_lines(invoice, self.target)]
        return {"ext_order_id": invoice["number"], "customer_email": buyer.get("email") or "",
                "customer_firstname": first, "customer_lastname": last or first, "customer_is_guest": 1,
                "order_currency_code": cur, "base_currency_code": cur, "global_currency_code": cur,
                "store_currency_code": cur, "subtotal": invoice["tax_exclusive_total"],
                "base_subtotal": invoice["tax_exclusive_total"], "tax_amount": invoice["tax_total"],
                "base_tax_amount": invoice["tax_total"], "grand_total": invoice["total"],
                "base_grand_total": invoice["total"], "total_qty_ordered": sum(i["qty_ordered"] for i in items),
                "state": "processing", "status": "processing", "items": items,
                "billing_address": {"address_type": "billing", "firstname": first, "lastname": last or first,
                                    "email": buyer.get("email") or "", "street": [addr.get("line1", "")],
                                    "city": addr.get("city", ""), "postcode": addr.get("postal_code", ""),
                                    "country_id": addr.get("country", ""), "telephone": "-"},
                "payment": {"method": self.settings.payment_method,  # type: ignore[attr-defined]
                            "additional_information": [f"Mirrored from {', '.join(invoice.get('orders') or [])}"]}}
