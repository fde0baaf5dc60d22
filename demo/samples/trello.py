"""Trello webhook actions (a card moved to "Completed Sales") signed with HMAC-SHA1 over
body + callbackURL, and the card / board custom-field documents the source fetches."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from urllib.parse import urlencode

from demo.samples.base import CATALOGUE, CUSTOMERS, Expected, SampleOrder, SampleRequest, customer_vat

__all__ = ["order", "signed", "settings_env", "sign_trello", "CALLBACK_URL", "BOARD_ID"]

CALLBACK_URL = "https://hooks.kompressortechnik-nord.de/webhooks/trello"
BOARD_ID = "6571f0c2a9b3d41e8c2f7a10"
LISTS = {"quote": ("6571f0c2a9b3d41e8c2f7a21", "Quote sent"), "won": ("6571f0c2a9b3d41e8c2f7a22", "Completed Sales")}
_BASE_TIME = datetime(2026, 11, 23, 11, 0, tzinfo=timezone.utc)
_CARD_FIELDS = "name,desc,idShort,shortUrl,idBoard,idList,dateLastActivity"
_CURRENCIES = {"EUR": "6571f0c2a9b3d41e8c2f7b01", "USD": "6571f0c2a9b3d41e8c2f7b02", "JPY": "6571f0c2a9b3d41e8c2f7b03"}


def sign_trello(body: bytes, secret: str, callback_url: str = CALLBACK_URL) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body + callback_url.encode(), hashlib.sha1).digest()).decode()


def settings_env(secret: str) -> dict[str, str]:
    return {"INVOICING_TRELLO_CALLBACK_URL": CALLBACK_URL, "INVOICING_TRELLO_API_KEY": "9f3c2e1a7b6d5c4e3f2a1b0c9d8e7f6a",
            "INVOICING_TRELLO_ACCESS_TOKEN": "ATTA5e0c3b1f9a8d7e6c5b4a39281706f5e4d3c2b1a0f9e8d7c6b5a4938271605f4e3d2c1b"}


def _request(body: bytes, secret: str) -> SampleRequest:
    return SampleRequest(path="/webhooks/trello", body=body, headers={
        "Content-Type": "application/json", "User-Agent": "Trello-Webhook", "X-Trello-Webhook": sign_trello(body, secret)})


def signed(body: bytes, secret: str, at: datetime) -> SampleRequest:
    """*body* as a Trello webhook delivery signed with *secret* (Trello signs no timestamp)."""
    return _request(body, secret)


def _hex(*parts: object) -> str:
    return hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()[:24]


def custom_field_defs() -> list[dict[str, object]]:
    def field(key: str, name: str, kind: str, pos: int, options: list[dict[str, object]] | None = None) -> dict[str, object]:
        d: dict[str, object] = {"id": _hex("cf", key), "idModel": BOARD_ID, "modelType": "board", "fieldGroup": _hex("grp", key),
                                "display": {"cardFront": key in ("customer", "price")}, "name": name, "pos": pos, "type": kind,
                                "isSuggestedField": False}
        if options is not None:
            d["options"] = options
        return d
    cur_opts = [{"id": oid, "idCustomField": _hex("cf", "currency"), "value": {"text": code}, "color": "none", "pos": 16384 * (i + 1)}
                for i, (code, oid) in enumerate(_CURRENCIES.items())]
    return [field("customer", "Customer", "text", 16384), field("email", "Customer email", "text", 32768),
            field("street", "Street", "text", 36864), field("zip", "Postal code", "text", 40960),
            field("city", "City", "text", 45056), field("state", "State", "text", 47104),
            field("country", "Country", "text", 49152), field("vat", "VAT ID", "text", 57344),
            field("currency", "Currency", "list", 65536, cur_opts),
            field("sku", "SKU", "text", 81920), field("qty", "Quantity", "number", 98304),
            field("price", "Unit price", "number", 114688), field("po", "PO number", "text", 131072)]


def order(n: int, rng: random.Random, secret: str, at: datetime | None = None) -> SampleOrder:
    cust_no, name, email, (street, city, zip_code, region, country), currency = CUSTOMERS[n % len(CUSTOMERS)]
    vat = customer_vat(cust_no)
    sku, title, price = CATALOGUE[(n * 5) % len(CATALOGUE)]
    unit = Decimal(price) * (160 if currency == "JPY" else 1)
    card_id, action_id, member_id = _hex("card", n), _hex("action", n), "5e8f1c2d3b4a596877665544"
    moved = _BASE_TIME + timedelta(minutes=19 * (n % 1000))
    stamp = moved.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moved.microsecond // 1000:03d}Z"
    short = hashlib.sha256(f"s{n}".encode()).hexdigest()[:8]
    card_name = f"{name} – {title}"
    board = {"id": BOARD_ID, "name": "Sales pipeline 2026", "shortLink": "Kq3vT9xa"}
    doc = {
        "model": {"id": BOARD_ID, "name": "Sales pipeline 2026", "desc": "", "descData": None, "closed": False,
                  "idOrganization": "5f0a1b2c3d4e5f6071829304", "idEnterprise": None, "pinned": False,
                  "url": "https://trello.com/b/Kq3vT9xa/sales-pipeline-2026", "shortUrl": "https://trello.com/b/Kq3vT9xa",
                  "prefs": {"permissionLevel": "org", "background": "blue"}, "labelNames": {"green": "B2B", "red": "Urgent"}},
        "action": {
            "id": action_id, "idMemberCreator": member_id, "type": "updateCard", "date": stamp, "appCreator": None, "limits": None,
            "data": {"card": {"idList": LISTS["won"][0], "id": card_id, "name": card_name, "idShort": 100 + n, "shortLink": short},
                     "old": {"idList": LISTS["quote"][0]}, "board": board,
                     "listBefore": {"id": LISTS["quote"][0], "name": LISTS["quote"][1]},
                     "listAfter": {"id": LISTS["won"][0], "name": LISTS["won"][1]}},
            "display": {"translationKey": "action_move_card_from_list_to_list", "entities": {
                "card": {"type": "card", "idList": LISTS["won"][0], "id": card_id, "shortLink": short, "text": card_name},
                "listBefore": {"type": "list", "id": LISTS["quote"][0], "text": LISTS["quote"][1]},
                "listAfter": {"type": "list", "id": LISTS["won"][0], "text": LISTS["won"][1]},
                "memberCreator": {"type": "member", "id": member_id, "username": "jonasweber", "text": "Jonas Weber"}}},
            "memberCreator": {"id": member_id, "activityBlocked": False, "avatarHash": None, "avatarUrl": None,
                              "fullName": "Jonas Weber", "idMemberReferrer": None, "initials": "JW", "nonPublic": {},
                              "nonPublicAvailable": True, "username": "jonasweber"},
        },
        "webhook": {"id": "6571f3e0b5c1d2a3e4f50617", "description": "invoicing: Completed Sales", "idModel": BOARD_ID,
                    "callbackURL": CALLBACK_URL, "active": True, "consecutiveFailures": 0, "firstConsecutiveFailDate": None},
    }
    body = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
    req = _request(body, secret)
    redeliveries = [req] if rng.random() < 0.3 else []

    qty = 1 + n % 3

    def item(key: str, value: dict[str, object] | None = None, id_value: str | None = None) -> dict[str, object]:
        d: dict[str, object] = {"id": _hex("cfi", n, key), "idCustomField": _hex("cf", key), "idModel": card_id, "modelType": "card"}
        if id_value:
            d["idValue"] = id_value
        else:
            d["value"] = value
        return d
    items = [item("customer", {"text": name}), item("email", {"text": email}), item("street", {"text": street}),
             item("zip", {"text": zip_code}), item("city", {"text": city}), item("country", {"text": country}),
             item("currency", id_value=_CURRENCIES[currency]), item("sku", {"text": sku}),
             item("qty", {"number": str(qty)}), item("price", {"number": f"{unit:.2f}"})]
    if region:
        items.append(item("state", {"text": region}))
    if vat:
        items.append(item("vat", {"text": vat}))
    if n % 2 == 0:
        items.append(item("po", {"text": f"PO-{8100 + n}"}))
    card = {"id": card_id, "name": card_name, "desc": f"{qty} × {title}\nAngebot vom {(moved - timedelta(days=6)).date()}",
            "idShort": 100 + n, "shortUrl": f"https://trello.com/c/{short}", "idBoard": BOARD_ID, "idList": LISTS["won"][0],
            "dateLastActivity": stamp, "customFieldItems": items}
    query = urlencode(sorted([("fields", _CARD_FIELDS), ("customFieldItems", "true")]))
    api = {f"GET /1/cards/{card_id}?{query}": card, f"GET /1/boards/{BOARD_ID}/customFields": custom_field_defs()}
    expected = Expected(trigger="STAGE_REACHED", external_order_id=card_id, currency=currency, line_count=1,
                        order_key=f"trello:{card_id}")
    return SampleOrder(platform="trello", order_ref=f"trello:{card_id}", requests=[req], redeliveries=redeliveries,
                       expected=expected, api=api)
