"""Trello source: HEAD handshake, HMAC-SHA1 over body + callback URL, list filter, custom-field fetch."""
from __future__ import annotations

import json
import random
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import httpx
import pytest

from domain.errors import FetchError, IgnoredEvent, SignatureError
from demo.samples import trello as samples
from sources.base import InboundRequest, ThinEvent
from sources.trello import Trello
from tests.fakes.platform_api import FakePlatformAPI
from tests.support import source_from_env

SECRET = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"


def make(monkeypatch: pytest.MonkeyPatch, **env: str) -> Trello:
    return source_from_env("trello", monkeypatch, SECRET, **env)  # type: ignore[no-any-return]


def inbound(body: bytes, headers: Any, method: str = "POST") -> InboundRequest:
    return InboundRequest(method, "/webhooks/trello", "", {k.lower(): v for k, v in dict(headers).items()}, body,
                          url="http://127.0.0.1:8080/webhooks/trello")


def raw_of(body: bytes) -> dict[str, Any]:
    return {"platform": "trello", "event_type": "x", "event_id": "x", "received_at": datetime.now(timezone.utc),
            "headers": {}, "body": body}


def test_head_handshake_is_answered_200_without_a_signature(monkeypatch: pytest.MonkeyPatch) -> None:
    reply = make(monkeypatch).challenge(inbound(b"", {}, method="HEAD"))
    assert reply is not None and reply.status == 200
    assert make(monkeypatch).challenge(inbound(b"{}", {})) is None


def test_signature_covers_the_registered_callback_url(monkeypatch: pytest.MonkeyPatch) -> None:
    req = samples.order(1, random.Random(1), SECRET).requests[0]
    make(monkeypatch).verify(inbound(req.body, req.headers))
    with pytest.raises(SignatureError):  # same body, webhook registered at another URL
        make(monkeypatch, callback_url="https://other.example/webhooks/trello").verify(inbound(req.body, req.headers))
    with pytest.raises(SignatureError):  # SHA-256 is not what Trello sends
        import base64, hashlib, hmac
        sha256 = base64.b64encode(hmac.new(SECRET.encode(), req.body + samples.CALLBACK_URL.encode(), hashlib.sha256).digest()).decode()
        make(monkeypatch).verify(inbound(req.body, {"X-Trello-Webhook": sha256}))
    with pytest.raises(SignatureError):
        make(monkeypatch).verify(inbound(req.body, {}))


def _moved(to: dict[str, str], kind: str = "updateCard") -> bytes:
    doc = json.loads(samples.order(1, random.Random(1), SECRET).requests[0].body)
    doc["action"]["type"] = kind
    doc["action"]["data"]["listAfter"] = to
    return json.dumps(doc).encode()


@pytest.mark.parametrize("body", [
    _moved({"id": "6571f0c2a9b3d41e8c2f7a99", "name": "Lost"}),
    _moved({"id": "6571f0c2a9b3d41e8c2f7a22", "name": "Completed Sales"}, kind="commentCard"),
])
def test_other_actions_are_ignored(body: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(IgnoredEvent):
        make(monkeypatch).describe(inbound(body, {}))
    assert make(monkeypatch).normalise(raw_of(body)) == []


def test_a_card_renamed_without_a_move_is_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    doc = json.loads(samples.order(1, random.Random(1), SECRET).requests[0].body)
    for key in ("listAfter", "listBefore"):
        del doc["action"]["data"][key]
    with pytest.raises(IgnoredEvent):
        make(monkeypatch).describe(inbound(json.dumps(doc).encode(), {}))


def test_list_name_and_id_are_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    body = _moved({"id": "6571f0c2a9b3d41e8c2f7a30", "name": "Abgeschlossen"})
    assert make(monkeypatch, list_name="abgeschlossen").describe(inbound(body, {})).event_type == "updateCard:listAfter"
    with pytest.raises(IgnoredEvent):  # the id wins over the name
        make(monkeypatch, list_name="Abgeschlossen", list_id="6571f0c2a9b3d41e8c2f7a22").describe(inbound(body, {}))


async def test_fetch_maps_custom_fields_and_dropdowns(monkeypatch: pytest.MonkeyPatch) -> None:
    order = samples.order(5, random.Random(5), SECRET)  # Gulf Coast Fabrication, USD
    with FakePlatformAPI(routes=order.api) as api:
        source = make(monkeypatch, base_url=api.url)
        [thin] = source.normalise(raw_of(order.requests[0].body))
        assert isinstance(thin, ThinEvent) and thin.trigger == "STAGE_REACHED"
        async with httpx.AsyncClient() as client:
            [ev] = await source.fetch(thin, client)
    assert ev["currency"] == "USD"
    assert ev["customer"]["name"] == "Gulf Coast Fabrication LLC" and ev["customer"]["email"] == "ap@gulfcoastfab.com"
    assert ev["lines"][0]["quantity"] == Decimal("3") and isinstance(ev["lines"][0]["unit_price"], Decimal)
    assert ev["purchase_order"] is None  # odd cards carry no PO
    assert all(r.headers["authorization"].startswith('OAuth oauth_consumer_key="') for r in api.requests)
    assert all("token=" not in r.path for r in api.requests), "credentials stay out of URLs"


@pytest.mark.parametrize("status, retriable", [(503, True), (429, True), (404, False)])
async def test_fetch_failures(status: int, retriable: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    order = samples.order(6, random.Random(6), SECRET)
    with FakePlatformAPI(routes=order.api, fail_next=1, fail_status=status) as api:
        source = make(monkeypatch, base_url=api.url)
        [thin] = source.normalise(raw_of(order.requests[0].body))
        async with httpx.AsyncClient() as client:
            with pytest.raises(FetchError) as err:
                await source.fetch(thin, client)  # type: ignore[arg-type]
    assert err.value.retriable is retriable


async def test_a_card_without_price_fields_is_not_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    order = samples.order(6, random.Random(6), SECRET)
    routes = dict(order.api)
    card_route = next(k for k in routes if k.startswith("GET /1/cards/"))
    routes[card_route] = {**routes[card_route], "customFieldItems": []}
    with FakePlatformAPI(routes=routes) as api:
        source = make(monkeypatch, base_url=api.url)
        [thin] = source.normalise(raw_of(order.requests[0].body))
        async with httpx.AsyncClient() as client:
            with pytest.raises(FetchError) as err:
                await source.fetch(thin, client)  # type: ignore[arg-type]
    assert not err.value.retriable
