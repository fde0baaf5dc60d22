"""monday.com app board webhooks (status column → "Done") with the app's HS256 JWT in
``Authorization``, and the GraphQL ``items`` answer (item columns + one subitem per line)."""
from __future__ import annotations

import hashlib
import json
import random
import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import jwt

from demo.samples.base import CATALOGUE, CUSTOMERS, Expected, SampleOrder, SampleRequest, customer_vat

__all__ = ["order", "signed", "settings_env", "app_jwt", "WEBHOOK_URL", "ACCOUNT_ID"]

WEBHOOK_URL = "https://hooks.kompressortechnik-nord.de/webhooks/monday"
ACCOUNT_ID = 21_874_310
BOARD_ID = 1_847_362_514
_BASE_TIME = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
_COUNTRY_NAMES = {"DE": "Germany", "FR": "France", "NL": "Netherlands", "NO": "Norway", "US": "United States", "JP": "Japan"}


def app_jwt(secret: str, at: datetime, user_id: int = 39_541_234, audience: str = WEBHOOK_URL, ttl: int = 60) -> str:
    iat = int(at.timestamp())
    short = hashlib.sha256(f"slt{iat}{user_id}".encode()).hexdigest()
    claims = {"accountId": ACCOUNT_ID, "userId": user_id, "aud": audience, "iat": iat, "exp": iat + ttl,
              "shortLivedToken": f"eyJhbGciOiJIUzI1NiJ9.{short[:40]}.{short[40:]}"}
    return jwt.encode(claims, secret, algorithm="HS256")


def settings_env(secret: str) -> dict[str, str]:
    return {"INVOICING_MONDAY_AUDIENCE": WEBHOOK_URL,
            "INVOICING_MONDAY_ACCESS_TOKEN": "eyJhbGciOiJIUzI1NiJ9.eyJ0aWQiOjQxMjM0NTY3OCwiYWlkIjoyMTg3NDMxMH0.k2nQ"}


def _request(body: bytes, secret: str, at: datetime) -> SampleRequest:
    return SampleRequest(path="/webhooks/monday", body=body, headers={
        "Content-Type": "application/json", "User-Agent": "monday.com webhooks", "Authorization": app_jwt(secret, at)})


def signed(body: bytes, secret: str, at: datetime) -> SampleRequest:
    """*body* as a monday app webhook delivery with a JWT issued at *at*."""
    return _request(body, secret, at)


def _col(cid: str, kind: str, title: str, text: str | None, value: object) -> dict[str, object]:
    return {"id": cid, "type": kind, "text": text, "value": None if value is None else json.dumps(value),
            "column": {"title": title}}


def _label(index: int, text: str, color: str) -> dict[str, object]:
    return {"label": {"index": index, "text": text, "style": {"color": color, "border": color, "var_name": "green-shadow"},
                      "is_done": text == "Done"}, "post_id": None}


def status_event(n: int, item_id: int, item_name: str, label: str, when: datetime) -> dict[str, object]:
    return {"event": {
        "app": "monday", "type": "update_column_value", "triggerTime": when.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        "subscriptionId": 412_558_730, "isRetry": False, "userId": 39_541_234, "originalTriggerUuid": None,
        "boardId": BOARD_ID, "groupId": "topics", "pulseId": item_id, "pulseName": item_name, "columnId": "status",
        "columnType": "color", "columnTitle": "Status", "value": _label(1, label, "#00c875"),
        "previousValue": _label(0, "Working on it", "#fdab3d"), "changedAt": round(when.timestamp(), 3),  # epoch seconds, as monday sends it
        "isTopGroup": True, "triggerUuid": uuid.uuid5(uuid.NAMESPACE_URL, f"monday/{item_id}/{label}").hex,
    }}


def order(n: int, rng: random.Random, secret: str, at: datetime | None = None) -> SampleOrder:
    cust_no, name, email, (street, city, zip_code, region, country), currency = CUSTOMERS[n % len(CUSTOMERS)]
    vat = customer_vat(cust_no)
    item_id = 1_847_400_000 + n
    item_name = f"Auftrag {4711 + n} – {name}"
    when = _BASE_TIME + timedelta(minutes=23 * (n % 1000))
    body = json.dumps(status_event(n, item_id, item_name, "Done", when)).encode()
    signed_at = at or when
    req = _request(body, secret, signed_at)
    redeliveries = [_request(body, secret, signed_at)] if rng.random() < 0.3 else []  # a retry carries a fresh JWT
    subitems = []
    for k in range(1 + n % 3):
        sku, title, price = CATALOGUE[(n + 4 * k) % len(CATALOGUE)]
        unit = Decimal(price) * (160 if currency == "JPY" else 1)
        qty = 1 + (n * 3 + k) % 4
        unit_text = f"{unit:.0f}" if unit == unit.to_integral() else f"{unit.normalize()}"
        subitems.append({"id": str(item_id * 10 + k + 1), "name": title, "column_values": [
            _col("text_mkp1", "text", "SKU", sku, sku), _col("numeric_mkp2", "numbers", "Quantity", str(qty), str(qty)),
            _col("numeric_mkp3", "numbers", "Unit price", unit_text, unit_text)]})
    cname = _COUNTRY_NAMES.get(country, country)
    iso = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    item = {
        "id": str(item_id), "name": item_name, "created_at": (when - timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "updated_at": iso, "board": {"id": str(BOARD_ID), "name": "Aufträge 2026"}, "group": {"id": "topics", "title": "Aktiv"},
        "column_values": [
            _col("status", "status", "Status", "Done", {"index": 1, "post_id": None, "changed_at": iso}),
            _col("text_mkc1", "text", "Customer", name, name),
            _col("email_mkc2", "email", "Email", email, {"email": email, "text": email, "changed_at": iso}),
            _col("text_mkc7", "text", "Street", street, street),
            _col("text_mkc8", "text", "Postal code", zip_code, zip_code),
            _col("text_mkc9", "text", "City", city, city),
            _col("text_mkd1", "text", "State", region, region),
            _col("country_mkc3", "country", "Country", cname, {"countryCode": country, "countryName": cname}),
            _col("text_mkd2", "text", "VAT ID", vat, vat),
            _col("dropdown_mkc4", "dropdown", "Currency", currency, {"ids": [1]}),
            _col("text_mkc5", "text", "PO number", f"PO-{9300 + n}" if n % 2 else None, f"PO-{9300 + n}" if n % 2 else None),
        ],
        "subitems": subitems,
    }
    api = {"POST /v2": {"data": {"items": [item]}, "account_id": ACCOUNT_ID}}
    expected = Expected(trigger="STAGE_REACHED", external_order_id=str(item_id), currency=currency,
                        line_count=len(subitems), order_key=f"monday:{item_id}")
    return SampleOrder(platform="monday", order_ref=f"monday:{item_id}", requests=[req], redeliveries=redeliveries,
                       expected=expected, api=api)
