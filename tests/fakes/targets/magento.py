"""Magento 2 / Adobe Commerce stand-in: REST ``/rest/<store>/V1`` orders, invoices and credit memos.

Routes are the ``<route>`` entries of tests/fakes/specs/magento_webapi.xml (trimmed from
magento/magento2 ``app/code/Magento/Sales/etc/webapi.xml``); any other method or URL answers
404 "Request does not match any route." as Magento does. Bodies are checked against the service
method's parameters and the Api/Data interfaces named in that file's header (`BODIES`: unknown
fields, wrong types and missing ids fail). Admin ``Authorization: Bearer`` required.

Magento's arithmetic (`sinks.magento.booked_by_magento`, mirrored here from the stored order):
an invoice books each item's price × qty less its discount plus its ``tax_amount``, pro rata to
the quantity, and the order's shipping (with ``shipping_tax_amount``) on the first invoice; a
credit memo books the refunded items the same way plus the ``shipping_amount`` argument with its
share of shipping tax, and is linked to the invoice refunded. Over-invoicing and over-refunding
are refused as Magento does. ``booked`` holds every invoice and credit memo.
Errors: ``{"message", "parameters"}`` with ``%1``/``%name`` placeholders.
"""
from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import jsonschema

from domain.money import amount_places
from sinks.magento import booked_by_magento
from tests.fakes.target_base import Booked, FakeTarget, Reply, Req

__all__ = ["MagentoFake", "make_fake", "ADMIN_TOKEN", "ROUTES", "route_for", "BODIES"]

ADMIN_TOKEN = "magento-admin-token-7c0ffee"
STORE = "default"
NOT_ALLOWED = "The order does not allow an invoice to be created."
ROUTES = [(r.get("method"), r.get("url"), r.find("service").get("class") + "::" + r.find("service").get("method"))  # type: ignore[union-attr, operator]
          for r in ET.parse(Path(__file__).resolve().parent.parent / "specs" / "magento_webapi.xml").getroot()]
_LINE = {"type": "object", "required": ["order_item_id", "qty"], "additionalProperties": False,
         "properties": {"order_item_id": {"type": "integer"}, "qty": {"type": "number"}, "extension_attributes": {"type": "object"}}}
_COMMENT = {"type": "object", "required": ["comment"], "additionalProperties": False,
            "properties": {"comment": {"type": "string"}, "is_visible_on_front": {"type": "integer"}, "extension_attributes": {"type": "object"}}}
_COMMON = {"items": {"type": "array", "items": _LINE}, "notify": {"type": "boolean"}, "appendComment": {"type": "boolean"},
           "comment": _COMMENT}
#: service method → JSON schema of its body (the parameters other than the path's)
BODIES = {
    "Magento\\Sales\\Api\\InvoiceOrderInterface::execute": {
        "type": "object", "additionalProperties": False, "properties": {**_COMMON, "capture": {"type": "boolean"},
        "arguments": {"type": "object", "additionalProperties": False, "properties": {"extension_attributes": {"type": "object"}}}}},
    "Magento\\Sales\\Api\\RefundInvoiceInterface::execute": {
        "type": "object", "additionalProperties": False, "properties": {**_COMMON, "isOnline": {"type": "boolean"},
        "arguments": {"type": "object", "additionalProperties": False, "properties": {
            "shipping_amount": {"type": "number"}, "adjustment_positive": {"type": "number"},
            "adjustment_negative": {"type": "number"}, "extension_attributes": {"type": "object"}}}}},
}


def route_for(method: str, path: str) -> tuple[str, dict[str, str]] | None:
    """(service method, path parameters) of the webapi.xml route serving *method* *path* (``/V1/…``)."""
    for m, url, service in ROUTES:
        hit = re.fullmatch(re.sub(r":(\w+)", r"(?P<\1>[^/]+)", url), path)
        if m == method and hit:
            return service, hit.groupdict()
    return None


def magento_error(status: int, message: str, parameters: Any = None) -> Reply:
    return Reply(status, {"message": message, "parameters": parameters if parameters is not None else []})


def _item(item_id: int, sku: str, price: str, qty: int, tax: str) -> dict[str, Any]:
    return {"item_id": item_id, "sku": sku, "price": Decimal(price), "qty_ordered": Decimal(qty), "qty_invoiced": Decimal(0),
            "qty_refunded": Decimal(0), "tax_amount": Decimal(tax), "discount_amount": Decimal(0), "parent_item_id": None}


class MagentoFake(FakeTarget):
    target = "magento"

    def __init__(self) -> None:
        super().__init__()
        self.orders: dict[int, dict[str, Any]] = {  # Magento computed the tax per item when the orders were placed
            1001: {"entity_id": 1001, "increment_id": "000000101", "order_currency_code": "EUR", "state": "processing",
                   "shipping_amount": Decimal(0), "shipping_tax_amount": Decimal(0),
                   "items": [_item(5001, "KS-SC-7.5", "6890", 5, "6545.50"), _item(5002, "KS-DRY-20", "1785.5", 1, "339.25")]},
            1002: {"entity_id": 1002, "increment_id": "000000102", "order_currency_code": "EUR", "state": "processing",
                   "shipping_amount": Decimal(49), "shipping_tax_amount": Decimal("9.31"),
                   "items": [_item(5011, "KS-TANK-500", "1120", 2, "425.60"), _item(5012, "KS-PC-300", "1249.9", 3, "712.44")]}}
        self.creditmemos: dict[str, dict[str, Any]] = {}
        self.next_id = 2000

    def env(self) -> dict[str, str]:
        return {"INVOICING_MAGENTO_BASE_URL": self.url, "INVOICING_MAGENTO_ACCESS_TOKEN": ADMIN_TOKEN}

    def adopt(self, invoice: dict[str, Any]) -> dict[str, Any]:
        return self.import_order(invoice)

    def import_order(self, invoice: dict[str, Any]) -> dict[str, Any]:
        """Place the order *invoice* bills in this Magento (Magento computing each item's tax, rounded
        half-up per item) and return *invoice* as billed for it (lineage ``magento:<entity_id>``)."""
        self.next_id += 1
        oid, cent = self.next_id, amount_places(str(invoice["currency"]))
        items = [_item(oid * 10 + n, str(ln["sku"]), str(ln["unit_price"]), int(Decimal(ln["quantity"])),
                       str((Decimal(ln["net_amount"]) * Decimal(ln["tax_rate"]) / 100).quantize(cent, ROUND_HALF_UP)))
                 for n, ln in enumerate(invoice["lines"]) if ln.get("sku")]
        ship = [ln for ln in invoice["lines"] if not ln.get("sku")]
        self.orders[oid] = {"entity_id": oid, "increment_id": f"{oid:09d}", "order_currency_code": invoice["currency"],
                            "state": "processing", "shipping_amount": sum((Decimal(ln["net_amount"]) for ln in ship), Decimal(0)),
                            "shipping_tax_amount": sum(((Decimal(ln["net_amount"]) * Decimal(ln["tax_rate"]) / 100).quantize(
                                cent, ROUND_HALF_UP) for ln in ship), Decimal(0)), "items": items}
        lineage = [dict(invoice["lineage"][0], platform="magento", order_key=f"magento:{oid}")]
        return {**invoice, "lineage": lineage, "orders": [f"magento:{oid}"]}

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
        base = f"/rest/{STORE}"
        route = route_for(req.method, req.path[len(base):]) if req.path.startswith(base + "/V1/") else None
        if route is None:
            return magento_error(404, "Request does not match any route.")
        service, args = route
        body = json.loads(req.body, parse_float=Decimal) if req.body else None
        if service in BODIES:
            errors = list(jsonschema.Draft202012Validator(BODIES[service]).iter_errors(json.loads(req.body)))
            if errors:
                return magento_error(400, 'Property "%1" is invalid: %2', [".".join(map(str, errors[0].absolute_path)), errors[0].message])
        if service.endswith("OrderRepositoryInterface::get"):
            order = self.orders.get(int(args["id"])) if args["id"].isdigit() else None
            if order is None:
                return magento_error(404, "The entity that was requested doesn't exist. Verify the entity and try again.")
            return Reply(200, json.loads(json.dumps(order, default=str)))
        if service.endswith("InvoiceRepositoryInterface::getList"):
            return self._search(list(self.created.values()), req.query)
        if service.endswith("CreditmemoRepositoryInterface::getList"):
            return self._search(list(self.creditmemos.values()), req.query)
        if service.endswith("InvoiceOrderInterface::execute"):
            return self._invoice(int(args["orderId"]), body or {})
        if service.endswith("RefundInvoiceInterface::execute"):
            return self._refund(args["invoiceId"], body or {})
        return magento_error(400, "The fake does not serve %1", [service])

    def _comments(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        c = body.get("comment")
        return [{"comment": c["comment"], "is_visible_on_front": c.get("is_visible_on_front", 0)}] if body.get("appendComment") and c else []

    def _invoice(self, order_id: int, body: dict[str, Any]) -> Reply:
        order = self.orders.get(order_id)
        if order is None:
            return magento_error(404, "The entity that was requested doesn't exist. Verify the entity and try again.")
        if all(it["qty_invoiced"] >= it["qty_ordered"] for it in order["items"]):
            return magento_error(400, NOT_ALLOWED)
        by_id = {it["item_id"]: it for it in order["items"]}
        lines = body.get("items") or [{"order_item_id": i, "qty": it["qty_ordered"] - it["qty_invoiced"]} for i, it in by_id.items()]
        for line in lines:
            it = by_id.get(line["order_item_id"])
            if it is None or it["qty_invoiced"] + line["qty"] > it["qty_ordered"]:
                return magento_error(400, "The invoice can't be created without products. Add products and try again.")
        first = not any(i["order_id"] == order_id for i in self.created.values())
        shipping = order["shipping_amount"] if first else Decimal(0)
        total, tax = booked_by_magento(order, [(by_id[ln["order_item_id"]], Decimal(ln["qty"])) for ln in lines],
                                       shipping, order["shipping_amount"] or Decimal(1))
        for line in lines:
            by_id[line["order_item_id"]]["qty_invoiced"] += line["qty"]
        self.next_id += 1
        iid = str(self.next_id)
        self.created[iid] = {"entity_id": self.next_id, "order_id": order_id, "increment_id": f"{self.next_id:09d}",
                             "items": lines, "comments": self._comments(body), "state": 2, "shipping_amount": shipping,
                             "grand_total": total, "tax_amount": tax}
        self.booked[iid] = Booked("invoice", total, tax)
        return Reply(200, self.next_id)

    def _refund(self, invoice_id: str, body: dict[str, Any]) -> Reply:
        inv = self.created.get(invoice_id)
        if inv is None:
            return magento_error(404, "The entity that was requested doesn't exist. Verify the entity and try again.")
        order = self.orders[inv["order_id"]]
        by_id = {it["item_id"]: it for it in order["items"]}
        invoiced = {ln["order_item_id"]: Decimal(ln["qty"]) for ln in inv["items"]}
        lines = body.get("items") or []
        for line in lines:
            it = by_id.get(line["order_item_id"])
            if it is None or it["qty_refunded"] + line["qty"] > invoiced.get(line["order_item_id"], Decimal(0)):
                return magento_error(400, "The most money available to refund is %1.", [inv["grand_total"]])
        shipping = Decimal(str((body.get("arguments") or {}).get("shipping_amount", 0)))
        refunded_shipping = sum((c["shipping_amount"] for c in self.creditmemos.values() if c["invoice_id"] == inv["entity_id"]), Decimal(0))
        if shipping + refunded_shipping > inv["shipping_amount"]:
            return magento_error(400, "Maximum shipping amount allowed to refund is: %1", [inv["shipping_amount"] - refunded_shipping])
        total, tax = booked_by_magento(order, [(by_id[ln["order_item_id"]], Decimal(ln["qty"])) for ln in lines],
                                       shipping, order["shipping_amount"] or Decimal(1))
        for line in lines:
            by_id[line["order_item_id"]]["qty_refunded"] += line["qty"]
        self.next_id += 1
        cid = str(self.next_id)
        self.creditmemos[cid] = {"entity_id": self.next_id, "order_id": inv["order_id"], "invoice_id": inv["entity_id"],
                                 "items": lines, "comments": self._comments(body), "shipping_amount": shipping,
                                 "grand_total": total, "tax_amount": tax, "state": 2}
        self.booked[cid] = Booked("credit_note", total, tax, linked_to=invoice_id)
        return Reply(200, self.next_id)


def make_fake() -> MagentoFake:
    return MagentoFake()
