"""monday.com: an app board webhook on a status column (``change_status_column_value``).

* Handshake: on creation monday POSTs ``{"challenge": "<token>"}``; `challenge` echoes it.
* Authentication: app webhooks carry ``Authorization: <JWT>`` (HS256, signed with the app's
  Signing Secret, ``INVOICING_MONDAY_SECRET``). Verified with PyJWT: signature, ``exp`` (required;
  a short-lived token, so a replayed capture is refused once it expires), ``iat`` and ``aud`` =
  our webhook URL (``INVOICING_MONDAY_AUDIENCE``, else the URL the gateway saw). The JWT does not
  cover the body (listed as such in the source contract test): a body can only be trusted for the token's lifetime.
  Plain integration-center webhooks carry no JWT and are refused.
* Trigger: the status column (``INVOICING_MONDAY_STATUS_COLUMN`` if set, else any status column)
  changed to a label in ``INVOICING_MONDAY_STATUS_LABELS`` (default "Done,Closed Won") →
  STAGE_REACHED; other changes are answered 200 and ignored.
* Event id: ``triggerUuid`` (the same on monday's retries).
* Thin: the worker runs the GraphQL ``items(ids:…)`` query (``POST /v2``, ``Authorization: <API token>``
  from ``INVOICING_MONDAY_ACCESS_TOKEN``, ``API-Version`` header). Item columns (by title, as the
  board owner sets them up [S]): Customer (the buyer's legal name), Email, Street, City, Postal code
  (or ZIP), State, Country (a country column: ``countryCode``; a text column: the name or code),
  VAT ID (or VAT number), Currency, PO number; one subitem per order line with SKU, Quantity,
  Unit price (numbers columns are read from their ``text``, exactly). The item's own name is the
  order's title, never taken as the buyer's name.
* Order key: ``monday:<item id>``.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any, Mapping

import httpx
import jwt
from pydantic import Field

from domain.errors import FetchError, IgnoredEvent, PayloadError, SignatureError
from domain.reasons import plain_reason
from sources.support.country_names import country_code
from domain.settings import PlatformSettings
from sources.support.fetch import fetch_json
from sources.base import EventInfo, InboundRequest, Reply, Source, ThinEvent
from sources.canonical import OrderEvent, order_event, order_line, party
from sources.support.payload import parse_json, parse_time

__all__ = ["Monday", "MondaySettings", "ITEMS_QUERY"]

ITEMS_QUERY = """query ($ids: [ID!]) {
  items(ids: $ids) {
    id name created_at updated_at
    board { id name }
    group { id title }
    column_values { id type text value column { title } }
    subitems { id name column_values { id type text value column { title } } }
  }
}"""


class MondaySettings(PlatformSettings):
    base_url: str | None = Field("https://api.monday.com", description="GraphQL API base (the query goes to /v2).")
    audience: str | None = Field(None, description="JWT aud: our webhook URL as registered with monday.")
    status_labels: str = Field("Done,Closed Won", description="Comma-separated status labels that trigger invoicing.")
    status_column: str | None = Field(None, description="Only this status column id triggers (any status column when unset).")
    api_version: str = Field("2025-04", description="monday API-Version header.")


def _columns(values: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {str((c.get("column") or {}).get("title") or c.get("id")).strip().casefold(): c for c in values}


def _text(cols: Mapping[str, Mapping[str, Any]], *titles: str) -> str:
    """The text of the first of *titles* that the item has and that is not empty."""
    return next((t for t in (str((cols.get(title) or {}).get("text") or "").strip() for title in titles) if t), "")


def _country(cols: Mapping[str, Mapping[str, Any]]) -> str:
    """ISO 3166 alpha-2 from a country column (``countryCode`` in its value) or a text column."""
    raw = (cols.get("country") or {}).get("value")
    if raw:
        value = parse_json(str(raw).encode())
        if isinstance(value, dict) and value.get("countryCode"):
            return country_code(value["countryCode"])
    return country_code(_text(cols, "country"))


class Monday(Source):
    platform = "monday"
    thin = True
    settings_class = MondaySettings
    settings: MondaySettings

    def challenge(self, request: InboundRequest) -> Reply | None:
        # unauthenticated: only a small body that names a challenge is parsed, with the bounded parser
        if request.method != "POST" or len(request.body) > 4096 or b'"challenge"' not in request.body:
            return None
        try:
            doc = parse_json(request.body)
        except PayloadError:
            return None
        if isinstance(doc, dict) and set(doc) == {"challenge"} and isinstance(doc["challenge"], str):
            return Reply(200, json.dumps({"challenge": doc["challenge"]}).encode())
        return None

    def verify(self, request: InboundRequest) -> None:
        token = request.header("authorization")
        if token.lower().startswith("bearer "):
            token = token[7:]
        if not token:
            raise SignatureError("missing Authorization JWT")
        try:
            jwt.decode(token, self.secret(), algorithms=["HS256"], audience=self.settings.audience or request.url,
                       options={"require": ["exp", "iat"]}, leeway=5)
        except jwt.PyJWTError as exc:
            raise SignatureError(f"monday JWT rejected: {type(exc).__name__}") from None

    def _label(self, event: Mapping[str, Any]) -> str | None:
        """The new status label when *event* is a status change on the watched column, else None."""
        if event.get("columnType") not in ("color", "status"):
            return None
        if self.settings.status_column and event.get("columnId") != self.settings.status_column:
            return None
        value = event.get("value") or {}
        label = value.get("label") if isinstance(value, dict) else None
        return str(label.get("text") or "") if isinstance(label, dict) else None

    def _triggers(self, event: Mapping[str, Any]) -> bool:
        labels = {s.strip().casefold() for s in self.settings.status_labels.split(",") if s.strip()}
        label = self._label(event)
        return label is not None and label.strip().casefold() in labels

    def describe(self, request: InboundRequest) -> EventInfo:
        doc = parse_json(request.body)
        event = doc.get("event") if isinstance(doc, dict) else None
        if not isinstance(event, dict) or not event.get("triggerUuid") or not event.get("pulseId"):
            raise PayloadError("body is not a monday webhook event")
        if not self._triggers(event):
            raise IgnoredEvent(f"monday change to {self._label(event)!r} does not trigger invoicing")
        return EventInfo(event_type=str(event.get("type") or "update_column_value"), event_id=str(event["triggerUuid"]))

    def normalise(self, raw: Mapping[str, Any]) -> list[OrderEvent | ThinEvent]:
        doc = parse_json(raw["body"])
        event = doc.get("event") if isinstance(doc, dict) else None
        if not isinstance(event, dict):
            raise PayloadError("body is not a monday webhook event")
        if not self._triggers(event):
            return []
        try:
            return [ThinEvent(event_id=str(event["triggerUuid"]), event_type=str(event.get("type") or "update_column_value"),
                              trigger="STAGE_REACHED", resource="item", resource_id=str(event["pulseId"]),
                              occurred_at=parse_time(event.get("triggerTime"), raw["received_at"]),
                              attributes={"board_id": str(event.get("boardId") or ""), "status": self._label(event) or "",
                                          "user_id": str(event.get("userId") or "")})]
        except KeyError as exc:
            raise PayloadError(plain_reason(exc, what="the monday event")) from None

    async def fetch(self, event: ThinEvent, client: httpx.AsyncClient) -> list[OrderEvent]:
        token = self.settings.access_token
        if token is None:
            raise FetchError("monday: INVOICING_MONDAY_ACCESS_TOKEN not configured", retriable=False)
        doc = await fetch_json(client, self.platform, "POST", f"{self.base_url()}/v2",
                               headers={"Authorization": token.get_secret_value(), "API-Version": self.settings.api_version},
                               json={"query": ITEMS_QUERY, "variables": {"ids": [event.resource_id]}})
        if doc.get("errors") or doc.get("error_code"):
            codes = [str((e.get("extensions") or {}).get("code") or "") for e in doc.get("errors") or []]
            raise FetchError(f"monday GraphQL error {codes or doc.get('error_code')}", retriable=True)
        items = (doc.get("data") or {}).get("items") or []
        if not items:
            raise FetchError(f"monday item {event.resource_id} not found", retriable=False)
        try:
            return [self._order(event, items[0])]
        except (KeyError, TypeError, PayloadError) as exc:
            raise FetchError(plain_reason(exc, what=f"the monday item {event.resource_id}"), retriable=False) from None

    def _order(self, event: ThinEvent, item: dict[str, Any]) -> OrderEvent:
        cols = _columns(item["column_values"])
        lines = []
        for sub in item.get("subitems") or [item]:
            sc = _columns(sub["column_values"])
            if _text(sc, "unit price"):
                lines.append(order_line(sub["name"], _text(sc, "quantity") or "1", _text(sc, "unit price"), sku=_text(sc, "sku") or None))
        if not lines:
            raise PayloadError("no subitem with a Unit price")
        currency = _text(cols, "currency")
        if not currency:
            raise PayloadError("item has no Currency")
        raw = {"platform": self.platform, "event_type": event.event_type, "received_at": datetime.now(timezone.utc)}
        return order_event(
            raw, event_id=event.event_id, trigger=event.trigger, external_order_id=str(item["id"]),
            order_number=item.get("name"), occurred_at=event.occurred_at,
            customer=party(_text(cols, "customer"), email=_text(cols, "email") or None,
                           vat_id=_text(cols, "vat id", "vat number", "vat") or None, line1=_text(cols, "street", "address"),
                           city=_text(cols, "city"), postal_code=_text(cols, "postal code", "zip", "zip code"),
                           region=_text(cols, "state", "region") or None, country=_country(cols)),
            currency=currency, lines=lines, purchase_order=_text(cols, "po number") or None,
            dedup_keys=[f"monday:item:{item['id']}:{event.attributes.get('status', '')}"],
            attributes={"board_id": str((item.get("board") or {}).get("id") or event.attributes.get("board_id", ""))},
        )
