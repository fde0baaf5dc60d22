"""FreshBooks: thin, form-encoded webhook callbacks; ``payment.create`` is the trigger.

* Authentication: ``X-FreshBooks-Hmac-SHA256`` = base64(HMAC-SHA256(verifier, JSON of the
  form fields)), where the JSON is Python's default ``json.dumps`` of the form dict in
  the order received (``", "``/``": "`` separators, ASCII escapes), as FreshBooks' own
  reference code does. Secret: ``INVOICING_FRESHBOOKS_SECRET`` (the callback's verifier).
* The registration verification callback carries ``verifier`` and is unsigned (the
  verifier *is* the key): it is answered 200 and never published, and the verifier is
  never logged. Activate the callback with ``PUT /events/account/{id}/events/callbacks/{cb}``.
* Fields: ``name`` (``payment.create``), ``object_id``, ``account_id``, ``business_id``,
  ``identity_id``, ``user_id``. No event id: a payment is created once, so the event id is
  account + name + object id.
* Fetch: ``GET /accounting/account/{account}/payments/payments/{id}``, then the invoice
  with ``include[]=lines``; PAYMENT_RECEIVED when the invoice's ``payment_status`` is
  ``paid``, ORDER_UPDATED for a partial payment. OAuth 2.0 refresh token
  (``INVOICING_FRESHBOOKS_CLIENT_ID``/``_CLIENT_SECRET``/``_REFRESH_TOKEN``).
"""
from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any, ClassVar, Mapping
from urllib.parse import parse_qsl

import httpx

from sources.support.country_names import country_code
from domain.errors import ConfigError, FetchError, IgnoredEvent, PayloadError, SignatureError
from domain.reasons import plain_reason
from sources.support.fetch import fetch_json, platform_auth
from domain.money import q4, to_decimal
from sources.base import EventInfo, InboundRequest, Reply, Source, ThinEvent
from sources.canonical import OrderEvent, order_event, order_line, party
from sources.support.payload import parse_time
from sources.support.signing import constant_time_equal, hmac_digest

__all__ = ["FreshBooks", "form_fields", "signing_message", "TRIGGERS"]

log = logging.getLogger("invoicing.sources.freshbooks")
API = "https://api.freshbooks.com"
TOKEN_URL = "https://api.freshbooks.com/auth/oauth/token"
TRIGGERS = {"payment.create": "PAYMENT_RECEIVED"}


def form_fields(body: bytes) -> dict[str, str]:
    """The form dict as received (first occurrence order, last value wins, like a dict of the form).

    Raises:
        PayloadError: not UTF-8.
    """
    try:
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    except UnicodeDecodeError:
        raise PayloadError("FreshBooks callback is not UTF-8 form data") from None


def signing_message(fields: Mapping[str, str]) -> bytes:
    return json.dumps(dict(fields)).encode()


class FreshBooks(Source):
    platform = "freshbooks"
    thin = True
    keep_headers: ClassVar[tuple[str, ...]] = ("x-freshbooks-hmac-sha256",)

    def challenge(self, request: InboundRequest) -> Reply | None:
        if request.method != "POST" or request.header("x-freshbooks-hmac-sha256"):
            return None
        try:
            fields = form_fields(request.body)
        except PayloadError:
            return None
        if "verifier" not in fields:
            return None
        # unauthenticated: nothing from the request is logged (the gateway logs its fixed summary)
        log.info("FreshBooks verification callback answered, nothing published; activate the callback with its "
                 "verifier (PUT /events/account/{account_id}/events/callbacks/{callback_id})")
        return Reply(200, b"", content_type="")

    def verify(self, request: InboundRequest) -> None:
        given = request.header("x-freshbooks-hmac-sha256")
        if not given:
            raise SignatureError("missing X-FreshBooks-Hmac-SHA256")
        try:
            message = signing_message(form_fields(request.body))
        except PayloadError:
            raise SignatureError("body is not form data") from None
        if not constant_time_equal(hmac_digest(self.secret(), message), given):
            raise SignatureError("X-FreshBooks-Hmac-SHA256 does not match the form fields")

    def describe(self, request: InboundRequest) -> EventInfo:
        fields = _fields(request.body)
        if fields["name"] not in TRIGGERS:
            raise IgnoredEvent(f"event {fields['name']!r} does not trigger invoicing")
        return EventInfo(event_type=fields["name"], event_id=f"{fields['account_id']}:{fields['name']}:{fields['object_id']}")

    def normalise(self, raw: Mapping[str, Any]) -> list[OrderEvent | ThinEvent]:
        fields = _fields(raw["body"])
        trigger = TRIGGERS.get(fields["name"])
        if trigger is None:
            return []
        return [ThinEvent(event_id=f"{fields['account_id']}:{fields['name']}:{fields['object_id']}", event_type=fields["name"],
                          trigger=trigger, resource="payment", resource_id=fields["object_id"], occurred_at=raw["received_at"],
                          attributes={"account_id": fields["account_id"], "business_id": fields.get("business_id", ""),
                                      "received_at": raw["received_at"].isoformat()})]

    async def fetch(self, event: ThinEvent, client: httpx.AsyncClient) -> list[OrderEvent]:
        account = event.attributes["account_id"]
        try:
            auth = platform_auth(self.settings, grant="refresh_token", token_url=TOKEN_URL)
        except ConfigError as exc:
            raise FetchError(f"freshbooks API credentials: {exc}", retriable=True) from None
        base = f"{(self.settings.base_url or API).rstrip('/')}/accounting/account/{account}"
        headers = {"Accept": "application/json", "Api-Version": "alpha"}
        try:
            pay = (await fetch_json(client, self.platform, "GET", f"{base}/payments/payments/{event.resource_id}", auth=auth,
                                    headers=headers))["response"]["result"]["payment"]
            inv = (await fetch_json(client, self.platform, "GET", f"{base}/invoices/invoices/{pay['invoiceid']}", auth=auth,
                                    headers=headers, params={"include[]": "lines"}))["response"]["result"]["invoice"]
            raw = {"platform": self.platform, "event_type": event.event_type,
                   "received_at": datetime.fromisoformat(event.attributes["received_at"])}
            return [self._order(raw, event, account, pay, inv)]
        except (KeyError, TypeError) as exc:
            raise FetchError(plain_reason(exc, what=f"FreshBooks' answer for payment {event.resource_id}"), retriable=False) from None

    def _order(self, raw: Mapping[str, Any], event: ThinEvent, account: str, pay: dict[str, Any],
               inv: dict[str, Any]) -> OrderEvent:
        pct = to_decimal(inv.get("discount_value") or "0", "discount_value")
        lines = []
        for item in inv["lines"]:
            qty = to_decimal(item.get("qty") or "0", "qty")
            if qty == 0:
                continue
            unit = to_decimal(item["unit_cost"]["amount"], "unit_cost")
            rate = item.get("taxAmount1") if item.get("taxName1") else None
            lines.append(order_line(item.get("description") or item.get("name") or "", qty, unit,
                                    sku=item.get("name") or None, discount=q4(qty * unit * pct / 100), tax_rate=rate))
        settled = inv.get("payment_status") == "paid" or str(inv.get("v3_status")) == "paid"
        name = inv.get("organization") or " ".join(x for x in (inv.get("fname"), inv.get("lname")) if x)
        return order_event(
            raw, event_id=event.event_id, event_type=event.event_type, trigger="PAYMENT_RECEIVED" if settled else "ORDER_UPDATED",
            external_order_id=str(inv.get("invoiceid") or inv["id"]), order_key=f"freshbooks:{account}:{inv.get('invoiceid') or inv['id']}",
            order_number=inv.get("invoice_number") or None, occurred_at=parse_time(pay.get("date"), event.occurred_at),
            customer_ref=f"freshbooks:{account}:{inv['customerid']}" if inv.get("customerid") else None,
            customer=party(name, vat_id=inv.get("vat_number") or None, line1=inv.get("street") or "", line2=inv.get("street2") or None,
                           city=inv.get("city") or "", postal_code=inv.get("code") or "", region=inv.get("province") or None,
                           country=country_code(inv.get("country"))),
            currency=inv.get("currency_code") or inv["amount"]["code"], lines=lines,
            announced_total=(inv.get("amount") or {}).get("amount"), amount_paid=(inv.get("paid") or {}).get("amount"),
            purchase_order=inv.get("po_number") or None,
            dedup_keys=[f"freshbooks:{account}:payment:{pay.get('id', event.resource_id)}"],
            attributes={"account_id": account, "payment_id": str(pay.get("id", event.resource_id)),
                        "payment_amount": str((pay.get("amount") or {}).get("amount", ""))},
        )


def _fields(body: bytes) -> dict[str, str]:
    fields = form_fields(body)
    missing = [k for k in ("name", "object_id", "account_id") if not fields.get(k)]
    if missing:
        raise PayloadError(f"FreshBooks callback lacks {', '.join(missing)}")
    return fields
