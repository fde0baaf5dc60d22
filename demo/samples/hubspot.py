"""HubSpot Webhooks API batches (``deal.propertyChange``, dealstage → ``closedwon``) signed with
signature v3, and the CRM v3 deal, line-item and company documents the source fetches."""
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

__all__ = ["order", "signed", "settings_env", "sign_hubspot", "WEBHOOK_URL", "PORTAL_ID", "APP_ID"]

WEBHOOK_URL = "https://hooks.kompressortechnik-nord.de/webhooks/hubspot"
PORTAL_ID = 145872304
APP_ID = 3612845
_BASE_TIME = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)
_DEAL_PROPERTIES = "dealname,amount,deal_currency_code,dealstage,pipeline,closedate,hs_object_id"
_COMPANY_PROPERTIES = "name,domain,address,address2,city,zip,state,country,vat_id"
#: HubSpot's default company ``country`` property is free text, typed as users see it
_COUNTRY_NAMES = {"DE": "Germany", "FR": "France", "NL": "Netherlands", "NO": "Norway", "US": "United States", "JP": "Japan"}
_VAT = {"DE": "19", "FR": "20", "NL": "21"}


def sign_hubspot(body: bytes, secret: str, timestamp_ms: int, method: str = "POST", uri: str = WEBHOOK_URL) -> str:
    msg = method.encode() + uri.encode() + body + str(timestamp_ms).encode()
    return base64.b64encode(hmac.new(secret.encode(), msg, hashlib.sha256).digest()).decode()


def settings_env(secret: str) -> dict[str, str]:
    return {"INVOICING_HUBSPOT_WEBHOOK_URL": WEBHOOK_URL,
            "INVOICING_HUBSPOT_ACCESS_TOKEN": "pat-eu1-3f1c2a9e-7b4d-4e1a-9c55-0d2f6e8a1b3c"}


def _request(body: bytes, secret: str, at: datetime) -> SampleRequest:
    ts = int(at.timestamp() * 1000)
    return SampleRequest(path="/webhooks/hubspot", body=body, headers={
        "Content-Type": "application/json", "User-Agent": "HubSpot Connect 2.0 (http://dev.hubspot.com/)",
        "X-HubSpot-Signature-v3": sign_hubspot(body, secret, ts), "X-HubSpot-Request-Timestamp": str(ts),
        "X-HubSpot-Signature-Version": "v1",
        "X-HubSpot-Signature": hashlib.sha256(secret.encode() + body).hexdigest(),
    })


def signed(body: bytes, secret: str, at: datetime) -> SampleRequest:
    """*body* as a HubSpot webhook delivery signed (v3) for *secret* at *at*."""
    return _request(body, secret, at)


def stage_event(n: int, deal_id: int, value: str, occurred_ms: int, *, attempt: int = 0) -> dict[str, object]:
    return {"eventId": 1_800_000_000 + n * 7, "subscriptionId": 2_904_117, "portalId": PORTAL_ID, "appId": APP_ID,
            "occurredAt": occurred_ms, "subscriptionType": "deal.propertyChange", "attemptNumber": attempt,
            "objectId": deal_id, "propertyName": "dealstage", "propertyValue": value, "changeFlag": "UPDATED",
            "changeSource": "CRM_UI", "sourceId": "userId:61234567"}


def order(n: int, rng: random.Random, secret: str, at: datetime | None = None) -> SampleOrder:
    """A deal moved to Closed Won, batched with an unrelated amount change on another deal."""
    cust_no, name, email, (street, city, zip_code, region, country), currency = CUSTOMERS[n % len(CUSTOMERS)]
    deal_id = 18_990_000_000 + n
    company_id = 27_100_000_000 + int(cust_no[-3:])
    occurred = _BASE_TIME + timedelta(minutes=17 * (n % 1000))
    occurred_ms = int(occurred.timestamp() * 1000)
    batch = [
        stage_event(n, deal_id, "closedwon", occurred_ms),
        {"eventId": 1_800_000_001 + n * 7, "subscriptionId": 2_904_118, "portalId": PORTAL_ID, "appId": APP_ID,
         "occurredAt": occurred_ms + 412, "subscriptionType": "deal.propertyChange", "attemptNumber": 0,
         "objectId": deal_id + 500_000, "propertyName": "amount", "propertyValue": "12500", "changeSource": "CRM_UI"},
    ]
    body = json.dumps(batch, separators=(",", ":")).encode()
    when = at or occurred + timedelta(seconds=2)
    req = _request(body, secret, when)
    redeliveries = [_request(body, secret, when + timedelta(seconds=30))] if rng.random() < 0.3 else []

    items, total = [], Decimal("0")
    for k in range(1 + n % 3):
        sku, title, price = CATALOGUE[(n * 3 + k) % len(CATALOGUE)]
        unit = Decimal(price) * (160 if currency == "JPY" else 1)
        qty = 1 + (n + k) % 3
        line_id = 31_500_000_000 + n * 10 + k
        total += unit * qty
        stamp = (occurred - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        items.append({"id": str(line_id), "properties": {
            "amount": f"{unit * qty:.2f}", "createdate": stamp, "discount": None, "hs_discount_percentage": None,
            "hs_lastmodifieddate": stamp, "hs_line_item_currency_code": currency, "hs_object_id": str(line_id),
            "hs_sku": sku, "hs_tax_rate": _VAT.get(country), "name": title, "price": f"{unit:.2f}", "quantity": str(qty)},
            "createdAt": stamp, "updatedAt": stamp, "archived": False})
    iso = occurred.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    deal = {
        "id": str(deal_id),
        "properties": {"amount": f"{total:.2f}", "closedate": iso, "createdate": iso, "deal_currency_code": currency,
                       "dealname": f"{name} – {CATALOGUE[(n * 3) % len(CATALOGUE)][1]}", "dealstage": "closedwon",
                       "hs_lastmodifieddate": iso, "hs_object_id": str(deal_id), "pipeline": "default"},
        "createdAt": iso, "updatedAt": iso, "archived": False,
        "associations": {
            "line items": {"results": [{"id": i["id"], "type": "deal_to_line_item"} for i in items]},
            "companies": {"results": [{"id": str(company_id), "type": "deal_to_company"},
                                      {"id": str(company_id), "type": "deal_to_company_unlabeled"}]},
        },
    }
    company = {"id": str(company_id), "properties": {
        "address": street, "address2": None, "city": city, "country": _COUNTRY_NAMES.get(country, country), "createdate": iso,
        "domain": email.split("@", 1)[1], "hs_lastmodifieddate": iso, "hs_object_id": str(company_id), "name": name,
        "state": region, "vat_id": customer_vat(cust_no), "zip": zip_code}, "createdAt": iso, "updatedAt": iso, "archived": False}
    deal_q = urlencode(sorted([("associations", "line_items,companies"), ("properties", _DEAL_PROPERTIES)]))
    api = {
        f"GET /crm/v3/objects/deals/{deal_id}?{deal_q}": deal,
        "POST /crm/v3/objects/line_items/batch/read": {"status": "COMPLETE", "results": items,
                                                       "startedAt": iso, "completedAt": iso},
        f"GET /crm/v3/objects/companies/{company_id}?{urlencode([('properties', _COMPANY_PROPERTIES)])}": company,
    }
    expected = Expected(trigger="STAGE_REACHED", external_order_id=str(deal_id), currency=currency,
                        line_count=len(items), order_key=f"hubspot:{deal_id}")
    return SampleOrder(platform="hubspot", order_ref=f"hubspot:{deal_id}", requests=[req], redeliveries=redeliveries,
                       expected=expected, api=api)
