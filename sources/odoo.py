"""Odoo 17+: an automation rule on ``sale.order`` whose server action is of type webhook.

* Transport: Odoo POSTs JSON after commit: ``_model``, ``_id``, ``_action`` (``"<name>(#<id>)"``)
  plus the fields picked in the action, read with ``load=None`` (many2one = id, one2many = ids).
  Pick at least ``name``, ``state``, ``invoice_status``, ``write_date``. Fire-and-forget (1 s timeout,
  no retry): reconcile by polling ``write_date`` elsewhere if losses matter.
* Authentication (Odoo does not sign): the webhook URL carries a secret token,
  ``/webhooks/odoo?token=<secret>`` (the gateway redacts it from the stored URL), or a proxy sends
  ``X-Invoicing-Token``; constant time. Secret: ``INVOICING_ODOO_SECRET``.
* Trigger: ``state == 'sale'`` and ``invoice_status == 'to invoice'`` → SHIPMENT_CONFIRMED (ready to
  invoice: delivered, or ordered for order-policy products); ``state == 'cancel'`` → ORDER_CANCELLED;
  anything else ignored. Odoo 17+ has no ``done`` state.
* Dedupe: no event id exists; we use ``sale.order/<id>/<write_date>`` (or a body digest without
  ``write_date``), and ``odoo:sale.order:<id>:to-invoice`` across events.
* Thin-ish: the worker reads the order, its invoice partner and lines through the JSON-2 API
  (``POST /json/2/<model>/read``, ``Authorization: bearer <API key>`` = ``INVOICING_ODOO_API_KEY``,
  ``X-Odoo-Database`` = ``INVOICING_ODOO_TENANT``). Discounts are percentages in Odoo.
"""
from __future__ import annotations

from typing import Any, ClassVar, Mapping

import httpx

from invoicing.fetch import fetch_json
from invoicing.errors import ConfigError, FetchError, IgnoredEvent, PayloadError
from invoicing.money import to_decimal
from invoicing.webhook_auth import presented_tokens, require_token
from sinks.auth import StaticBearer
from sources.base import (EventInfo, InboundRequest, Source, ThinEvent, body_digest, order_event, order_line, parse_json,
                          parse_time, party)

__all__ = ["Odoo", "trigger_of", "ORDER_FIELDS", "LINE_FIELDS", "PARTNER_FIELDS"]

ORDER_FIELDS = ["name", "state", "invoice_status", "currency_id", "partner_invoice_id", "order_line", "amount_total",
                "client_order_ref", "date_order", "write_date"]
LINE_FIELDS = ["name", "product_id", "product_uom_qty", "qty_to_invoice", "price_unit", "discount", "display_type"]
PARTNER_FIELDS = ["name", "email", "vat", "ref", "street", "street2", "city", "zip", "state_id", "country_code"]


def trigger_of(doc: Mapping[str, Any]) -> str | None:
    if doc.get("state") == "sale" and doc.get("invoice_status") == "to invoice":
        return "SHIPMENT_CONFIRMED"
    if doc.get("state") == "cancel":
        return "ORDER_CANCELLED"
    return None


def _name(value: Any) -> str:
    """many2one as JSON-2 ``read`` returns it: ``[id, display_name]`` (or false)."""
    return str(value[1]) if isinstance(value, list) and len(value) == 2 else ""


class Odoo(Source):
    platform = "odoo"
    thin = True
    signs_body = False

    def verify(self, request: InboundRequest) -> None:
        require_token(self.secret(), presented_tokens(request.headers, request.query_params(), query_names=("token",)),
                      self.platform)

    @staticmethod
    def _doc(body: bytes) -> dict[str, Any]:
        doc = parse_json(body)
        if not isinstance(doc, dict) or doc.get("_model") != "sale.order" or not isinstance(doc.get("_id"), int):
            raise PayloadError("body is not an Odoo sale.order webhook")
        return doc

    def describe(self, request: InboundRequest) -> EventInfo:
        doc = self._doc(request.body)
        if trigger_of(doc) is None:
            raise IgnoredEvent(f"sale.order state {doc.get('state')!r}/{doc.get('invoice_status')!r} does not trigger invoicing")
        stamp = str(doc.get("write_date") or body_digest(request.body)).replace(" ", "T")
        return EventInfo(event_type=f"sale.order.{doc.get('state')}", event_id=f"sale.order/{doc['_id']}/{stamp}")

    def normalise(self, raw: Mapping[str, Any]) -> list[dict[str, Any] | ThinEvent]:
        doc = self._doc(raw["body"])
        trigger = trigger_of(doc)
        if trigger is None:
            return []
        return [ThinEvent(event_id=raw["event_id"], event_type=raw["event_type"], trigger=trigger, resource="sale.order",
                          resource_id=str(doc["_id"]), occurred_at=parse_time(doc.get("write_date"), raw["received_at"]),
                          attributes={"action": str(doc.get("_action") or "")})]

    async def _read(self, client: httpx.AsyncClient, model: str, ids: list[int], fields: list[str]) -> list[dict[str, Any]]:
        key, db = self.settings.api_key, self.settings.tenant
        if key is None or not db:
            raise ConfigError("odoo: INVOICING_ODOO_API_KEY and INVOICING_ODOO_TENANT (database) are required")
        result = await fetch_json(client, self.platform, "POST", f"{self.base_url()}/json/2/{model}/read",
                                  auth=StaticBearer(key.get_secret_value(), scheme="bearer"),
                                  json={"ids": ids, "fields": fields}, headers={"X-Odoo-Database": db})
        if not isinstance(result, list):
            raise FetchError(f"odoo: {model}/read did not answer a list", retriable=False)
        return result

    async def fetch(self, event: ThinEvent, client: httpx.AsyncClient) -> list[dict[str, Any]]:
        orders = await self._read(client, "sale.order", [int(event.resource_id)], ORDER_FIELDS)
        if not orders:
            raise FetchError(f"odoo: sale.order {event.resource_id} not found", retriable=False)
        so = orders[0]
        try:
            partner_id = so["partner_invoice_id"][0]
            partner = (await self._read(client, "res.partner", [partner_id], PARTNER_FIELDS) or [{}])[0]
            rows = await self._read(client, "sale.order.line", list(so["order_line"]), LINE_FIELDS)
            return [self._order(event, so, partner, rows)]
        except (KeyError, TypeError, IndexError) as exc:
            raise FetchError(f"odoo: sale.order lacks {exc}", retriable=False) from None

    def _order(self, event: ThinEvent, so: dict[str, Any], partner: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any]:
        lines = []
        for row in rows:
            if row.get("display_type") or not row.get("product_uom_qty"):
                continue  # section and note lines
            qty, price = to_decimal(row["product_uom_qty"]), to_decimal(row["price_unit"])
            pct = to_decimal(row.get("discount") or 0)
            product = _name(row.get("product_id"))
            sku = product[1:].split("]", 1)[0] if product.startswith("[") else None
            lines.append(order_line(row.get("name") or product, qty, price, sku=sku, discount=qty * price * pct / 100))
        raw = {"platform": self.platform, "event_type": event.event_type, "received_at": event.occurred_at}
        kind = "to-invoice" if event.trigger == "SHIPMENT_CONFIRMED" else "cancelled"
        return order_event(
            raw, event_id=event.event_id, trigger=event.trigger, external_order_id=str(so["id"]), order_number=so.get("name"),
            occurred_at=event.occurred_at, customer_ref=f"odoo:{partner.get('ref') or so['partner_invoice_id'][0]}",
            customer=party(partner.get("name") or _name(so.get("partner_invoice_id")), email=partner.get("email") or None,
                           vat_id=partner.get("vat") or None, line1=partner.get("street") or "", line2=partner.get("street2") or None,
                           city=partner.get("city") or "", postal_code=partner.get("zip") or "",
                           region=_name(partner.get("state_id")) or None, country=partner.get("country_code") or ""),
            currency=_name(so.get("currency_id")), lines=lines, announced_total=so.get("amount_total"),
            purchase_order=so.get("client_order_ref") or None, dedup_keys=[f"odoo:sale.order:{so['id']}:{kind}"],
            attributes=event.attributes)
