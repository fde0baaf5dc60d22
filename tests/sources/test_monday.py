"""monday.com source: challenge echo, JWT (signature, exp, aud), status filter, GraphQL fetch."""
from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import jwt
import pytest

from domain.errors import FetchError, IgnoredEvent, SignatureError
from demo.samples import monday as samples
from sources.base import InboundRequest, ThinEvent
from sources.monday import Monday
from tests.fakes.platform_api import FakePlatformAPI
from tests.support import source_from_env

SECRET = "monday-signing-secret-0f1e2d3c4b5a69788796a5b4c3d2e1f0"


def make(monkeypatch: pytest.MonkeyPatch, **env: str) -> Monday:
    return source_from_env("monday", monkeypatch, SECRET, **env)  # type: ignore[no-any-return, arg-type]


def inbound(body: bytes, headers: Any) -> InboundRequest:
    return InboundRequest("POST", "/webhooks/monday", "", {k.lower(): v for k, v in dict(headers).items()}, body,
                          url="http://127.0.0.1:8080/webhooks/monday")


def raw_of(body: bytes) -> dict[str, Any]:
    return {"platform": "monday", "event_type": "x", "event_id": "x", "received_at": datetime.now(timezone.utc),
            "headers": {}, "body": body}


def test_challenge_is_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    reply = make(monkeypatch).challenge(inbound(b'{"challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}', {}))
    assert reply is not None and json.loads(reply.body) == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}
    event = samples.order(1, random.Random(1), SECRET).requests[0]
    assert make(monkeypatch).challenge(inbound(event.body, event.headers)) is None


def test_jwt_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    source = make(monkeypatch)
    body = b'{"event":{}}'
    now = datetime.now(timezone.utc)
    source.verify(inbound(body, {"Authorization": samples.app_jwt(SECRET, now)}))
    source.verify(inbound(body, {"Authorization": "Bearer " + samples.app_jwt(SECRET, now)}))
    bad = [
        samples.app_jwt(SECRET, now - timedelta(minutes=5)),  # expired
        samples.app_jwt(SECRET, now, audience="https://attacker.example/hook"),  # for someone else
        samples.app_jwt("client-secret-not-signing-secret", now),
        jwt.encode({"aud": samples.WEBHOOK_URL, "iat": int(now.timestamp())}, SECRET, algorithm="HS256"),  # no exp
        jwt.encode({"aud": samples.WEBHOOK_URL, "iat": 1, "exp": 2**40}, SECRET, algorithm="HS384"),  # not HS256
        "",
    ]
    for token in bad:
        with pytest.raises(SignatureError):
            source.verify(inbound(body, {"Authorization": token}))


def test_alg_none_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    now = int(datetime.now(timezone.utc).timestamp())
    token = jwt.encode({"aud": samples.WEBHOOK_URL, "iat": now, "exp": now + 60}, None, algorithm="none")  # type: ignore[arg-type]
    with pytest.raises(SignatureError):
        make(monkeypatch).verify(inbound(b"{}", {"Authorization": token}))


@pytest.mark.parametrize("label", ["Working on it", "Stuck", ""])
def test_other_labels_are_ignored(label: str, monkeypatch: pytest.MonkeyPatch) -> None:
    body = json.dumps(samples.status_event(1, 99, "x", label, datetime.now(timezone.utc))).encode()
    with pytest.raises(IgnoredEvent):
        make(monkeypatch).describe(inbound(body, {}))
    assert make(monkeypatch).normalise(raw_of(body)) == []


def test_labels_and_column_are_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    body = json.dumps(samples.status_event(1, 99, "x", "Closed Won", datetime.now(timezone.utc))).encode()
    assert make(monkeypatch).describe(inbound(body, {})).event_id
    with pytest.raises(IgnoredEvent):
        make(monkeypatch, status_column="status_1").describe(inbound(body, {}))
    with pytest.raises(IgnoredEvent):
        make(monkeypatch, status_labels="Invoiced").describe(inbound(body, {}))


async def test_fetch_reads_item_and_subitems(monkeypatch: pytest.MonkeyPatch) -> None:
    order = samples.order(4, random.Random(4), SECRET)  # Metallbau Steiner, DE
    with FakePlatformAPI(routes=order.api) as api:
        source = make(monkeypatch, base_url=api.url)
        [thin] = source.normalise(raw_of(order.requests[0].body))
        assert isinstance(thin, ThinEvent)
        async with httpx.AsyncClient() as client:
            [ev] = await source.fetch(thin, client)
    assert ev["customer"]["address"]["country"] == "DE" and ev["currency"] == "EUR"
    assert len(ev["lines"]) == order.expected.line_count and ev["lines"][0]["sku"]
    sent = json.loads(api.requests[0].body)
    assert sent["variables"] == {"ids": [order.expected.external_order_id]}
    assert api.requests[0].headers["api-version"] == "2025-04"


@pytest.mark.parametrize("answer, retriable", [
    ((200, {"errors": [{"message": "Complexity budget exhausted", "extensions": {"code": "ComplexityException"}}]}), True),
    ((500, {"error_message": "Internal server error"}), True),
    ((200, {"data": {"items": []}, "account_id": 1}), False),
])
async def test_fetch_failures(answer: Any, retriable: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    order = samples.order(4, random.Random(4), SECRET)
    with FakePlatformAPI(routes={"POST /v2": answer}) as api:
        source = make(monkeypatch, base_url=api.url)
        [thin] = source.normalise(raw_of(order.requests[0].body))
        async with httpx.AsyncClient() as client:
            with pytest.raises(FetchError) as err:
                await source.fetch(thin, client)  # type: ignore[arg-type]
    assert err.value.retriable is retriable


async def test_buyer_columns_and_no_name_from_the_item_title(monkeypatch: pytest.MonkeyPatch) -> None:
    order = samples.order(6, random.Random(6), SECRET)  # Pacific Air Tools, US
    doc = json.loads(json.dumps(order.api["POST /v2"]))
    item = doc["data"]["items"][0]
    with FakePlatformAPI(routes={"POST /v2": doc}) as api:
        source = make(monkeypatch, base_url=api.url)
        [thin] = source.normalise(raw_of(order.requests[0].body))
        async with httpx.AsyncClient() as client:
            [ev] = await source.fetch(thin, client)  # type: ignore[arg-type]
            assert ev["customer"]["name"] == "Pacific Air Tools Wholesale Inc."
            assert ev["customer"]["address"] == {"line1": "88 Harbor Way", "line2": None, "city": "Oakland",
                                                 "postal_code": "94607", "region": "CA", "country": "US"}
            item["column_values"] = [c for c in item["column_values"] if c["column"]["title"] != "Customer"]
            [ev] = await source.fetch(thin, client)  # type: ignore[arg-type]
    assert ev["customer"]["name"] == "", "the item's title is the order's, not the buyer's name"
