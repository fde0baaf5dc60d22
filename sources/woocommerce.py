"""WooCommerce: ``order.updated`` webhooks (full order) or ``action.woocommerce_order_status_completed`` (thin).

* Authentication: ``X-WC-Webhook-Signature`` = base64(HMAC-SHA256(webhook secret, raw body)).
  Secret: ``INVOICING_WOOCOMMERCE_SECRET``. The creation ping (form body ``webhook_id=<id>``,
  unsigned) is answered 200 and never published.
* Triggers: status ``completed`` → SHIPMENT_CONFIRMED; status ``processing`` with a
  ``date_paid`` → PAYMENT_RECEIVED (WooCommerce sets ``processing`` once a payment cleared;
  the customer's invoice policy decides whether payment or shipment issues the invoice, and
  a payment after issuing marks the invoice paid); ``cancelled`` → ORDER_CANCELLED; any other
  status or update is ignored. ``action.woocommerce_order_status_completed`` carries only
  ``{"action", "arg": <order id>}`` → ``GET /wp-json/wc/v3/orders/{id}`` with the REST
  consumer key/secret as HTTP Basic (``INVOICING_WOOCOMMERCE_CONSUMER_KEY``/``_SECRET``).
* Event id: ``X-WC-Webhook-Delivery-ID`` changes per delivery and ``order.updated`` fires on
  every edit, so the event id is order id + status (equal across both topics).
* Polling (optional, ``INVOICING_WOOCOMMERCE_POLL=true``; webhooks stay the default): WooCommerce
  does not redeliver a failed webhook, so `invoicing poll` can reconcile with
  ``GET /wp-json/wc/v3/orders?modified_after=…&dates_are_gmt=true&orderby=modified&order=asc&status=…``
  (WooCommerce 5.8+; consumer key/secret as HTTP Basic), cursor on ``date_modified_gmt``
  (`sources.ingress.poller.poll_keyset`). Each order becomes the raw event an ``order.updated``
  delivery of it would: same event id (order id + status), event type and order key, so a
  webhook and a poll of the same change dedupe to one invoice downstream.
* Buyer: the order's ``billing`` object [C]: ``company`` (else first and last name), ``address_1``/``_2``,
  ``city``, ``postcode``, ``state``, ``country`` (ISO code), ``email``. WooCommerce has no VAT id of its
  own; VAT plugins store it as order meta: ``_billing_vat_number`` (WooCommerce EU VAT Number 2.3+),
  ``_vat_number`` (its older versions), or a ``billing.vat_number`` key some plugins add [S].
"""
from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any, ClassVar, Mapping

import httpx
from pydantic import Field, SecretStr

from domain.errors import FetchError, IgnoredEvent, PayloadError, SignatureError
from domain.reasons import plain_reason
from domain.exact import dumps_exact
from sources.support.fetch import fetch_json
from domain.money import ZERO, to_decimal
from sources.polling import PollingSource, PollBatch, PollCursor, PollOptions, poll_keyset, raw_event_from_poll
from sources.base import EventInfo, InboundRequest, Reply, Source, ThinEvent
from sources.canonical import OrderEvent, order_event, order_line, party
from sources.support.payload import parse_json, parse_time
from sources.support.signing import constant_time_equal, hmac_digest

__all__ = ["WooCommerce", "WooCommerceSettings", "STATUS_TRIGGERS", "ACTIONS"]

STATUS_TRIGGERS = {"completed": "SHIPMENT_CONFIRMED", "processing": "PAYMENT_RECEIVED", "cancelled": "ORDER_CANCELLED"}
#: action hook → the order status it stands for
ACTIONS = {"woocommerce_order_status_completed": "completed", "woocommerce_payment_complete": "processing",
           "woocommerce_order_status_cancelled": "cancelled"}
_PING = re.compile(rb"webhook_id=\d+")


class WooCommerceSettings(PollOptions):
    consumer_key: str | None = Field(None, description="REST API consumer key (ck_...), for thin action webhooks and polling.")
    consumer_secret: SecretStr | None = Field(None, description="REST API consumer secret (cs_...).")
    poll_statuses: str = Field("completed,processing", description="Order statuses polled (comma-separated).")


def _status_trigger(doc: Mapping[str, Any]) -> tuple[str, str] | None:
    status = str(doc.get("status") or "")
    if status == "processing" and not (doc.get("date_paid_gmt") or doc.get("date_paid")):
        return None  # processing without a payment date (e.g. manual order): not paid yet
    trigger = STATUS_TRIGGERS.get(status)
    return (status, trigger) if trigger else None


class WooCommerce(Source, PollingSource):
    platform = "woocommerce"
    thin = True
    settings_class = WooCommerceSettings
    keep_headers: ClassVar[tuple[str, ...]] = (
        "x-wc-webhook-signature", "x-wc-webhook-topic", "x-wc-webhook-resource", "x-wc-webhook-event",
        "x-wc-webhook-source", "x-wc-webhook-id", "x-wc-webhook-delivery-id",
    )

    def challenge(self, request: InboundRequest) -> Reply | None:
        if request.method == "POST" and not request.header("x-wc-webhook-signature") and _PING.fullmatch(request.body.strip()):
            return Reply(200, b'{"status":"pong"}')
        return None

    def verify(self, request: InboundRequest) -> None:
        given = request.header("x-wc-webhook-signature")
        if not given:
            raise SignatureError("missing X-WC-Webhook-Signature")
        if not constant_time_equal(hmac_digest(self.secret(), request.body), given):
            raise SignatureError("X-WC-Webhook-Signature does not match the body")

    def describe(self, request: InboundRequest) -> EventInfo:
        topic, order_id, status, _ = self._read(request.header("x-wc-webhook-topic"), request.body)
        return EventInfo(event_type=topic, event_id=f"order:{order_id}:{status}")

    def _read(self, topic: str, body: bytes) -> tuple[str, str, str, dict[str, Any] | None]:
        doc = parse_json(body)
        if not isinstance(doc, dict):
            raise PayloadError("body is not a WooCommerce webhook")
        if "action" in doc or topic.startswith("action."):
            action = str(doc.get("action") or topic.removeprefix("action."))
            if not doc.get("arg") or not str(doc["arg"]).isdigit():
                raise PayloadError("action webhook lacks the order id in arg")
            if action not in ACTIONS:
                raise IgnoredEvent(f"action {action!r} does not trigger invoicing")
            return f"action.{action}", str(doc["arg"]), ACTIONS[action], None
        if "id" not in doc or "status" not in doc:
            raise PayloadError("body is not a WooCommerce order")
        found = _status_trigger(doc)
        if found is None:
            raise IgnoredEvent(f"order status {doc['status']!r} does not trigger invoicing")
        return topic or "order.updated", str(doc["id"]), found[0], doc

    def normalise(self, raw: Mapping[str, Any]) -> list[OrderEvent | ThinEvent]:
        try:
            topic, order_id, status, doc = self._read(raw["headers"].get("x-wc-webhook-topic", ""), raw["body"])
        except IgnoredEvent:
            return []
        event_id = f"order:{order_id}:{status}"
        if doc is None:
            return [ThinEvent(event_id=event_id, event_type=topic, trigger=STATUS_TRIGGERS[status], resource="order",
                              resource_id=order_id, occurred_at=raw["received_at"],
                              attributes={"status": status, "received_at": raw["received_at"].isoformat()})]
        try:
            return [self._order(raw, doc, STATUS_TRIGGERS[status], event_id, topic)]
        except (KeyError, TypeError) as exc:
            raise PayloadError(plain_reason(exc, what="the WooCommerce order")) from None

    def _api(self) -> tuple[str, tuple[str, str]]:
        """The REST base and the consumer key/secret (HTTP Basic)."""
        s = self.settings
        key = getattr(s, "consumer_key", None)
        secret = getattr(s, "consumer_secret", None)
        if not s.base_url or not key or secret is None:
            raise FetchError("woocommerce: BASE_URL, CONSUMER_KEY and CONSUMER_SECRET are needed to read orders", retriable=True)
        return f"{s.base_url.rstrip('/')}/wp-json/wc/v3", (key, secret.get_secret_value())

    async def fetch(self, event: ThinEvent, client: httpx.AsyncClient) -> list[OrderEvent]:
        base, auth = self._api()
        doc = await fetch_json(client, self.platform, "GET", f"{base}/orders/{event.resource_id}",
                               auth=auth, headers={"Accept": "application/json"})
        if not isinstance(doc, dict) or "id" not in doc:
            raise FetchError(f"woocommerce order {event.resource_id}: unexpected answer", retriable=True)
        raw = {"platform": self.platform, "event_type": event.event_type,
               "received_at": datetime.fromisoformat(event.attributes["received_at"])}
        try:
            return [self._order(raw, doc, event.trigger, event.event_id, event.event_type)]
        except (KeyError, TypeError, PayloadError) as exc:
            raise FetchError(plain_reason(exc, what=f"the woocommerce order {event.resource_id}"), retriable=False) from None

    async def poll(self, client: httpx.AsyncClient, cursor: PollCursor) -> PollBatch:
        """Orders modified since *cursor* (in the polled statuses), as the raw events an
        ``order.updated`` webhook of each would give, and the advanced cursor.

        Raises:
            FetchError: the API failed or is not configured (the cursor stays where it was).
        """
        base, auth = self._api()
        s = self.settings
        options: WooCommerceSettings = s  # type: ignore[assignment]
        statuses = ",".join(x.strip() for x in options.poll_statuses.split(",") if x.strip())

        async def page_of(since: datetime, page: int) -> list[dict[str, Any]]:
            params = {"modified_after": since.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S"), "dates_are_gmt": "true",
                      "orderby": "modified", "order": "asc", "per_page": str(options.poll_page_size), "page": str(page)}
            if statuses:
                params["status"] = statuses
            doc = await fetch_json(client, self.platform, "GET", f"{base}/orders", auth=auth, params=params,
                                   headers={"Accept": "application/json"})
            if not isinstance(doc, list) or not all(isinstance(o, dict) for o in doc):
                raise FetchError("woocommerce: GET /orders did not answer a list of orders", retriable=True)
            return doc

        def record_of(order: Mapping[str, Any]) -> dict[str, Any] | None:
            body = dumps_exact(order, separators=(",", ":")).encode()
            headers = {"content-type": "application/json", "x-wc-webhook-topic": "order.updated",
                       "x-wc-webhook-resource": "order", "x-wc-webhook-event": "updated",
                       "x-wc-webhook-source": s.base_url.rstrip("/") + "/" if s.base_url else ""}
            if s.secret is not None and s.secret.get_secret_value():  # verifiable like a delivery
                headers["x-wc-webhook-signature"] = hmac_digest(self.secret(), body)
            return raw_event_from_poll(self, body, headers, url=f"{base}/orders")

        return await poll_keyset(cursor, page_of, options=options, platform=self.platform, record_of=record_of,
                                 item_at=lambda o: parse_time(o["date_modified_gmt"]), item_id=lambda o: str(o["id"]))

    def _order(self, raw: Mapping[str, Any], doc: dict[str, Any], trigger: str, event_id: str, topic: str) -> OrderEvent:
        rates = {t.get("rate_id"): t.get("rate_percent") for t in doc.get("tax_lines") or []}
        lines = []
        for item in doc["line_items"]:
            qty = to_decimal(item["quantity"], "quantity")
            if qty <= 0:
                continue
            subtotal = to_decimal(item.get("subtotal") or "0", "subtotal")
            discount = subtotal - to_decimal(item.get("total") or "0", "total")
            taxed = [t for t in item.get("taxes") or [] if to_decimal(t.get("total") or "0") != ZERO]
            rate = rates.get(taxed[0].get("id")) if len(taxed) == 1 else None
            lines.append(order_line(item.get("name") or "", qty, subtotal / qty, sku=item.get("sku") or None,
                                    discount=discount, tax_rate=rate))
        bill = doc.get("billing") or {}
        meta = {str(m.get("key")): m.get("value") for m in doc.get("meta_data") or [] if isinstance(m, dict)}
        vat = next((str(v).strip() for v in (bill.get("vat_number"), meta.get("_billing_vat_number"), meta.get("_vat_number"))
                    if isinstance(v, str) and v.strip()), None)
        name = bill.get("company") or " ".join(x for x in (bill.get("first_name"), bill.get("last_name")) if x)
        paid_at = doc.get("date_paid_gmt")
        return order_event(
            raw, event_id=event_id, event_type=topic, trigger=trigger, external_order_id=str(doc["id"]),
            order_number=str(doc.get("number") or doc["id"]),
            occurred_at=parse_time((doc.get("date_completed_gmt") if trigger == "SHIPMENT_CONFIRMED" else paid_at)
                                   or doc.get("date_modified_gmt"), raw["received_at"]),
            customer_ref=f"woocommerce:{doc['customer_id']}" if doc.get("customer_id") else None,
            customer=party(name, email=bill.get("email"), vat_id=vat, line1=bill.get("address_1") or "", line2=bill.get("address_2") or None,
                           city=bill.get("city") or "", postal_code=bill.get("postcode") or "", region=bill.get("state") or None,
                           country=bill.get("country") or ""),
            currency=doc["currency"], lines=lines, shipping=doc.get("shipping_total") or "0", announced_total=doc.get("total"),
            amount_paid=doc.get("total") if paid_at and trigger != "ORDER_CANCELLED" else None,
            dedup_keys=[f"woocommerce:order:{doc['id']}:{doc.get('status')}"],
            attributes={"status": str(doc.get("status")), "order_key": str(doc.get("order_key") or ""),
                        "payment_method": str(doc.get("payment_method") or "")},
        )
