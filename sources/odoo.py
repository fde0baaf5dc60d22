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
* Polling (optional, ``INVOICING_ODOO_POLL=true``; the webhook stays the default): because the
  webhook is fire-and-forget, `invoicing poll` can reconcile with JSON-2
  ``POST /json/2/sale.order/search_read`` (domain ``write_date > cursor``, ``state = sale``,
  ``invoice_status = to invoice``; order ``write_date asc, id asc``). Each order becomes the body
  the webhook would have posted (``_model``, ``_id``, ``state``, ``invoice_status``, ``write_date``),
  so it gets the same event id ``sale.order/<id>/<write_date>`` and the same order key, and a
  webhook and a poll of the same change dedupe downstream. ``write_date`` is the transaction's
  start, so a late commit can carry an older stamp: the cursor keeps an overlap window
  (``INVOICING_ODOO_POLL_OVERLAP_SECONDS``, default 300 s) of ``(id, write_date)`` already seen.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Mapping

import httpx
from pydantic import Field

from sources.support.fetch import fetch_json
from domain.errors import ConfigError, FetchError, IgnoredEvent, PayloadError
from domain.reasons import plain_reason
from domain.exact import dumps_exact
from domain.money import to_decimal
from sources.polling import PollingSource, PollBatch, PollCursor, PollOptions, poll_keyset, raw_event_from_poll
from sources.support.webhook_auth import presented_tokens, require_token
from infra.oauth import StaticBearer
from sources.base import EventInfo, InboundRequest, Source, ThinEvent
from sources.canonical import OrderEvent, order_event, order_line, party
from sources.support.payload import parse_json, parse_time
from sources.support.signing import body_digest

__all__ = ["Odoo", "OdooSourceSettings", "trigger_of", "ORDER_FIELDS", "LINE_FIELDS", "PARTNER_FIELDS", "POLL_FIELDS",
           "POLL_DOMAIN"]

ORDER_FIELDS = ["name", "state", "invoice_status", "currency_id", "partner_invoice_id", "order_line", "amount_total",
                "client_order_ref", "date_order", "write_date"]
LINE_FIELDS = ["name", "product_id", "product_uom_qty", "qty_to_invoice", "price_unit", "discount", "display_type"]
PARTNER_FIELDS = ["name", "email", "vat", "ref", "street", "street2", "city", "zip", "state_id", "country_code"]
#: what a poll reads (the fields the webhook posts at least)
POLL_FIELDS = ["name", "state", "invoice_status", "write_date"]
#: the "ready to invoice" condition a poll asks for, besides ``write_date > cursor``
POLL_DOMAIN: list[list[str]] = [["state", "=", "sale"], ["invoice_status", "=", "to invoice"]]


class OdooSourceSettings(PollOptions):
    poll_overlap_seconds: float = Field(300.0, ge=0, description="Window below the watermark re-read on every poll "
                                        "(write_date is the transaction start, so long transactions commit late).")


def trigger_of(doc: Mapping[str, Any]) -> str | None:
    if doc.get("state") == "sale" and doc.get("invoice_status") == "to invoice":
        return "SHIPMENT_CONFIRMED"
    if doc.get("state") == "cancel":
        return "ORDER_CANCELLED"
    return None


def _name(value: Any) -> str:
    """many2one as JSON-2 ``read`` returns it: ``[id, display_name]`` (or false)."""
    return str(value[1]) if isinstance(value, list) and len(value) == 2 else ""


class Odoo(Source, PollingSource):
    platform = "odoo"
    thin = True
    settings_class = OdooSourceSettings

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

    def normalise(self, raw: Mapping[str, Any]) -> list[OrderEvent | ThinEvent]:
        doc = self._doc(raw["body"])
        trigger = trigger_of(doc)
        if trigger is None:
            return []
        return [ThinEvent(event_id=raw["event_id"], event_type=raw["event_type"], trigger=trigger, resource="sale.order",
                          resource_id=str(doc["_id"]), occurred_at=parse_time(doc.get("write_date"), raw["received_at"]),
                          attributes={"action": str(doc.get("_action") or "")})]

    async def _call(self, client: httpx.AsyncClient, model: str, method: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        """``POST /json/2/<model>/<method>`` with the API key and database; the answer must be a list."""
        key, db = self.settings.api_key, self.settings.tenant
        if key is None or not db:
            raise ConfigError("odoo: INVOICING_ODOO_API_KEY and INVOICING_ODOO_TENANT (database) are required")
        result = await fetch_json(client, self.platform, "POST", f"{self.base_url()}/json/2/{model}/{method}",
                                  auth=StaticBearer(key.get_secret_value(), scheme="bearer"),
                                  json=params, headers={"X-Odoo-Database": db})
        if not isinstance(result, list):
            raise FetchError(f"odoo: {model}/{method} did not answer a list", retriable=False)
        return result

    async def _read(self, client: httpx.AsyncClient, model: str, ids: list[int], fields: list[str]) -> list[dict[str, Any]]:
        return await self._call(client, model, "read", {"ids": ids, "fields": fields})

    async def poll(self, client: httpx.AsyncClient, cursor: PollCursor) -> PollBatch:
        """Sale orders ready to invoice whose ``write_date`` is past *cursor*, as the raw events
        the webhook would have given, and the advanced cursor.

        Raises:
            FetchError: the API failed or is not configured (the cursor stays where it was).
        """
        options: OdooSourceSettings = self.settings  # type: ignore[assignment]
        try:
            url = f"{self.base_url()}/json/2/sale.order/search_read"
        except ConfigError as exc:
            raise FetchError(str(exc), retriable=True) from None

        async def page_of(since: datetime, page: int) -> list[dict[str, Any]]:
            domain = [["write_date", ">", since.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")], *POLL_DOMAIN]
            try:
                rows = await self._call(client, "sale.order", "search_read", {
                    "domain": domain, "fields": POLL_FIELDS, "order": "write_date asc, id asc",
                    "limit": options.poll_page_size, "offset": (page - 1) * options.poll_page_size})
            except ConfigError as exc:
                raise FetchError(str(exc), retriable=True) from None
            if not all(isinstance(r, dict) for r in rows):
                raise FetchError("odoo: sale.order/search_read did not answer records", retriable=True)
            return rows

        def record_of(row: Mapping[str, Any]) -> dict[str, Any] | None:
            doc = {"_action": "invoicing poll (write_date)", "_id": row["id"], "_model": "sale.order",
                   **{k: v for k, v in row.items() if not k.startswith("_")}}
            body = dumps_exact(dict(sorted(doc.items()))).encode()  # keys sorted, like the webhook
            return raw_event_from_poll(self, body, {"content-type": "application/json"}, url=url)

        def row_id(row: Mapping[str, Any]) -> str:
            if not isinstance(row.get("id"), int):
                raise PayloadError("sale.order without an integer id")
            return str(row["id"])

        return await poll_keyset(cursor, page_of, options=options, platform=self.platform, record_of=record_of,
                                 item_at=lambda r: parse_time(r["write_date"]), item_id=row_id)

    async def fetch(self, event: ThinEvent, client: httpx.AsyncClient) -> list[OrderEvent]:
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
            raise FetchError(plain_reason(exc, what="the odoo sale.order"), retriable=False) from None

    def _order(self, event: ThinEvent, so: dict[str, Any], partner: dict[str, Any], rows: list[dict[str, Any]]) -> OrderEvent:
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
