"""Trello: a card moved to the list "Completed Sales" on a board with a REST webhook.

* Handshake: Trello sends ``HEAD`` to the callback URL when the webhook is created and only
  creates it on 200; `challenge` answers it.
* Authentication: ``X-Trello-Webhook`` = base64 HMAC-SHA1(application secret, raw body + callback
  URL exactly as registered). The registered URL comes from ``INVOICING_TRELLO_CALLBACK_URL``
  (behind a proxy the observed URL differs), falling back to the URL the gateway saw.
  Secret: ``INVOICING_TRELLO_SECRET`` (the app's OAuth secret).
* Trigger: ``action.type == "updateCard"`` with ``data.listAfter`` named
  ``INVOICING_TRELLO_LIST_NAME`` (default "Completed Sales") or with id ``INVOICING_TRELLO_LIST_ID``
  → STAGE_REACHED. A list on a Kanban board is a workflow stage: the move says the sale is closed,
  not that money arrived or goods left, so it is neither PAYMENT_RECEIVED nor SHIPMENT_CONFIRMED.
  Every other action on the board is answered 200 and ignored.
* Event id: ``action.id`` (24 hex), the same on Trello's retries.
* Thin: the card's custom fields hold the sale, as the board owner sets them up [S]: Customer (the
  buyer's legal name), Customer email, Street, City, Postal code (or ZIP), State, Country (name or
  ISO code), VAT ID (or VAT number), Currency, SKU, Quantity, Unit price, PO number. The card's name
  is the deal's title, never taken as the buyer's name. The worker fetches ``GET /1/cards/{id}?customFieldItems=true``
  and the board's ``/1/boards/{id}/customFields`` (names and dropdown options) with
  ``Authorization: OAuth oauth_consumer_key=<INVOICING_TRELLO_API_KEY>, oauth_token=<INVOICING_TRELLO_ACCESS_TOKEN>``.
* Order key: ``trello:<card id>``.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, ClassVar, Mapping

import httpx
from pydantic import Field

from sources.support.country_names import country_code
from domain.errors import FetchError, IgnoredEvent, PayloadError, SignatureError
from domain.reasons import plain_reason
from domain.settings import PlatformSettings
from sources.support.fetch import fetch_json
from sources.base import EventInfo, InboundRequest, Reply, Source, ThinEvent
from sources.canonical import OrderEvent, order_event, order_line, party
from sources.support.payload import parse_json, parse_time
from sources.support.signing import constant_time_equal, hmac_digest

__all__ = ["Trello", "TrelloSettings", "CARD_FIELDS"]

CARD_FIELDS = "name,desc,idShort,shortUrl,idBoard,idList,dateLastActivity"


class TrelloSettings(PlatformSettings):
    base_url: str | None = Field("https://api.trello.com", description="REST API base.")
    callback_url: str | None = Field(None, description="Webhook callbackURL exactly as registered (signed into X-Trello-Webhook).")
    list_name: str = Field("Completed Sales", description="List whose cards are invoiced.")
    list_id: str | None = Field(None, description="Id of that list (takes precedence over the name when set).")


class Trello(Source):
    platform = "trello"
    thin = True
    settings_class = TrelloSettings
    settings: TrelloSettings
    keep_headers: ClassVar[tuple[str, ...]] = ("x-trello-webhook",)

    def challenge(self, request: InboundRequest) -> Reply | None:
        if request.method == "HEAD":
            return Reply(200, b"", content_type="text/plain")
        return None

    def verify(self, request: InboundRequest) -> None:
        given = request.header("x-trello-webhook")
        if not given:
            raise SignatureError("missing X-Trello-Webhook")
        secret = self.secret()
        callback = self.settings.callback_url or request.url
        if not constant_time_equal(hmac_digest(secret, request.body + callback.encode(), "sha1"), given):
            raise SignatureError("X-Trello-Webhook does not match the body and callback URL")

    def _moved_to_target(self, action: Mapping[str, Any]) -> bool:
        after = (action.get("data") or {}).get("listAfter")
        if action.get("type") != "updateCard" or not isinstance(after, dict):
            return False
        if self.settings.list_id:
            return after.get("id") == self.settings.list_id
        return str(after.get("name") or "").strip().casefold() == self.settings.list_name.strip().casefold()

    def describe(self, request: InboundRequest) -> EventInfo:
        doc = parse_json(request.body)
        action = doc.get("action") if isinstance(doc, dict) else None
        if not isinstance(action, dict) or not action.get("id") or not isinstance(action.get("data"), dict):
            raise PayloadError("body is not a Trello webhook action")
        if not self._moved_to_target(action):
            raise IgnoredEvent(f"Trello action {action.get('type')!r} is not a move to {self.settings.list_name!r}")
        return EventInfo(event_type="updateCard:listAfter", event_id=str(action["id"]))

    def normalise(self, raw: Mapping[str, Any]) -> list[OrderEvent | ThinEvent]:
        doc = parse_json(raw["body"])
        action = doc.get("action") if isinstance(doc, dict) else None
        if not isinstance(action, dict):
            raise PayloadError("body is not a Trello webhook action")
        if not self._moved_to_target(action):
            return []
        data = action["data"]
        try:
            card, board = data["card"], data["board"]
            return [ThinEvent(event_id=str(action["id"]), event_type="updateCard:listAfter", trigger="STAGE_REACHED",
                              resource="card", resource_id=str(card["id"]),
                              occurred_at=parse_time(action.get("date"), raw["received_at"]),
                              attributes={"board_id": str(board["id"]), "board_name": str(board.get("name") or ""),
                                          "list_name": str(data["listAfter"].get("name") or ""),
                                          "member": str((action.get("memberCreator") or {}).get("username") or "")})]
        except (KeyError, TypeError) as exc:
            raise PayloadError(plain_reason(exc, what="the Trello action")) from None

    def _auth(self) -> dict[str, str]:
        key, token = self.settings.api_key, self.settings.access_token
        if key is None or token is None:
            raise FetchError("trello: INVOICING_TRELLO_API_KEY/_ACCESS_TOKEN not configured", retriable=False)
        return {"Authorization": f'OAuth oauth_consumer_key="{key.get_secret_value()}", oauth_token="{token.get_secret_value()}"',
                "Accept": "application/json"}

    async def fetch(self, event: ThinEvent, client: httpx.AsyncClient) -> list[OrderEvent]:
        headers, base = self._auth(), self.base_url()
        card = await fetch_json(client, self.platform, "GET", f"{base}/1/cards/{event.resource_id}", headers=headers,
                                params={"fields": CARD_FIELDS, "customFieldItems": "true"})
        board_id = event.attributes.get("board_id") or card.get("idBoard")
        defs = await fetch_json(client, self.platform, "GET", f"{base}/1/boards/{board_id}/customFields", headers=headers)
        try:
            return [self._order(event, card, defs)]
        except (KeyError, TypeError, AttributeError) as exc:
            raise FetchError(plain_reason(exc, what=f"the trello card {event.resource_id}"), retriable=False) from None
        except PayloadError as exc:
            raise FetchError(f"trello card {event.resource_id}: {exc}", retriable=False) from None

    @staticmethod
    def _fields(card: Mapping[str, Any], defs: list[dict[str, Any]]) -> dict[str, str]:
        """Custom field values by field name (case-folded); numbers stay strings, dropdowns become their text."""
        by_id = {d["id"]: d for d in defs}
        out: dict[str, str] = {}
        for item in card.get("customFieldItems") or []:
            d = by_id.get(item.get("idCustomField"))
            if d is None:
                continue
            if item.get("idValue"):
                opts = {o["id"]: (o.get("value") or {}).get("text", "") for o in d.get("options") or []}
                value = opts.get(item["idValue"], "")
            else:
                v = item.get("value") or {}
                value = next((str(v[k]) for k in ("text", "number", "date", "checked") if k in v), "")
            out[str(d["name"]).strip().casefold()] = value
        return out

    def _order(self, event: ThinEvent, card: dict[str, Any], defs: list[dict[str, Any]]) -> OrderEvent:
        f = self._fields(card, defs)
        if not f.get("unit price") or not f.get("currency"):
            raise PayloadError("card has no Unit price or Currency custom field")
        line = order_line(card.get("name") or "", f.get("quantity") or "1", f["unit price"], sku=f.get("sku"))
        raw = {"platform": self.platform, "event_type": event.event_type, "received_at": datetime.now(timezone.utc)}
        return order_event(
            raw, event_id=event.event_id, trigger=event.trigger, external_order_id=str(card["id"]),
            order_number=f"#{card['idShort']}" if card.get("idShort") else None, occurred_at=event.occurred_at,
            customer=party(f.get("customer") or "", email=f.get("customer email") or None,
                           vat_id=f.get("vat id") or f.get("vat number") or None, line1=f.get("street") or "",
                           city=f.get("city") or "", postal_code=f.get("postal code") or f.get("zip") or "",
                           region=f.get("state") or None, country=country_code(f.get("country"))),
            currency=f["currency"], lines=[line], purchase_order=f.get("po number"),
            dedup_keys=[f"trello:card:{card['id']}:{event.attributes.get('list_name', '')}"],
            attributes={"board_id": event.attributes.get("board_id", ""), "card_url": str(card.get("shortUrl") or "")},
        )
