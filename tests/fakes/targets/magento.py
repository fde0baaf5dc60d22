"""Magento 2 / Adobe Commerce stand-in: REST ``/rest/<store>/V1`` orders and invoices.

Checks what the Swagger (``/rest/all/schema``) fixes: admin ``Authorization: Bearer``,
``POST /V1/order/{orderId}/invoice`` (salesInvoiceOrderV1) with ``capture``, ``items[]
{order_item_id, qty}``, ``notify``, ``appendComment``, ``comment{comment, is_visible_on_front}``
answering the invoice id; ``PUT /V1/orders/create`` (salesOrderRepositoryV1) with ``entity``;
``GET /V1/orders``/``/V1/invoices`` with ``searchCriteria[filter_groups][0][filters][0][…]``.
Over-invoicing is refused as Magento does ("The order does not allow an invoice to be created.").
Errors: ``{"message", "parameters"}`` with ``%1``/``%name`` placeholders.
"""
from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from tests.fakes.target_base import FakeTarget, Reply, Req

ADMIN_TOKEN = "magento-admin-token-7c0ffee"
STORE = "default"
NOT_ALLOWED = "The order does not allow an invoice to be created."


def magento_error(status: int, message: str, parameters: Any = None) -> Reply:
    return Reply(status, {"message": message, "parameters": parameters if parameters is not None else []})


class MagentoFake(FakeTarget):
    target = "magento"

    def __init__(self) -> None:
        super().__init__()
        self.orders: dict[int, dict[str, Any]] = {
            1001: {"entity_id": 1001, "increment_id": "000000101", "ext_order_id": None, "state": "processing",
                   "items": [{"item_id": 5001, "sku": "KS-SC-7.5", "qty_ordered": Decimal(5), "qty_invoiced": Decimal(0),
                              "parent_item_id": None},
                             {"item_id": 5002, "sku": "KS-DRY-20", "qty_ordered": Decimal(1), "qty_invoiced": Decimal(0),
                              "parent_item_id": None}]}}
        self.next_id = 2000

    def env(self) -> dict[str, str]:
        return {"INVOICING_MAGENTO_BASE_URL": self.url, "INVOICING_MAGENTO_ACCESS_TOKEN": ADMIN_TOKEN}

    def error_body(self, status: int) -> Any:
        if status in (401, 403):
            return {"message": "The consumer isn't authorized to access %resources.",
                    "parameters": {"resources": "Magento_Sales::sales_invoice"}}
        return {"message": {429: "Too Many Requests", 400: "\"%fieldName\" is required. Enter and try again."}
                .get(status, "Internal Error. Details are available in Magento log file. Report ID: webapi-6f1c"),
                "parameters": {"fieldName": "items"} if status == 400 else []}

    def _search(self, rows: list[dict[str, Any]], q: dict[str, str]) -> Reply:
        p = "searchCriteria[filter_groups][0][filters][0]"
        if f"{p}[field]" not in q:
            return magento_error(400, '"%fieldName" is required. Enter and try again.', {"fieldName": "searchCriteria"})
        field, value, cond = q[f"{p}[field]"], q.get(f"{p}[value]"), q.get(f"{p}[condition_type]", "eq")
        if cond != "eq":
            return magento_error(400, "condition_type %1 is not supported by the fake", [cond])
        items = [r for r in rows if str(r.get(field)) == value]
        return Reply(200, json.loads(json.dumps({"items": items, "search_criteria": {}, "total_count": len(items)}, default=str)))

    def handle(self, req: Req) -> Reply:
        if req.headers.get("authorization") != f"Bearer {ADMIN_TOKEN}":
            return Reply(401, self.error_body(401))
        base = f"/rest/{STORE}/V1"
        if not req.path.startswith(base):
            return magento_error(404, "Request does not match any route.")
        path, m = req.path[len(base):], req.method
        if m == "GET" and path == "/orders":
            return self._search(list(self.orders.values()), req.query)
        if m == "GET" and path == "/invoices":
            return self._search(list(self.created.values()), req.query)
        if m == "PUT" and path == "/orders/create":
            return self._create_order(json.loads(req.body, parse_float=Decimal))
        if m == "GET" and path.startswith("/orders/"):
            order = self.orders.get(int(path.rsplit("/", 1)[1]))
            if order is None:
                return magento_error(404, "The entity that was requested doesn't exist. Verify the entity and try again.")
            return Reply(200, json.loads(json.dumps(order, default=str)))
        if m == "POST" and path.startswith("/order/") and path.endswith("/invoice"):
            return self._invoice(int(path.split("/")[2]), json.loads(req.body, parse_float=Decimal))
        return magento_error(404, "Request does not match any route.")

    def _create_order(self, body: dict[str, Any]) -> Reply:
        e = body.get("entity")
        if not isinstance(e, dict):
            return magento_error(400, '"%fieldName" is required. Enter and try again.', {"fieldName": "entity"})
        for f in ("customer_email", "base_grand_total", "grand_total", "order_currency_code", "items", "payment", "billing_address"):
            if e.get(f) in (None, "", []):
                return magento_error(400, '"%fieldName" is required. Enter and try again.', {"fieldName": f})
        for it in e["items"]:
            if not it.get("sku") or not isinstance(it.get("qty_ordered"), (int, Decimal)) or not isinstance(it.get("price"), (int, Decimal)):
                return magento_error(400, "Order item needs sku, and qty_ordered and price as numbers.")
        if sum(it["row_total"] for it in e["items"]) + e.get("tax_amount", 0) != e["grand_total"]:
            return magento_error(400, "The order totals do not add up.")
        self.next_id += 1
        oid = self.next_id
        items = [{**it, "item_id": oid * 10 + i, "qty_invoiced": Decimal(0), "parent_item_id": None}
                 for i, it in enumerate(e["items"], 1)]
        self.orders[oid] = {**e, "entity_id": oid, "increment_id": f"{oid:09d}", "items": items}
        return Reply(200, json.loads(json.dumps(self.orders[oid], default=str)))

    def _invoice(self, order_id: int, body: dict[str, Any]) -> Reply:
        order = self.orders.get(order_id)
        if order is None:
            return magento_error(404, "The entity that was requested doesn't exist. Verify the entity and try again.")
        unknown = set(body) - {"capture", "items", "notify", "appendComment", "comment", "arguments"}
        if unknown:
            return magento_error(400, 'Property "%1" does not have accessor method in class "%2".',
                                 [sorted(unknown)[0], "Magento\\Sales\\Api\\InvoiceOrderInterface"])
        if all(it["qty_invoiced"] >= Decimal(str(it["qty_ordered"])) for it in order["items"]):
            return magento_error(400, NOT_ALLOWED)
        by_id = {it["item_id"]: it for it in order["items"]}
        for line in body.get("items") or []:
            it = by_id.get(line.get("order_item_id"))
            if it is None or not isinstance(line.get("qty"), (int, Decimal)):
                return magento_error(400, "The invoice can't be created without products. Add products and try again.")
            if it["qty_invoiced"] + line["qty"] > Decimal(str(it["qty_ordered"])):
                return magento_error(400, "The invoice can't be created without products. Add products and try again.")
        for line in body.get("items") or []:
            by_id[line["order_item_id"]]["qty_invoiced"] += line["qty"]
        self.next_id += 1
        comments = [{"comment": body["comment"]["comment"], "is_visible_on_front": body["comment"].get("is_visible_on_front", 0)}] \
            if body.get("appendComment") and body.get("comment") else []
        self.created[str(self.next_id)] = {"entity_id": self.next_id, "order_id": order_id, "increment_id": f"{self.next_id:09d}",
                                           "items": body.get("items"), "comments": comments, "state": 2}
        return Reply(200, str(self.next_id))


def make_fake() -> MagentoFake:
    return MagentoFake()
