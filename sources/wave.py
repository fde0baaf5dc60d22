"""Wave: no webhooks, so a poller (`sources.ingress.poller`) reads invoices changed since its cursor.

* Poll: ``POST https://gql.waveapps.com/graphql/public`` with
  ``business(id){invoices(modifiedAtAfter, page, pageSize, sort: [MODIFIED_AT_ASC]){...}}``
  (OAuth 2.0 refresh token at ``api.waveapps.com/oauth2/token/``, or a full-access token in
  ``INVOICING_WAVE_ACCESS_TOKEN``; business id in ``INVOICING_WAVE_TENANT``). Pages are read
  keyset-style: after each page that moved the watermark, page 1 is asked again from the new
  watermark (less a 1 s overlap), so invoices edited during a poll cannot shift past a page.
* Each changed invoice becomes a raw event: body = the invoice JSON, event id = invoice id
  + ``modifiedAt``. Status mapping: ``PAID``/``OVERPAID`` → PAYMENT_RECEIVED;
  ``SENT``/``VIEWED``/``UNPAID``/``OVERDUE``/``PARTIAL`` → ORDER_UPDATED (Wave's own invoice
  already went out: billing again on SENT would invoice twice, so only payment issues);
  ``DRAFT``/``SAVED`` are ignored.
* Authentication of ``/webhooks/wave``: only the poller (or a poller deployed elsewhere) may
  post there; it signs with ``x-invoicing-poll-signature`` = base64(HMAC-SHA256(
  ``INVOICING_WAVE_SECRET``, body)). Anything else is 401.
"""
from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any, ClassVar, Mapping

import httpx
from pydantic import Field

from domain.errors import ConfigError, FetchError, IgnoredEvent, PayloadError, SignatureError
from domain.reasons import plain_reason
from domain.exact import dumps_exact
from sources.support.fetch import fetch_json, platform_auth
from sources.polling import PollingSource, PollBatch, PollCursor, raw_event_from_poll
from domain.settings import PlatformSettings
from sources.base import EventInfo, InboundRequest, Source, ThinEvent
from sources.canonical import OrderEvent, order_event, order_line, party
from sources.support.payload import parse_json, parse_time
from sources.support.signing import constant_time_equal, hmac_digest

__all__ = ["Wave", "WaveSettings", "STATUS_TRIGGERS", "INVOICES_QUERY", "SIGNATURE_HEADER"]

log = logging.getLogger("invoicing.sources.wave")
API = "https://gql.waveapps.com/graphql/public"
TOKEN_URL = "https://api.waveapps.com/oauth2/token/"
SIGNATURE_HEADER = "x-invoicing-poll-signature"
STATUS_TRIGGERS = {"PAID": "PAYMENT_RECEIVED", "OVERPAID": "PAYMENT_RECEIVED", "SENT": "ORDER_UPDATED",
                   "VIEWED": "ORDER_UPDATED", "UNPAID": "ORDER_UPDATED", "OVERDUE": "ORDER_UPDATED", "PARTIAL": "ORDER_UPDATED"}
_MONEY = "{ value }"
INVOICES_QUERY = f"""query Invoices($businessId: ID!, $page: Int!, $pageSize: Int!, $modifiedAtAfter: DateTime) {{
  business(id: $businessId) {{
    id
    invoices(page: $page, pageSize: $pageSize, sort: [MODIFIED_AT_ASC], modifiedAtAfter: $modifiedAtAfter) {{
      pageInfo {{ currentPage totalPages totalCount }}
      edges {{ node {{
        id createdAt modifiedAt invoiceNumber invoiceDate dueDate poNumber status title
        currency {{ code }}
        customer {{ id name email address {{ addressLine1 addressLine2 city postalCode province {{ code }} country {{ code }} }} }}
        items {{ product {{ id name }} description quantity price subtotal {_MONEY} total {_MONEY}
                taxes {{ amount {_MONEY} salesTax {{ id name rate }} }} }}
        subtotal {_MONEY} taxTotal {_MONEY} total {_MONEY} amountDue {_MONEY} amountPaid {_MONEY}
      }} }}
    }}
  }}
}}"""


class WaveSettings(PlatformSettings):
    page_size: int = Field(50, ge=1, le=200, description="Invoices per GraphQL page.")
    max_pages: int = Field(40, ge=1, description="Pages read per poll cycle at most (the rest next cycle).")
    overlap_seconds: float = Field(1.0, ge=0, description="Re-read window before the watermark (clock granularity).")


class Wave(Source, PollingSource):
    platform = "wave"
    always_polled = True
    settings_class = WaveSettings
    keep_headers: ClassVar[tuple[str, ...]] = (SIGNATURE_HEADER,)

    def sign(self, body: bytes) -> str:
        return hmac_digest(self.secret(), body)

    def verify(self, request: InboundRequest) -> None:
        given = request.header(SIGNATURE_HEADER)
        if not given:
            raise SignatureError("Wave has no webhooks: only the poller's signed events are accepted")
        if not constant_time_equal(self.sign(request.body), given):
            raise SignatureError(f"{SIGNATURE_HEADER} does not match the body")

    def describe(self, request: InboundRequest) -> EventInfo:
        node = _invoice(request.body)
        status = str(node.get("status") or "")
        if status not in STATUS_TRIGGERS:
            raise IgnoredEvent(f"Wave invoice status {status!r} does not trigger anything")
        return EventInfo(event_type=f"invoice.{status}", event_id=f"{node['id']}:{node['modifiedAt']}")

    def normalise(self, raw: Mapping[str, Any]) -> list[OrderEvent | ThinEvent]:
        node = _invoice(raw["body"])
        trigger = STATUS_TRIGGERS.get(str(node.get("status")))
        if trigger is None:
            return []
        try:
            return [self._order(raw, node, trigger)]
        except (KeyError, TypeError) as exc:
            raise PayloadError(plain_reason(exc, what="the Wave invoice")) from None

    def _order(self, raw: Mapping[str, Any], node: dict[str, Any], trigger: str) -> OrderEvent:
        lines = []
        items = node["items"]
        if not isinstance(items, list):
            raise PayloadError(f"the Wave invoice's items should be a list of lines, not {str(items)[:60]!r}")
        for item in items:
            taxes = item.get("taxes") or []
            if not isinstance(taxes, list):
                raise PayloadError(f"a line's taxes in the Wave invoice should be a list, not {str(taxes)[:60]!r}")
            rate = (taxes[0].get("salesTax") or {}).get("rate") if len(taxes) == 1 else None
            product = item.get("product") or {}
            lines.append(order_line(item.get("description") or product.get("name") or "", item["quantity"], item["price"],
                                    sku=product.get("name") or None, tax_rate=rate))
        cust = node.get("customer") or {}
        addr = cust.get("address") or {}
        paid = trigger == "PAYMENT_RECEIVED"
        return order_event(
            raw, event_id=f"{node['id']}:{node['modifiedAt']}", event_type=f"invoice.{node['status']}", trigger=trigger,
            external_order_id=str(node["id"]), order_number=node.get("invoiceNumber") or None,
            occurred_at=parse_time(node["modifiedAt"], raw["received_at"]),
            customer_ref=f"wave:{cust['id']}" if cust.get("id") else None,
            customer=party(cust.get("name") or "", email=cust.get("email"), line1=addr.get("addressLine1") or "",
                           line2=addr.get("addressLine2"), city=addr.get("city") or "", postal_code=addr.get("postalCode") or "",
                           region=(addr.get("province") or {}).get("code"), country=(addr.get("country") or {}).get("code") or ""),
            currency=node["currency"]["code"], lines=lines, announced_total=(node.get("total") or {}).get("value"),
            amount_paid=(node.get("amountPaid") or {}).get("value") if paid else None, purchase_order=node.get("poNumber") or None,
            dedup_keys=[f"wave:invoice:{node['id']}:{node['status']}"],
            attributes={"wave_status": str(node["status"]), "amount_due": str((node.get("amountDue") or {}).get("value", ""))},
        )

    async def poll(self, client: httpx.AsyncClient, cursor: PollCursor) -> PollBatch:
        """Invoices changed since *cursor*, as raw-event records, and the advanced cursor.

        Raises:
            FetchError: the API failed (the cursor stays where it was).
        """
        s = self.settings
        if not s.tenant:
            raise FetchError("wave: INVOICING_WAVE_TENANT (the business id) is not set", retriable=True)
        try:
            auth = platform_auth(s, grant="refresh_token", token_url=TOKEN_URL)
        except ConfigError as exc:
            raise FetchError(f"wave API credentials: {exc}", retriable=True) from None
        size, overlap = getattr(s, "page_size", 50), timedelta(seconds=getattr(s, "overlap_seconds", 1.0))
        batch = PollBatch(cursor=cursor)
        page = 1
        for _ in range(getattr(s, "max_pages", 40)):
            after = (batch.cursor.watermark - overlap).isoformat() if batch.cursor.watermark else None
            doc = await fetch_json(client, self.platform, "POST", s.base_url or API, auth=auth, json={
                "query": INVOICES_QUERY,
                "variables": {"businessId": s.tenant, "page": page, "pageSize": size, "modifiedAtAfter": after}})
            conn = _connection(doc)
            before = batch.cursor.watermark
            nodes = [edge["node"] for edge in conn["edges"]]
            for node in nodes:
                at = parse_time(node["modifiedAt"])
                if not batch.cursor.is_new(at, str(node["id"])):
                    continue
                body = dumps_exact(node, separators=(",", ":")).encode()
                try:
                    record = raw_event_from_poll(self, body, {"content-type": "application/json",
                                                              SIGNATURE_HEADER: self.sign(body)}, url=f"{s.base_url or API}")
                except PayloadError as exc:  # one unreadable invoice must not stop the poller
                    log.warning("wave invoice %s skipped: %s", node.get("id"), exc)
                    record = None
                if record is not None:
                    batch.records.append(record)
                batch.cursor = batch.cursor.advance(at, str(node["id"]))
            if not nodes or page >= int(conn["pageInfo"]["totalPages"]):
                break
            page = 1 if batch.cursor.watermark != before else page + 1
        return batch


def _connection(doc: Any) -> dict[str, Any]:
    if not isinstance(doc, dict) or doc.get("errors"):
        messages = [e.get("message", "") for e in (doc.get("errors") or [])] if isinstance(doc, dict) else []
        raise FetchError(f"wave GraphQL errors: {'; '.join(messages)[:200]}", retriable=True)
    try:
        conn: dict[str, Any] = doc["data"]["business"]["invoices"]
        conn["edges"], conn["pageInfo"]["totalPages"]
    except (KeyError, TypeError):
        raise FetchError("wave GraphQL answer lacks business.invoices", retriable=True) from None
    return conn


def _invoice(body: bytes) -> dict[str, Any]:
    node = parse_json(body)
    if not isinstance(node, dict) or not node.get("id") or not node.get("modifiedAt"):
        raise PayloadError("body is not a Wave invoice (id, modifiedAt)")
    return node
